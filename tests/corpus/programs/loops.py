"""Loops JAX writes as stablehlo.while: lax.fori_loop / while_loop / scan with static trip counts
(kiln's importer unrolls them, docs/import.md "While loops"), and the PRNG draws whose
threefry2x32 is such a loop on CPU."""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

rng = np.random.default_rng(1617)
f32 = rng.standard_normal((3, 4)).astype(np.float32)
w32 = (0.5 * rng.standard_normal((4, 4))).astype(np.float32)
xs = rng.standard_normal((6, 3)).astype(np.float32)
i32 = rng.integers(-9, 9, (5,)).astype(np.int32)
key = np.array([0, 7], np.uint32)


def rnn(x, w):
    return lax.fori_loop(0, 4, lambda i, h: jnp.tanh(h @ w + i.astype(jnp.float32)), x)


def scan_cumsum(xs):
    return lax.scan(lambda c, x: (c + x, c * x), jnp.zeros(xs.shape[1:], xs.dtype), xs)


def doubling(x):
    return lax.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 2 + c[0]), (0, x))


PROGRAMS = [
    ("fori_loop_affine_f32", lambda x: lax.fori_loop(0, 5, lambda i, x: x * 0.5 + i, x), [f32]),
    ("fori_loop_rnn_f32", rnn, [f32, w32], {"ulp": 4,
     "why": "tanh and four chained products, rounded differently from XLA's"}),
    ("fori_loop_int_i32", lambda x: lax.fori_loop(2, 7, lambda i, x: x * 3 - i, x), [i32]),
    ("while_loop_counter", doubling, [i32]),
    ("scan_carry_and_stack_f32", scan_cumsum, [xs]),
    ("random_uniform_f32", lambda k: jax.random.uniform(k, (3, 5)), [key]),
    ("random_bits_split_fold_in", lambda k: (jax.random.bits(k, (6,)), jax.random.split(k, 3),
                                             jax.random.fold_in(k, 11)), [key]),
    ("random_bernoulli", lambda k: jax.random.bernoulli(k, 0.3, (10,)), [key]),
]
