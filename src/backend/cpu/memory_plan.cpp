#include "backend/cpu/memory_plan.hpp"

#include <algorithm>

namespace kiln::cpu {
size_t ArenaPlan::allocate(size_t bytes) {
  if (bytes == 0) return 0;
  bytes = aligned(bytes);
  auto best = free_.end();
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->bytes >= bytes && (best == free_.end() || it->bytes < best->bytes)) best = it;
  }
  if (best != free_.end()) {
    const size_t offset = best->offset;
    best->offset += bytes;
    best->bytes -= bytes;
    if (best->bytes == 0) free_.erase(best);
    return offset;
  }
  // Nothing fits: grow the arena, starting inside a free block that ends at its top.
  if (!free_.empty() && free_.back().offset + free_.back().bytes == extent_) {
    const size_t offset = free_.back().offset;
    free_.pop_back();
    extent_ = offset + bytes;
    return offset;
  }
  const size_t offset = extent_;
  extent_ += bytes;
  return offset;
}

void ArenaPlan::release(size_t offset, size_t bytes) {
  if (bytes == 0) return;
  bytes = aligned(bytes);
  auto it = std::lower_bound(free_.begin(), free_.end(), offset,
                             [](const Block& b, size_t off) { return b.offset < off; });
  it = free_.insert(it, Block{offset, bytes});
  auto next = it + 1;
  if (next != free_.end() && it->offset + it->bytes == next->offset) {
    it->bytes += next->bytes;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = it - 1;
    if (prev->offset + prev->bytes == it->offset) {
      prev->bytes += it->bytes;
      free_.erase(it);
    }
  }
}

}  // namespace kiln::cpu
