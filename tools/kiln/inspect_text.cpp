#include "inspect_text.hpp"

#include <cstdio>

namespace kiln::cli {
namespace {

using Kind = checkpoints::SummaryEntry::Kind;

std::string entry_text(const checkpoints::SummaryEntry& e) {
  if (e.kind == Kind::native) return e.native;
  if (e.kind == Kind::empty_map) return "{}";
  char crc[24];
  std::snprintf(crc, sizeof crc, " crc32=%08lx", static_cast<unsigned long>(e.crc32));
  return std::string(name(e.dtype)) + "[" + e.shape.dims_str() + "]" +
         (e.kind == Kind::numpy_scalar    ? " (numpy scalar)"
          : e.kind == Kind::chunked_array ? " (chunked)"
                                          : "") +
         crc;
}

std::string totals_text(const checkpoints::SummaryTotals& t) {
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

std::string inspect_text(const checkpoints::Summary& summary) {
  std::string out;
  const std::vector<std::string>* previous = nullptr;
  for (const auto& e : summary.entries) {
    // The maps this entry opens: those its path does not share with the previous entry's.
    size_t shared = 0;
    if (previous != nullptr)
      while (shared + 1 < e.path.size() && shared + 1 < previous->size() &&
             e.path[shared] == (*previous)[shared])
        ++shared;
    for (size_t depth = shared; depth + 1 < e.path.size(); ++depth)
      out += std::string(depth * 2, ' ') + e.path[depth] + ":\n";
    if (!e.path.empty()) out += std::string((e.path.size() - 1) * 2, ' ') + e.path.back() + ": ";
    out += entry_text(e) + "\n";
    previous = &e.path;
  }
  out += "Total: " + totals_text(summary.total) + "\n";
  if (summary.params) out += "Parameters (under 'params'): " + totals_text(*summary.params) + "\n";
  return out;
}

}  // namespace kiln::cli
