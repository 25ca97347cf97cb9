#!/usr/bin/env python3
"""JAX's results for the indexing operations tests/ops/indexing_test.cpp runs through kiln's API
(index, at, take, take_along_axis, dynamic slices, and gradients through them). The inputs are
small integer-valued arrays both sides build the same way; every output is exact.

    build/reference-venv/bin/python tests/ops/make_indexing_references.py \
        tests/ops/data/indexing_jax.msgpack
"""
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import serialization  # noqa: E402
from jax import lax  # noqa: E402

x = jnp.arange(20, dtype=jnp.float32).reshape(5, 4)
xi = jnp.arange(20, dtype=jnp.int32).reshape(5, 4) - 7
x3 = jnp.arange(60, dtype=jnp.float32).reshape(3, 5, 4)
idx = jnp.array([3, 0, -1, 4], jnp.int32)
dup = jnp.array([1, 3, 1, 1], jnp.int32)
oob = jnp.array([0, 7, -9, 2], jnp.int32)
uidx = jnp.array([3, 0, -4, 4], jnp.int32)
cols = jnp.array([[0, 3], [1, 1], [2, 0], [3, 2], [0, -1]], jnp.int32)
vals = jnp.array([10.0, -1.0, 5.0, 2.0], jnp.float32)  # one per index of dup, broadcast by row

CASES = {
    "index_int": lambda: x[2],
    "index_neg_slice": lambda: x[-1, 1:3],
    "index_step": lambda: x[::-2, 1],
    "index_array": lambda: x[idx],
    "index_array_cols": lambda: x[:, idx[:3]],
    "index_none": lambda: x[None, 1:3],
    "index_two_arrays": lambda: x[idx, dup],
    "index_noncontiguous": lambda: x3[jnp.array([0, 2]), :, jnp.array([1, 3])],
    "index_mixed": lambda: x3[1, idx, ::2],
    "index_array_newaxis": lambda: x[idx, None],
    "index_ellipsis": lambda: x3[..., 1],
    "index_clamped": lambda: x[oob],
    "index_2d_array": lambda: x[cols],
    "at_set": lambda: x.at[idx].set(7.0),
    "at_set_dup": lambda: x.at[dup].set(vals[:, None]),
    "at_add_dup": lambda: x.at[dup].add(1.0),
    "at_mul_int": lambda: xi.at[dup].multiply(3),
    "at_min": lambda: x.at[dup].min(vals[:, None]),
    "at_max": lambda: x.at[dup].max(vals[:, None]),
    "at_add_oob": lambda: x.at[oob].add(100.0),
    "at_set_slice": lambda: x.at[1:3, 2].set(0.0),
    "at_set_step": lambda: x.at[::2].set(-1.0),
    "at_set_2d": lambda: x.at[idx, dup].set(-3.0),
    "at_get": lambda: x.at[idx].get(),
    "take_fill": lambda: jnp.take(x, oob, axis=1),
    "take_clip": lambda: jnp.take(xi, oob, axis=0, mode="clip"),
    "take_wrap": lambda: jnp.take(x, oob, axis=1, mode="wrap"),
    "take_flat": lambda: jnp.take(x, oob * 3),
    "take_along_axis": lambda: jnp.take_along_axis(x, cols, axis=1),
    "take_along_axis_0": lambda: jnp.take_along_axis(xi, jnp.array([[4, 0, 1, 9]]), axis=0),
    "dynamic_slice": lambda: lax.dynamic_slice(x, (2, 1), (2, 3)),
    "dynamic_slice_oob": lambda: lax.dynamic_slice(x, (4, -7), (3, 2)),
    "dynamic_slice_neg": lambda: lax.dynamic_slice(x, (-2, -3), (2, 2)),
    "dynamic_update_slice": lambda: lax.dynamic_update_slice(x, -5 * jnp.ones((2, 2)), (3, -1)),
    "dynamic_slice_in_dim": lambda: lax.dynamic_slice_in_dim(x, 3, 2, axis=1),
    "dynamic_update_slice_in_dim": lambda: lax.dynamic_update_slice_in_dim(
        x, jnp.zeros((5, 1)), -1, axis=1),
    "dynamic_index_in_dim": lambda: lax.dynamic_index_in_dim(x, 6, 0, keepdims=False),
    "grad_index": lambda: jax.grad(lambda x: (x[dup] * x[dup]).sum())(x),
    "grad_take_clip": lambda: jax.grad(lambda x: (jnp.take(x, oob, axis=1, mode="clip") ** 2)
                                       .sum())(x),
    "grad_at_add": lambda: jax.grad(lambda v: (x.at[dup].add(v[:, None] ** 2) ** 2).sum())(vals),
    "grad_at_mul_unique": lambda: jax.grad(lambda v: (x.at[uidx].multiply(
        v[:, None], unique_indices=True) ** 2).sum())(vals),
    "grad_at_max": lambda: jax.grad(lambda x: x.at[dup].max(vals[:, None]).sum())(x),
    "grad_dynamic_slice": lambda: jax.grad(lambda x: (lax.dynamic_slice(x, (4, -7), (3, 2)) ** 2)
                                           .sum())(x),
    # at[...].get(mode="fill"): out-of-range windows (after negatives wrap once) give the fill
    "at_get_fill": lambda: x.at[oob].get(mode="fill"),
    "at_get_fill_value": lambda: xi.at[oob, 1:].get(mode="fill", fill_value=-1),
    "at_get_fill_int": lambda: xi.at[oob].get(mode="fill"),
    "at_get_fill_u8": lambda: x.astype(jnp.uint8).at[oob].get(mode="fill"),
    "at_get_fill_bool": lambda: (x > 5).at[oob].get(mode="fill"),
    "at_get_fill_static": lambda: x.at[7, 1].get(mode="fill"),
    "at_get_fill_2d": lambda: x.at[idx, oob].get(mode="fill"),
    "at_get_fill_step": lambda: x3.at[::2, oob].get(mode="fill", fill_value=0.5),
    "at_get_clip": lambda: x.at[oob].get(mode="clip"),
    # boolean masks on concrete arrays: mask.nonzero()
    "index_mask_rows": lambda: x[x[:, 0] > 4],
    "index_mask_2d": lambda: x[x > 7],
    "index_mask_cols": lambda: x[1:, np.array([True, False, True, True])],
    "index_mask_empty": lambda: x[x > 100],
    "index_mask_and_array": lambda: x3[jnp.array([0, 2]), np.array([False, True, False, False,
                                                                     True])],
    "index_mask_ellipsis": lambda: x3[..., np.array([True, False, False, True])],
    "at_mask_set": lambda: x.at[x > 7].set(0.0),
    "at_mask_add_3d": lambda: x3.at[x3[:, :, 0] > 30].add(1.0),
    "grad_dynamic_update_slice": lambda: jax.grad(
        lambda u: (lax.dynamic_update_slice(x, u, (3, -1)) ** 2).sum())(jnp.ones((2, 2))),
}

out = {name: np.asarray(f()) for name, f in CASES.items()}
with open(sys.argv[1], "wb") as f:
    f.write(serialization.to_bytes(out))
print(f"wrote {len(out)} cases to {sys.argv[1]}")
