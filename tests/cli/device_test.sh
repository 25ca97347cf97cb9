#!/usr/bin/env bash
# kiln eval / predict --device, the tutorial's workflow with no dataset installed: train on the cpu
# on a small synthetic Fashion-MNIST (IDX files the test writes), then evaluate and predict
# through kiln's conformance plugin (kilncpu), which must print what --device cpu prints; an
# unregistered platform fails before any data is read, with how to register a plugin; --device
# auto picks tt when it is present (the plugin posing as tt-xla), and the CNN's pooling, which tt
# cannot run, is refused naming the op.
#   tests/cli/device_test.sh <kiln> <libkiln_pjrt_cpu.so>
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kiln=$(realpath "$1") plugin=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/assert.sh" || exit 1
cd "$work"

# idx N MAGIC_TYPE DIMS... : an uncompressed IDX file of N items with deterministic content.
be32() { printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
write_images() { # path n seed
  printf '%b' "\\000\\000\\010\\003$(be32 "$2")$(be32 28)$(be32 28)" >"$1"
  printf '%b' "$(awk -v n="$2" -v s="$3" 'BEGIN {
    for (i = 0; i < n; ++i) for (r = 0; r < 28; ++r) for (c = 0; c < 28; ++c)
      printf "\\%03o", (r > 4 + i % 10 && c > 3 * (i % 7)) ? (i * 37 + r * c + s) % 256 : 0 }')" >>"$1"
}
write_labels() { # path n
  printf '%b' "\\000\\000\\010\\001$(be32 "$2")" >"$1"
  printf '%b' "$(awk -v n="$2" 'BEGIN { for (i = 0; i < n; ++i) printf "\\%03o", i % 10 }')" >>"$1"
}
mkdir data
write_images data/train-images-idx3-ubyte 64 1
write_labels data/train-labels-idx1-ubyte 64
write_images data/t10k-images-idx3-ubyte 30 2
write_labels data/t10k-labels-idx1-ubyte 30
# One image as a PGM: the test set's first.
{
  printf 'P5\n28 28\n255\n'
  head -c $((16 + 784)) data/t10k-images-idx3-ubyte | tail -c 784
} >first.pgm

# The usage text offers --device, defaulting to the cpu.
for cmd in eval predict; do
  "$kiln" $cmd --help | grep -q -- "--device TEXT=cpu .*auto" || fail "kiln $cmd --help lacks --device"
done

reg="kilncpu:$plugin"
for model in mlp cnn; do
  "$kiln" train fashion-mnist --model $model --epochs 1 --batch-size 32 --data data --out $model \
    >train.txt 2>&1 || fail "train $model: $(cat train.txt)"

  # eval: the plugin's accuracy, loss and per-class lines are the cpu's.
  "$kiln" eval --params $model/params.msgpack --model $model --data data --batch-size 8 \
    >eval_cpu.txt || fail "eval --device cpu"
  PJRT_NAMES_AND_LIBRARY_PATHS=$reg "$kiln" eval --params $model/params.msgpack --model $model \
    --data data --batch-size 8 --device kilncpu >eval_plugin.txt 2>&1 ||
    fail "eval --device kilncpu: $(cat eval_plugin.txt)"
  [[ $(head -1 eval_cpu.txt) == "Evaluating on CpuDevice(id=0)" ]] ||
    fail "eval does not name the cpu: $(head -1 eval_cpu.txt)"
  [[ $(head -1 eval_plugin.txt) == "Evaluating on KilncpuDevice(id=0)" ]] ||
    fail "eval does not name the plugin's device: $(head -1 eval_plugin.txt)"
  grep -q "(30 images): accuracy" eval_plugin.txt || fail "no accuracy line: $(cat eval_plugin.txt)"
  diff <(tail -n +2 eval_cpu.txt) <(tail -n +2 eval_plugin.txt) >/dev/null ||
    fail "$model: eval on kilncpu differs from the cpu: $(diff eval_cpu.txt eval_plugin.txt)"

  # predict: one PGM and a whole IDX file, line for line the cpu's; the device goes to stderr.
  "$kiln" predict --params $model/params.msgpack --model $model --top 10 first.pgm \
    data/t10k-images-idx3-ubyte >pred_cpu.txt 2>pred_cpu_err.txt || fail "predict --device cpu"
  PJRT_NAMES_AND_LIBRARY_PATHS=$reg "$kiln" predict --params $model/params.msgpack --model $model \
    --top 10 --device kilncpu first.pgm data/t10k-images-idx3-ubyte >pred_plugin.txt \
    2>pred_plugin_err.txt || fail "predict --device kilncpu: $(cat pred_plugin_err.txt)"
  grep -qx "Predicting on CpuDevice(id=0)" pred_cpu_err.txt || fail "$(cat pred_cpu_err.txt)"
  grep -qx "Predicting on KilncpuDevice(id=0)" pred_plugin_err.txt ||
    fail "predict does not name the plugin's device: $(cat pred_plugin_err.txt)"
  [[ $(wc -l <pred_plugin.txt) == 31 ]] || fail "predict: not 31 lines: $(cat pred_plugin.txt)"
  cmp -s pred_cpu.txt pred_plugin.txt ||
    fail "$model: predict on kilncpu differs from the cpu: $(diff pred_cpu.txt pred_plugin.txt)"
  [[ $(sed 's/^[^:]*: //' <(head -1 pred_plugin.txt)) == $(sed -n '2s/^[^:]*: //p' pred_plugin.txt) ]] ||
    fail "the PGM and the IDX's first image disagree"
  cp pred_cpu.txt $model.pred.txt
done

# An unregistered platform: the registration hint, a non-zero exit, before any data is read (the
# params file and data directory here do not exist).
expect_error 'PJRT_NAMES_AND_LIBRARY_PATHS=<name>:<path to plugin .so>' "$kiln" eval \
  --params nowhere.msgpack --data nowhere --device nosuch
expect_error 'PJRT_NAMES_AND_LIBRARY_PATHS=<name>:<path to plugin .so>' "$kiln" predict \
  --params nowhere.msgpack --device nosuch nowhere.pgm

# auto without tt: the cpu, saying why.
"$kiln" predict --params mlp/params.msgpack --model mlp --device auto first.pgm >auto.txt \
  2>auto_err.txt || fail "predict --device auto: $(cat auto_err.txt)"
grep -qx "Predicting on CpuDevice(id=0) (--device auto: no tt device present)" auto_err.txt ||
  fail "auto without tt: $(cat auto_err.txt)"
# the best class is the cpu's (--top differs)
[[ $(cut -d'(' -f1 auto.txt) == "$(head -1 mlp.pred.txt | cut -d'(' -f1)" ]] || fail "auto: $(cat auto.txt)"

# auto with a tt registration that does not load: the cpu, not passed off as "no tt".
TT_PJRT_PLUGIN_DIR=$work/no_tt_here "$kiln" predict --params mlp/params.msgpack --model mlp \
  --device auto first.pgm >/dev/null 2>auto_err.txt || fail "auto, broken tt: $(cat auto_err.txt)"
grep -qxF "Predicting on CpuDevice(id=0) (--device auto: the tt plugin is registered but did not load; \`kiln devices\` says why)" \
  auto_err.txt || fail "auto with a broken tt: $(cat auto_err.txt)"

# auto with tt present: the plugin posing as tt-xla, laid out as tt-xla's wheel.
mkdir tt
ln -s "$plugin" tt/pjrt_plugin_tt.so
export_tt() { TT_PJRT_PLUGIN_DIR=$work/tt KILN_PJRT_TEST_PLATFORM_NAME=tt \
  KILN_PJRT_TEST_DEVICE_ARCH=Wormhole_b0 "$@"; }
export_tt "$kiln" predict --params mlp/params.msgpack --model mlp --top 10 --device auto first.pgm \
  >tt.txt 2>tt_err.txt || fail "predict --device auto with tt: $(cat tt_err.txt)"
grep -qx "Predicting on TTDevice(id=0, arch=Wormhole_b0) (--device auto: tt is present)" \
  tt_err.txt || fail "auto with tt: $(cat tt_err.txt)"
cmp -s tt.txt <(head -1 mlp.pred.txt) || fail "tt: $(cat tt.txt) vs $(head -1 mlp.pred.txt)"
# The CNN's max pooling is reduce_window_max, which tt-xla cannot legalize: refused, named.
expect_error "cannot run reduce_window_max" export_tt "$kiln" eval --params cnn/params.msgpack \
  --model cnn --data data --device tt
grep -qF -- "--model cnn cannot run on TTDevice(id=0, arch=Wormhole_b0): kiln eval --device cpu" \
  "$work/err.txt" || fail "no remedy: $(cat "$work/err.txt")"
expect_error "cannot run reduce_window_max" export_tt "$kiln" predict --params cnn/params.msgpack \
  --model cnn --device tt first.pgm
grep -qF -- "kiln predict --device cpu runs it on the host" "$work/err.txt" ||
  fail "no remedy: $(cat "$work/err.txt")"
echo "ok"
