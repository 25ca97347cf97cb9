// Offsets inside one arena, planned at compile time: a value's bytes return to the free list after
// its last use and later values take them (best fit), so a chain of N ops needs the space of a few
// of its values, not of all N.
#pragma once

#include <cstddef>
#include <vector>

namespace kiln::cpu {

class ArenaPlan {
 public:
  // Every offset is a multiple of this (AVX-512 loads, and no false sharing between values).
  static constexpr size_t kAlignment = 64;
  // `bytes` rounded up to a multiple of kAlignment.
  static constexpr size_t aligned(size_t bytes) {
    return (bytes + kAlignment - 1) & ~(kAlignment - 1);
  }

  // An offset for `bytes` bytes not in use by any live allocation. Zero bytes take no space.
  size_t allocate(size_t bytes);
  void release(size_t offset, size_t bytes);
  // The arena size every allocation so far fits in.
  size_t size() const { return extent_; }

 private:
  struct Block {
    size_t offset, bytes;
  };
  std::vector<Block> free_;  // sorted by offset, neighbours merged
  size_t extent_ = 0;
};

}  // namespace kiln::cpu
