// The unit of a compiled CPU schedule: a kernel (a plain function) plus the constants it was
// specialised with at compile time. A step of the schedule binds one kernel to operand slots; a
// later fused elementwise loop is just another kernel whose params hold its little program.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "kiln/ir.hpp"

namespace kiln::cpu {

// Compile-time constants of one kernel call (sizes, strides, fill values). Each kernel family
// derives its own and the kernel static_casts back; the schedule only owns them.
struct KernelParams {
  virtual ~KernelParams() = default;
};

// What a kernel sees at run time: resolved operand pointers, the result pointer and, when the
// lowering asked for it, step-private scratch bytes in the arena (64-byte aligned).
struct KernelArgs {
  std::span<const std::byte* const> in;
  std::byte* out;
  std::byte* scratch;
};

using KernelFn = void (*)(const KernelArgs& args, const KernelParams& params);

// A node lowered to a kernel call; the schedule decides where operands and results live.
struct Lowered {
  KernelFn fn = nullptr;
  std::unique_ptr<KernelParams> params;
  size_t scratch_bytes = 0;
  // result[i] depends only on operands[*][i]: the result may overwrite a dying operand of the
  // same byte size (in-place reuse of the arena).
  bool elementwise = false;
};

// Params of kernels that only need an element count.
struct CountParams : KernelParams {
  explicit CountParams(int64_t n) : n(n) {}
  int64_t n;
};

// A lowering builds the kernel call for one node, given its operand types.
using LowerFn = Lowered (*)(const ir::Node& node, std::span<const ir::ValueType> in);

template <class T>
const T* in_ptr(const KernelArgs& a, size_t i) {
  return reinterpret_cast<const T*>(a.in[i]);
}
template <class T>
T* out_ptr(const KernelArgs& a) {
  return reinterpret_cast<T*>(a.out);
}

}  // namespace kiln::cpu
