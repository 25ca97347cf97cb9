"""complex64 / complex128 as users write them: arithmetic, the parts (real, imag, conj, abs,
angle), transcendental functions, products, reductions, promotion from real operands, and a
NetKet-style layer."""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

rng = np.random.default_rng(1616)


def cplx(shape, dtype=np.complex64, scale=1.0):
    return (scale * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))).astype(dtype)


z = cplx((4, 5))
w = cplx((4, 5))
m = cplx((5, 3))
z128 = cplx((3, 4), np.complex128)
w128 = cplx((4, 2), np.complex128)
x32 = rng.standard_normal((4, 5)).astype(np.float32)
y32 = rng.standard_normal((4, 5)).astype(np.float32)
# Parts away from zero, where componentwise ulps measure the functions (a part near zero carries
# the absolute error of the whole value).
away = (rng.uniform(0.5, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4))
        + 1j * rng.uniform(0.5, 2.0, (3, 4)) * rng.choice([-1, 1], (3, 4))).astype(np.complex64)
edges = np.array([0j, complex(-0.0, 0.0), 1 + 0j, 1j, -1j, 3 - 4j, complex(np.inf, 0),
                  complex(0, np.inf), complex(np.nan, 1), complex(1e-30, -1e30)], np.complex64)
spins = rng.choice([-1.0, 1.0], (6, 8)).astype(np.float32)
rbm_w = cplx((8, 4), scale=0.1)
rbm_b = cplx((4,), scale=0.1)

PROGRAMS = [
    ("c64_add_sub_neg", lambda a, b: (a + b, a - b, -a), [z, w]),
    ("c64_mul", lambda a, b: a * b, [z, w]),
    ("c64_div", lambda a, b: a / b, [z, w]),
    ("c64_edges_mul_div", lambda a: (a * a[::-1], a / (1 + 2j), a / a[::-1]), [edges]),
    ("c64_real_imag_conj", lambda a: (jnp.real(a), jnp.imag(a), jnp.conj(a), a.real * 2),
     [z]),
    ("c64_abs", lambda a: jnp.abs(a), [z], {"ulp": 1,
     "why": "the modulus is hypot in kiln and a scaled square root in XLA"}),
    ("c64_angle", lambda a: jnp.angle(a), [z]),
    ("lax_complex_f32", lambda a, b: lax.complex(a, b), [x32, y32]),
    ("c64_from_real_promotion", lambda a, b: a * b + 1j, [x32, z]),
    ("c64_astype", lambda a, b: (a.astype(jnp.complex64), b.astype(jnp.complex128).real),
     [x32, z], {"x64": True}),
    ("c64_compare_select", lambda a, b: (a == b, a != a[::-1], jnp.where(jnp.abs(a) > 1, a, b)),
     [z, w], {"ulp": 1, "why": "abs decides the selection: hypot vs XLA's scaled square root"}),
    ("c64_exp_log", lambda a: (jnp.exp(a), jnp.log(a)), [away], {"ulp": 4,
     "why": "glibc's cexp/clog vs XLA's own polynomials"}),
    ("c64_sqrt_rsqrt", lambda a: (jnp.sqrt(a), lax.rsqrt(a)), [away], {"ulp": 4,
     "why": "glibc's csqrt vs XLA's formula"}),
    ("c64_trig_tanh", lambda a: (jnp.sin(a), jnp.cos(a), jnp.tanh(a)), [away], {"ulp": 8,
     "why": "glibc's csin/ccos/ctanh vs XLA's compositions of real polynomials"}),
    ("c64_log1p_expm1", lambda a: (jnp.log1p(0.1 * a), jnp.expm1(0.1 * a)), [away], {"ulp": 8,
     "why": "log1p and expm1 of complex arguments composed from real functions differently"}),
    ("c64_pow", lambda a, b: (a ** b, a ** 2, a ** 3), [away, away[::-1].copy()], {"ulp": 64,
     "why": "exp(b log a): XLA computes it in float32, losing |b log a| epsilons; kiln in "
            "float64"}),
    ("c64_square_sign", lambda a: (jnp.square(a), jnp.sign(a)), [z], {"ulp": 2,
     "why": "chlo.square and the sign's modulus round differently"}),
    ("c64_matmul", lambda a, b: a @ b, [z, m], {"ulp": 64,
     "why": "a sum of 5 complex products associated differently; a part that cancels to a small "
            "value carries the error of the large terms"}),
    ("c128_matmul", lambda a, b: jnp.dot(a, b), [z128, w128], {"x64": True, "ulp": 64,
     "why": "a sum of 4 complex products associated differently; parts cancel"}),
    ("c64_einsum_batch", lambda a, b: jnp.einsum("ij,ij->i", a, b), [z, w], {"ulp": 64,
     "why": "a sum of 5 complex products associated differently; parts cancel"}),
    ("c64_sum_mean", lambda a: (a.sum(), a.sum(0), a.mean(1)), [z], {"ulp": 4,
     "why": "kiln's sums associate differently from XLA's"}),
    ("c64_shapes", lambda a: (a.T, a.reshape(5, 4), a[1:3, ::2], jnp.concatenate([a, a], 0),
                              jnp.pad(a, 1), a[::-1], jnp.broadcast_to(a[0], (2, 5))), [z]),
    ("c128_arith", lambda a: (a * a[::-1].conj(), a / (a + 1), jnp.abs(a) ** 2), [z128],
     {"x64": True, "ulp": 4, "why": "abs (hypot vs XLA's scaled square root), then squared"}),
    ("rbm_log_psi", lambda s, wt, b: jnp.sum(jnp.log(jnp.cosh(s @ wt + b)), axis=-1),
     [spins, rbm_w, rbm_b], {"ulp": 16, "why": "cosh and log of complex, composed"}),
    ("grad_abs2_c64", lambda a: jax.grad(lambda t: jnp.sum(jnp.abs(t) ** 2))(a), [z], {"ulp": 2,
     "why": "the modulus: hypot vs XLA's scaled square root"}),
    ("vjp_holomorphic_c64", lambda a, ct: jax.vjp(lambda t: jnp.exp(t) * t, a)[1](ct)[0],
     [away, away[::-1].copy()], {"ulp": 32, "why": "exp of complex, then products whose "
                                                  "parts cancel"}),
]
