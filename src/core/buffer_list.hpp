// The buffer pointers of one Executable::run, kept on the stack for the usual handful so that the
// eager and jit hot paths do not allocate for them.
#pragma once

#include <span>
#include <vector>

#include "kiln/backend.hpp"

namespace kiln {

class BufferList {
 public:
  explicit BufferList(size_t n) : n_(n) {
    if (n > kInline) heap_.resize(n);
  }
  Buffer*& operator[](size_t i) { return data()[i]; }
  std::span<Buffer* const> span() { return {data(), n_}; }

 private:
  static constexpr size_t kInline = 16;
  Buffer** data() { return n_ > kInline ? heap_.data() : inline_; }

  Buffer* inline_[kInline];
  std::vector<Buffer*> heap_;
  size_t n_;
};

}  // namespace kiln
