#include "kiln/checkpoints.hpp"

#include <zlib.h>

#include <algorithm>
#include <vector>

#include "io/chunked_array.hpp"
#include "io/mapped_file.hpp"
#include "io/state_value_text.hpp"
#include "kiln/device.hpp"
#include "kiln/safetensors.hpp"

namespace kiln::checkpoints {
namespace {

using serialization::StateValue;
using Kind = SummaryEntry::Kind;

void count(SummaryTotals& t, DType dt, const Shape& s) {
  ++t.arrays;
  t.elements += static_cast<uint64_t>(s.numel());
  t.bytes += static_cast<uint64_t>(s.numel()) * itemsize(dt);
}

// zlib's CRC-32 of the elements' bytes as stored (little-endian, row-major): the same in both file
// formats, and what Python's zlib.crc32(np.asarray(x).tobytes()) gives, so arrays can be matched
// across files and tools.
// Computed on the stored bytes where they are (for a file read in place: as they are read from
// the file, and released after), so a checksum costs no copy.
uint32_t crc32_of(const Array& a) {
  const Array host = a.buffer()->host_data() != nullptr ? a : device_get(a);
  const auto* bytes = static_cast<const uint8_t*>(host.buffer()->host_data());
  const size_t size = static_cast<size_t>(a.size()) * itemsize(a.dtype());
  uLong crc = ::crc32(0L, Z_NULL, 0);
  // zlib takes 32-bit lengths, so large arrays go in pieces.
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t at = 0; at < size; at += kPiece)
    crc = ::crc32(crc, bytes + at, static_cast<uInt>(std::min(kPiece, size - at)));
  serialization::release_pages(a);
  return static_cast<uint32_t>(crc);
}

// Appends the entries of `v` (at `path`) to `out`, counting its arrays into `totals`; checksums
// only when `out` is given (the params pass only counts).
void walk(const StateValue& v, std::vector<std::string>& path, std::vector<SummaryEntry>* out,
          SummaryTotals& totals) {
  SummaryEntry e;
  e.path = path;
  if (v.kind == StateValue::Kind::array || v.kind == StateValue::Kind::scalar) {
    e.kind = v.kind == StateValue::Kind::scalar ? Kind::numpy_scalar : Kind::array;
    e.dtype = v.array.dtype();
    e.shape = v.array.shape();
    count(totals, e.dtype, e.shape);
    if (out) e.crc32 = crc32_of(v.array);
  } else if (v.kind == StateValue::Kind::map) {
    if (auto type = serialization::chunked_array_type(v)) {
      e.kind = Kind::chunked_array;
      e.dtype = type->first;
      e.shape = type->second;
      count(totals, e.dtype, e.shape);
      if (out) e.crc32 = crc32_of(serialization::unchunk_array(v, "inspect"));
    } else if (!v.map || v.map->entries.empty()) {
      e.kind = Kind::empty_map;
    } else {
      for (const auto& [key, sub] : v.map->entries) {
        path.push_back(key);
        walk(sub, path, out, totals);
        path.pop_back();
      }
      return;
    }
  } else {
    e.kind = Kind::native;
    e.native = serialization::native_text(v);
  }
  if (out) out->push_back(std::move(e));
}

}  // namespace

Summary summarize(const StateValue& state) {
  Summary s;
  std::vector<std::string> path;
  walk(state, path, &s.entries, s.total);
  if (state.kind == StateValue::Kind::map && state.map) {
    for (const auto& [key, sub] : state.map->entries) {
      if (key != "params") continue;
      SummaryTotals params;
      walk(sub, path, nullptr, params);
      s.params = params;
      break;
    }
  }
  return s;
}

Summary summarize_file(const std::filesystem::path& path) {
  return summarize(read_state_in_place(path));
}

}  // namespace kiln::checkpoints
