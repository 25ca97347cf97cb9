#!/usr/bin/env bash
# kiln on XLA's own CPU PJRT plugin (the xla-cpu-pjrt wheel in the reference venv) as a user runs
# it: `kiln devices` lists it, the tutorial's prediction on it is the cpu's, and kiln eval/predict
# of the Fashion-MNIST MLP and CNN give the cpu's accuracy and probabilities. Bounds: XLA's and
# kiln's kernels round differently (tanh, exp, summation order), so values agree to float32
# rounding, not bit for bit: the prediction within 1e-6, each printed probability within 1.5e-4
# (printed to 4 decimals, so one rounding step apart at most), accuracy and per-class accuracy
# within 0.02 points (two test images), the loss within 2e-4. Skipped (77) without the venv or
# the dataset.
#   tests/cli/xla_test.sh <tutorial> <kiln> <scripts/reference-env>
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tutorial=$(realpath "$1") kiln=$(realpath "$2")
env_out=$("$3") || { echo "SKIP: no reference venv (scripts/install.sh --reference)"; exit 77; }
eval "$env_out"
data=${KILN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/assert.sh" || exit 1
cd "$work"
export PJRT_NAMES_AND_LIBRARY_PATHS="xla:$KILN_XLA_CPU_PLUGIN"

# kiln devices: XLA's platform beside the cpu, its devices named after the registration.
out=$("$kiln" devices) || fail "devices exited $?: $out"
grep -q '^  xla$' <<<"$out" || fail "devices lacks xla: $out"
grep -q '^    XlaDevice(id=0)$' <<<"$out" || fail "devices lacks XlaDevice(id=0): $out"
grep -q '^    CpuDevice(id=0)$' <<<"$out" || fail "devices lacks the cpu: $out"

# The tutorial: train on the cpu; infer on the cpu and on XLA.
"$tutorial" --device cpu >cpu.txt 2>&1 || fail "tutorial --device cpu: $(cat cpu.txt)"
"$tutorial" --device xla --inference-only >xla.txt 2>&1 || fail "tutorial --device xla: $(cat xla.txt)"
grep -qF 'Input (on XlaDevice(id=0)): [[1. 2. 3. 4.]]' xla.txt || fail "input not on xla: $(cat xla.txt)"
want=$(sed -n 's/^Prediction (on CpuDevice(id=0)): \[\[\(.*\)\]\]$/\1/p' cpu.txt)
got=$(sed -n 's/^Prediction (on XlaDevice(id=0)): \[\[\(.*\)\]\]$/\1/p' xla.txt)
[[ -n "$want" && -n "$got" ]] || fail "no prediction: $(cat cpu.txt xla.txt)"
awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; exit !(d <= 1e-6 && d >= -1e-6) }' ||
  fail "tutorial: xla predicted $got, cpu $want"
echo "tutorial: cpu $want, xla $got"

if [[ ! -e "$data/t10k-images-idx3-ubyte.gz" && ! -e "$data/t10k-images-idx3-ubyte" ]]; then
  echo "SKIP: Fashion-MNIST not found in $data (apt-get install dataset-fashion-mnist)"
  exit 77
fi
images=$(ls "$data"/t10k-images-idx3-ubyte* | head -1)

# "name value" lines of an eval output: accuracy, loss, each class's accuracy.
eval_numbers() {
  sed -n -e 's/.*accuracy \([0-9.]*\)%, loss \([0-9.]*\)$/accuracy \1\nloss \2/p' \
    -e 's/^  \([^ ].*[^ ]\) *\([0-9.]*\)%$/\1 \2/p' "$1" | tr ' ' '_' | sed 's/_\([0-9.]*\)$/ \1/'
}
# "image:class probability" lines of a predict --top 10 output.
predict_numbers() {
  sed -e 's/^[^:]*\[\([0-9]*\)\]: /\1|/' -e 's/[()]//g' "$1" | awk -F'|' '{
    n = split($2, parts, ", ")
    for (i = 1; i <= n; ++i) { p = parts[i]; v = p; sub(/.* /, "", v); c = p; sub(/ [^ ]*$/, "", c)
      gsub(/ /, "_", c); print $1 ":" c, v } }'
}
# within A B TOLERANCE: every name's numbers in A and B differ by at most TOLERANCE; prints the
# largest difference.
within() {
  awk -v tol="$3" 'NR == FNR { a[$1] = $2; next }
    { if (!($1 in a)) { print "missing " $1; bad = 1; next }
      d = a[$1] - $2; if (d < 0) d = -d; if (d > max) max = d; if (d > tol) { print $1, a[$1], $2; bad = 1 }
      seen++ }
    END { if (seen != length(a)) bad = 1; printf "largest difference %g over %d values\n", max, seen; exit bad }' "$1" "$2"
}

for model in mlp cnn; do
  limit=2000
  [[ $model == cnn ]] && limit=500
  "$kiln" train fashion-mnist --model $model --epochs 1 --limit $limit --data "$data" --out $model \
    >train.txt 2>&1 || fail "train $model: $(cat train.txt)"
  "$kiln" eval --params $model/params.msgpack --model $model --data "$data" >eval_cpu.txt 2>&1 ||
    fail "eval --device cpu: $(cat eval_cpu.txt)"
  "$kiln" eval --params $model/params.msgpack --model $model --data "$data" --device xla \
    >eval_xla.txt 2>&1 || fail "eval --device xla: $(cat eval_xla.txt)"
  [[ $(head -1 eval_xla.txt) == "Evaluating on XlaDevice(id=0)" ]] ||
    fail "eval does not name XLA's device: $(head -1 eval_xla.txt)"
  eval_numbers eval_cpu.txt >eval_cpu.num
  eval_numbers eval_xla.txt >eval_xla.num
  [[ $(wc -l <eval_cpu.num) == 12 ]] || fail "eval output not understood: $(cat eval_cpu.txt)"
  grep -v '^loss' eval_cpu.num >acc_cpu.num; grep -v '^loss' eval_xla.num >acc_xla.num
  r=$(within acc_cpu.num acc_xla.num 0.02) || fail "$model accuracy, xla vs cpu: $r"
  echo "$model eval accuracy: $r ($(grep '^accuracy' eval_xla.num))"
  r=$(within <(grep '^loss' eval_cpu.num) <(grep '^loss' eval_xla.num) 2e-4) || fail "$model loss: $r"
  echo "$model eval loss: $r"

  "$kiln" predict --params $model/params.msgpack --model $model --top 10 "$images" >pred_cpu.txt \
    2>/dev/null || fail "predict --device cpu"
  "$kiln" predict --params $model/params.msgpack --model $model --top 10 --device xla "$images" \
    >pred_xla.txt 2>pred_err.txt || fail "predict --device xla: $(cat pred_err.txt)"
  predict_numbers pred_cpu.txt >pred_cpu.num
  predict_numbers pred_xla.txt >pred_xla.num
  [[ $(wc -l <pred_cpu.num) == 100000 ]] || fail "predict output not understood: $(head -2 pred_cpu.txt)"
  r=$(within pred_cpu.num pred_xla.num 1.5e-4) || fail "$model probabilities, xla vs cpu: $r"
  echo "$model predict probabilities: $r"
done
echo "ok"
