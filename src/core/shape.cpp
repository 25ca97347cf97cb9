#include "kiln/shape.hpp"

#include "kiln/error.hpp"

namespace kiln {

Shape::Shape(std::initializer_list<int64_t> dims)
    : Shape(std::span<const int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const int64_t> dims) {
  if (dims.size() > kMaxRank) {
    throw ShapeError("kiln arrays have at most " + std::to_string(kMaxRank) + " dimensions, got " +
                     std::to_string(dims.size()));
  }
  for (int64_t d : dims) {
    if (d < 0) throw ShapeError("negative dimension " + std::to_string(d) + " in a shape");
    dims_[rank_++] = d;
  }
}

void Shape::push_back(int64_t d) {
  if (rank_ == kMaxRank) throw ShapeError("kiln arrays have at most 8 dimensions");
  dims_[rank_++] = d;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != o.dims_[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  if (rank_ == 1) s += ",";
  return s + ")";
}

std::string Shape::dims_str() const {
  std::string s;
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ",";
    s += std::to_string(dims_[i]);
  }
  return s;
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.rank());
  int64_t acc = 1;
  for (int i = s.rank() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

}  // namespace kiln
