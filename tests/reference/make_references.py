#!/usr/bin/env python3
"""Reference data from real JAX, Flax and optax for kiln's tests (docs/reference.md).

Run with the reference venv's python (scripts/install.sh --reference):

    build/reference-venv/bin/python tests/reference/make_references.py OUT_DIR
        writes the references into OUT_DIR (tests/reference/data/ is the committed copy; CI
        regenerates it and compares: scripts/reference-check)
    build/reference-venv/bin/python tests/reference/make_references.py --compare DIR1 DIR2
        the two folders hold the same references (text exactly, numbers to float32 rounding)
    build/reference-venv/bin/python tests/reference/make_references.py --check-kiln DIR
        loads the TrainState files kiln wrote into DIR (kiln_<optimizer>.msgpack, by
        ReferenceOptax.KilnStateLoadsInFlax) with flax.serialization.from_bytes on Flax's own
        template and compares them with Flax's state after the same 20 steps

What is written (every float is float32; msgpack files are flax.serialization.to_bytes):
  tutorial.json, tutorial_params.msgpack   the TT-XLA tutorial run by JAX on the CPU
  init_seed<S>.msgpack                     Flax init of Dense/Conv/Embed/LayerNorm/BatchNorm with
                                           default and named initializers, jax.random.key(S)
  optax_<name>_step<N>.msgpack             a TrainState after N (10, 20) steps of each optimizer
  schedules.json                           each optax schedule at counts 0..24
  jax_<model>.mlir, jax_<model>_io.msgpack jax.jit(apply).lower(variables, x).as_text() of real
                                           models, with inputs and JAX's outputs
  complex_dense_params.msgpack,            a NetKet-style model with complex64 parameters: its
  jax_complex_dense.mlir, ..._io.msgpack   Flax file, its lowering, inputs and outputs
"""
import json
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import flax  # noqa: E402
import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import serialization  # noqa: E402
from flax.training import train_state  # noqa: E402


def f32list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- (a) the tutorial ----
class SimpleMLP(nn.Module):
    features: int = 8

    @nn.compact
    def __call__(self, x):
        const_init = nn.initializers.constant(0.01)
        x = nn.Dense(self.features, kernel_init=const_init, bias_init=const_init)(x)
        x = nn.relu(x)
        x = nn.Dense(1, kernel_init=const_init, bias_init=const_init)(x)
        return x


def tutorial(out):
    model = SimpleMLP()
    params = model.init(jax.random.key(0), jnp.ones((16, 4)))
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(0.001))
    x = jnp.ones((16, 4))
    y = jnp.sum(x, axis=1, keepdims=True)

    def mse(p, state, x, y):
        return jnp.mean(jnp.square(state.apply_fn(p, x) - y))

    @jax.jit
    def train_step(state, x, y):
        grads = jax.grad(lambda p: mse(p, state, x, y))(state.params)
        return state.apply_gradients(grads=grads)

    losses = []
    for step in range(100):
        state = train_step(state, x, y)
        if step % 20 == 0:
            losses.append(float(mse(state.params, state, x, y)))
    pred = jax.jit(model.apply)(state.params, jnp.array([[1.0, 2.0, 3.0, 4.0]]))
    write(os.path.join(out, "tutorial_params.msgpack"), serialization.to_bytes(state.params))
    return {"loss_steps": [0, 20, 40, 60, 80], "losses": losses, "prediction": f32list(pred)}


# ---- (b) Flax init ----
I = nn.initializers
KERNEL_INITS = [
    ("lecun_normal", I.lecun_normal()),
    ("lecun_uniform", I.lecun_uniform()),
    ("glorot_normal", I.glorot_normal()),
    ("glorot_uniform", I.glorot_uniform()),
    ("xavier_normal", I.xavier_normal()),
    ("xavier_uniform", I.xavier_uniform()),
    ("he_normal", I.he_normal()),
    ("he_uniform", I.he_uniform()),
    ("kaiming_normal", I.kaiming_normal()),
    ("kaiming_uniform", I.kaiming_uniform()),
    ("normal", I.normal(0.02)),
    ("uniform", I.uniform(0.05)),
    ("truncated_normal", I.truncated_normal(0.02)),
    ("vs_fan_avg_uniform", I.variance_scaling(0.5, "fan_avg", "uniform")),
    ("vs_fan_out_truncated", I.variance_scaling(2.0, "fan_out", "truncated_normal")),
    ("vs_fan_in_normal", I.variance_scaling(1.5, "fan_in", "normal")),
    ("zeros", I.zeros),
    ("ones", I.ones),
    ("constant", I.constant(0.25)),
]


class InitModel(nn.Module):
    @nn.compact
    def __call__(self, x, img, ids):
        nn.Dense(3, name="dense_default")(x)
        for name, init in KERNEL_INITS:
            nn.Dense(3, kernel_init=init, name="dense_" + name)(x)
        nn.Dense(3, bias_init=I.normal(0.5), name="dense_bias_normal")(x)
        nn.Conv(4, (3, 3), name="conv_default")(img)
        nn.Conv(4, (3, 3), kernel_init=I.he_uniform(), bias_init=I.uniform(0.1),
                name="conv_he_uniform")(img)
        nn.Embed(10, 4, name="embed_default")(ids)
        nn.Embed(10, 4, embedding_init=I.normal(1.0), name="embed_normal")(ids)
        nn.LayerNorm(name="layernorm")(x)
        nn.BatchNorm(use_running_average=False, name="batchnorm")(x)
        return x


def init_refs(out):
    x = jnp.ones((2, 5))
    img = jnp.ones((1, 6, 6, 2))
    ids = jnp.array([[1, 2], [3, 9]], dtype=jnp.int32)
    for seed in (0, 42):
        v = InitModel().init(jax.random.key(seed), x, img, ids)
        write(os.path.join(out, f"init_seed{seed}.msgpack"), serialization.to_bytes(v))


# ---- (c, d) optax ----
W0 = np.array([[0.5, -1.25, 2.0], [0.0, 3.5, -0.75]], np.float32)
B0 = np.array([0.1, -0.2, 0.3], np.float32)
CW = np.array([[0.2, -0.1, 0.05], [0.3, 0.0, -0.4]], np.float32)
CB = np.array([-0.3, 0.25, 0.1], np.float32)


def grads_of(p):
    # the fixed problem: g = 0.3 p + c, in float32 (kiln computes p * 0.3f + c)
    return {"b": p["b"] * np.float32(0.3) + CB, "w": p["w"] * np.float32(0.3) + CW}


S = optax.schedules
SCHEDULES = {
    "constant": S.constant_schedule(0.1),
    "polynomial": S.polynomial_schedule(1.0, 0.1, 2.0, 10, 2),
    "linear": S.linear_schedule(1.0, 0.0, 10, 3),
    "exponential": S.exponential_decay(1.0, 5, 0.9),
    "exponential_staircase": S.exponential_decay(1.0, 4, 0.5, 2, staircase=True, end_value=0.2),
    "cosine": S.cosine_decay_schedule(1.0, 10, 0.1, 2.0),
    "warmup_cosine": S.warmup_cosine_decay_schedule(0.0, 1.0, 4, 20, 0.05),
    "join": S.join_schedules([S.constant_schedule(0.5), S.linear_schedule(0.5, 0.0, 10)], [5]),
}

OPTIMIZERS = {
    "sgd": optax.sgd(0.1),
    "sgd_momentum": optax.sgd(0.1, momentum=0.9),
    "sgd_nesterov": optax.sgd(0.1, momentum=0.9, nesterov=True),
    "adam": optax.adam(0.01),
    "adamw": optax.adamw(0.01, weight_decay=0.1),
    "adamw_masked": optax.adamw(0.01, weight_decay=0.1, mask={"b": False, "w": True}),
    "rmsprop": optax.rmsprop(0.01),
    "rmsprop_momentum": optax.rmsprop(0.01, momentum=0.9),
    "chain_clip_adam": optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.01)),
    "adam_warmup_cosine": optax.adam(S.warmup_cosine_decay_schedule(0.0, 0.01, 5, 20, 0.001)),
    "sgd_exponential": optax.sgd(S.exponential_decay(0.1, 5, 0.5)),
    "sgd_join": optax.sgd(SCHEDULES["join"]),
}


def flax_states(name, steps=20):
    tx = OPTIMIZERS[name]
    params = {"b": jnp.asarray(B0), "w": jnp.asarray(W0)}
    state = train_state.TrainState.create(apply_fn=None, params=params, tx=tx)
    states = {0: state}
    for step in range(1, steps + 1):
        state = state.apply_gradients(grads=grads_of(state.params))
        states[step] = state
    return states


def optax_refs(out):
    for name in OPTIMIZERS:
        states = flax_states(name)
        for n in (10, 20):
            write(os.path.join(out, f"optax_{name}_step{n}.msgpack"), serialization.to_bytes(states[n]))
    counts = jnp.arange(25, dtype=jnp.int32)
    return {name: f32list(jax.vmap(fn)(counts)) for name, fn in SCHEDULES.items()}


def check_kiln(folder):
    """kiln's TrainState files load in Flax and equal Flax's own states (float32 rounding)."""
    worst = 0.0
    bad = []
    for name in OPTIMIZERS:
        ref = flax_states(name)[20]
        path = os.path.join(folder, f"kiln_{name}.msgpack")
        with open(path, "rb") as f:
            restored = serialization.from_bytes(ref, f.read())  # Flax's template
        if int(restored.step) != 20:
            bad.append(f"{name}: step {restored.step}")
        for (kp, a), (_, b) in zip(jax.tree_util.tree_leaves_with_path(restored),
                                   jax.tree_util.tree_leaves_with_path(ref)):
            a, b = np.asarray(a), np.asarray(b)
            if jax.tree_util.keystr(kp) == ".step":
                # Flax's step is a Python int outside jit (int64 here), an int32 array inside
                # it; kiln writes int32 as a jitted step does. The value is what must agree.
                if int(a) != int(b):
                    bad.append(f"{name}: step {a} vs {b}")
                continue
            if a.shape != b.shape or a.dtype != b.dtype:
                bad.append(f"{name} {jax.tree_util.keystr(kp)}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
                continue
            if a.dtype.kind == "f":
                d = float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0))
                tol = 1e-6 * max(1.0, float(np.max(np.abs(b), initial=0.0)))
                worst = max(worst, d)
                if d > tol:
                    bad.append(f"{name} {jax.tree_util.keystr(kp)}: differs by {d}")
            elif not np.array_equal(a, b):
                bad.append(f"{name} {jax.tree_util.keystr(kp)}: {a} vs {b}")
    print(f"{len(OPTIMIZERS)} kiln TrainState files loaded by flax.serialization.from_bytes; "
          f"largest difference from Flax's own state {worst:g}")
    for b in bad:
        print("MISMATCH", b)
    return 1 if bad else 0


# ---- (e) JAX-lowered models ----
class Mlp(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(32)(x))
        return nn.log_softmax(nn.Dense(10)(x))


class Cnn(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(8, (3, 3))(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = nn.avg_pool(nn.relu(nn.Conv(4, (3, 3))(x)), (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        return nn.softmax(nn.Dense(10)(x))


class TransformerBlock(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.LayerNorm()(x)
        h = nn.SelfAttention(num_heads=2, qkv_features=16, deterministic=True)(h)
        x = x + h
        h = nn.LayerNorm()(x)
        h = nn.Dense(32)(h)
        h = nn.gelu(h)  # approximate (tanh) form, Flax's default
        h = nn.Dense(16)(h)
        return x + h


def lowered_refs(out):
    rng = np.random.default_rng(7)
    models = {
        "mlp": (Mlp(), rng.standard_normal((4, 20)).astype(np.float32)),
        "cnn": (Cnn(), rng.standard_normal((2, 12, 12, 1)).astype(np.float32)),
        "transformer": (TransformerBlock(), rng.standard_normal((2, 6, 16)).astype(np.float32)),
        "tutorial": (SimpleMLP(), np.array([[1, 2, 3, 4], [0.5, -1, 2, 0]], np.float32)),
    }
    for name, (model, x) in models.items():
        v = model.init(jax.random.key(1), x)
        if name == "tutorial":  # trained-looking parameters, not the constant 0.01
            v = jax.tree_util.tree_map(
                lambda a: jnp.asarray(rng.standard_normal(a.shape).astype(np.float32)), v)
        f = jax.jit(model.apply)
        text = f.lower(v, x).as_text()
        y = f(v, x)
        inputs = jax.tree_util.tree_leaves(v) + [x]
        with open(os.path.join(out, f"jax_{name}.mlir"), "w") as fh:
            fh.write(text)
        io = {"inputs": {f"{i:02d}": np.asarray(a) for i, a in enumerate(inputs)},
              "outputs": {"00": np.asarray(y)}}
        write(os.path.join(out, f"jax_{name}_io.msgpack"), serialization.msgpack_serialize(io))


class ComplexDense(nn.Module):
    """NetKet-style: complex64 parameters on real inputs, a sum of a holomorphic activation
    (log psi of a one-layer network)."""

    @nn.compact
    def __call__(self, x):
        h = nn.Dense(6, param_dtype=jnp.complex64)(x)
        return jnp.sum(jnp.tanh(h) * jnp.exp(-0.5 * h), axis=-1)


def complex_refs(out):
    rng = np.random.default_rng(11)
    model = ComplexDense()
    x = rng.standard_normal((3, 5)).astype(np.float32)
    v = model.init(jax.random.key(3), x)
    write(os.path.join(out, "complex_dense_params.msgpack"), serialization.to_bytes(v))
    f = jax.jit(model.apply)
    with open(os.path.join(out, "jax_complex_dense.mlir"), "w") as fh:
        fh.write(f.lower(v, x).as_text())
    inputs = jax.tree_util.tree_leaves(v) + [x]
    io = {"inputs": {f"{i:02d}": np.asarray(a) for i, a in enumerate(inputs)},
          "outputs": {"00": np.asarray(f(v, x))}}
    write(os.path.join(out, "jax_complex_dense_io.msgpack"), serialization.msgpack_serialize(io))


def compare(a_dir, b_dir):
    """Two reference folders agree: .mlir text exactly, numbers to float32 rounding (XLA's CPU
    kernels may round differently on another processor)."""
    bad = []
    worst = 0.0
    names = sorted(set(os.listdir(a_dir)) | set(os.listdir(b_dir)))
    for n in names:
        pa, pb = os.path.join(a_dir, n), os.path.join(b_dir, n)
        if not (os.path.exists(pa) and os.path.exists(pb)):
            bad.append(f"{n}: only in one folder")
            continue
        if n.endswith(".mlir"):
            if open(pa).read() != open(pb).read():
                bad.append(f"{n}: text differs")
            continue
        if n.endswith(".json"):
            ta, tb = json.load(open(pa)), json.load(open(pb))
        else:
            ta = serialization.msgpack_restore(open(pa, "rb").read())
            tb = serialization.msgpack_restore(open(pb, "rb").read())
        la, lb = jax.tree_util.tree_leaves(ta), jax.tree_util.tree_leaves(tb)
        if jax.tree_util.tree_structure(ta) != jax.tree_util.tree_structure(tb):
            bad.append(f"{n}: structure differs")
            continue
        for x, y in zip(la, lb):
            if isinstance(x, str) or isinstance(y, str):
                if x != y:
                    bad.append(f"{n}: {x} vs {y}")
                continue
            kind = np.complex128 if np.iscomplexobj(x) or np.iscomplexobj(y) else np.float64
            x, y = np.asarray(x, kind), np.asarray(y, kind)
            d = float(np.max(np.abs(x - y), initial=0.0))
            worst = max(worst, d)
            if x.shape != y.shape or not np.allclose(x, y, rtol=1e-5, atol=1e-6):
                bad.append(f"{n}: differs by {d}")
    print(f"{len(names)} reference files compared; largest numeric difference {worst:g}")
    for b in bad:
        print("MISMATCH", b)
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--check-kiln":
        return check_kiln(argv[2])
    if len(argv) == 4 and argv[1] == "--compare":
        return compare(argv[2], argv[3])
    if len(argv) != 2:
        print(__doc__)
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    refs = {
        "versions": {"jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__},
        "tutorial": tutorial(out),
        "schedules": None,
    }
    init_refs(out)
    refs["schedules"] = optax_refs(out)
    lowered_refs(out)
    complex_refs(out)
    with open(os.path.join(out, "references.json"), "w") as f:
        json.dump(refs, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
