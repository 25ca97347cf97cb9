"""Gather, scatter and dynamic slices as users write them: numpy indexing, x.at[...], jnp.take,
take_along_axis, lax.dynamic_slice / dynamic_update_slice with in- and out-of-range starts, and
an embedding lookup, across dtypes."""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

rng = np.random.default_rng(1616)
f32 = rng.standard_normal((5, 4)).astype(np.float32)
f32_3d = rng.standard_normal((3, 5, 4)).astype(np.float32)
bf16 = f32.astype(jnp.bfloat16)
i32 = rng.integers(-50, 50, (5, 4)).astype(np.int32)
u8 = rng.integers(0, 255, (6,)).astype(np.uint8)
bools = rng.integers(0, 2, (5, 4)).astype(np.bool_)
f64 = rng.standard_normal((4, 3))
edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.5], np.float32)
idx = np.array([3, 0, -1, 4], np.int32)
dup = np.array([1, 3, 1, 1], np.int32)  # repeated indices combine
oob = np.array([0, 7, -9, 2], np.int32)  # out of range: gather clamps, scatter drops
i0 = np.int32(2)
cols = np.array([[0, 3], [1, 1], [2, 0], [3, 2], [0, 0]], np.int32)
vocab = rng.standard_normal((50, 8)).astype(np.float32)
tokens = rng.integers(0, 50, (2, 7)).astype(np.int32)


def embed(table, ids):
    return jnp.take(table, ids, axis=0)


PROGRAMS = [
    # numpy indexing
    ("index_int_f32", lambda x, i: x[i], [f32, i0]),
    ("index_int_int_f32", lambda x, i: x[i, -1], [f32, i0]),
    ("index_array_f32", lambda x, i: x[i], [f32, idx]),
    ("index_array_cols_f32", lambda x, i: x[:, i[:2]], [f32, idx]),
    ("index_none_slice_f32", lambda x: x[None, 1:3], [f32]),
    ("index_two_arrays_i32", lambda x, i: x[i, i[::-1] % 4], [i32, idx]),
    ("index_mixed_3d_f32", lambda x, i: x[1, i, ::2], [f32_3d, idx]),
    ("index_array_bf16", lambda x, i: x[i], [bf16, idx]),
    ("index_array_bool", lambda x, i: x[i], [bools, idx]),
    ("index_array_u8", lambda x, i: x[i], [u8, idx]),
    ("index_clamped_f32", lambda x, i: x[i], [f32, oob]),
    # x.at[...]
    ("at_set_f32", lambda x, i: x.at[i].set(7.0), [f32, idx]),
    ("at_set_dup_f32", lambda x, i, v: x.at[i].set(v), [f32, dup, f32[:4]]),
    ("at_add_dup_f32", lambda x, i, v: x.at[i].add(v), [f32, dup, f32[:4] * 3]),
    ("at_add_oob_f32", lambda x, i: x.at[i].add(1.0), [f32, oob]),
    ("at_mul_i32", lambda x, i: x.at[i].multiply(3), [i32, dup]),
    ("at_min_max_f32", lambda x, i, v: (x.at[i].min(v), x.at[i].max(v)), [f32, dup, f32[:4]]),
    ("at_max_edges_f32", lambda x, v: x.at[jnp.array([0, 2, 4])].max(v),
     [edges, np.array([1.0, np.nan, -1.0], np.float32)]),
    ("at_set_bool", lambda x, i: x.at[i].set(True), [bools, idx]),
    ("at_get_fill_default_f32", lambda x, i: (x.at[i].get(mode="fill"),
                                              x.at[i, 1:].get(mode="fill", fill_value=-2.5)),
     [f32, oob]),
    ("at_get_fill_i32_u8", lambda x, y, i: (x.at[i].get(mode="fill"), y.at[i].get(mode="fill")),
     [i32, u8, oob]),
    ("at_add_bf16", lambda x, i: x.at[i].add(x[0]), [bf16, dup]),
    ("at_get_fill_f32", lambda x, i: x.at[i].get(mode="fill", fill_value=-1.0), [f32, oob]),
    ("at_set_2d_f32", lambda x: x.at[1:3, 2].set(0.0), [f32]),
    # take / take_along_axis
    ("take_fill_f32", lambda x, i: jnp.take(x, i, axis=1), [f32, oob]),
    ("take_clip_i32", lambda x, i: jnp.take(x, i, axis=0, mode="clip"), [i32, oob]),
    ("take_wrap_f32", lambda x, i: jnp.take(x, i, mode="wrap"), [f32, oob]),
    ("take_along_axis_f32", lambda x, i: jnp.take_along_axis(x, i, axis=1), [f32, cols]),
    ("take_along_axis_argsort_i32", lambda x: jnp.take_along_axis(x, jnp.argmax(x, axis=1,
     keepdims=True), axis=1), [i32]),
    # lax dynamic slices
    ("dynamic_slice_f32", lambda x, i: lax.dynamic_slice(x, (i, 1), (2, 3)), [f32, i0]),
    ("dynamic_slice_oob_f32", lambda x: lax.dynamic_slice(x, (jnp.int32(4), jnp.int32(-7)),
                                                          (3, 2)), [f32]),
    ("dynamic_slice_in_dim_i32", lambda x, i: lax.dynamic_slice_in_dim(x, i, 2, axis=1),
     [i32, i0]),
    ("dynamic_update_slice_f32", lambda x, u, i: lax.dynamic_update_slice(x, u, (i, i)),
     [f32, f32[:2, :2] * 10, i0]),
    ("dynamic_update_slice_oob_bf16", lambda x, i: lax.dynamic_update_slice(
        x, jnp.ones((2, 3), jnp.bfloat16), (i * 5, -i)), [bf16, i0]),
    ("dynamic_index_in_dim_f64", lambda x, i: lax.dynamic_index_in_dim(x, i, 1, keepdims=False),
     [f64, i0], {"x64": True}),
    # embedding lookup and its gradient (a scatter-add)
    ("embed_lookup_f32", embed, [vocab, tokens]),
    ("embed_grad_f32", lambda t, ids: jax.grad(lambda t: (embed(t, ids) ** 2).sum())(t),
     [vocab, tokens], {"ulp": 1, "why": "repeated ids: sums of two or more cotangents"}),
    ("gather_grad_f32", lambda x, i: jax.grad(lambda x: (x[i] * x[i]).sum())(x), [f32, dup]),
]
