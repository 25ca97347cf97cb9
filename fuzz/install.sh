#!/usr/bin/env bash
# Installs what the fuzz build needs beyond kiln's own packages (scripts/install.sh): clang 16 and
# its runtime libraries (libFuzzer, AddressSanitizer, UndefinedBehaviorSanitizer). Debian 12.
# Like scripts/install.sh, it asks dpkg first and calls apt only for what is missing, so running it
# again is free.
set -euo pipefail

packages=(
  clang-16           # the compiler (libFuzzer instrumentation: -fsanitize=fuzzer)
  libclang-rt-16-dev # libclang_rt.fuzzer / asan / ubsan
  llvm-16            # llvm-symbolizer-16: file:line in sanitizer stack traces
  libomp-16-dev      # omp.h and libomp for clang: kiln's kernels use OpenMP (one pool with oneDNN)
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "fuzz/install.sh: dpkg/apt not found; install by hand: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "fuzz/install.sh: nothing to install (${packages[*]} present)"
  exit 0
fi

sudo_cmd=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "fuzz/install.sh: not root and sudo is missing; as root run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi
apt=("${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
echo "fuzz/install.sh: installing: ${missing[*]}"
"${apt[@]}" update
"${apt[@]}" install -y --no-install-recommends "${missing[@]}"
