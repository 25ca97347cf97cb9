// A gtest fixture over one CPU backend: host vectors in and out of device buffers, and running an
// executable on them. Shared by the CPU backend's tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "kiln/backend.hpp"

namespace kiln::testing {

class BackendFixture : public ::testing::Test {
 protected:
  explicit BackendFixture(int num_devices = 1) : backend_(cpu::make_backend(num_devices)) {}

  std::unique_ptr<Backend> backend_;
  Device device_{backend_.get(), 0};

  template <class T>
  std::shared_ptr<Buffer> buffer(const std::vector<T>& values) {
    auto b = backend_->allocate(values.size() * sizeof(T), device_);
    if (!values.empty()) backend_->from_host(values.data(), *b);
    return b;
  }
  std::shared_ptr<Buffer> buffer(const std::vector<bool>& values) {
    std::vector<uint8_t> bytes(values.begin(), values.end());
    return buffer(bytes);
  }

  template <class T>
  std::vector<T> read(const Buffer& b) {
    std::vector<T> out(b.bytes() / sizeof(T));
    if (!out.empty()) backend_->to_host(b, out.data());
    return out;
  }

  // Runs `exe` on `inputs` into freshly allocated outputs.
  std::vector<std::shared_ptr<Buffer>> execute(Executable& exe,
                                               const std::vector<std::shared_ptr<Buffer>>& inputs) {
    std::vector<std::shared_ptr<Buffer>> outputs;
    for (const ir::ValueType& t : exe.output_types())
      outputs.push_back(backend_->allocate(t.shape.numel() * itemsize(t.dtype), device_));
    std::vector<Buffer*> in_ptrs, out_ptrs;
    for (const auto& b : inputs) in_ptrs.push_back(b.get());
    for (const auto& b : outputs) out_ptrs.push_back(b.get());
    exe.run(in_ptrs, out_ptrs);
    return outputs;
  }
};

}  // namespace kiln::testing
