#!/usr/bin/env bash
# kiln train across processes (kiln::distributed on Gloo) as machines would run it:
#  - 2, 3 and 4 processes on loopback train the parameters one process trains (3 share a batch of
#    64 unevenly: 22, 21, 21), within the float32 bound below;
#  - a run of 2 processes resumed by 1, and a run of 1 resumed by 3, end where one process does;
#  - 3 processes in network namespaces of their own (each its address on a bridge the test sets
#    up), the same; skipped with a message where namespaces cannot be made (no CAP_NET_ADMIN);
#  - a killed process, a stopped one and a cut link make the others stop with a clear error within
#    a bounded time;
#  - bad input: no coordinator, an id out of range, a count that differs from process 0's, an id
#    taken twice — each an error saying what to fix, after a bounded wait.
#
#   multi_process_test.sh path/to/kiln
# Exits 77 (ctest: skipped) when the dataset is not installed or kiln was built without Gloo.
set -euo pipefail
kiln=$1
data=${KILN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [[ ! -f $data/train-images-idx3-ubyte.gz ]]; then
  echo "SKIP: Fashion-MNIST not found in $data (apt-get install dataset-fashion-mnist)"
  exit 77
fi
work=$(mktemp -d)
namespaces=()
bridge=""
cleanup() {
  jobs -p | xargs -r kill -9 2>/dev/null || true
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  [[ -z $bridge ]] || ip link del "$bridge" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=assert.sh
source "$(dirname "$0")/assert.sh"

# The float32 bound: the processes' summed gradients differ from one process's in rounding only
# (another summation order), which 16 Adam steps carry to about 1e-6 in the parameters.
bound=1e-5
# A port nobody listens on now (the coordinator's port on loopback).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Every wait of these runs is bounded by 10 s unless a case says otherwise.
export KILN_DISTRIBUTED_TIMEOUT=10
train=(train fashion-mnist --limit 512 --batch-size 64 --seed 3)

# same_params A B: params.msgpack of runs A and B agree within $bound (kiln diff prints the largest
# difference per array when they differ at all).
same_params() {
  local worst
  if "$kiln" diff "$1/params.msgpack" "$2/params.msgpack" >"$work/diff.txt"; then return 0; fi
  worst=$(grep -o 'max abs difference [0-9.e+-]*' "$work/diff.txt" | awk '{ print $4 }' | sort -g | tail -1)
  [[ -n $worst ]] || fail "kiln diff $1 $2: $(cat "$work/diff.txt")"
  awk -v w="$worst" -v b="$bound" 'BEGIN { exit !(w <= b) }' ||
    fail "$2 differs from $1 by $worst (bound $bound): $(cat "$work/diff.txt")"
}

# run_processes N OUT [kiln train options...]: N processes on loopback, process 0 in the
# foreground; fails unless every one exits 0.
run_processes() {
  local n=$1 out=$2 port pids=() i
  shift 2
  port=$(free_port)
  for ((i = 1; i < n; ++i)); do
    "$kiln" "${train[@]}" --out "$out" "$@" --coordinator "127.0.0.1:$port" --num-processes "$n" \
      --process-id "$i" >"$work/p$i.txt" 2>&1 &
    pids+=($!)
  done
  "$kiln" "${train[@]}" --out "$out" "$@" --coordinator "127.0.0.1:$port" --num-processes "$n" \
    --process-id 0 >"$work/p0.txt" 2>&1 || fail "process 0 of $n: $(cat "$work/p0.txt")"
  for ((i = 1; i < n; ++i)); do
    wait "${pids[i - 1]}" || fail "process $i of $n: $(cat "$work/p$i.txt")"
  done
}

# A run of one process through the coordinator: also how a build without Gloo is recognised.
if ! "$kiln" "${train[@]}" --epochs 1 --out "$work/alone" --coordinator "127.0.0.1:$(free_port)" \
  --num-processes 1 --process-id 0 >"$work/alone.txt" 2>&1; then
  if grep -q "built without Gloo" "$work/alone.txt"; then
    echo "SKIP: $(cat "$work/alone.txt")"
    exit 77
  fi
  fail "one process through the coordinator: $(cat "$work/alone.txt")"
fi

# --- one process, the reference ---
"$kiln" "${train[@]}" --epochs 2 --out "$work/one" >"$work/one.txt" 2>&1 || fail "$(cat "$work/one.txt")"
"$kiln" "${train[@]}" --epochs 1 --out "$work/one_e1" >"$work/one.txt" 2>&1 || fail "$(cat "$work/one.txt")"

# --- 2 and 3 processes on loopback ---
run_processes 2 "$work/two" --epochs 2
grep -q "of each of 2 processes" "$work/p0.txt" || fail "process 0 does not say it shares: $(head -2 "$work/p0.txt")"
grep -q "process 1 of 2, training its share" "$work/p1.txt" || fail "process 1: $(cat "$work/p1.txt")"
same_params "$work/one" "$work/two"
# The same metrics as one process: the losses and accuracies are the whole batches' (within the
# rounding of the parameters: a loss to 1e-4, an accuracy to two of the 10000 test images).
paste -d, "$work/one/metrics.csv" "$work/two/metrics.csv" | tail -n +2 |
  awk -F, '{ for (i = 2; i <= 5; ++i) { d = $i - $(i + 7); if (d < 0) d = -d; if (d > 2e-4) exit 1 } }' ||
  fail "2 processes' metrics differ from one's: $(cat "$work/one/metrics.csv" "$work/two/metrics.csv")"
run_processes 3 "$work/three" --epochs 2
same_params "$work/one" "$work/three"
run_processes 4 "$work/four" --epochs 2
same_params "$work/one" "$work/four"
echo "ok: 2, 3 and 4 processes on loopback train one process's parameters (within $bound)"

# --- checkpoints restore on another process count ---
run_processes 2 "$work/two_then_one" --epochs 1
same_params "$work/one_e1" "$work/two_then_one"
"$kiln" "${train[@]}" --epochs 2 --resume --out "$work/two_then_one" >"$work/r.txt" 2>&1 ||
  fail "resume by one process: $(cat "$work/r.txt")"
same_params "$work/one" "$work/two_then_one"
cp -r "$work/one_e1" "$work/one_then_three"
run_processes 3 "$work/one_then_three" --epochs 2 --resume
grep -q "resuming .* after epoch 1 of 2" "$work/p0.txt" || fail "no resume line: $(cat "$work/p0.txt")"
grep -q "from epoch 2" "$work/p2.txt" || fail "process 2 did not start at epoch 2: $(cat "$work/p2.txt")"
same_params "$work/one" "$work/one_then_three"
echo "ok: a run of 2 processes resumes in 1, a run of 1 in 3"

# --- bad input: each an error saying what to fix, after a bounded wait ---
port=$(free_port)
start=$SECONDS
KILN_DISTRIBUTED_TIMEOUT=2 expect_error "no coordinator answered at 127.0.0.1:$port within 2 s" \
  "$kiln" "${train[@]}" --out "$work/bad" --coordinator "127.0.0.1:$port" --num-processes 2 --process-id 1
((SECONDS - start <= 8)) || fail "the missing coordinator took $((SECONDS - start)) s to report"
expect_error "process id 2 (process_id (--process-id)) is out of range for 2 processes" \
  "$kiln" "${train[@]}" --out "$work/bad" --coordinator "127.0.0.1:$port" --num-processes 2 --process-id 2
expect_error "give it as HOST:PORT" \
  "$kiln" "${train[@]}" --out "$work/bad" --coordinator "localhost" --num-processes 2 --process-id 1
# A count that differs from process 0's: the late process is told at once; process 0 waits for a
# process 1 of its own count, and says so when the wait ends.
KILN_DISTRIBUTED_TIMEOUT=3 "$kiln" "${train[@]}" --out "$work/bad" --coordinator "127.0.0.1:$port" \
  --num-processes 2 --process-id 0 >"$work/p0.txt" 2>&1 &
p0=$!
expect_error "process 1 was started for 3 processes, but process 0 (the coordinator at 127.0.0.1:$port) for 2: give every process the same process count" \
  "$kiln" "${train[@]}" --out "$work/bad" --coordinator "127.0.0.1:$port" --num-processes 3 --process-id 1
if wait $p0; then fail "process 0 went on without process 1"; fi
grep -q "waited 3 s for process 1 of 2 to join" "$work/p0.txt" || fail "process 0 said: $(cat "$work/p0.txt")"
[[ ! -e $work/bad/params.msgpack ]] || fail "a failed rendezvous wrote parameters"
# An id taken twice.
port=$(free_port)
KILN_DISTRIBUTED_TIMEOUT=3 "$kiln" "${train[@]}" --out "$work/bad" --coordinator "127.0.0.1:$port" \
  --num-processes 3 --process-id 0 >"$work/p0.txt" 2>&1 &
p0=$!
KILN_DISTRIBUTED_TIMEOUT=3 "$kiln" "${train[@]}" --out "$work/bad" --coordinator "127.0.0.1:$port" \
  --num-processes 3 --process-id 1 >"$work/p1.txt" 2>&1 &
p1=$!
sleep 0.5
expect_error "process id 1 is taken: another process joined the coordinator at 127.0.0.1:$port with it; give each process its own id in 0..2" \
  "$kiln" "${train[@]}" --out "$work/bad" --coordinator "127.0.0.1:$port" --num-processes 3 --process-id 1
if wait $p0; then fail "process 0 went on with an id missing"; fi
if wait $p1; then fail "process 1 went on with an id missing"; fi
grep -q "waited 3 s for process 2 of 3 to join" "$work/p0.txt" || fail "process 0 said: $(cat "$work/p0.txt")"
# Settings that differ: process 1 is told what process 0 has.
port=$(free_port)
"$kiln" "${train[@]}" --epochs 1 --out "$work/bad" --coordinator "127.0.0.1:$port" --num-processes 2 \
  --process-id 0 >"$work/p0.txt" 2>&1 &
p0=$!
expect_error "the processes disagree on the training settings: process 0 has --model mlp --epochs 1 --batch-size 64" \
  "$kiln" "${train[@]}" --epochs 1 --lr 0.01 --out "$work/bad" --coordinator "127.0.0.1:$port" --num-processes 2 --process-id 1
if wait $p0; then fail "process 0 went on with other settings"; fi
# An --out that holds a run (no --resume, no --overwrite): process 0 refuses it as one process
# does, and tells the others.
port=$(free_port)
"$kiln" "${train[@]}" --epochs 2 --out "$work/one" --coordinator "127.0.0.1:$port" --num-processes 2 \
  --process-id 0 >"$work/p0.txt" 2>&1 &
p0=$!
expect_error "process 0 refused --out: " \
  "$kiln" "${train[@]}" --epochs 2 --out "$work/elsewhere" --coordinator "127.0.0.1:$port" --num-processes 2 --process-id 1
grep -q -- "--resume" "$work/err.txt" || fail "process 1 was not told the remedy: $(cat "$work/err.txt")"
if wait $p0; then fail "process 0 trained into an existing run"; fi
grep -q -- "--resume" "$work/p0.txt" || fail "process 0 said: $(cat "$work/p0.txt")"
# A last batch too small to share (512 images in batches of 255: 2 left for 3 processes): every
# process says so before training, not after an epoch.
port=$(free_port)
short=(train fashion-mnist --limit 512 --batch-size 255 --out "$work/short" --coordinator "127.0.0.1:$port"
  --num-processes 3)
"$kiln" "${short[@]}" --process-id 0 >"$work/p0.txt" 2>&1 &
p0=$!
"$kiln" "${short[@]}" --process-id 1 >"$work/p1.txt" 2>&1 &
p1=$!
expect_error "the last batch of each epoch holds 2 image(s) (512 in batches of 255), fewer than the 3 processes that share it" \
  "$kiln" "${short[@]}" --process-id 2
if wait $p0; then fail "process 0 trained with a last batch it cannot share"; fi
if wait $p1; then fail "process 1 trained with a last batch it cannot share"; fi
[[ ! -e $work/short/params.msgpack ]] || fail "the refused run wrote parameters"
echo "ok: bad input is an error that says what to fix, after a bounded wait"

# --- a process that fails: the others stop with a clear error within a bounded time ---
long=(train fashion-mnist --limit 16384 --batch-size 64 --epochs 20)
# kill_case N VICTIM SIGNAL WANT MAX_SECONDS: N processes; process VICTIM gets SIGNAL once they
# train; process 0 must stop saying WANT within MAX_SECONDS of it.
kill_case() {
  local n=$1 victim=$2 signal=$3 want=$4 max=$5 port i pids=() p0 t0
  port=$(free_port)
  rm -rf "$work/long"
  for ((i = 1; i < n; ++i)); do
    KILN_DISTRIBUTED_TIMEOUT=3 "$kiln" "${long[@]}" --out "$work/long" --coordinator "127.0.0.1:$port" \
      --num-processes "$n" --process-id $i >"$work/p$i.txt" 2>&1 &
    pids+=($!)
    disown $! # ended on purpose: no "Killed" notice from bash
  done
  KILN_DISTRIBUTED_TIMEOUT=3 "$kiln" "${long[@]}" --out "$work/long" --coordinator "127.0.0.1:$port" \
    --num-processes "$n" --process-id 0 >"$work/p0.txt" 2>&1 &
  p0=$!
  for _ in $(seq 100); do
    grep -q "step" "$work/p0.txt" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "step" "$work/p0.txt" || fail "the long run did not start: $(cat "$work/p0.txt")"
  t0=$SECONDS
  kill "-$signal" "${pids[victim - 1]}"
  if wait $p0; then fail "process 0 finished although process $victim got SIG$signal"; fi
  ((SECONDS - t0 <= max)) || fail "process 0 took $((SECONDS - t0)) s to stop after SIG$signal"
  grep -q "$want" "$work/p0.txt" || fail "process 0 said: $(tail -2 "$work/p0.txt")"
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}
kill_case 2 1 KILL "process 0 of 2: process 1 stopped answering (it ended, or its network failed) during the gradient all-reduce of step" 5
kill_case 2 1 STOP "process 0 of 2: process 1 did not answer within 3 s during the gradient all-reduce of step" 8
# Three processes on one address: the coordinator saw which one ended.
kill_case 3 2 KILL "process 0 of 3: process 2 stopped answering (it ended, or its network failed) during the gradient all-reduce of step" 5
echo "ok: a killed or stopped process stops the other with an error naming it and the step"

# --- network namespaces: each process its own address, as on machines of their own ---
ns_prefix="kmp$$"
if ! ip netns add "${ns_prefix}0" 2>"$work/netns.txt"; then
  echo "SKIP (namespaces): ip netns add is not permitted here: $(cat "$work/netns.txt")"
  exit 0
fi
namespaces+=("${ns_prefix}0")
bridge="kmpbr$$"
ip link add "$bridge" type bridge
ip link set "$bridge" up
subnet="10.$((200 + $$ % 50)).$(($$ % 250)).0"
net=${subnet%.0}
for i in 0 1 2; do
  ns="${ns_prefix}$i"
  [[ $i == 0 ]] || { ip netns add "$ns"; namespaces+=("$ns"); }
  ip link add "kmp$$v$i" type veth peer name eth0 netns "$ns"
  ip link set "kmp$$v$i" master "$bridge" up
  ip -n "$ns" addr add "$net.$((i + 1))/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done
coordinator="$net.1:7777"
for i in 1 2; do
  ip netns exec "${ns_prefix}$i" "$kiln" "${train[@]}" --epochs 2 --out "$work/ns" \
    --coordinator "$coordinator" --num-processes 3 --process-id $i >"$work/p$i.txt" 2>&1 &
done
ip netns exec "${ns_prefix}0" "$kiln" "${train[@]}" --epochs 2 --out "$work/ns" \
  --coordinator "$coordinator" --num-processes 3 --process-id 0 >"$work/p0.txt" 2>&1 ||
  fail "namespaces, process 0: $(cat "$work/p0.txt")"
for i in 1 2; do wait -n || fail "namespaces, a process failed: $(cat "$work/p1.txt" "$work/p2.txt")"; done
same_params "$work/one" "$work/ns"
echo "ok: 3 processes in network namespaces ($net.1-3) train one process's parameters"

# A cut link: process 2's interface goes down mid-run; the others stop within the timeout, naming
# it (each process has its own address here).
rm -rf "$work/ns_long"
others=()
for i in 1 2; do
  ip netns exec "${ns_prefix}$i" env KILN_DISTRIBUTED_TIMEOUT=3 "$kiln" "${long[@]}" --out "$work/ns_long" \
    --coordinator "$coordinator" --num-processes 3 --process-id $i >"$work/p$i.txt" 2>&1 &
  others+=($!)
  disown $!
done
ip netns exec "${ns_prefix}0" env KILN_DISTRIBUTED_TIMEOUT=3 "$kiln" "${long[@]}" --out "$work/ns_long" \
  --coordinator "$coordinator" --num-processes 3 --process-id 0 >"$work/p0.txt" 2>&1 &
p0=$!
for _ in $(seq 100); do
  grep -q "step" "$work/p0.txt" 2>/dev/null && break
  sleep 0.1
done
t0=$SECONDS
ip -n "${ns_prefix}2" link set eth0 down
if wait $p0; then fail "process 0 finished although process 2's link was cut"; fi
((SECONDS - t0 <= 10)) || fail "process 0 took $((SECONDS - t0)) s to stop after the cut"
grep -q "did not answer within 3 s during the gradient all-reduce of step\|stopped answering" "$work/p0.txt" ||
  fail "process 0 said: $(tail -2 "$work/p0.txt")"
for p in "${others[@]}"; do kill -9 "$p" 2>/dev/null || true; done
echo "ok: a cut link stops the others within the timeout: $(grep -o 'process 0 of 3: [^(]*' "$work/p0.txt" | head -1)"
