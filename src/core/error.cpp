#include "kiln/error.hpp"

#include <string_view>

namespace kiln {

std::string describe(const Loc& loc) {
  if (loc.line() == 0 || loc.file_name() == nullptr || *loc.file_name() == '\0') return "";
  std::string_view file = loc.file_name();
  return std::string(file) + ":" + std::to_string(loc.line());
}

std::string message(const std::string& what, const Loc& loc, const std::string& hint) {
  std::string out = what;
  std::string where = describe(loc);
  if (!where.empty()) out += " (at " + where + ")";
  if (!hint.empty()) out += ". " + hint;
  return out;
}

}  // namespace kiln
