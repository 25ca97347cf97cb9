// libFuzzer target: kiln's msgpack reader (serialization::decode) on arbitrary bytes.
//
// Properties:
//  1. decode either returns a state dict or throws kiln::Error; anything else (another exception,
//     a crash, a sanitizer report, a hang, an allocation over -rss_limit_mb) is a bug.
//  2. What decoded encodes without error, and the encoding decodes to the same state dict (exactly:
//     kinds, encodings, key order, float bits, array bytes) and re-encodes to the same bytes.
//     (Bytes need not equal the input: a non-canonical encoding such as `d1 00 05` for 5 or a
//     str8 holding a short string re-encodes in its canonical, Python-msgpack form.)
//  3. The chunked-array reader and the inspector accept every decoded state dict: a malformed
//     chunked array is a kiln::Error, never a crash.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.hpp"
#include "io/chunked_array.hpp"
#include "kiln/checkpoints.hpp"
#include "kiln/error.hpp"
#include "kiln/serialization.hpp"

namespace ks = kiln::serialization;

namespace {

// Every map that carries the chunked-array marker goes through the unchunking reader.
void visit_chunked(const ks::StateValue& v) {
  if (v.kind != ks::StateValue::Kind::map || !v.map) return;
  if (ks::is_chunked_array(v)) {
    auto type = ks::chunked_array_type(v);
    try {
      kiln::Array a = ks::unchunk_array(v, "<fuzz>");
      if (!type)
        kiln_fuzz::property_failed("unchunk_array accepted what chunked_array_type refused");
      if (a.dtype() != type->first || !(a.shape() == type->second))
        kiln_fuzz::property_failed("unchunk_array's result disagrees with chunked_array_type");
    } catch (const kiln::Error&) {
      if (type)
        kiln_fuzz::property_failed("unchunk_array refused what chunked_array_type accepted");
    }
  }
  for (const auto& [k, sub] : v.map->entries) visit_chunked(sub);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> input(data, data + size);
  ks::StateValue decoded;
  try {
    decoded = ks::decode(input, "<fuzz>");
  } catch (const kiln::Error&) {
    return 0;  // refusing bad input with kiln::Error is the expected outcome
  }

  std::vector<uint8_t> once;
  try {
    once = ks::encode(decoded);
  } catch (const kiln::Error& e) {
    kiln_fuzz::property_failed(std::string("encode refused what decode accepted: ") + e.what());
  }
  ks::StateValue again;
  try {
    again = ks::decode(once, "<re-encoded>");
  } catch (const kiln::Error& e) {
    kiln_fuzz::property_failed(std::string("decode refused encode's output: ") + e.what());
  }
  std::string where;
  if (!kiln_fuzz::same_state(decoded, again, where))
    kiln_fuzz::property_failed("decode(encode(v)) differs from v at " + where);
  if (ks::encode(again) != once)
    kiln_fuzz::property_failed("encode(decode(encode(v))) differs from encode(v)");

  visit_chunked(decoded);
  try {
    (void)kiln::checkpoints::summarize(decoded);
  } catch (const kiln::Error&) {
  }
  return 0;
}
