#!/usr/bin/env bash
# Gloo against MPI for kiln's multi-process engine (issue 17; docs/decisions.md): a float32 sum
# all-reduce between 2 processes on loopback, 1 KiB to 64 MiB. Needs libgloo-dev, libopenmpi-dev
# and openmpi-bin (not kiln dependencies: this only measures). Take figures on a quiet machine.
#   bench/allreduce/run.sh [processes]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -O2 -std=c++17 "$here/gloo_allreduce.cpp" -o "$out/gloo_allreduce" -lgloo -lpthread
mpicxx -O2 -std=c++17 "$here/mpi_allreduce.cpp" -o "$out/mpi_allreduce"

echo "== Gloo, TCP on loopback, $n processes"
mkdir "$out/store"
for ((r = 1; r < n; ++r)); do "$out/gloo_allreduce" "$r" "$n" "$out/store" >/dev/null & done
"$out/gloo_allreduce" 0 "$n" "$out/store"
wait

mpi=(mpirun --allow-run-as-root --oversubscribe -np "$n")
echo "== Open MPI, TCP on loopback (--mca btl tcp,self), $n processes"
"${mpi[@]}" --mca btl tcp,self --mca btl_tcp_if_include lo "$out/mpi_allreduce"
echo "== Open MPI, shared memory (--mca btl vader,self), $n processes"
"${mpi[@]}" --mca btl vader,self "$out/mpi_allreduce"
