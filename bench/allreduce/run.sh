#!/usr/bin/env bash
# kiln's multi-process engine (issue 17; docs/decisions.md): a float32 sum all-reduce between
# processes on loopback, 1 KiB to 64 MiB, through kiln::distributed (build/bin/kiln_allreduce:
# Gloo behind kiln's rendezvous), through Gloo alone (its own file-store rendezvous), and through
# Open MPI when libopenmpi-dev and openmpi-bin are installed (not kiln dependencies: this only
# measures). Take figures on a quiet machine.
#   bench/allreduce/run.sh [processes] [kiln build directory, default build]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-2}
bin=${2:-$here/../../build}/bin
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -O2 -std=c++17 "$here/gloo_allreduce.cpp" -o "$out/gloo_allreduce" -lgloo -lpthread

if [[ -x $bin/kiln_allreduce ]]; then
  echo "== kiln::distributed (Gloo, TCP on loopback), $n processes"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  for ((r = 1; r < n; ++r)); do "$bin/kiln_allreduce" "$r" "$n" "127.0.0.1:$port" >/dev/null & done
  "$bin/kiln_allreduce" 0 "$n" "127.0.0.1:$port"
  wait
else
  echo "== kiln::distributed: $bin/kiln_allreduce not built (kiln without Gloo?), skipped"
fi

echo "== Gloo, TCP on loopback, $n processes"
mkdir "$out/store"
for ((r = 1; r < n; ++r)); do "$out/gloo_allreduce" "$r" "$n" "$out/store" >/dev/null & done
"$out/gloo_allreduce" 0 "$n" "$out/store"
wait

if ! command -v mpicxx >/dev/null || ! command -v mpirun >/dev/null; then
  echo "== Open MPI: not installed (apt install libopenmpi-dev openmpi-bin), skipped"
  exit 0
fi
mpicxx -O2 -std=c++17 "$here/mpi_allreduce.cpp" -o "$out/mpi_allreduce"
mpi=(mpirun --allow-run-as-root --oversubscribe -np "$n")
echo "== Open MPI, TCP on loopback (--mca btl tcp,self), $n processes"
"${mpi[@]}" --mca btl tcp,self --mca btl_tcp_if_include lo "$out/mpi_allreduce"
echo "== Open MPI, shared memory (--mca btl vader,self), $n processes"
"${mpi[@]}" --mca btl vader,self "$out/mpi_allreduce"
