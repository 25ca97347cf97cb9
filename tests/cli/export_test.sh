#!/usr/bin/env bash
# kiln export as a user runs it: each built-in model to StableHLO text (the module header, @main,
# the contraction / convolution ops), with parameters from a file and without, and bad input
# (unknown model, bad batch) failing with a message and leaving no file behind.
#
#   export_test.sh path/to/kiln
set -euo pipefail
kiln=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=assert.sh
source "$(dirname "$0")/assert.sh"
check_module() {  # file name op
  local f=$1
  [[ -s $f ]] || fail "$f not written"
  [[ $(head -c 12 "$f") == "module @jit_" ]] || fail "$f starts with $(head -c 40 "$f")"
  grep -q "module @jit_$2 attributes" "$f" || fail "$f: no module @jit_$2"
  grep -qF "func.func public @main(" "$f" || fail "$f: no func.func public @main"
  grep -qF "$3" "$f" || fail "$f: no $3"
  grep -qF "return " "$f" || fail "$f: no return"
}

"$kiln" export --model tutorial --batch 16 -o "$work/tutorial.mlir" >"$work/out.txt" ||
  fail "export tutorial"
check_module "$work/tutorial.mlir" tutorial "stablehlo.dot_general"
# parameters are arguments: kernel [4,8], bias [8], kernel [8,1], bias [1], then x [16,4]
grep -qF "tensor<16x4xf32>" "$work/tutorial.mlir" || fail "tutorial: no [16,4] input"
grep -qF -- "-> (tensor<16x1xf32> {jax.result_info = \"result\"})" "$work/tutorial.mlir" ||
  fail "tutorial: result type"

"$kiln" export --model mlp --batch 8 -o "$work/mlp.mlir" >"$work/out.txt" || fail "export mlp"
check_module "$work/mlp.mlir" mlp "stablehlo.dot_general"
grep -qF "tensor<8x784xf32>" "$work/mlp.mlir" || fail "mlp: no [8,784] input"

"$kiln" export --model cnn --batch 2 -o "$work/cnn.mlir" >"$work/out.txt" || fail "export cnn"
check_module "$work/cnn.mlir" cnn "stablehlo.convolution"
grep -qF "tensor<2x28x28x1xf32>" "$work/cnn.mlir" || fail "cnn: no [2,28,28,1] input"

expect_error 'unknown model "resnet"' "$kiln" export --model resnet --batch 1 -o "$work/bad.mlir"
grep -qF "Known models: tutorial, mlp, cnn" "$work/err.txt" || fail "no list of models"
expect_error "--batch: must be a whole number in [1, 2147483647], got 0" "$kiln" export --model mlp --batch 0 -o "$work/bad.mlir"
expect_error "cannot read $work/missing.msgpack" "$kiln" export --model mlp --params "$work/missing.msgpack" --batch 1 -o "$work/bad.mlir"
[[ ! -e $work/bad.mlir ]] || fail "a failed export left $work/bad.mlir"
echo "ok"
