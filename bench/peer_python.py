"""bench/compare's Python peers: JAX on XLA's CPU, PyTorch 2.x eager, and PyTorch with torch.compile.

compare_bench (bench/compare_bench.cpp) runs this script once per peer and thread count, in a
process of its own, from the bench venv (scripts/install.sh --bench-python):

    python bench/peer_python.py --peer jax|torch|torch-compile --threads N
        [--inputs inputs.msgpack] [--workloads abcdef] [--quick]

Each workload is written the way a user of that library writes it, starting from the weights and
batch kiln generated (--inputs: a Flax msgpack file with {"mlp": variables, "cnn": variables, "x":
[128, 784] float32, "y": [128] int32}), converted to the library's layouts. The script computes
what compare_bench checks (the losses of the first two train steps, the inference logits, the
tutorial's 100 losses) and times each workload as bench/harness.hpp does: calls per batch
calibrated to about 10 ms, the median of 21 batches (5 of ~2 ms with --quick), train steps
restarted from the initial weights and a fresh Adam state every 50 steps. It prints one line per
result, which compare_bench reads and checks before it reports any time:

    PEER <version> <threads the library reports> <what it is>
    THREADS <how they were pinned>
    LOSSES <key> <loss>...                          (train steps: the first two; tutorial: 100)
    LOGITS <key> <value>...
    TIME <key> <median ns> <fastest batch ns> <calls per batch> <batches>
    COMPILE <key> <ns>                              (jit_compile, jit_first_call)
    MEMORY <VmRSS before> <VmHWM step 1> <VmRSS after step 1> <VmHWM steps 2-50>   (KiB)
    UNAVAILABLE <key> <why>                         (torch.compile where it does not work)
    CPU <key> <process CPU seconds / wall seconds over the timed batches>

Threads (bench/README.md says the same): the process is first restricted to N of the CPUs it may
run on (sched_setaffinity, before the library is imported), so no library can use more than N
cores whatever pools it makes. Then JAX: XLA's CPU client sizes its thread pool from the CPUs the
process may use, so it runs N worker threads; at N = 1, XLA_FLAGS also gets
--xla_cpu_multi_thread_eigen=false (no Eigen thread pool for its few Eigen-run ops). PyTorch:
torch.set_num_threads(N) (and OMP_NUM_THREADS=N, which compare_bench sets), torch.compile's C++
kernels are generated for torch.get_num_threads() threads, and TORCHINDUCTOR_COMPILE_THREADS=1
compiles in this process rather than in a pool of compile workers. The CPU line, process CPU time
over wall time while timing, shows what was used: at most N.
"""

import argparse
import os
import sys
import time

KEEP_RESTART_STEPS = 50  # compare_peer.hpp's kRestartSteps
TUTORIAL_STEPS = 100  # tutorial_workload.hpp's kSteps
BATCH = 128


def pin_threads(peer, threads):
    """Restricts this process to `threads` CPUs and tells the library; before it is imported."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < threads:
        sys.exit(f"peer_python: {threads} threads asked, but only CPUs {allowed} are allowed")
    cpus = allowed[:threads]
    os.sched_setaffinity(0, cpus)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    how = f"sched_setaffinity to CPU{'s' if threads > 1 else ''} {','.join(map(str, cpus))}"
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if peer == "jax":
        flags = os.environ.get("XLA_FLAGS", "").split()
        if threads == 1:
            flags.append("--xla_cpu_multi_thread_eigen=false")
        # Both sides on one instruction set (bench/compare): XLA's generated code capped as kiln's
        # oneDNN kernels are.
        if isa.startswith("AVX2") and not any(f.startswith("--xla_cpu_max_isa") for f in flags):
            flags.append("--xla_cpu_max_isa=AVX2")
        os.environ["XLA_FLAGS"] = " ".join(flags)
        how += f"; XLA_FLAGS={os.environ['XLA_FLAGS'] or '(none)'}"
    else:
        os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = "1"
        if isa.startswith("AVX2"):
            # ATen's own kernels and MKL's GEMMs capped as kiln's oneDNN kernels are; torch's
            # bundled oneDNN reads ONEDNN_MAX_CPU_ISA itself.
            os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
            os.environ.setdefault("MKL_ENABLE_INSTRUCTIONS", "AVX2")
        how += f"; torch.set_num_threads({threads}), OMP_NUM_THREADS={threads}"
    return how


def emit(*fields):
    print(*fields, flush=True)


def floats(values):
    return " ".join(f"{float(v):.9g}" for v in values)


# ------------------------------------------------------------------------------------------------
# Timing: bench/harness.hpp's method.


class Reps:
    def __init__(self, quick):
        self.batches = 5 if quick else 21
        self.batch_seconds = 0.002 if quick else 0.01


class CpuUse:
    """Process CPU time over wall time across everything timed: how many cores were busy."""

    def __init__(self):
        self.cpu = 0.0
        self.wall = 0.0

    def add(self, cpu, wall):
        self.cpu += cpu
        self.wall += wall


def time_per_call(fn, reps, use, sync=lambda: None):
    """(median ns, fastest ns, calls, batches) per call of fn(). sync() ends every batch: JAX
    dispatches asynchronously, so a batch ends when its last result is ready."""

    def seconds_for(calls):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        return time.perf_counter() - t0

    calls = 1
    s = seconds_for(calls)
    while s < reps.batch_seconds / 4 and calls < (1 << 26):
        calls *= 2
        s = seconds_for(calls)
    calls = max(1, int(calls * reps.batch_seconds / s))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    per_call = sorted(seconds_for(calls) * 1e9 / calls for _ in range(reps.batches))
    use.add(time.process_time() - cpu0, time.perf_counter() - wall0)
    return per_call[len(per_call) // 2], per_call[0], calls, reps.batches


def emit_time(key, timing):
    emit("TIME", key, *(f"{v:.17g}" if isinstance(v, float) else v for v in timing))


def restarting(step, restart, every=KEEP_RESTART_STEPS):
    """fn() for the harness: step(), after restart() every `every` calls."""
    calls = [0]

    def fn():
        if calls[0] % every == 0:
            restart()
        calls[0] += 1
        step()

    return fn


def vm_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure_memory(steps, step, sync=lambda: None):
    """compare_peer.hpp's measure_memory: VmRSS before step 1, VmHWM over step 1, VmRSS after it,
    VmHWM over steps 2..steps (each peak reset to the resident size first)."""
    before = vm_kb("VmRSS")
    reset_peak_rss()
    step()
    sync()
    peak_first, after_first = vm_kb("VmHWM"), vm_kb("VmRSS")
    reset_peak_rss()
    for _ in range(steps - 1):
        step()
    sync()
    emit("MEMORY", before, peak_first, after_first, vm_kb("VmHWM"))


# ------------------------------------------------------------------------------------------------
# kiln's inputs: a Flax msgpack file (flax.serialization's format, read with msgpack alone so the
# PyTorch peer does not import JAX).


def load_inputs(path):
    import msgpack
    import numpy as np

    def ext_hook(code, data):
        if code == 1:  # an ndarray: (shape, dtype name, C-order bytes)
            shape, dtype, buf = msgpack.unpackb(data)
            return np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape).copy()
        return msgpack.ExtType(code, data)

    with open(path, "rb") as f:
        return msgpack.unpackb(f.read(), ext_hook=ext_hook, strict_map_key=False)


# ------------------------------------------------------------------------------------------------
# JAX: Flax linen modules, optax.adam, flax.training's TrainState, the step under jax.jit with the
# state donated — as the Flax examples write a training loop.


def run_jax(args, inputs, reps, use):
    import jax
    import jax.numpy as jnp
    import flax
    import flax.linen as nn
    import optax
    from flax.training import train_state

    # XLA's CPU client makes one worker thread per CPU the process may use.
    emit("PEER", jax.__version__, len(os.sched_getaffinity(0)),
         f"JAX {jax.__version__} on XLA's CPU (jaxlib {jax.lib.__version__}, flax "
         f"{flax.__version__}, optax {optax.__version__}), {jax.devices()[0]}")

    class Mlp(nn.Module):  # kiln's FashionMLP without dropout: Dense_0..Dense_2
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(512)(x))
            x = nn.relu(nn.Dense(512)(x))
            return nn.Dense(10)(x)

    class Cnn(nn.Module):  # kiln's FashionCNN without dropout
        @nn.compact
        def __call__(self, x):
            x = nn.max_pool(nn.relu(nn.Conv(32, (3, 3))(x)), (2, 2), (2, 2))
            x = nn.max_pool(nn.relu(nn.Conv(64, (3, 3))(x)), (2, 2), (2, 2))
            x = x.reshape((x.shape[0], -1))
            x = nn.relu(nn.Dense(128)(x))
            return nn.Dense(10)(x)

    def make_state(model, variables):
        params = jax.tree.map(jnp.asarray, variables["params"])
        return train_state.TrainState.create(apply_fn=model.apply, params=params,
                                             tx=optax.adam(1e-3))

    def make_train_step():  # a fresh function each call, so (e) finds no cached trace
        def train_step(state, x, y):
            def loss_fn(params):
                logits = state.apply_fn({"params": params}, x)
                return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

            loss, grads = jax.value_and_grad(loss_fn)(state.params)
            return state.apply_gradients(grads=grads), loss

        return jax.jit(train_step, donate_argnums=0)

    def copy(state):  # the donated state is consumed: every restart starts from a copy
        return jax.tree.map(jnp.copy, state)

    def train(key, model, variables, x, y):
        initial = make_state(model, variables)
        step = make_train_step()
        cur = [copy(initial)]
        losses = []
        for _ in range(2):
            cur[0], loss = step(cur[0], x, y)
            losses.append(float(loss))
        emit("LOSSES", key, floats(losses))

        def one():
            cur[0], _ = step(cur[0], x, y)

        def restart():
            cur[0] = copy(initial)

        emit_time(key, time_per_call(restarting(one, restart), reps, use,
                                     sync=lambda: jax.block_until_ready(cur[0])))
        return initial, step

    x = jnp.asarray(inputs["x"]) if inputs else None
    y = jnp.asarray(inputs["y"]) if inputs else None

    if "a" in args.workloads:
        # The tutorial (tutorial_workload.hpp): its step is grad + apply_gradients, returning the
        # state; the loss it prints is the model's after the update.
        class SimpleMLP(nn.Module):  # every weight and bias 0.01
            @nn.compact
            def __call__(self, x):
                c = nn.initializers.constant(0.01)
                x = nn.relu(nn.Dense(8, kernel_init=c, bias_init=c)(x))
                return nn.Dense(1, kernel_init=c, bias_init=c)(x)

        model = SimpleMLP()
        tx_ = jnp.ones((16, 4))
        ty = jnp.sum(tx_, axis=1, keepdims=True)
        initial = train_state.TrainState.create(
            apply_fn=model.apply, params=model.init(jax.random.key(0), tx_)["params"],
            tx=optax.adam(1e-3))

        def mse_loss(params, state, x, y):
            return jnp.mean(jnp.square(state.apply_fn({"params": params}, x) - y))

        @jax.jit
        def tutorial_step(state, x, y):
            grads = jax.grad(mse_loss)(state.params, state, x, y)
            return state.apply_gradients(grads=grads)

        evaluate = jax.jit(lambda state, x, y: mse_loss(state.params, state, x, y))
        state, losses = initial, []
        for _ in range(TUTORIAL_STEPS):
            state = tutorial_step(state, tx_, ty)
            losses.append(float(evaluate(state, tx_, ty)))
        emit("LOSSES", "tutorial", floats(losses))
        cur = [initial]

        def one():
            cur[0] = tutorial_step(cur[0], tx_, ty)

        def restart():
            cur[0] = initial  # not donated: the initial state is reused as it is

        emit_time("tutorial", time_per_call(restarting(one, restart, TUTORIAL_STEPS), reps, use,
                                            sync=lambda: jax.block_until_ready(cur[0])))

    if "b" in args.workloads:
        train("mlp_train", Mlp(), inputs["mlp"], x, y)

    if "c" in args.workloads:
        variables = jax.tree.map(jnp.asarray, inputs["mlp"])
        forward = jax.jit(Mlp().apply)
        for key, size in (("mlp_infer_b128", BATCH), ("mlp_infer_b1", 1)):
            xb = x[:size]
            logits = forward(variables, xb)
            emit("LOGITS", key, floats(jax.device_get(logits).ravel()))
            # A prediction is wanted as a value: every call waits for its logits.
            emit_time(key, time_per_call(lambda: forward(variables, xb).block_until_ready(), reps,
                                         use))

    if "d" in args.workloads:
        train("cnn_train", Cnn(), inputs["cnn"], x.reshape(BATCH, 28, 28, 1), y)

    if "e" in args.workloads and args.threads == args.first_threads:
        # (b)'s step, each time a fresh function under jax.jit: lower() (trace, autodiff,
        # StableHLO) + compile() (XLA), and a fresh jit's first call minus its second.
        initial = make_state(Mlp(), inputs["mlp"])
        totals, firsts = [], []
        for i in range(args.compiles + 1):
            step = make_train_step()
            t0 = time.perf_counter()
            lowered = step.lower(initial, x, y)
            compiled = lowered.compile()
            total = time.perf_counter() - t0
            del compiled
            step = make_train_step()
            state = copy(initial)
            jax.block_until_ready(state)
            t0 = time.perf_counter()
            state, loss = step(state, x, y)
            jax.block_until_ready(loss)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            state, loss = step(state, x, y)
            jax.block_until_ready(loss)
            steady = time.perf_counter() - t0
            if i > 0:  # the first also pays for XLA's one-off start-up
                totals.append(total)
                firsts.append(first - steady)
        emit("COMPILE", "jit_compile", f"{sorted(totals)[len(totals) // 2] * 1e9:.17g}")
        emit("COMPILE", "jit_first_call", f"{sorted(firsts)[len(firsts) // 2] * 1e9:.17g}")

    if "f" in args.workloads and args.memory:
        initial = make_state(Mlp(), inputs["mlp"])
        step = make_train_step()
        cur = [copy(initial)]
        jax.block_until_ready(cur[0])

        def one():
            cur[0], _ = step(cur[0], x, y)

        measure_memory(50, one, sync=lambda: jax.block_until_ready(cur[0]))


# ------------------------------------------------------------------------------------------------
# PyTorch: torch.nn modules, torch.optim.Adam, F.cross_entropy, zero_grad / backward / step —
# eager, or with the model and the optimizer's step under torch.compile (its documented way to
# compile a training loop: the backward pass is compiled with the model's forward by AOTAutograd).


def run_torch(args, inputs, reps, use, compiled):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(args.threads)
    version = torch.__version__.split("+")[0]
    mkl = os.environ.get("MKL_ENABLE_INSTRUCTIONS")
    gemms = f"MKL_ENABLE_INSTRUCTIONS={mkl}" if mkl else "the processor's own"
    mode = "with torch.compile (inductor)" if compiled else "eager"
    emit("PEER", version, torch.get_num_threads(),
         f"PyTorch {torch.__version__} {mode}, ATen's {torch.backends.cpu.get_cpu_capability()} "
         f"kernels, MKL's GEMMs ({gemms})")

    def tensor(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    def linear(kernel, bias):  # a Flax Dense kernel [in, out] as nn.Linear's weight [out, in]
        layer = nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            layer.weight.copy_(tensor(kernel.T))
            layer.bias.copy_(tensor(bias))
        return layer

    def conv(kernel, bias):  # HWIO -> OIHW
        layer = nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1)
        with torch.no_grad():
            layer.weight.copy_(tensor(kernel.transpose(3, 2, 0, 1)))
            layer.bias.copy_(tensor(bias))
        return layer

    def mlp(variables):
        p = variables["params"]
        return nn.Sequential(linear(**p["Dense_0"]), nn.ReLU(), linear(**p["Dense_1"]), nn.ReLU(),
                             linear(**p["Dense_2"]))

    def cnn(variables):
        p = variables["params"]
        # kiln flattens (h, w, c), NCHW flattens (c, h, w): the first Dense's rows reordered.
        dense0 = p["Dense_0"]["kernel"].reshape(7, 7, 64, 128).transpose(2, 0, 1, 3)
        return nn.Sequential(conv(**p["Conv_0"]), nn.ReLU(), nn.MaxPool2d(2),
                             conv(**p["Conv_1"]), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             linear(dense0.reshape(3136, 128), p["Dense_0"]["bias"]), nn.ReLU(),
                             linear(**p["Dense_1"]))

    def trainer(model, loss_fn, x, y):
        """The step, and a restart: the initial weights back and Adam's state as a new optimizer's
        (moments zero, step 0), both in place, so a compiled step sees the same tensors."""
        initial = [p.detach().clone() for p in model.parameters()]
        forward = torch.compile(model) if compiled else model
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def opt_step():
            opt.step()

        opt_step = torch.compile(opt_step) if compiled else opt_step

        def step():
            opt.zero_grad()
            loss = loss_fn(forward(x), y)
            loss.backward()
            opt_step()
            return loss

        def restart():
            with torch.no_grad():
                for p, p0 in zip(model.parameters(), initial):
                    p.copy_(p0)
                for s in opt.state.values():
                    for v in s.values():
                        v.zero_()

        return step, restart

    def train(key, model, x, y, loss_fn=F.cross_entropy):
        try:
            step, restart = trainer(model, loss_fn, x, y)
            losses = [step().item() for _ in range(2)]
        except Exception as e:  # torch.compile where it works
            if not compiled:
                raise
            emit("UNAVAILABLE", key, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
            return None
        emit("LOSSES", key, floats(losses))
        restart()
        emit_time(key, time_per_call(restarting(step, restart), reps, use))
        return step, restart

    x = tensor(inputs["x"]) if inputs else None
    y = tensor(inputs["y"]).long() if inputs else None

    if "a" in args.workloads:
        # The tutorial, as peer_tutorial_libtorch.cpp writes it: the loss it prints is the model's
        # after each step, a forward pass without a graph.
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.01)
        tx_ = torch.ones(16, 4)
        ty = tx_.sum(1, keepdim=True)
        try:
            step, restart = trainer(model, F.mse_loss, tx_, ty)
            losses = []
            for _ in range(TUTORIAL_STEPS):
                step()
                with torch.no_grad():
                    losses.append(F.mse_loss(model(tx_), ty).item())
        except Exception as e:
            if not compiled:
                raise
            emit("UNAVAILABLE", "tutorial", f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
        else:
            emit("LOSSES", "tutorial", floats(losses))
            restart()
            emit_time("tutorial", time_per_call(restarting(step, restart, TUTORIAL_STEPS), reps,
                                                use))

    if "b" in args.workloads:
        train("mlp_train", mlp(inputs["mlp"]), x, y)

    if "c" in args.workloads:
        model = mlp(inputs["mlp"])
        with torch.inference_mode():
            forward = torch.compile(model) if compiled else model
            for key, size in (("mlp_infer_b128", BATCH), ("mlp_infer_b1", 1)):
                xb = x[:size]
                try:
                    logits = forward(xb)
                except Exception as e:
                    if not compiled:
                        raise
                    emit("UNAVAILABLE", key, f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
                    continue
                emit("LOGITS", key, floats(logits.numpy().ravel()))
                emit_time(key, time_per_call(lambda: forward(xb), reps, use))

    if "d" in args.workloads:
        train("cnn_train", cnn(inputs["cnn"]), x.reshape(BATCH, 1, 28, 28), y)

    if "e" in args.workloads and args.threads == args.first_threads and compiled:
        # torch.compile compiles on the first call: its first call minus its second, each time
        # after torch._dynamo.reset() (which drops every compiled graph), as (b)'s step.
        firsts = []
        for i in range(args.compiles + 1):
            torch._dynamo.reset()
            step, restart = trainer(mlp(inputs["mlp"]), F.cross_entropy, x, y)
            t0 = time.perf_counter()
            step()
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            step()
            steady = time.perf_counter() - t0
            if i > 0:
                firsts.append(first - steady)
        emit("COMPILE", "jit_first_call", f"{sorted(firsts)[len(firsts) // 2] * 1e9:.17g}")

    if "f" in args.workloads and args.memory:
        step, _ = trainer(mlp(inputs["mlp"]), F.cross_entropy, x, y)
        measure_memory(50, step)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", required=True, choices=["jax", "torch", "torch-compile"])
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--first-threads", type=int, default=None,
                    help="the first thread count of the run: (a) and (e) run only there")
    ap.add_argument("--inputs", help="kiln's weights and batch, a Flax msgpack file")
    ap.add_argument("--workloads", default="abcd")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--compiles", type=int, default=None)
    ap.add_argument("--memory", action="store_true",
                    help="measure (f) alone (run in a process of its own)")
    args = ap.parse_args()
    if args.first_threads is None:
        args.first_threads = args.threads
    if args.compiles is None:
        args.compiles = 3 if args.quick else 10
    if args.memory:
        args.workloads = "f"
    elif "a" not in args.workloads or args.threads != args.first_threads:
        args.workloads = args.workloads.replace("a", "")
    how = pin_threads(args.peer, args.threads)
    inputs = load_inputs(args.inputs) if args.inputs else None
    if inputs is None and any(w in args.workloads for w in "bcdef"):
        sys.exit("peer_python: workloads (b)-(f) need --inputs")
    emit("THREADS", how)
    reps, use = Reps(args.quick), CpuUse()
    if args.peer == "jax":
        run_jax(args, inputs, reps, use)
    else:
        run_torch(args, inputs, reps, use, compiled=args.peer == "torch-compile")
    if use.wall > 0:
        emit("CPU", f"{use.cpu / use.wall:.2f}",
             f"(process CPU time / wall time over {use.wall:.2f} s of timed batches; "
             f"Threads: {vm_kb('Threads')}, Cpus_allowed_list: "
             f"{','.join(map(str, sorted(os.sched_getaffinity(0))))})")


if __name__ == "__main__":
    main()
