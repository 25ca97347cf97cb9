#!/usr/bin/env bash
# The tutorial as a user runs it: its exact printout, its file, its device choice, and how it fails
# on bad parameter files (non-zero exit, a message naming the file, the file left untouched).
#   tests/cli/tutorial_test.sh <path to build/bin/tutorial>
set -uo pipefail
tutorial=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

out=$("$tutorial" --device cpu 2>&1) || fail "tutorial exited $?: $out"
expected="Step 0, Loss: 15.8735
Step 20, Loss: 15.4278
Step 40, Loss: 14.6043
Step 60, Loss: 13.3201
Step 80, Loss: 11.5956
Parameters saved to model_params.msgpack
Parameters loaded from model_params.msgpack
Input (on CpuDevice(id=0)): [[1. 2. 3. 4.]]"
[[ "$out" == "$expected"* ]] || fail "printout differs:
$out"
pred=$(sed -n 's/^Prediction (on CpuDevice(id=0)): \[\[\([0-9.]*\)\]\]$/\1/p' <<<"$out")
awk -v p="$pred" 'BEGIN { d = p - 1.8358; exit !(p != "" && d < 1e-4 && d > -1e-4) }' ||
  fail "prediction '$pred' is not within 1e-4 of 1.8358"
[[ -s model_params.msgpack ]] || fail "model_params.msgpack not written"

# --devices 2: data-parallel on two cpu devices (the flag sets KILN_CPU_DEVICES), the same printout
# after a line saying so; a count that does not divide the batch of 16 is refused.
out=$("$tutorial" --device cpu --devices 2 --params dp.msgpack 2>&1) || fail "--devices 2 exited $?: $out"
[[ "$out" == "Training data-parallel on 2 cpu devices
${expected//model_params.msgpack/dp.msgpack}"* ]] || fail "--devices 2 printout differs:
$out"
grep -q '^Prediction (on CpuDevice(id=0)): \[\[1.835' <<<"$out" || fail "--devices 2 prediction: $out"
out=$("$tutorial" --devices 3 2>&1) && fail "--devices 3 succeeded"
grep -q 'give 1, 2, 4, 8 or 16' <<<"$out" || fail "--devices 3 message: $out"

# The file holds the whole variables tree, keys sorted as Flax writes them after jit.
head -c 64 model_params.msgpack | grep -a -q 'params' || fail "file does not start with the params tree"

out=$("$tutorial" 2>&1) || fail "--device auto exited $?"
grep -q '^Inference device (auto): no tt device present, using CpuDevice(id=0)$' <<<"$out" ||
  fail "auto did not say which device it chose: $out"

out=$("$tutorial" --device tt 2>&1) && fail "--device tt succeeded without a tt device"
grep -q 'no devices for platform "tt"; platforms present: cpu' <<<"$out" || fail "--device tt message: $out"

out=$("$tutorial" --inference-only 2>&1) || fail "--inference-only exited $?: $out"
grep -q '^Prediction (on CpuDevice(id=0)): \[\[1.835' <<<"$out" || fail "--inference-only prediction: $out"

# Bad files: truncated, not msgpack, another tree, other shapes. Each must fail naming the file,
# and must leave the file exactly as it was.
check_bad() {
  local name=$1 want=$2
  cp "$name" before.bin
  out=$("$tutorial" --inference-only --params "$name" 2>&1) && fail "$name: accepted"
  grep -q "$name" <<<"$out" || fail "$name: message does not name the file: $out"
  grep -q -- "$want" <<<"$out" || fail "$name: message lacks '$want': $out"
  cmp -s "$name" before.bin || fail "$name: file was modified"
}
head -c 100 model_params.msgpack >truncated.msgpack
check_bad truncated.msgpack "byte offset"
printf 'this is not msgpack at all' >garbage.msgpack
check_bad garbage.msgpack "byte offset"
# {"params": {"Dense_0": {}}}: another tree
printf '\x81\xa6params\x81\xa7Dense_0\x80' >other_tree.msgpack
check_bad other_tree.msgpack "./params"
# The real file with Dense_1's kernel [8,1] rewritten as [1,8]: other shapes
perl -0777 -pe 's/\x92\x08\x01(\xa7float32)/\x92\x01\x08$1/' model_params.msgpack >other_shape.msgpack
cmp -s model_params.msgpack other_shape.msgpack && fail "could not rewrite the kernel's shape"
check_bad other_shape.msgpack "shape"

missing_out=$("$tutorial" --inference-only --params does_not_exist.msgpack 2>&1) && fail "missing file accepted"
grep -q does_not_exist.msgpack <<<"$missing_out" || fail "missing file not named: $missing_out"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "tutorial: all checks passed"
