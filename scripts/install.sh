#!/usr/bin/env bash
# Installs the Debian packages kiln needs to build and test, and nothing that is there already.
#
#   scripts/install.sh           build + test dependencies
#   scripts/install.sh --bench   also LibTorch (libtorch-dev), the peer of bench/dispatch_bench
#   scripts/install.sh --reference  also the reference venv: real JAX, Flax, optax and XLA's CPU
#                                PJRT plugin, pinned (scripts/reference-requirements.txt), in
#                                build/reference-venv or $KILN_REFERENCE_VENV (docs/reference.md)
#   scripts/install.sh --bench-python  also bench/compare's Python peers: the reference pins plus
#                                PyTorch 2.x (scripts/bench-requirements.txt, ~2.9 GB of wheels),
#                                in build/bench-venv or $KILN_BENCH_VENV (bench/README.md)
#
# Safe to run again and again: it asks dpkg what is installed and calls apt only for what is
# missing, so a machine that has everything is never touched (no apt-get update, no sudo prompt).
# A venv (--reference, --bench-python) is made only when it is absent or was made from other pins.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

# What the default build needs. make is listed because Debian's cmake only recommends it and a
# minimal image may lack it; g++ brings the C++20 compiler (GCC 12 on Debian 12).
packages=(
  cmake
  make
  g++
  libdnnl-dev      # oneDNN: GEMM for the CPU backend
  libopenblas-dev  # measured against oneDNN (docs/cpu-backend.md)
  libgtest-dev     # tests/
  libbenchmark-dev # bench/
  zlib1g-dev       # gzip-compressed IDX data files
  libpng-dev       # PNG images for kiln predict (src/data/png.cpp)
  dataset-fashion-mnist # the Fashion-MNIST IDX files, in /usr/share/datasets/fashion-mnist
  libmsgpack-cxx-dev # Flax's msgpack checkpoint format
  libssl-dev       # SHA-1 (libcrypto), which Flax uses to derive parameter rngs
  libcli11-dev     # the kiln command-line tool
  libgloo-dev      # kiln::distributed: training across processes and machines (docs/multi-process.md)
  iproute2         # ip and tc: tests/cli/multi_process_test.sh's network namespaces
  nlohmann-json3-dev # safetensors headers (JSON)
  python3          # scripts/reliability-suite: hostile files (PNG, IDX) and peak-memory probes
  ccache           # scripts/test compiles through it, so scripts/consumer-check's builds are cache hits
  pkg-config       # scripts/consumer-check builds against kiln.pc
)

usage() {
  sed -n '2,11s/^# \{0,1\}//p' "$0"
}

reference=0
bench_python=0
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(libtorch-dev) ;;  # large (~1 GB installed), so only on request
    --reference) reference=1; packages+=(python3 python3-venv) ;;
    # python3-dev: torch.compile's C++ kernels include Python.h.
    --bench-python) bench_python=1; packages+=(python3 python3-venv python3-dev) ;;
    -h | --help) usage; exit 0 ;;
    *) echo "install.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install.sh: dpkg/apt not found; kiln's install script targets Debian 12." >&2
  echo "Install these packages (or their equivalents) by hand: ${packages[*]}" >&2
  exit 1
fi

# A package counts as present only when dpkg says "installed": a removed package whose
# configuration files remain is known to dpkg-query but has no files.
missing=()
present=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  if [[ "$status" == installed ]]; then
    present+=("$p")
  else
    missing+=("$p")
  fi
done
((${#present[@]} == 0)) || echo "install.sh: already installed: ${present[*]}"

# A pinned venv: pip installs the wheels of the requirement files into a fresh venv; their
# contents are copied into it last, so a venv whose copy matches was completely made from these
# pins. make_venv NAME DIR STAMP REQUIREMENTS... (NAME is what the messages call it).
make_venv() {
  local name=$1 venv=$2 stamp=$2/$3
  shift 3
  local pins=() files=()
  for f in "$@"; do
    pins+=(-r "$f")
    files+=("$f")
  done
  if [[ -x "$venv/bin/python" ]] && cat "${files[@]}" | cmp -s - "$stamp"; then
    echo "install.sh: $name $venv is up to date"
    return
  fi
  echo "install.sh: making the $name $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: "${pins[@]}"
  cat "${files[@]}" >"$stamp"
  echo "install.sh: $name ready: $("$venv/bin/python" -m pip freeze --disable-pip-version-check |
    grep -E '^(jax|jaxlib|flax|optax|xla.cpu.pjrt|torch)==' | tr '\n' ' ')"
}

# The reference venv (docs/reference.md).
make_reference_venv() {
  make_venv "reference venv" "${KILN_REFERENCE_VENV:-$repo/build/reference-venv}" \
    kiln-reference-requirements.txt "$repo/scripts/reference-requirements.txt"
}

# bench/compare's Python peers (bench/README.md): JAX from the reference pins, and PyTorch.
make_bench_venv() {
  make_venv "bench venv" "${KILN_BENCH_VENV:-$repo/build/bench-venv}" \
    kiln-bench-requirements.txt "$repo/scripts/reference-requirements.txt" \
    "$repo/scripts/bench-requirements.txt"
}

make_venvs() {
  ((reference == 0)) || make_reference_venv
  ((bench_python == 0)) || make_bench_venv
}

if ((${#missing[@]} == 0)); then
  echo "install.sh: nothing to install"
  make_venvs
  exit 0
fi

# sudo only when it is needed and only when we are not root (CI and containers run as root and
# often have no sudo at all).
sudo_cmd=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "install.sh: not root and sudo is missing; as root run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi

# env passes DEBIAN_FRONTEND through sudo, which would otherwise reset the environment.
apt=("${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
echo "install.sh: installing: ${missing[*]}"
echo "+ ${apt[*]} update"
"${apt[@]}" update
echo "+ ${apt[*]} install -y --no-install-recommends ${missing[*]}"
"${apt[@]}" install -y --no-install-recommends "${missing[@]}"
make_venvs
echo "install.sh: done"
