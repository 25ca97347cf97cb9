#!/usr/bin/env bash
# The per-primitive harness with XLA's own CPU PJRT plugin (the xla-cpu-pjrt wheel in the reference
# venv) as one more backend: every row, on every dtype and case, compiles there from kiln's
# StableHLO and gives the cpu's bits under XLA's documented differences (docs/reference.md, "The
# harness on XLA"; the complex rows: docs/primitives.md, "Complex numbers"). Skipped (77) without
# the venv.
#   tests/primitives/xla_harness_test.sh <kiln_tests> <scripts/reference-env>
set -uo pipefail
env_out=$("$2") || { echo "SKIP: no reference venv (scripts/install.sh --reference)"; exit 77; }
eval "$env_out"
PJRT_NAMES_AND_LIBRARY_PATHS=xla:$KILN_XLA_CPU_PLUGIN exec "$1" \
  --gtest_filter='PrimitiveHarness.EveryRowGivesTheCpusBitsOnEveryOtherBackend:ComplexHarness.EveryComplexRowGivesTheCpusBitsOnEveryOtherBackend'
