#!/usr/bin/env bash
# kiln train / eval / predict as a user runs them, on a slice of Fashion-MNIST (--limit) so that it
# takes seconds: the files train leaves, eval reproducing train's test accuracy, predict agreeing on
# an image given as PGM and inside an IDX file, determinism from the seed, and bad input (unknown
# model, missing or truncated data, parameters of another architecture, an image of another size)
# failing with a message that names the problem and leaving no output behind.
#
#   fashion_mnist_test.sh path/to/kiln
# Exits 77 (ctest: skipped) when the dataset is not installed.
set -euo pipefail
kiln=$1
data=${KILN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [[ ! -f $data/train-images-idx3-ubyte.gz ]]; then
  echo "SKIP: Fashion-MNIST not found in $data (apt-get install dataset-fashion-mnist)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=assert.sh
source "$(dirname "$0")/assert.sh"

# --- train: 2 epochs on 2048 images, 16 steps each ---
"$kiln" train fashion-mnist --model mlp --epochs 2 --limit 2048 --seed 1 --out "$work/mlp" \
  >"$work/train.txt" 2>"$work/progress.txt" || fail "train: $(cat "$work/progress.txt")"
grep -q "model mlp (669706 parameters), 2048 training / 10000 test images" "$work/train.txt" ||
  fail "no header line: $(head -1 "$work/train.txt")"
grep -q "^epoch 2/2: train loss" "$work/train.txt" || fail "no epoch 2 summary"
# stderr is not a terminal: plain progress lines, no carriage returns
grep -q "^epoch 1/2 step 8/16 loss" "$work/progress.txt" || fail "no progress log lines"
if grep -q $'\r' "$work/progress.txt"; then fail "terminal bar written to a file"; fi
for f in params.msgpack metrics.csv training.svg confusion_matrix.csv checkpoints/checkpoint_32; do
  [[ -s $work/mlp/$f ]] || fail "train left no $f"
done
[[ $(head -1 "$work/mlp/metrics.csv") == epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,examples_per_second ]] ||
  fail "metrics.csv header"
[[ $(wc -l <"$work/mlp/metrics.csv") == 3 ]] || fail "metrics.csv has not 2 epochs"
grep -q "<svg" "$work/mlp/training.svg" && grep -q "<polyline" "$work/mlp/training.svg" ||
  fail "training.svg is not a plot"
# The confusion matrix counts every test image once.
total=$(tail -n +2 "$work/mlp/confusion_matrix.csv" | awk -F, '{ for (i = 2; i <= NF; ++i) s += $i } END { print s }')
[[ $total == 10000 ]] || fail "confusion matrix counts $total images"

# --- eval reproduces the last epoch's test accuracy ---
train_acc=$(sed -n 's/^epoch 2\/2: .*| test loss [0-9.]* accuracy \([0-9.]*\)%.*/\1/p' "$work/train.txt")
"$kiln" eval --params "$work/mlp/params.msgpack" --model mlp >"$work/eval.txt"
eval_acc=$(sed -n 's/.*: accuracy \([0-9.]*\)%.*/\1/p' "$work/eval.txt")
[[ -n $train_acc && $train_acc == "$eval_acc" ]] || fail "eval accuracy $eval_acc != train's $train_acc"
grep -q "Ankle boot" "$work/eval.txt" || fail "no per-class accuracy"

# --- the same seed gives the same parameters, byte for byte ---
"$kiln" train fashion-mnist --model mlp --epochs 2 --limit 2048 --seed 1 --out "$work/again" \
  >/dev/null 2>&1
cmp -s "$work/mlp/params.msgpack" "$work/again/params.msgpack" || fail "training is not reproducible"

# --- data-parallel: epoch 1 on 2 devices, resumed for epoch 2 on 4, ends at the one-device
# parameters within the bound of tests/training/data_parallel_test.cpp (0.1 lr), in one file ---
"$kiln" train fashion-mnist --model mlp --epochs 1 --limit 2048 --seed 1 --out "$work/dp" \
  --devices 2 >"$work/dp.txt" 2>/dev/null || fail "train --devices 2 exited $?"
grep -q "seed 1, data-parallel on 2 cpu devices (64 images each per step)$" "$work/dp.txt" ||
  fail "train --devices 2 does not say it trains data-parallel: $(head -1 "$work/dp.txt")"
"$kiln" train fashion-mnist --epochs 2 --resume --out "$work/dp" --devices 4 >"$work/dp.txt" \
  2>/dev/null || fail "train --resume --devices 4 exited $?"
grep -q "data-parallel on 4 cpu devices (32 images each per step)$" "$work/dp.txt" ||
  fail "the resumed run does not say it trains on 4 devices: $(head -1 "$work/dp.txt")"
grep -q "^resuming .* after epoch 1 of 2$" "$work/dp.txt" || fail "did not resume after epoch 1"
"$kiln" diff "$work/mlp/params.msgpack" "$work/dp/params.msgpack" >"$work/dp-diff.txt" || true
[[ $(grep -c 'max abs difference' "$work/dp-diff.txt") == 6 ]] ||
  fail "params.msgpack of --devices has other entries: $(cat "$work/dp-diff.txt")"
awk '/max abs difference/ { if ($NF + 0 > 1e-4) bad = 1 } END { exit bad }' \
  "$work/dp-diff.txt" || fail "data-parallel parameters differ by more than 1e-4: $(cat "$work/dp-diff.txt")"
expect_error "--devices 3: a batch of 128 does not split evenly over 3 devices; give a --batch-size that is a multiple of 3 (126 or 129)" \
  "$kiln" train fashion-mnist --limit 2048 --out "$work/x" --devices 3
expect_error "the last batch of each epoch holds 2 images (2050 in batches of 128)" \
  "$kiln" train fashion-mnist --limit 2050 --out "$work/x" --devices 4
expect_error "KILN_CPU_DEVICES=2 gives the process 2 cpu device(s); unset it" \
  env KILN_CPU_DEVICES=2 "$kiln" train fashion-mnist --limit 2048 --out "$work/x" --devices 4
[[ ! -e $work/x ]] || fail "a refused --devices left an output directory"

# --- predict: the first test image as a PGM and inside the IDX file agree ---
gzip -dc "$data/t10k-images-idx3-ubyte.gz" >"$work/t10k-images"  # no pipe for head to cut short
{
  printf 'P5\n28 28\n255\n'
  head -c $((16 + 784)) "$work/t10k-images" | tail -c 784
} >"$work/first.pgm"
"$kiln" predict --params "$work/mlp/params.msgpack" --model mlp "$work/first.pgm" >"$work/p1.txt"
pgm_line=$(sed 's/^[^:]*: //' "$work/p1.txt")
"$kiln" predict --params "$work/mlp/params.msgpack" --model mlp \
  "$data/t10k-images-idx3-ubyte.gz" >"$work/p2.txt"
[[ $(wc -l <"$work/p2.txt") == 10000 ]] || fail "predict on the IDX file: not 10000 lines"
idx_line=$(head -1 "$work/p2.txt" | sed 's/^[^:]*: //')
[[ $pgm_line == "$idx_line" ]] || fail "PGM says '$pgm_line', IDX says '$idx_line'"
[[ $pgm_line =~ ^[A-Za-z/\ -]+\ \(0\.[0-9]{4}\),\ .+\ 0\.[0-9]{4},\ .+\ 0\.[0-9]{4}$ ]] ||
  fail "predict line format: $pgm_line"

# --- bad input ---
expect_error 'unknown model "resnet"' "$kiln" train fashion-mnist --model resnet --out "$work/x"
[[ ! -e $work/x ]] || fail "an unknown model left an output directory"
expect_error "train-images-idx3-ubyte.gz" "$kiln" train fashion-mnist --data "$work/nowhere" \
  --out "$work/x"
[[ ! -e $work/x ]] || fail "missing data left an output directory"
mkdir "$work/short"
cp "$data"/*.gz "$work/short/"
gzip -dc "$data/t10k-labels-idx1-ubyte.gz" >"$work/labels"
head -c 5000 "$work/labels" | gzip >"$work/short/t10k-labels-idx1-ubyte.gz"
expect_error "t10k-labels-idx1-ubyte.gz" "$kiln" eval --params "$work/mlp/params.msgpack" \
  --model mlp --data "$work/short"
expect_error "which are not present in state dict at path ./params (checked against --model cnn" "$kiln" eval --params "$work/mlp/params.msgpack" --model cnn
printf 'P2\n27 27\n255\n' >"$work/small.pgm"
for _ in $(seq 729); do printf '0 '; done >>"$work/small.pgm"
expect_error "28x28" "$kiln" predict --params "$work/mlp/params.msgpack" --model mlp "$work/small.pgm"
expect_error "unknown dataset" "$kiln" train mnist --out "$work/x"
echo "PASS"
