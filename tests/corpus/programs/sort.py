"""Sorting, arg-reductions, products, any/all, cumulative ops, var/std and the random draws built
on sort (issue 16, items 3 and 4)."""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

rng = np.random.default_rng(1616)
edges = np.array([1.0, np.nan, -0.0, 0.0, 3.0, -np.nan, 3.0, -np.inf, np.inf, -2.5, 0.0, -0.0],
                 np.float32)
f32 = rng.standard_normal((5, 7)).astype(np.float32)
nan_f32 = f32.copy()
nan_f32[1, 3] = np.nan
nan_f32[3, 0] = np.nan
ties = rng.integers(0, 4, (6, 9)).astype(np.float32)
i32 = rng.integers(-20, 20, (6, 5)).astype(np.int32)
u8 = rng.integers(0, 4, (12,)).astype(np.uint8)
bools = rng.integers(0, 2, (4, 6)).astype(bool)
bf16 = rng.standard_normal((3, 40)).astype(jnp.bfloat16)
long_f32 = rng.standard_normal((2, 300)).astype(np.float32)
long_bf16 = rng.standard_normal((700,)).astype(jnp.bfloat16)
near_one = (1 + 0.05 * rng.standard_normal((3, 50))).astype(np.float32)
key = np.array([0, 42], np.uint32)
probs = np.array([0.1, 0.0, 0.3, 0.2, 0.4], np.float32)


PROGRAMS = [
    # sort: JAX's comparator (-0.0 == 0.0, NaNs last, stable), several dtypes
    ("sort_f32_edges", jnp.sort, [edges]),
    ("sort_f32_axis0_desc", lambda x: jnp.sort(x, axis=0, descending=True), [nan_f32]),
    ("sort_i32_u8_bool", lambda a, b, c: (jnp.sort(a, axis=0), jnp.sort(b), jnp.sort(c)),
     [i32, u8, bools]),
    ("sort_bf16", lambda x: jnp.sort(x, axis=-1), [bf16]),
    ("argsort_f32_edges", lambda x: (jnp.argsort(x), jnp.argsort(x, descending=True)), [edges]),
    ("argsort_ties_stable", lambda x: (jnp.argsort(x, axis=1), jnp.argsort(x, axis=0,
                                                                            descending=True)),
     [ties]),
    ("argsort_i32", lambda x: jnp.argsort(x, axis=0), [i32]),
    ("lexsort_two_keys", lambda a, b, c: lax.sort((a, b, c), dimension=1, num_keys=2),
     [ties, ties[::-1].copy(), rng.integers(-9, 9, (6, 9)).astype(np.int32)]),
    ("sort_key_val", lambda k, v: lax.sort_key_val(k, v), [i32[:, 0].copy(), f32[0, :6].copy()]),
    ("top_k_f32_edges", lambda x: lax.top_k(x, 5), [edges]),
    ("top_k_i32_rows", lambda x: lax.top_k(x, 3), [i32]),
    # arg-reductions in every form JAX writes
    ("argmin_argmax_nan", lambda x: (jnp.argmin(x, axis=1), jnp.argmax(x, axis=0),
                                     jnp.argmin(x, axis=0, keepdims=True)), [nan_f32]),
    ("argmin_i32_flat", lambda x: (jnp.argmin(x), jnp.argmax(x)), [i32]),
    ("argmax_bool", lambda x: (jnp.argmax(x, axis=1), jnp.argmin(x, axis=0)), [bools]),
    ("lax_argmin_index_i64", lambda x: lax.argmin(x, 1, jnp.int64), [f32], {"x64": True}),
    # products, any/all, min
    ("prod_f32", lambda x: (jnp.prod(x, axis=0), jnp.prod(x[:2], axis=1)), [near_one],
     {"ulp": 2, "why": "kiln's products accumulate in float64 and round once; XLA's in float32"}),
    ("prod_i32", lambda x: jnp.prod(x % 5, axis=1), [i32]),
    ("any_all_bool", lambda x: (jnp.any(x), jnp.all(x, axis=0), jnp.any(x, axis=1)), [bools]),
    ("any_all_f32", lambda x: (jnp.any(x > 1.0, axis=0), jnp.all(x), jnp.any(x)), [edges]),
    ("min_f32_nan", lambda x: (x.min(), jnp.min(x, axis=1)), [nan_f32], {"ulp": 1, "why": "XLA's vectorised min/max may return a NaN with the sign bit set (-nan) where kiln keeps the operand's NaN; both are NaN"}),
    ("var_std_f32", lambda x: (jnp.var(x), jnp.std(x, axis=0), jnp.var(x, axis=1, ddof=1)),
     [f32], {"ulp": 4, "why": "kiln's sums associate differently from XLA's"}),
    # cumulative ops (reduce_window on CPU), XLA's rounding
    ("cumsum_f32_long", lambda x: (jnp.cumsum(x, axis=1), lax.cumsum(x, axis=1, reverse=True)),
     [long_f32]),
    ("cumsum_bf16", jnp.cumsum, [long_bf16]),
    ("cumsum_bool_i32", lambda b, i: (jnp.cumsum(b, axis=1), jnp.cumsum(i, axis=0)),
     [bools, i32]),
    ("cumprod_f32", lambda x: (jnp.cumprod(x, axis=1), lax.cumprod(x, axis=0, reverse=True)),
     [near_one]),
    ("cummax_cummin", lambda x, i: (lax.cummax(x, axis=1), lax.cummin(x, axis=0, reverse=True),
                                    lax.cummin(i, axis=1)), [nan_f32, i32], {"ulp": 1, "why": "XLA's vectorised min/max may return a NaN with the sign bit set (-nan) where kiln keeps the operand's NaN; both are NaN"}),
    ("reduce_window_min_mul", lambda x: (lax.reduce_window(x, jnp.inf, lax.min, (2, 3), (1, 2),
                                                           "VALID"),
                                         lax.reduce_window(x, 1.0, lax.mul, (1, 2), (1, 1),
                                                           "SAME")), [f32]),
    # random draws built on sort / top_k / cumsum, under jit
    ("permutation_n", lambda k: jax.random.permutation(k, 10), [key]),
    ("permutation_rows", lambda k, x: (jax.random.permutation(k, x),
                                       jax.random.permutation(k, x, axis=1)), [key, f32]),
    ("permutation_independent", lambda k, x: jax.random.permutation(k, x, axis=1,
                                                                    independent=True), [key, f32]),
    ("choice_no_replace", lambda k: jax.random.choice(k, 12, (5,), replace=False), [key]),
    ("choice_replace", lambda k: (jax.random.choice(k, 7, (4, 3)), jax.random.choice(k, 1000, (5,))),
     [key]),
    ("choice_p", lambda k, p: (jax.random.choice(k, 5, (4, 3), p=p),
                               jax.random.choice(k, 5, (3,), replace=False, p=p)),
     [key, probs]),
]
