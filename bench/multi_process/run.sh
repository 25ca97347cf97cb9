#!/usr/bin/env bash
# Training across processes (issue 17, item 6, multi-process part): the Fashion-MNIST MLP's epoch
# time in kiln on 1 process (1 thread), on 2 processes of 1 thread each, and on 1 process of 2
# threads (the same cores, one process), with LibTorch 1.13's gloo backend on the same workload
# beside it (build/bin/fashion_mnist_libtorch, when LibTorch is installed); the scaling efficiency
# (time on 1 / (N x time on N)). Then the same 2-process runs between two network namespaces
# joined by a rate-limited link (tc netem: --rate, --delay): time per step and the all-reduce's
# share of it. kiln all-reduces after the backward pass, so communication does not overlap
# computation (overlap 0 by construction; the all-reduce's share is what overlap could win).
#
#   bench/multi_process/run.sh [--limit N] [--epochs E] [--rate 1gbit] [--delay 0.5ms] [--bin DIR]
#
# Needs root for the namespaces part (skipped otherwise). Take figures on a quiet machine:
#   bench/multi_process/run.sh --epochs 1            # the whole training set, ~1-2 minutes per run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../../build/bin
limit=0
epochs=1
rate=1gbit
delay=0.5ms
while (($#)); do
  case $1 in
    --limit) limit=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
kiln=$bin/kiln
torch=$bin/fashion_mnist_libtorch
[[ -x $torch ]] || torch=""
work=$(mktemp -d)
ns=(kbench$$a kbench$$b)
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null || true
  for n in "${ns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
args=(train fashion-mnist --model mlp --epochs "$epochs" --batch-size 128 --seed 0)
torch_args=(--model mlp --epochs "$epochs" --batch-size 128 --threads 1)
((limit == 0)) || { args+=(--limit "$limit"); torch_args+=(--limit "$limit"); }

# The median over epochs of metrics.csv's training seconds (column 6) in run directory $1.
kiln_epoch_seconds() {
  tail -n +2 "$1/metrics.csv" | cut -d, -f6 | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
# The same from LibTorch's output file $1, and its all-reduce seconds.
torch_epoch_seconds() {
  awk '/^epoch/ { print $4 }' "$1" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
steps_per_epoch() {
  local n=${limit}
  ((n > 0)) || n=60000
  echo $(((n + 127) / 128))
}

# kiln_processes N PREFIX HOST_OF_0 [namespace per process...]: N kiln processes of 1 thread;
# echoes "epoch_seconds all_reduce_seconds".
kiln_processes() {
  local n=$1 out=$2 coordinator=$3 i pids=()
  shift 3
  local where=("$@")
  for ((i = n - 1; i >= 0; --i)); do
    local run=()
    ((${#where[@]} == 0)) || run=(ip netns exec "${where[i]}")
    if ((i > 0)); then
      KILN_NUM_THREADS=1 "${run[@]}" "$kiln" "${args[@]}" --out "$out" --coordinator "$coordinator" \
        --num-processes "$n" --process-id $i >"$work/k$i.txt" 2>&1 &
      pids+=($!)
    else
      KILN_NUM_THREADS=1 "${run[@]}" "$kiln" "${args[@]}" --out "$out" --coordinator "$coordinator" \
        --num-processes "$n" --process-id 0 >"$work/k0.txt" 2>/dev/null
    fi
  done
  for p in "${pids[@]}"; do wait "$p"; done
  echo "$(kiln_epoch_seconds "$out") $(grep -o 'all-reduce of the gradients [0-9.]* s' "$work/k0.txt" |
    awk '{ print $5 }' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
}

torch_processes() {
  local n=$1 host=$2 i pids=()
  shift 2
  local where=("$@")
  rm -f "$work/store"
  for ((i = n - 1; i >= 0; --i)); do
    local run=() h=$host
    ((${#where[@]} == 0)) || { run=(ip netns exec "${where[i]}"); h=${hosts[i]}; }
    if ((i > 0)); then
      "${run[@]}" "$torch" "${torch_args[@]}" --rank $i --world "$n" --store "$work/store" --host "$h" \
        >/dev/null 2>&1 &
      pids+=($!)
    else
      "${run[@]}" "$torch" "${torch_args[@]}" --rank 0 --world "$n" --store "$work/store" --host "$h" \
        >"$work/t0.txt" 2>&1
    fi
  done
  for p in "${pids[@]}"; do wait "$p"; done
  echo "$(torch_epoch_seconds "$work/t0.txt") $(grep -o 'all_reduce_seconds [0-9.]*' "$work/t0.txt" |
    awk '{ print $2 }' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
}

steps=$(steps_per_epoch)
echo "== Fashion-MNIST MLP, batch 128, $steps steps per epoch, median epoch seconds (training only)"
printf "%-44s %10s %12s %10s\n" "run" "epoch_s" "all_reduce_s" "efficiency"
KILN_NUM_THREADS=1 "$kiln" "${args[@]}" --out "$work/k1" >/dev/null 2>&1
k1=$(kiln_epoch_seconds "$work/k1")
printf "%-44s %10.2f %12s %10s\n" "kiln, 1 process, 1 thread" "$k1" "-" "-"
read -r k2 k2r < <(kiln_processes 2 "$work/k2" "127.0.0.1:$(free_port)")
printf "%-44s %10.2f %12.2f %10.2f\n" "kiln, 2 processes of 1 thread (loopback)" "$k2" "$k2r" \
  "$(awk -v a="$k1" -v b="$k2" 'BEGIN { print a / (2 * b) }')"
KILN_NUM_THREADS=2 "$kiln" "${args[@]}" --out "$work/kt2" >/dev/null 2>&1
kt2=$(kiln_epoch_seconds "$work/kt2")
printf "%-44s %10.2f %12s %10.2f\n" "kiln, 1 process, 2 threads" "$kt2" "-" \
  "$(awk -v a="$k1" -v b="$kt2" 'BEGIN { print a / (2 * b) }')"
if [[ -n $torch ]]; then
  "$torch" "${torch_args[@]}" >"$work/t1.txt" 2>&1
  t1=$(torch_epoch_seconds "$work/t1.txt")
  printf "%-44s %10.2f %12s %10s\n" "LibTorch, 1 process, 1 thread" "$t1" "-" "-"
  read -r t2 t2r < <(torch_processes 2 127.0.0.1)
  printf "%-44s %10.2f %12.2f %10.2f\n" "LibTorch gloo, 2 processes of 1 thread" "$t2" "$t2r" \
    "$(awk -v a="$t1" -v b="$t2" 'BEGIN { print a / (2 * b) }')"
else
  echo "(LibTorch peer not built: scripts/install.sh --bench installs libtorch-dev)"
fi

echo
echo "== 2 processes in network namespaces joined by a veth link, tc netem rate $rate delay $delay"
if ! ip netns add "${ns[0]}" 2>/dev/null; then
  echo "(skipped: ip netns add is not permitted here; run as root)"
  exit 0
fi
ip netns add "${ns[1]}"
ip link add "kb$$a" netns "${ns[0]}" type veth peer name "kb$$b" netns "${ns[1]}"
hosts=(10.231.0.1 10.231.0.2)
for i in 0 1; do
  dev="kb$$$([[ $i == 0 ]] && echo a || echo b)"
  ip -n "${ns[i]}" addr add "${hosts[i]}/24" dev "$dev"
  ip -n "${ns[i]}" link set "$dev" up
  ip -n "${ns[i]}" link set lo up
  # netem where the kernel has it (sch_netem); else tbf, the rate without the delay.
  if ! ip netns exec "${ns[i]}" tc qdisc add dev "$dev" root netem rate "$rate" delay "$delay" 2>/dev/null; then
    ip netns exec "${ns[i]}" tc qdisc add dev "$dev" root tbf rate "$rate" burst 256kb latency 50ms
    [[ $i == 1 ]] || echo "(this kernel has no netem qdisc: tbf rate $rate, no added delay)"
  fi
done
printf "%-44s %10s %12s %12s %10s\n" "run" "epoch_s" "step_ms" "all_reduce_ms" "share"
read -r n2 n2r < <(kiln_processes 2 "$work/n2" "${hosts[0]}:7777" "${ns[@]}")
printf "%-44s %10.2f %12.2f %12.2f %9.0f%%\n" "kiln, 2 processes" "$n2" \
  "$(awk -v s="$n2" -v n="$steps" 'BEGIN { print 1000 * s / n }')" \
  "$(awk -v s="$n2r" -v n="$steps" 'BEGIN { print 1000 * s / n }')" \
  "$(awk -v a="$n2r" -v s="$n2" 'BEGIN { print 100 * a / s }')"
if [[ -n $torch ]]; then
  read -r m2 m2r < <(torch_processes 2 unused "${ns[@]}")
  tsteps=$steps
  printf "%-44s %10.2f %12.2f %12.2f %9.0f%%\n" "LibTorch gloo, 2 processes" "$m2" \
    "$(awk -v s="$m2" -v n="$tsteps" 'BEGIN { print 1000 * s / n }')" \
    "$(awk -v s="$m2r" -v n="$tsteps" 'BEGIN { print 1000 * s / n }')" \
    "$(awk -v a="$m2r" -v s="$m2" 'BEGIN { print 100 * a / s }')"
fi
echo "(overlap of communication with computation: 0 in both; the all-reduce runs after backward)"
