#!/usr/bin/env bash
# PJRT as a user meets it: the tutorial's inference through kiln's conformance plugin prints the
# predictions --device cpu prints, and `kiln devices` lists plugins, loaded or broken.
#   tests/cli/pjrt_test.sh <tutorial> <kiln> <libkiln_pjrt_cpu.so>
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tutorial=$(realpath "$1") kiln=$(realpath "$2") plugin=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/assert.sh" || exit 1
cd "$work"

# kiln devices: the plugin's platform and device, and a broken registration with its reason.
out=$(PJRT_NAMES_AND_LIBRARY_PATHS="kilncpu:$plugin,broken:$work/missing.so" "$kiln" devices) ||
  fail "devices exited $?: $out"
grep -q '^  kilncpu$' <<<"$out" || fail "devices lacks the kilncpu platform: $out"
grep -q '^    KilncpuDevice(id=0)$' <<<"$out" || fail "devices lacks KilncpuDevice(id=0): $out"
grep -q '^    CpuDevice(id=0)$' <<<"$out" || fail "a broken plugin hid the cpu: $out"
grep -qF "registered but not loaded: broken ($work/missing.so)" <<<"$out" ||
  fail "devices does not report the broken plugin: $out"
grep -qF "missing.so: cannot open shared object file" <<<"$out" || fail "no dlerror text: $out"

# The tutorial: train on the cpu, then infer on each device; the predictions must agree.
"$tutorial" --device cpu >cpu.txt 2>&1 || fail "tutorial --device cpu exited $?: $(cat cpu.txt)"
PJRT_NAMES_AND_LIBRARY_PATHS="kilncpu:$plugin" "$tutorial" --device kilncpu --inference-only \
  >plugin.txt 2>&1 || fail "tutorial --device kilncpu exited $?: $(cat plugin.txt)"
grep -qF 'Input (on KilncpuDevice(id=0)): [[1. 2. 3. 4.]]' plugin.txt ||
  fail "input not on the plugin's device: $(cat plugin.txt)"
want=$(sed -n 's/^Prediction (on CpuDevice(id=0)): //p' cpu.txt)
got=$(sed -n 's/^Prediction (on KilncpuDevice(id=0)): //p' plugin.txt)
[[ -n "$want" && "$got" == "$want" ]] || fail "plugin predicted '$got', cpu '$want'"

# Without the registration, --device kilncpu says how to register a plugin.
expect_error 'PJRT_NAMES_AND_LIBRARY_PATHS=<name>:<path to plugin .so>' "$tutorial" --device kilncpu \
  --inference-only
echo "ok"
