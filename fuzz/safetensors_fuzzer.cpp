// libFuzzer target: kiln's safetensors reader (safetensors::decode) on arbitrary bytes, and what
// reads a decoded file further: to_tree (dotted names to nested dicts) and to_state_dict (the
// kiln.flax_state_dict layout in __metadata__, JSON the file supplies).
//
// Properties:
//  1. Every reader either succeeds or throws kiln::Error; anything else is a bug.
//  2. A decoded file encodes without error, the encoding decodes to the same tensors (names,
//     dtypes, shapes, bytes) and metadata, and re-encodes to the same bytes. Tensor order may
//     change once: encode writes the reference implementation's order (descending alignment, then
//     name), whatever order the input's data offsets had.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "kiln/error.hpp"
#include "kiln/safetensors.hpp"
#include "kiln/serialization.hpp"

namespace st = kiln::safetensors;

namespace {

using Tensors = std::vector<std::pair<std::string, kiln::Array>>;

Tensors by_name(Tensors t) {
  std::stable_sort(t.begin(), t.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  return t;
}

bool same_file(const st::File& file_a, const st::File& file_b, std::string& where) {
  const st::File a{by_name(file_a.tensors), file_a.metadata};
  const st::File b{by_name(file_b.tensors), file_b.metadata};
  if (a.metadata != b.metadata) {
    where = "__metadata__";
    return false;
  }
  if (a.tensors.size() != b.tensors.size()) {
    where = "the tensor count";
    return false;
  }
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [na, ta] = a.tensors[i];
    const auto& [nb, tb] = b.tensors[i];
    where = "tensor " + std::to_string(i) + " '" + na + "'";
    if (na != nb || ta.dtype() != tb.dtype() || !(ta.shape() == tb.shape()) ||
        kiln_fuzz::host_bytes(ta) != kiln_fuzz::host_bytes(tb))
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> input(data, data + size);
  st::File file;
  try {
    file = st::decode(input, "<fuzz>");
  } catch (const kiln::Error&) {
    return 0;  // refusing bad input with kiln::Error is the expected outcome
  }

  std::vector<uint8_t> once;
  try {
    once = st::encode(file);
  } catch (const kiln::Error& e) {
    kiln_fuzz::property_failed(std::string("encode refused what decode accepted: ") + e.what());
  }
  st::File again;
  try {
    again = st::decode(once, "<re-encoded>");
  } catch (const kiln::Error& e) {
    kiln_fuzz::property_failed(std::string("decode refused encode's output: ") + e.what());
  }
  std::string where;
  if (!same_file(file, again, where))
    kiln_fuzz::property_failed("decode(encode(f)) differs from f at " + where);
  if (st::encode(again) != once)
    kiln_fuzz::property_failed("encode(decode(encode(f))) differs from encode(f)");

  try {
    (void)st::to_tree(file, "<fuzz>");
  } catch (const kiln::Error&) {
  }
  try {
    kiln::serialization::StateValue state = st::to_state_dict(file, "<fuzz>");
    (void)kiln::serialization::encode(state);
    (void)st::encode(st::from_state_dict(state));
  } catch (const kiln::Error&) {
  }
  return 0;
}
