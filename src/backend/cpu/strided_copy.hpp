// A strided copy of up to Shape::kMaxRank dimensions: the one loop behind transpose,
// broadcast_in_dim, slice, pad, concatenate and dot_general's operand re-layouts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "kiln/shape.hpp"

namespace kiln::cpu {

struct StridedCopy {
  static constexpr int kMaxRank = Shape::kMaxRank;
  int rank = 0;
  std::array<int64_t, kMaxRank> dims{};
  std::array<int64_t, kMaxRank> in_strides{};   // elements; 0 repeats (broadcast)
  std::array<int64_t, kMaxRank> out_strides{};  // elements
  int64_t in_offset = 0;
  int64_t out_offset = 0;
  size_t width = 4;  // bytes per element
  bool empty = false;

  int64_t numel() const;
};

// out[out_offset + Σ i_k·out_strides[k]] = in[in_offset + Σ i_k·in_strides[k]] over the index
// space `dims`, with size-1 dimensions dropped and contiguous neighbours merged so the inner
// loop is as long as it can be.
StridedCopy make_strided_copy(std::span<const int64_t> dims, std::span<const int64_t> in_strides,
                              int64_t in_offset, std::span<const int64_t> out_strides,
                              int64_t out_offset, size_t width);

void run_strided_copy(const StridedCopy& c, const std::byte* in, std::byte* out);

}  // namespace kiln::cpu
