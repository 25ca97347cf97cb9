#!/usr/bin/env bash
# The kiln command-line tool as a user runs it.
#   tests/cli/kiln_cli_test.sh <path to build/bin/kiln> <path to build/bin/tutorial>
set -uo pipefail
kiln=$1
tutorial=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

out=$("$kiln" version) || fail "version exited $?"
[[ "$out" =~ ^kiln\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "version printed '$out'"

out=$("$kiln" devices) || fail "devices exited $?"
grep -q '^    CpuDevice(id=0)$' <<<"$out" || fail "devices lacks CpuDevice(id=0): $out"
grep -q 'TT_PJRT_PLUGIN_DIR' <<<"$out" || fail "devices does not say how to get tt: $out"

out=$(KILN_CPU_DEVICES=3 "$kiln" devices) || fail "devices with KILN_CPU_DEVICES=3 exited $?"
grep -q '^    CpuDevice(id=2)$' <<<"$out" || fail "KILN_CPU_DEVICES=3 not honoured: $out"

"$tutorial" --device cpu >/dev/null || fail "tutorial failed"
out=$("$kiln" inspect model_params.msgpack) || fail "inspect exited $?"
expected="model_params.msgpack
params:
  Dense_0:
    bias: float32[8]
    kernel: float32[4,8]
  Dense_1:
    bias: float32[1]
    kernel: float32[8,1]
Total: 4 arrays, 49 elements, 196 bytes
Parameters (under 'params'): 4 arrays, 49 elements, 196 bytes"
[[ "$out" == "$expected" ]] || fail "inspect printed:
$out"

out=$("$kiln" inspect nope.msgpack 2>&1) && fail "inspect of a missing file succeeded"
grep -q 'nope.msgpack' <<<"$out" || fail "inspect error does not name the file: $out"
out=$("$kiln" frobnicate 2>&1) && fail "unknown subcommand succeeded"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "kiln cli: all checks passed"
