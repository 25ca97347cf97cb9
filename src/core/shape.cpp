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
  check_size();
}

void Shape::push_back(int64_t d) {
  if (rank_ == kMaxRank) throw ShapeError("kiln arrays have at most 8 dimensions");
  if (d < 0) throw ShapeError("negative dimension " + std::to_string(d) + " in a shape");
  dims_[rank_++] = d;
  check_size();
}

// At most 2^59 elements, so that the byte size of any dtype (16 bytes at most) fits in an int64:
// a shape too large for any memory fails here, with its dimensions, instead of overflowing a size
// computation somewhere downstream.
void Shape::check_size() const {
  constexpr int64_t kMaxElements = int64_t{1} << 59;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] == 0) return;
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) {
    if (__builtin_mul_overflow(n, dims_[i], &n) || n > kMaxElements)
      throw ShapeError("the shape " + str() + " has more than 2^59 elements, more than any " +
                       "memory holds");
  }
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
