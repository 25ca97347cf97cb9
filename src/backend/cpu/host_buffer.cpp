// Host memory for arrays and arenas: 64-byte aligned so AVX-512 loads never split a cache line.
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>

#include "kiln/backend.hpp"

namespace kiln {
namespace {

constexpr size_t kHostAlignment = 64;

// Freed blocks of at least kCachedMinBytes wait here (up to kCacheMaxBytes in all) for the next
// allocation of the same rounded size. A jitted train step allocates its outputs (new parameters
// and optimizer state) every call; from malloc, each such block was fresh pages from the kernel
// (glibc maps large blocks and trims the heap), and the first write to each page faulted: about
// 0.4 ms of the MLP train step's 7 ms on the Adam update's outputs.
constexpr size_t kCachedMinBytes = 64 * 1024;
constexpr size_t kCacheMaxBytes = size_t{64} << 20;

class BlockCache {
 public:
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = blocks_.find(bytes);
    if (it == blocks_.end()) return nullptr;
    void* p = it->second;
    blocks_.erase(it);
    cached_ -= bytes;
    return p;
  }
  // False when the cache is full: the caller frees the block.
  bool give(void* p, size_t bytes) {
    if (bytes < kCachedMinBytes) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + bytes > kCacheMaxBytes) return false;
    blocks_.emplace(bytes, p);
    cached_ += bytes;
    return true;
  }

 private:
  std::mutex mutex_;
  std::unordered_multimap<size_t, void*> blocks_;
  size_t cached_ = 0;
};

// Never destroyed: buffers can outlive every other static (a global Array freed at exit).
BlockCache& block_cache() {
  static auto* cache = new BlockCache;
  return *cache;
}

class HostBuffer final : public Buffer {
 public:
  HostBuffer(Device device, size_t bytes, size_t rounded, void* data)
      : Buffer(device, bytes), rounded_(rounded), data_(data) {}
  ~HostBuffer() override {
    if (!block_cache().give(data_, rounded_)) std::free(data_);
  }
  void* host_data() const override { return data_; }

 private:
  size_t rounded_;
  void* data_;
};

}  // namespace

std::shared_ptr<Buffer> allocate_host(size_t bytes, Device device) {
  // aligned_alloc wants a multiple of the alignment; a zero-size buffer still gets a unique,
  // dereferenceable-looking pointer so callers need no special case.
  const size_t rounded =
      std::max<size_t>(kHostAlignment, (bytes + kHostAlignment - 1) & ~(kHostAlignment - 1));
  void* data = block_cache().take(rounded);
  if (data == nullptr) data = std::aligned_alloc(kHostAlignment, rounded);
  if (data == nullptr) throw std::bad_alloc();
  return std::make_shared<HostBuffer>(device, bytes, rounded, data);
}

}  // namespace kiln
