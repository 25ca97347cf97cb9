#!/usr/bin/env bash
# TT-XLA's two multi-chip tutorials as users run them (examples/data_parallel.cpp,
# examples/tensor_parallel.cpp), on two cpu devices: each prints its output and
# "Output shape: (8, 8)", and the output is what JAX prints for the same program (the tutorials'
# code run by jax 0.10.2 on two XLA CPU devices; every row is the same, the input being ones).
#   tests/cli/multi_chip_tutorials_test.sh <data_parallel> <tensor_parallel>
set -uo pipefail
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# The program's first output row within 1e-5 of JAX's, every row equal to it, and the shape line.
check() {
  local name=$1 program=$2 want=$3
  local out
  out=$(KILN_CPU_DEVICES=2 "$program" 2>&1) || { fail "$name exited $?: $out"; return; }
  grep -qx 'Output shape: (8, 8)' <<<"$out" || fail "$name: no 'Output shape: (8, 8)' line:
$out"
  grep -q '^Output: \[\[' <<<"$out" || fail "$name: no 'Output: [[' line:
$out"
  local values
  values=$(sed -n '/^Output: /,/^Output shape/p' <<<"$out" | grep -v '^Output shape' |
    tr -d '[]' | sed 's/^Output://' | tr -s ' \n' '\n' | grep -v '^$')
  [[ $(wc -l <<<"$values") -eq 64 ]] || fail "$name: expected 64 values, got:
$out"
  awk -v want="$want" 'BEGIN { n = split(want, w, " ") }
    { i = (NR - 1) % 8 + 1; d = $1 - w[i]; if (d > 1e-5 || d < -1e-5) { bad = 1;
      print "value " NR ": " $1 " != " w[i] } }
    END { exit bad }' <<<"$values" || fail "$name: output differs from JAX's"
  # With one device the tutorial refuses, saying how to get two.
  out=$(KILN_CPU_DEVICES=1 "$program" 2>&1) && fail "$name ran on one device"
  grep -q 'KILN_CPU_DEVICES=2' <<<"$out" || fail "$name on one device: $out"
}

check data_parallel "$1" \
  "0.6827367 0.4894588 0.12539682 0.80784214 -0.17662853 -0.28281215 -0.37540895 -0.6385108"
check tensor_parallel "$2" \
  "-0.9556722 0.237557 -1.0596005 0.03164348 0.5015751 1.2245681 1.6926538 -1.2709728"

[[ $failures -eq 0 ]] && echo "multi-chip tutorials: ok"
exit $((failures > 0))
