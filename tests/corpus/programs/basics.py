"""What kiln imported before issue 16: dense layers, activations, reductions, convolutions,
pooling, shape operations, integer arithmetic, across dtypes."""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

rng = np.random.default_rng(16)
f32 = rng.standard_normal((4, 6)).astype(np.float32)
w32 = rng.standard_normal((6, 3)).astype(np.float32)
b32 = rng.standard_normal((3,)).astype(np.float32)
img = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
ker = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
i32 = rng.integers(-50, 50, (5, 4)).astype(np.int32)
i32b = rng.integers(1, 9, (5, 4)).astype(np.int32)
u8 = rng.integers(0, 255, (3, 7)).astype(np.uint8)
edges = np.array([0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, 1.2e-38, 3.4e38, -2.5],
                 np.float32)


def conv(x, k):
    return lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


PROGRAMS = [
    ("dense_relu_f32", lambda x, w, b: jax.nn.relu(x @ w + b), [f32, w32, b32]),
    ("dense_bf16", lambda x, w: x.astype(jnp.bfloat16) @ w.astype(jnp.bfloat16), [f32, w32]),
    ("softmax_f32", lambda x: jax.nn.softmax(x, axis=-1), [f32], {"ulp": 4,
     "why": "exp rounds differently from XLA's polynomial"}),
    ("log_softmax_f32", lambda x: jax.nn.log_softmax(x), [f32], {"ulp": 4,
     "why": "exp and log round differently from XLA's polynomials"}),
    ("sum_mean_max_f32", lambda x: (x.sum(0), x.mean(1), x.max(), x.min(0)), [f32], {"ulp": 2,
     "why": "kiln's sums associate differently from XLA's sequential order"}),
    ("elementwise_edges_f32", lambda x: (jnp.abs(x), -x, jnp.sign(x), jnp.floor(x),
                                         jnp.maximum(x, 0.0), x * 2.0), [edges]),
    ("where_compare_f32", lambda x, y: jnp.where(x > y, x, y * 2), [f32, f32[::-1].copy()]),
    ("conv_same_f32", conv, [img, ker], {"ulp": 8, "why": "a sum of 27 products, reassociated"}),
    ("max_pool_f32", lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1),
                                                 (1, 2, 2, 1), "VALID"), [img]),
    ("transpose_reshape_concat", lambda x: jnp.concatenate([x.T.reshape(3, 8), x.reshape(3, 8)]),
     [f32]),
    ("pad_slice_rev", lambda x: jnp.pad(x, ((1, 2), (0, 1)))[::-1, 1:5:2], [f32]),
    ("int32_arith", lambda a, b: (a // b, a % b, a * b - a, jnp.maximum(a, b)), [i32, i32b]),
    ("uint8_bits", lambda a: (a & 0x0F, a | 0x80, a ^ a[::-1], a << 1, a >> 2), [u8]),
    ("convert_chain", lambda x: x.astype(jnp.int32).astype(jnp.float16).astype(jnp.float32),
     [f32 * 100]),
    ("gelu_tanh_f32", lambda x: jax.nn.gelu(x), [f32], {"ulp": 16,
     "why": "tanh rounds differently from XLA's polynomial"}),
    # XLA's CPU flushes denormals to zero; kiln keeps IEEE denormals (docs/reference.md).
    ("sign_denormal_f32", lambda x: jnp.sign(x), [np.array([1e-40, -1e-45, 1.0], np.float32)]),
    ("argmax_f32", lambda x: jnp.argmax(x, axis=1), [f32]),
]
