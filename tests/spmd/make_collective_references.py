#!/usr/bin/env python3
"""Reference results of jax.shard_map with each collective, for kiln's tests (docs/multi-device.md).

Run with the reference venv's python (scripts/install.sh --reference):

    build/reference-venv/bin/python tests/spmd/make_collective_references.py OUT.json

tests/spmd/data/collectives.json is the committed copy. JAX runs on 8 CPU devices
(--xla_force_host_platform_device_count=8); every case runs on meshes of 2, 4 and 8 of them (and
one 2x4 mesh), with shard_map(check_vma=False), whose gradients kiln's collectives follow.
Inputs are multiples of 1/8 so that sums are exact in any order.
"""
import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, PartitionSpec as P  # noqa: E402

lax = jax.lax


def data(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(-16, 17, size=shape) / 8.0).astype(np.float32)


def weights(shape):
    return (np.arange(np.prod(shape)).reshape(shape) % 7 - 3).astype(np.float32) / 4


# name -> (body(n), in_spec, out_spec, global input shape(n))
def cases(n):
    w_gather = weights((2 * n, 3))
    w_a2a = weights((2, 3 * n))
    return {
        "psum": (lambda x: lax.psum(x, "i"), P("i"), P(), (2 * n, 3)),
        "pmean": (lambda x: lax.pmean(x, "i"), P("i"), P(), (2 * n, 3)),
        "pmax": (lambda x: lax.pmax(x, "i"), P("i"), P(), (2 * n, 3)),
        "all_gather": (lambda x: lax.all_gather(x, "i"), P("i"), P(), (2 * n, 3)),
        "all_gather_tiled_axis1": (lambda x: lax.all_gather(x, "i", axis=1, tiled=True), P("i"),
                                   P(), (2 * n, 3)),
        "psum_scatter_tiled": (lambda x: lax.psum_scatter(x, "i", scatter_dimension=0, tiled=True),
                               P("i"), P("i"), (2 * n * n, 3)),
        "psum_scatter": (lambda x: lax.psum_scatter(x, "i"), P("i"), P("i"), (n * n, 3)),
        "all_to_all_tiled": (lambda x: lax.all_to_all(x, "i", 0, 1, tiled=True), P("i"), P("i"),
                             (2 * n * n, 3)),
        "all_to_all": (lambda x: lax.all_to_all(x, "i", 0, 1), P("i"), P("i"), (n * n, 3)),
        "ppermute_ring": (lambda x: lax.ppermute(x, "i", [(j, (j + 1) % n) for j in range(n)]),
                          P("i"), P("i"), (2 * n, 3)),
        "ppermute_partial": (lambda x: lax.ppermute(x, "i", [(0, n - 1), (n - 1, 0)]), P("i"),
                             P("i"), (2 * n, 3)),
        "axis_index": (lambda x: x + lax.axis_index("i").astype(jnp.float32), P("i"), P("i"),
                       (2 * n, 3)),
        "grad_psum": (lambda x: jax.grad(lambda z: (lax.psum(z, "i") ** 2).sum())(x), P("i"),
                      P("i"), (2 * n, 3)),
        "grad_pmean": (lambda x: jax.grad(lambda z: (lax.pmean(z, "i") ** 3).sum())(x), P("i"),
                       P("i"), (2 * n, 3)),
        "grad_all_gather": (
            lambda x: jax.grad(lambda z: (lax.all_gather(z, "i", tiled=True) ** 2 * w_gather).sum())(x),
            P("i"), P("i"), (2 * n, 3)),
        "grad_psum_scatter": (
            lambda x: jax.grad(lambda z: (lax.psum_scatter(z, "i", tiled=True) ** 3).sum())(x),
            P("i"), P("i"), (2 * n * n, 3)),
        "grad_all_to_all": (
            lambda x: jax.grad(lambda z: (lax.all_to_all(z, "i", 0, 1, tiled=True) ** 2 * w_a2a).sum())(x),
            P("i"), P("i"), (2 * n * n, 3)),
        "grad_ppermute": (
            lambda x: jax.grad(lambda z: (jnp.sin(lax.ppermute(z, "i", [(j, (j + 1) % n) for j in range(n)])) * w_gather[:2]).sum())(x),
            P("i"), P("i"), (2 * n, 3)),
    }


def mesh2d_cases():
    return {
        "mesh2d_psum_y": (lambda x: lax.psum(x, "y"), P("x", "y"), P("x"), (4, 8)),
        "mesh2d_psum_xy": (lambda x: lax.psum(x, ("x", "y")), P("x", "y"), P(), (4, 8)),
        "mesh2d_all_gather_x": (lambda x: lax.all_gather(x, "x", tiled=True), P("x", "y"),
                                P(None, "y"), (4, 8)),
        "mesh2d_axis_index_xy": (lambda x: x + lax.axis_index(("x", "y")).astype(jnp.float32),
                                 P("x", "y"), P("x", "y"), (4, 8)),
    }


def run(mesh, body, in_spec, out_spec, shape, seed):
    x = data(shape, seed)
    f = jax.shard_map(body, mesh=mesh, in_specs=in_spec, out_specs=out_spec, check_vma=False)
    y = np.asarray(jax.jit(f)(x))
    return {"x": x.reshape(-1).tolist(), "x_shape": list(shape), "out": y.reshape(-1).tolist(),
            "out_shape": list(y.shape)}


def spec_list(spec):
    return [None if e is None else (list(e) if isinstance(e, tuple) else e) for e in spec]


def main(argv):
    out = []
    devs = jax.devices()
    assert len(devs) == 8, devs
    seed = 0
    for n in (2, 4, 8):
        mesh = Mesh(np.array(devs[:n]), ("i",))
        for name, (body, i, o, shape) in cases(n).items():
            seed += 1
            case = run(mesh, body, i, o, shape, seed)
            case.update(name=name, mesh_shape=[n], axis_names=["i"], in_spec=spec_list(i),
                        out_spec=spec_list(o))
            out.append(case)
    mesh = Mesh(np.array(devs).reshape(2, 4), ("x", "y"))
    for name, (body, i, o, shape) in mesh2d_cases().items():
        seed += 1
        case = run(mesh, body, i, o, shape, seed)
        case.update(name=name, mesh_shape=[2, 4], axis_names=["x", "y"], in_spec=spec_list(i),
                    out_spec=spec_list(o))
        out.append(case)
    with open(argv[1], "w") as f:
        json.dump({"jax_version": jax.__version__, "cases": out}, f, indent=None)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv)
