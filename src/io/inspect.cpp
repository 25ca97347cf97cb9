#include "kiln/inspect.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include "io/chunked_array.hpp"
#include "io/mapped_file.hpp"
#include "io/state_value_text.hpp"
#include "kiln/device.hpp"
#include "kiln/safetensors.hpp"

namespace kiln {
namespace {

using serialization::StateValue;

struct Totals {
  size_t arrays = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
  bool checksums = true;  // off for the second pass that only counts the params
  void add(DType dt, const Shape& s) {
    ++arrays;
    elements += static_cast<uint64_t>(s.numel());
    bytes += static_cast<uint64_t>(s.numel()) * itemsize(dt);
  }
};

// zlib's CRC-32 of the elements' bytes as stored (little-endian, row-major): the same in both file
// formats, and what Python's zlib.crc32(np.asarray(x).tobytes()) gives, so arrays can be matched
// across files and tools.
// Computed on the stored bytes where they are (for a file read in place: as they are read from
// the file, and released after), so a checksum costs no copy.
std::string crc32_text(const Array& a) {
  const Array host = a.buffer()->host_data() != nullptr ? a : device_get(a);
  const auto* bytes = static_cast<const uint8_t*>(host.buffer()->host_data());
  const size_t size = static_cast<size_t>(a.size()) * itemsize(a.dtype());
  uLong crc = ::crc32(0L, Z_NULL, 0);
  // zlib takes 32-bit lengths, so large arrays go in pieces.
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t at = 0; at < size; at += kPiece)
    crc = ::crc32(crc, bytes + at, static_cast<uInt>(std::min(kPiece, size - at)));
  serialization::release_pages(a);
  char buf[24];
  std::snprintf(buf, sizeof buf, " crc32=%08lx", static_cast<unsigned long>(crc));
  return buf;
}

// The one-line form of a value that is not a plain map.
std::optional<std::string> leaf_text(const StateValue& v, Totals& totals) {
  using K = StateValue::Kind;
  if (v.kind == K::array || v.kind == K::scalar) {
    totals.add(v.array.dtype(), v.array.shape());
    return serialization::array_type(v.array.dtype(), v.array.shape()) +
           (v.kind == K::scalar ? " (numpy scalar)" : "") +
           (totals.checksums ? crc32_text(v.array) : "");
  }
  if (v.kind == K::map) {
    if (auto type = serialization::chunked_array_type(v)) {
      totals.add(type->first, type->second);
      return serialization::array_type(type->first, type->second) + " (chunked)" +
             (totals.checksums ? crc32_text(serialization::unchunk_array(v, "inspect")) : "");
    }
    if (!v.map || v.map->entries.empty()) return "{}";
    return std::nullopt;
  }
  return serialization::native_text(v);
}

void render(const StateValue& v, int depth, std::string& out, Totals& totals) {
  for (const auto& [key, sub] : v.map->entries) {
    out.append(static_cast<size_t>(depth) * 2, ' ');
    out += key + ":";
    if (auto text = leaf_text(sub, totals)) {
      out += " " + *text + "\n";
    } else {
      out += "\n";
      render(sub, depth + 1, out, totals);
    }
  }
}

std::string totals_text(const Totals& t) {
  std::string s = std::to_string(t.arrays) + (t.arrays == 1 ? " array, " : " arrays, ") +
                  std::to_string(t.elements) + (t.elements == 1 ? " element, " : " elements, ") +
                  std::to_string(t.bytes) + (t.bytes == 1 ? " byte" : " bytes");
  if (t.bytes >= 1024) {
    const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    double x = static_cast<double>(t.bytes) / 1024;
    int u = 0;
    while (x >= 1024 && u < 3) x /= 1024, ++u;
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.1f %s)", x, units[u]);
    s += buf;
  }
  return s;
}

}  // namespace

std::string inspect_summary(const StateValue& v) {
  std::string out;
  Totals all;
  if (auto text = leaf_text(v, all)) {
    out += *text + "\n";
  } else {
    render(v, 0, out, all);
  }
  out += "Total: " + totals_text(all) + "\n";
  if (v.kind == StateValue::Kind::map && v.map) {
    for (const auto& [key, sub] : v.map->entries) {
      if (key != "params") continue;
      Totals params;
      params.checksums = false;
      std::string unused;  // rendering is how the totals are gathered
      if (!leaf_text(sub, params)) render(sub, 0, unused, params);
      out += "Parameters (under 'params'): " + totals_text(params) + "\n";
      break;
    }
  }
  return out;
}

std::string inspect_file(const std::filesystem::path& path) {
  return inspect_summary(checkpoint::read_state_in_place(path));
}

}  // namespace kiln
