#!/usr/bin/env bash
# The kiln command-line tool as a user runs it.
#   tests/cli/kiln_cli_test.sh <path to build/bin/kiln> <path to build/bin/tutorial>
set -uo pipefail
kiln=$1
tutorial=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

out=$("$kiln" version) || fail "version exited $?"
[[ "$out" =~ ^kiln\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "version printed '$out'"

out=$("$kiln" devices) || fail "devices exited $?"
grep -q '^    CpuDevice(id=0)$' <<<"$out" || fail "devices lacks CpuDevice(id=0): $out"
grep -q 'TT_PJRT_PLUGIN_DIR' <<<"$out" || fail "devices does not say how to get tt: $out"
# The instruction set oneDNN dispatches to: AVX-512 where the processor has it, AVX2 when capped
# (CI also runs this test with ONEDNN_MAX_CPU_ISA=AVX2 set: the uncapped run unsets it).
out=$(env -u ONEDNN_MAX_CPU_ISA "$kiln" devices) || fail "devices without ONEDNN_MAX_CPU_ISA exited $?"
isa=$(sed -n 's/^    kernels: oneDNN on \([a-z0-9_]*\) (ONEDNN_MAX_CPU_ISA caps it)$/\1/p' <<<"$out")
if grep -q '^flags.* avx512f ' /proc/cpuinfo; then
  [[ "$isa" == avx512_core* ]] || fail "devices names '$isa' on an AVX-512 processor: $out"
else
  [[ "$isa" == avx2* ]] || fail "devices names '$isa' on an AVX2 processor: $out"
fi
out=$(ONEDNN_MAX_CPU_ISA=AVX2 "$kiln" devices) || fail "devices under ONEDNN_MAX_CPU_ISA=AVX2 exited $?"
grep -q '^    kernels: oneDNN on avx2 ' <<<"$out" || fail "ONEDNN_MAX_CPU_ISA=AVX2 not reported: $out"

out=$(KILN_CPU_DEVICES=3 "$kiln" devices) || fail "devices with KILN_CPU_DEVICES=3 exited $?"
grep -q '^    CpuDevice(id=2)$' <<<"$out" || fail "KILN_CPU_DEVICES=3 not honoured: $out"

"$tutorial" --device cpu >/dev/null || fail "tutorial failed"
out=$("$kiln" inspect model_params.msgpack) || fail "inspect exited $?"
# The trained values (and so their checksums) depend on the machine's floating point; the layout
# does not. Checksums are checked on a file with known bytes below.
expected="model_params.msgpack
params:
  Dense_0:
    bias: float32[8]
    kernel: float32[4,8]
  Dense_1:
    bias: float32[1]
    kernel: float32[8,1]
Total: 4 arrays, 49 elements, 196 bytes
Parameters (under 'params'): 4 arrays, 49 elements, 196 bytes"
[[ "$(sed 's/ crc32=[0-9a-f]\{8\}$//' <<<"$out")" == "$expected" ]] || fail "inspect printed:
$out"
(($(grep -c ' crc32=[0-9a-f]\{8\}$' <<<"$out") == 4)) || fail "inspect lacks a checksum per array:
$out"

out=$("$kiln" inspect nope.msgpack 2>&1) && fail "inspect of a missing file succeeded"
grep -q 'nope.msgpack' <<<"$out" || fail "inspect error does not name the file: $out"
out=$("$kiln" frobnicate 2>&1) && fail "unknown subcommand succeeded"

# ---- safetensors, convert, diff ----

# A safetensors file written byte by byte from the format: header length 0x90, the JSON header
# padded with spaces to 144 bytes, then w = [1.0, -2.0] (F32) and m = [1, 2, 3] (U8).
st_file() {  # st_file NAME W1_BYTES
  printf '\x90\x00\x00\x00\x00\x00\x00\x00%s      '"$2"'\x00\x00\x00\xc0\x01\x02\x03' \
    '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"m":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}' \
    >"$1"
}
st_file tiny.safetensors '\x00\x00\x80\x3f'
out=$("$kiln" inspect tiny.safetensors) || fail "inspect of a safetensors file exited $?"
# The checksums are zlib's CRC-32 of the stored bytes: Python's zlib.crc32 gives the same.
expected="tiny.safetensors
__metadata__:
  format: str 'pt'
w: float32[2] crc32=c3872656
m: uint8[3] crc32=55bc801d
Total: 2 arrays, 5 elements, 11 bytes"
[[ "$out" == "$expected" ]] || fail "inspect of tiny.safetensors printed:
$out"

"$kiln" convert tiny.safetensors tiny.msgpack >/dev/null || fail "convert safetensors -> msgpack exited $?"
"$kiln" convert tiny.msgpack back.safetensors >/dev/null || fail "convert msgpack -> safetensors exited $?"
cmp -s tiny.safetensors back.safetensors || fail "safetensors -> msgpack -> safetensors changed the bytes"
out=$("$kiln" diff tiny.safetensors tiny.msgpack) || fail "diff of a file and its conversion exited $?"
[[ "$out" == "identical: 3 entries" ]] || fail "diff of identical files printed: $out"

"$kiln" convert model_params.msgpack model.safetensors >/dev/null || fail "convert of the tutorial's file exited $?"
"$kiln" convert model.safetensors model_again.msgpack >/dev/null || fail "convert back exited $?"
cmp -s model_params.msgpack model_again.msgpack || fail "msgpack -> safetensors -> msgpack changed the bytes"
"$kiln" convert model_params.msgpack model_copy.msgpack >/dev/null || fail "convert msgpack -> msgpack exited $?"
cmp -s model_params.msgpack model_copy.msgpack || fail "msgpack -> msgpack changed the bytes"
"$kiln" diff model_params.msgpack model.safetensors >/dev/null || fail "diff of the tutorial's file and its safetensors form exited $?"
out=$("$kiln" inspect model.safetensors) || fail "inspect of model.safetensors exited $?"
grep -q '^    kernel: float32\[4,8\] crc32=' <<<"$out" || fail "inspect of model.safetensors printed: $out"

# w = [1.5, -2.0]: one element differs, by 0.5.
st_file other.safetensors '\x00\x00\xc0\x3f'
out=$("$kiln" diff tiny.safetensors other.safetensors)
rc=$?
((rc == 1)) || fail "diff of different files exited $rc"
expected="w float32[2]: 1 of 2 elements differ, max abs difference 0.5
1 of 3 entries differ"
[[ "$out" == "$expected" ]] || fail "diff printed:
$out"

out=$("$kiln" diff tiny.safetensors missing.msgpack 2>&1)
rc=$?
((rc == 2)) || fail "diff with a missing file exited $rc"
grep -q 'missing.msgpack' <<<"$out" || fail "diff error does not name the file: $out"

head -c 100 tiny.safetensors >cut.safetensors
out=$("$kiln" inspect cut.safetensors 2>&1) && fail "inspect of a truncated file succeeded"
grep -q 'cut.safetensors: the header length at byte 0 says 144 bytes but only 92 follow' <<<"$out" ||
  fail "truncated-file error: $out"
out=$("$kiln" convert tiny.safetensors tiny.txt 2>&1) && fail "convert to .txt succeeded"
grep -q 'tiny.txt' <<<"$out" || fail "convert to .txt error: $out"
[[ ! -e tiny.txt ]] || fail "a failed convert left tiny.txt"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "kiln cli: all checks passed"
