#!/usr/bin/env bash
# Builds kiln's libFuzzer targets (fuzz/, clang + ASan + UBSan) into build-fuzz/ and runs each one
# for a bounded time. Fails (exit 1) when any target reports a crash, a leak, undefined behavior,
# a timeout, an out-of-memory or a violated property; the inputs that did it are kept in
# build-fuzz/artifacts/<target>/. .ci/run calls this after scripts/test; docs/fuzzing.md.
#
#   fuzz/run.sh                  every target, FUZZ_SECONDS (default 60) seconds each
#   fuzz/run.sh TARGET...        only these (e.g. msgpack_decode_fuzzer)
#   FUZZ_SECONDS=600 fuzz/run.sh longer runs
#   FUZZ_SKIP="a_fuzzer ..."     build but do not run these (a target with a known, reported bug)
#   FUZZ_JOBS=2                  build parallelism (default 2)
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/, never written to) plus the
# inputs earlier runs found (build-fuzz/corpus/<target>/, where new ones go), so runs on the same
# machine build on each other.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
build=build-fuzz

scripts/install.sh   # kiln's own build dependencies (idempotent)
fuzz/install.sh      # clang-16, libclang-rt-16-dev (idempotent)

echo "fuzz/run.sh: building fuzz/ into $build/ with clang-16 (ASan + UBSan + libFuzzer)"
build_start=$SECONDS
CC=clang-16 CXX=clang++-16 cmake -S fuzz -B "$build" >/dev/null
cmake --build "$build" -j"$jobs"
echo "fuzz/run.sh: build took $((SECONDS - build_start)) s"

if (($# > 0)); then
  targets=("$@")
else
  targets=()
  for f in "$build"/bin/*_fuzzer; do
    t=$(basename "$f")
    if [[ " ${FUZZ_SKIP:-} " == *" $t "* ]]; then
      echo "fuzz/run.sh: skipping $t (FUZZ_SKIP)"
    else
      targets+=("$t")
    fi
  done
fi

# Limits per input: 10 s (a hang), 2 GiB of memory (an allocation the input does not justify);
# inputs up to 16 KiB (the seeds are at most a few KiB; larger inputs only slow the search).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:detect_stack_use_after_return=1}
# Sanitizer reports name file:line when a symbolizer is there (fuzz/install.sh installs llvm-16's).
for s in llvm-symbolizer-16 llvm-symbolizer; do
  if command -v "$s" >/dev/null 2>&1; then
    export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v "$s")}
    break
  fi
done
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$build/bin/$t"
  seeds="fuzz/corpus/$t"
  work="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  log="$build/logs/$t.log"
  [[ -x "$bin" ]] || { echo "fuzz/run.sh: no fuzz target $bin" >&2; exit 2; }
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  dict=()
  if [[ -f fuzz/$t.dict ]]; then
    dict=(-dict="fuzz/$t.dict")
  elif [[ -f fuzz/msgpack.dict ]]; then
    dict=(-dict=fuzz/msgpack.dict)
  fi
  echo "fuzz/run.sh: running $t for $seconds s (log: $log)"
  rc=0
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 "${dict[@]}" -artifact_prefix="$artifacts/" \
    "$work" "$seeds" >"$log" 2>&1 || rc=$?
  # The last status line (cov: edges, ft: features, corp: inputs/bytes, exec/s) and the stats.
  status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  summary+=("$t: rc=$rc execs=${execs:-?} exec/s=${rate:-?} | $status")
  # libFuzzer exits non-zero on every finding (crash, leak, timeout, oom, abort); the input is in
  # $artifacts/ (inputs from earlier runs stay there too, until removed).
  if ((rc != 0)); then
    failed+=("$t")
    echo "fuzz/run.sh: $t FAILED (exit $rc); the report:" >&2
    grep -nE 'ERROR: |runtime error|PROPERTY VIOLATED|Test unit written|^Base64: |^ *#[0-9]+ 0x' "$log" | head -n 60 >&2 || true
    echo "fuzz/run.sh: full log $log; inputs in $artifacts/" >&2
  fi
done

echo
echo "fuzz/run.sh: summary (${seconds} s per target)"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo "fuzz/run.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz/run.sh: all targets clean"
