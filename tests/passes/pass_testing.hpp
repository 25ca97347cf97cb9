// Running a graph exactly as given (no passes) and comparing results bit for bit.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/cpu/schedule.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/ir.hpp"

namespace kiln::pass_testing {

using Bytes = std::vector<std::byte>;

template <typename T>
Bytes bytes_of(const std::vector<T>& v) {
  Bytes b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// The outputs of `g` on `inputs`, from a CPU executable of g itself: CpuExecutable, not
// Backend::compile, so no pass runs and the "before" numbers really are the unoptimized graph's.
inline std::vector<Bytes> run(const ir::Graph& g, const std::vector<Bytes>& inputs) {
  g.verify();
  cpu::CpuExecutable exe(g);
  std::vector<std::shared_ptr<Buffer>> in, out;
  std::vector<Buffer*> in_ptrs, out_ptrs;
  for (const Bytes& b : inputs) {
    in.push_back(allocate_host(b.size(), default_device()));
    if (!b.empty()) std::memcpy(in.back()->host_data(), b.data(), b.size());
    in_ptrs.push_back(in.back().get());
  }
  for (ir::ValueId v : g.outputs) {
    const ir::ValueType& t = g.type(v);
    out.push_back(
        allocate_host(static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype), default_device()));
    out_ptrs.push_back(out.back().get());
  }
  exe.run(in_ptrs, out_ptrs);
  std::vector<Bytes> res;
  for (const auto& b : out) {
    const auto* p = static_cast<const std::byte*>(b->host_data());
    res.emplace_back(p, p + b->bytes());
  }
  return res;
}

}  // namespace kiln::pass_testing
