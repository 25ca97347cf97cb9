"""Issue 16's elementwise part: the elementwise ops JAX writes that kiln lacked (arithmetic shift,
bit counts, reduce_precision, lgamma/digamma, the inverse trigonometric chlo ops), bool arithmetic,
select with a scalar predicate, negative padding, mixed-precision products
(preferred_element_type), and the everyday operations users call (einsum, one_hot, tril/triu,
clip, isnan/isinf/isfinite, stack/split, randint)."""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

rng = np.random.default_rng(1616)
f32 = rng.standard_normal((4, 6)).astype(np.float32)
g32 = rng.standard_normal((6, 5)).astype(np.float32)
sq32 = rng.standard_normal((5, 5)).astype(np.float32)
b3 = rng.standard_normal((2, 3, 4)).astype(np.float32)
c3 = rng.standard_normal((2, 4, 5)).astype(np.float32)
edges = np.array([0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, 1.2e-38, 3.4e38, -2.5, 0.1,
                  65504.0, 1e-3, 7.0e4, -3.0e-5], np.float32)
unit = np.array([-1.0, -0.999, -0.5, -0.0, 0.0, 0.25, 0.5, 0.9, 1.0, 1.5, np.nan],
                np.float32)
gamma_in = np.array([0.5, 2.5, 3.0, 4.5, 10.0, 30.0, 1e3, 1e6, -0.5, -1.5, -3.2, -3.7, 0.01,
                     1e-4, 7.25, 0.2], np.float32)
# Near the zeros of lgamma (1, 2, -2.457...) and digamma (1.4616...) the error is absolute, a few epsilons:
# XLA's own log makes lgamma(1) and lgamma(2) exactly 0, kiln's (the C library's) leaves
# 5e-7 in float32 (docs/primitives.md), so these are many ulps of the tiny results.
gamma_zeros = np.array([1.0, 2.0, 0.9, 1.1, 2.2, 1.5, 1.46, -2.5], np.float32)
i32_edges = np.array([0, 1, -1, 7, -8, 100, -100, 2**31 - 1, -2**31, 12345678], np.int32)
counts = np.array([0, 1, 3, 31, 32, 33, 5, 0, 1, 200], np.int32)
i8_edges = np.array([0, 1, -1, 127, -128, 64, -3, 17], np.int8)
u32 = np.array([0, 1, 0xFFFFFFFF, 0x80000000, 0x0F0F0F0F, 12345, 2**20, 7], np.uint32)
bools_a = np.array([True, False, True, False])
bools_b = np.array([True, True, False, False])
i8a = rng.integers(-128, 128, (4, 64)).astype(np.int8)
i8b = rng.integers(-128, 128, (64, 3)).astype(np.int8)
bf_a = rng.standard_normal((4, 32)).astype(jnp.bfloat16)
bf_b = rng.standard_normal((32, 3)).astype(jnp.bfloat16)
f16_a = rng.standard_normal((3, 16)).astype(np.float16)
f16_b = rng.standard_normal((16, 2)).astype(np.float16)
img_bf = rng.standard_normal((1, 3, 6, 6)).astype(jnp.bfloat16)
ker_bf = rng.standard_normal((4, 3, 3, 3)).astype(jnp.bfloat16)
img_i8 = rng.integers(-128, 128, (1, 2, 5, 5)).astype(np.int8)
ker_i8 = rng.integers(-128, 128, (3, 2, 3, 3)).astype(np.int8)
labels = np.array([0, 3, 1, 4, -1, 5, 2], np.int32)
key = np.array([0, 42], np.uint32)


def conv_nchw(x, k, preferred):
    return lax.conv_general_dilated(x, k, (1, 1), "SAME", preferred_element_type=preferred)


PROGRAMS = [
    # ---- elementwise ops ----
    ("shift_right_arithmetic_i32", lambda x, n: (lax.shift_right_arithmetic(x, n), x >> 3),
     [i32_edges, counts]),
    ("popcnt_clz_i32_u32_i8", lambda a, b, c: (lax.population_count(a), lax.clz(a),
                                               lax.population_count(b), lax.clz(b),
                                               lax.population_count(c), lax.clz(c)),
     [i32_edges, u32, i8_edges]),
    ("reduce_precision_f32", lambda x: (lax.reduce_precision(x, 5, 2),
                                        lax.reduce_precision(x, 4, 3),
                                        lax.reduce_precision(x, 8, 7),
                                        lax.reduce_precision(x, 5, 10)), [edges]),
    ("reduce_precision_bf16", lambda x: lax.reduce_precision(x.astype(jnp.bfloat16), 5, 2),
     [edges]),
    ("lgamma_f32", lambda x: lax.lgamma(x), [gamma_in], {"ulp": 8,
     "why": "XLA's Lanczos expansion op for op, but log/log1p/sin are the C library's"}),
    ("digamma_f32", lambda x: lax.digamma(x), [gamma_in], {"ulp": 8,
     "why": "XLA's Lanczos expansion op for op, but log1p/sin/cos are the C library's"}),
    ("lgamma_digamma_near_zeros_f32", lambda x: (lax.lgamma(x), lax.digamma(x)), [gamma_zeros]),
    ("lgamma_digamma_f64", lambda x: (lax.lgamma(x), lax.digamma(x)),
     [gamma_in.astype(np.float64)], {"x64": True, "ulp": 8,
                                     "why": "log/log1p/sin/cos are the C library's"}),
    ("arcsin_arccos_arctan_f32", lambda x: (jnp.arcsin(x), jnp.arccos(x), jnp.arctan(x * 3)),
     [unit], {"ulp": 4, "why": "atan2 and sqrt are the C library's, not XLA's"}),
    ("erf_inv_f32", lambda x: lax.erf_inv(x), [unit], {"ulp": 4,
     "why": "log1p is the C library's, not XLA's polynomial"}),
    ("isnan_isinf_isfinite_f32", lambda x: (jnp.isnan(x), jnp.isinf(x), jnp.isfinite(x)),
     [edges]),
    ("clip_f32", lambda x: (jnp.clip(x, -1.0, 2.0), jnp.clip(x, min=0.0)), [edges]),
    # ---- bool arithmetic, scalar predicates, negative padding ----
    ("bool_max_min_add_mul", lambda a, b: (jnp.maximum(a, b), jnp.minimum(a, b), a + b, a * b,
                                           lax.max(a, b), lax.min(a, b)), [bools_a, bools_b]),
    ("select_scalar_pred", lambda p, x, y: (lax.select(p, x, y), jnp.where(p, x, 2 * y)),
     [np.bool_(True), f32, f32[::-1].copy()]),
    ("select_scalar_pred_false_i32", lambda p, x: lax.select(p, x, -x),
     [np.bool_(False), i32_edges]),
    ("pad_negative_f32", lambda x: (lax.pad(x, 0.0, [(-1, 2, 0), (1, -2, 1)]),
                                    lax.pad(x, -1.0, [(-2, -1, 0), (0, 0, 0)])), [f32]),
    ("pad_negative_i8", lambda x: lax.pad(x, np.int8(7), [(-3, 1, 2)]), [i8_edges]),
    ("pad_negative_grad", jax.grad(lambda x: jnp.sum(lax.pad(x, 0.0, [(-1, 2, 1), (2, -3, 0)])
                                                     ** 2)), [f32]),
    # ---- mixed-precision products ----
    ("dot_i8_preferred_i32", lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.int32),
     [i8a, i8b]),
    ("dot_general_batched_i8_i32",
     lambda a, b: lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,))),
                                  preferred_element_type=jnp.int32),
     [i8a.reshape(2, 2, 64), i8b.T.copy().reshape(1, 3, 64).repeat(2, 0).transpose(0, 2, 1)]),
    ("dot_bf16_preferred_f32", lambda a, b: jnp.matmul(a, b, preferred_element_type=jnp.float32),
     [bf_a, bf_b], {"ulp": 8, "why": "32 exact products summed in another order"}),
    ("dot_f16_preferred_f32", lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32),
     [f16_a, f16_b], {"ulp": 8, "why": "16 exact products summed in another order"}),
    ("dot_bf16_preferred_f32_grad",
     jax.grad(lambda a, b: jnp.sum(jnp.matmul(a, b, preferred_element_type=jnp.float32) ** 2),
              argnums=(0, 1)), [bf_a, bf_b], {"ulp": 2,
                                              "why": "sums in another order, then bfloat16"}),
    ("conv_bf16_preferred_f32", lambda x, k: conv_nchw(x, k, jnp.float32), [img_bf, ker_bf],
     {"ulp": 16, "why": "27 exact products summed in another order"}),
    ("conv_i8_preferred_i32", lambda x, k: conv_nchw(x, k, jnp.int32), [img_i8, ker_i8]),
    # ---- everyday operations ----
    ("einsum_matmul_transposed", lambda a, b: jnp.einsum("ij,jk->ki", a, b), [f32, g32],
     {"ulp": 2, "why": "6-term sums in another order"}),
    ("einsum_batched", lambda a, b: jnp.einsum("bij,bjk->bik", a, b), [b3, c3],
     {"ulp": 2, "why": "4-term sums in another order"}),
    ("einsum_trace_diag_sum", lambda s: (jnp.einsum("ii->", s), jnp.einsum("ii->i", s),
                                         jnp.einsum("ij->j", s)), [sq32],
     {"ulp": 32, "why": "5-term sums with cancellation: kiln sums in float64, XLA in float32"}),
    ("einsum_outer_inner", lambda a, b: (jnp.einsum("i,j->ij", a, b), jnp.einsum("i,i", a, a),
                                         jnp.einsum("ij,ij->i", f32, f32)),
     [f32[0], g32[:, 0].copy()], {"ulp": 2, "why": "sums in another order"}),
    ("one_hot", lambda x: (jax.nn.one_hot(x, 5), jax.nn.one_hot(x, 4, dtype=jnp.int32, axis=0)),
     [labels]),
    ("tril_triu", lambda s: (jnp.tril(s), jnp.triu(s, 1), jnp.tril(s, -2), jnp.triu(b3)),
     [sq32]),
    ("stack_split", lambda a: (jnp.stack([a, a * 2], axis=1), *jnp.split(a, 2, axis=1),
                               *jnp.split(a, [1, 3], axis=0)), [f32]),
    ("randint_i32", lambda k: (jax.random.randint(k, (12,), 0, 10),
                               jax.random.randint(k, (3, 4), -5, 1000000)), [key]),
    ("randint_u8_i16", lambda k: (jax.random.randint(k, (8,), 0, 256, dtype=jnp.uint8),
                                  jax.random.randint(k, (8,), -300, 300, dtype=jnp.int16)),
     [key]),
    ("randint_i64_u64", lambda k: (
        jax.random.randint(k, (6,), -2**40, 2**50, dtype=jnp.int64),
        jax.random.randint(k, (5,), 0, 2**62 + 12345, dtype=jnp.uint64),
        jax.random.randint(k, (4,), -2**63, 2**63 - 1, dtype=jnp.int64)), [key], {"x64": True}),
]
