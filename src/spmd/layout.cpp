#include "spmd/layout.hpp"

#include <algorithm>

namespace kiln::spmd {

int64_t MeshAxes::size_of(const std::vector<std::string>& axes) const {
  int64_t n = 1;
  for (const std::string& a : axes)
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == a) n *= sizes[i];
  return n;
}

bool MeshAxes::has(const std::string& axis) const {
  return std::find(names.begin(), names.end(), axis) != names.end();
}

bool Layout::is_replicated() const {
  if (!partial.empty()) return false;
  for (const auto& d : dims)
    if (!d.empty()) return false;
  return true;
}

std::vector<std::string> Layout::axes() const {
  std::vector<std::string> out = partial;
  for (const auto& d : dims) out.insert(out.end(), d.begin(), d.end());
  return out;
}

Shape Layout::local_shape(const Shape& global, const MeshAxes& mesh) const {
  std::vector<int64_t> out = global.vec();
  for (size_t d = 0; d < dims.size() && d < out.size(); ++d) out[d] /= mesh.size_of(dims[d]);
  return Shape(out);
}

namespace {
std::string axes_str(const std::vector<std::string>& axes) {
  if (axes.empty()) return "None";
  if (axes.size() == 1) return "'" + axes[0] + "'";
  std::string s = "(";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? ", '" : "'") + axes[i] + "'";
  return s + ")";
}
}  // namespace

std::string Layout::str() const {
  std::string s = "P(";
  for (size_t d = 0; d < dims.size(); ++d) s += (d ? ", " : "") + axes_str(dims[d]);
  s += ")";
  if (!partial.empty()) s += " partial over " + axes_str(partial);
  return s;
}

}  // namespace kiln::spmd
