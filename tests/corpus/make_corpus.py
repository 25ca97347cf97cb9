#!/usr/bin/env python3
"""The JAX corpus: programs as users write them, exported by real JAX, for kiln to import and run.

Each file tests/corpus/programs/<area>.py defines

    PROGRAMS = [(name, fn, [inputs...]), (name, fn, [inputs...], {options}), ...]

with numpy inputs; options are "x64": True (trace with jax_enable_x64, for int64/float64
programs), "ulp": N (floating outputs may differ from JAX's by N units in the last place; 0, bit
for bit, when absent) and "why": the reason for a nonzero "ulp". For every program this writes,
into OUT_DIR:

    <name>.mlir          jax.jit(fn).lower(*inputs).as_text()
    <name>_io.msgpack    {"inputs": {"00": ...}, "outputs": {"00": ...}} (flax msgpack), JAX's
                         outputs being the leaves of fn's result in order
    <name>.json          {"area", "ops": the StableHLO/CHLO ops the text holds, "dtypes": the
                         inputs' and outputs' dtypes, "ulp", "why"}

tests/corpus/data/ is the committed copy: kiln's test (tests/corpus/corpus_test.cpp) reads it
without Python; CI's reference lane regenerates it and compares (scripts/reference-check).

    build/reference-venv/bin/python tests/corpus/make_corpus.py OUT_DIR [AREA ...]
    build/reference-venv/bin/python tests/corpus/make_corpus.py --compare DIR1 DIR2
"""
import importlib.util
import json
import os
import re
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax import serialization  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OP = re.compile(r"\"?\b((?:stablehlo|chlo)\.[a-z_0-9]+)\b")
NOT_OPS = {"stablehlo.return"}


def areas(only):
    folder = os.path.join(HERE, "programs")
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".py") or (only and f[:-3] not in only):
            continue
        spec = importlib.util.spec_from_file_location(f[:-3], os.path.join(folder, f))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield f[:-3], module.PROGRAMS


def key(i):
    return f"{i:02d}"


def write_program(out, area, name, fn, inputs, options):
    jax.config.update("jax_enable_x64", bool(options.get("x64", False)))
    try:
        inputs = [np.asarray(a) for a in inputs]
        jitted = jax.jit(fn)
        text = jitted.lower(*inputs).as_text()
        outputs = [np.asarray(y) for y in jax.tree_util.tree_leaves(jitted(*inputs))]
    finally:
        jax.config.update("jax_enable_x64", False)
    ops = sorted({m for m in OP.findall(text)} - NOT_OPS)
    dtypes = sorted({str(a.dtype) for a in inputs + outputs})
    with open(os.path.join(out, f"{name}.mlir"), "w") as fh:
        fh.write(text)
    io = {"inputs": {key(i): a for i, a in enumerate(inputs)},
          "outputs": {key(i): a for i, a in enumerate(outputs)}}
    with open(os.path.join(out, f"{name}_io.msgpack"), "wb") as fh:
        fh.write(serialization.msgpack_serialize(io))
    meta = {"area": area, "ops": ops, "dtypes": dtypes, "ulp": int(options.get("ulp", 0)),
            "why": options.get("why", "")}
    with open(os.path.join(out, f"{name}.json"), "w") as fh:
        json.dump(meta, fh, indent=1, sort_keys=True)
        fh.write("\n")


def make(out, only):
    os.makedirs(out, exist_ok=True)
    seen = {}
    count = 0
    for area, programs in areas(only):
        for entry in programs:
            name, fn, inputs = entry[:3]
            options = entry[3] if len(entry) > 3 else {}
            if name in seen:
                sys.exit(f"make_corpus: program {name!r} is in both {seen[name]} and {area}")
            if not re.fullmatch(r"[a-z0-9_]+", name):
                sys.exit(f"make_corpus: program name {name!r} ({area}): use [a-z0-9_]")
            seen[name] = area
            write_program(out, area, name, fn, inputs, options)
            count += 1
    print(f"make_corpus: {count} programs written to {out}")


def compare(a_dir, b_dir):
    """Two corpus folders agree: text and metadata exactly, numbers to float32 rounding (XLA's CPU
    kernels may round differently on another processor)."""
    bad = []
    names = sorted(set(os.listdir(a_dir)) | set(os.listdir(b_dir)))
    for n in names:
        pa, pb = os.path.join(a_dir, n), os.path.join(b_dir, n)
        if not (os.path.exists(pa) and os.path.exists(pb)):
            bad.append(f"{n}: only in one folder")
            continue
        if not n.endswith(".msgpack"):
            if open(pa).read() != open(pb).read():
                bad.append(f"{n}: text differs")
            continue
        ta = serialization.msgpack_restore(open(pa, "rb").read())
        tb = serialization.msgpack_restore(open(pb, "rb").read())
        for x, y in zip(jax.tree_util.tree_leaves(ta), jax.tree_util.tree_leaves(tb)):
            if x.shape != y.shape or x.dtype != y.dtype:
                bad.append(f"{n}: {x.dtype}{list(x.shape)} vs {y.dtype}{list(y.shape)}")
            elif x.dtype.kind in "fc" or x.dtype.name == "bfloat16":
                if not np.allclose(x.astype(np.complex128), y.astype(np.complex128), rtol=1e-5,
                                   atol=1e-6, equal_nan=True):
                    bad.append(f"{n}: numbers differ")
            elif not np.array_equal(x, y):
                bad.append(f"{n}: values differ")
    print(f"make_corpus: {len(names)} corpus files compared")
    for b in bad:
        print("MISMATCH", b)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    make(sys.argv[1], set(sys.argv[2:]))
