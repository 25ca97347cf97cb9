// Shape: up to kMaxRank dimensions stored inline, so creating and hashing one never allocates.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace kiln {

class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::span<const int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims) : Shape(std::span<const int64_t>(dims)) {}

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  int64_t numel() const;
  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + rank_; }
  std::span<const int64_t> dims() const { return {dims_.data(), static_cast<size_t>(rank_)}; }
  std::vector<int64_t> vec() const { return {begin(), end()}; }
  void push_back(int64_t d);

  bool operator==(const Shape& o) const;
  // "(16, 4)", as numpy writes a shape.
  std::string str() const;
  // "16,4", as jaxprs write a shape inside f32[...].
  std::string dims_str() const;

 private:
  void check_size() const;  // ShapeError beyond 2^59 elements
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

// Row-major strides, in elements.
std::vector<int64_t> strides_of(const Shape& s);

}  // namespace kiln
