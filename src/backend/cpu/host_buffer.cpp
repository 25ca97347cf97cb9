// Host memory for arrays and arenas: 64-byte aligned so AVX-512 loads never split a cache line.
#include <cstdlib>
#include <new>

#include "kiln/backend.hpp"

namespace kiln {
namespace {

class HostBuffer final : public Buffer {
 public:
  HostBuffer(Device device, size_t bytes, void* data) : Buffer(device, bytes), data_(data) {}
  ~HostBuffer() override { std::free(data_); }
  void* host_data() const override { return data_; }

 private:
  void* data_;
};

constexpr size_t kHostAlignment = 64;

}  // namespace

std::shared_ptr<Buffer> allocate_host(size_t bytes, Device device) {
  // aligned_alloc wants a multiple of the alignment; a zero-size buffer still gets a unique,
  // dereferenceable-looking pointer so callers need no special case.
  const size_t rounded =
      std::max<size_t>(kHostAlignment, (bytes + kHostAlignment - 1) & ~(kHostAlignment - 1));
  void* data = std::aligned_alloc(kHostAlignment, rounded);
  if (data == nullptr) throw std::bad_alloc();
  return std::make_shared<HostBuffer>(device, bytes, data);
}

}  // namespace kiln
