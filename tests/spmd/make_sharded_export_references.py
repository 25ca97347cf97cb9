#!/usr/bin/env python3
"""JAX's own StableHLO text for partitioned programs, for kiln's sharded export tests
(tests/spmd/sharded_export_test.cpp, sharding_constraint_test.cpp; docs/export.md).

Run with the reference venv's python (scripts/install.sh --reference):

    build/reference-venv/bin/python tests/spmd/make_sharded_export_references.py OUT.txt

tests/spmd/data/sharded_export.txt is the committed copy: one `key<TAB>text` per line. JAX runs
on 8 CPU devices with the GSPMD partitioner (jax_use_shardy_partitioner=False), whose text
(mhlo.sharding, custom_call @Sharding) kiln writes. Keys:
  layout <mesh shape> <axis names> <PartitionSpec> <rank>: HloSharding of NamedSharding(mesh, spec)
  <program>.<line>: a line of jax.jit(...).lower(...).as_text() for the tutorials' programs
"""
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

jax.config.update("jax_use_shardy_partitioner", False)

LAYOUTS = [
    ((2,), ("d",), P("d"), 2),
    ((2,), ("d",), P(None, "d"), 2),
    ((2,), ("d",), P(), 2),
    ((2, 4), ("a", "b"), P("a"), 2),
    ((2, 4), ("a", "b"), P("b"), 2),
    ((2, 4), ("a", "b"), P(None, "a"), 2),
    ((2, 4), ("a", "b"), P(None, "b"), 2),
    ((2, 4), ("a", "b"), P("a", "b"), 2),
    ((2, 4), ("a", "b"), P("b", "a"), 2),
    ((2, 4), ("a", "b"), P(("a", "b")), 2),
    ((2, 4), ("a", "b"), P(("b", "a")), 2),
    ((2, 2, 2), ("x", "y", "z"), P("z", ("x", "y")), 2),
    ((2, 2, 2), ("x", "y", "z"), P("y"), 2),
    ((2, 2, 2), ("x", "y", "z"), P(("z", "x")), 2),
    ((2, 2, 2), ("x", "y", "z"), P("x", None, "z"), 3),
    ((1, 8), ("p", "q"), P("q"), 2),
    ((1, 8), ("p", "q"), P("p"), 2),
    ((8, 1), ("p", "q"), P(None, "q"), 2),
    ((4, 1, 2), ("x", "y", "z"), P(("z", "x")), 2),
    ((2, 4), ("a", "b"), P(), 0),
]


def mesh_of(shape, names):
    devices = np.array(jax.devices()[: int(np.prod(shape))]).reshape(shape)
    return Mesh(devices, names)


def lines(text, name):
    """The module line, @main's signature and a custom_call line, keyed by `name`."""
    out = []
    for line in text.splitlines():
        if line.startswith("module @"):
            out.append((name + ".module", line))
        elif "func.func public @main" in line:
            out.append((name + ".main", line))
        elif "stablehlo.custom_call @Sharding" in line:
            out.append((name + ".custom_call", line))
    return out


class SimpleMLP(nn.Module):  # the data-parallel tutorial's model
    @nn.compact
    def __call__(self, x):
        x = nn.Dense(8)(x)
        x = nn.relu(x)
        return nn.Dense(8)(x)


class OneDense(nn.Module):  # the tensor-parallel tutorial's model
    @nn.compact
    def __call__(self, x):
        return nn.Dense(8, use_bias=False)(x)


def main(path):
    rows = []
    for shape, names, spec, rank in LAYOUTS:
        key = "layout %s %s %s %d" % (
            "x".join(map(str, shape)), ",".join(names), spec, rank)
        rows.append((key, str(NamedSharding(mesh_of(shape, names), spec)._to_xla_hlo_sharding(rank))))

    # Parameters are replicated: P() (kiln writes its None as {replicated}; JAX leaves None's out).
    model = SimpleMLP()
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((8, 8)))
    mesh = mesh_of((2,), ("data",))
    forward = jax.jit(lambda p, x: model.apply(p, x),
                      in_shardings=(NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))),
                      out_shardings=NamedSharding(mesh, P("data")))
    rows += lines(forward.lower(params, jnp.ones((8, 8))).as_text(), "data_parallel")

    dense = OneDense()
    params = dense.init(jax.random.PRNGKey(0), jnp.zeros((8, 8)))
    mesh = mesh_of((2,), ("model",))
    kernel = {"params": {"Dense_0": {"kernel": NamedSharding(mesh, P(None, "model"))}}}
    forward = jax.jit(lambda p, x: dense.apply(p, x),
                      in_shardings=(kernel, NamedSharding(mesh, P())),
                      out_shardings=NamedSharding(mesh, P(None, "model")))
    rows += lines(forward.lower(params, jnp.ones((8, 8))).as_text(), "tensor_parallel")

    mesh = mesh_of((4,), ("x",))
    constrained = jax.jit(
        lambda x: jax.lax.with_sharding_constraint(jnp.sin(x), NamedSharding(mesh, P(None, "x"))),
        in_shardings=NamedSharding(mesh, P("x")))
    rows += lines(constrained.lower(jnp.ones((8, 8))).as_text(), "constraint")

    with open(path, "w") as f:
        for key, text in rows:
            f.write(key + "\t" + text + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
