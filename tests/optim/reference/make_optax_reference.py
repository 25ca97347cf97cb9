"""Writes optax_reference.json: optax's own numbers for the optimizers and wrappers kiln ports
(lion, lamb, adafactor, MultiSteps, multi_transform, inject_hyperparams), which
tests/optim/optax_reference_test.cpp compares kiln with.

Each case runs 4 steps on params {'b': float32[4], 'w': float32[3, 4]} with seeded normal
gradients, and records every step's updates and the final state as Flax writes it
(flax.serialization.to_state_dict: the layout kiln's checkpoints must have).

Run with the reference environment (jax, optax, flax), from the repository root:
    python tests/optim/reference/make_optax_reference.py
"""
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

STEPS = 4


def leaf(x):
    x = np.asarray(x)
    return {"dtype": str(x.dtype), "shape": list(x.shape),
            "data": [float(v) if x.dtype.kind == "f" else int(v) for v in x.reshape(-1)]}


def flat(tree, prefix=""):
    """{'a/b': leaf} for every array leaf of a state dict (empty dicts, optax's MaskedNode, vanish)."""
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(flat(v, f"{prefix}/{k}" if prefix else str(k)))
    else:
        out[prefix] = leaf(tree)
    return out


def run(tx):
    rng = np.random.default_rng(0)
    params = {"b": jnp.asarray(rng.normal(size=(4,)), jnp.float32),
              "w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)}
    grads = [{"b": jnp.asarray(rng.normal(size=(4,)), jnp.float32),
              "w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)} for _ in range(STEPS)]
    case = {"params": {k: leaf(v) for k, v in params.items()},
            "grads": [{k: leaf(v) for k, v in g.items()} for g in grads], "updates": []}
    state = tx.init(params)
    update = jax.jit(tx.update)
    for g in grads:
        updates, state = update(g, state, params)
        params = optax.apply_updates(params, updates)
        case["updates"].append({k: leaf(v) for k, v in updates.items()})
    case["state"] = flat(serialization.to_state_dict(state))
    return case


def label(params):
    return {"b": "sgd", "w": "adam"}


CASES = {
    "lion": optax.lion(learning_rate=0.01, weight_decay=0.1),
    "lamb": optax.lamb(learning_rate=0.01, weight_decay=0.01),
    "adafactor": optax.adafactor(learning_rate=0.1, min_dim_size_to_factor=2),
    "adafactor_defaults_factored": optax.adafactor(min_dim_size_to_factor=2),
    "adafactor_momentum_decay": optax.adafactor(learning_rate=0.05, min_dim_size_to_factor=2,
                                                momentum=0.9, weight_decay_rate=0.01,
                                                clipping_threshold=None),
    "multi_steps_mean": optax.MultiSteps(optax.adam(0.1), every_k_schedule=2),
    "multi_steps_sum": optax.MultiSteps(optax.sgd(0.1, momentum=0.9), every_k_schedule=3,
                                        use_grad_mean=False),
    "multi_transform": optax.multi_transform({"adam": optax.adam(0.1), "sgd": optax.sgd(0.01)},
                                             label),
    # A factory of the learning rate alone, as kiln's inject_hyperparams takes what it is given
    # (optax.inject_hyperparams(optax.adam) would also inject b1, b2, eps, eps_root as float32
    # arrays, which rounds 1 - b2 in float32 instead of in double).
    "inject_hyperparams": optax.inject_hyperparams(
        lambda learning_rate: optax.adam(learning_rate))(learning_rate=0.05),
    "inject_hyperparams_schedule": optax.inject_hyperparams(optax.sgd)(
        learning_rate=optax.linear_schedule(0.1, 0.01, 3)),
}

if __name__ == "__main__":
    out = {"optax": optax.__version__, "jax": jax.__version__,
           "cases": {name: run(tx) for name, tx in CASES.items()}}
    path = pathlib.Path(__file__).with_name("optax_reference.json")
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")
