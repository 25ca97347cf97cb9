// The lowering of each primitive family to kernel calls. kernel_table.cpp maps every primitive to
// one of these and to the dtypes it accepts.
#pragma once

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/kernel.hpp"

namespace kiln::cpu {

// Thrown by a lowering for a node it cannot build (a bug: supports() said yes).
[[noreturn]] void no_kernel(const ir::Node& node, DType dtype);

// pick.template operator()<T>() for the storage type T of `dtype`, for kernels that exist for
// every numeric type but not bool; no_kernel for bool.
//   l.fn = numeric_kernel(node, t, []<class T>() -> KernelFn { return &dot_kernel<T>; });
template <class Pick>
KernelFn numeric_kernel(const ir::Node& node, DType dtype, Pick pick) {
  KernelFn fn = visit_dtype(dtype, [&](auto tag) -> KernelFn {
    using T = decltype(tag);
    if constexpr (kIsBool<T>) {
      return nullptr;
    } else {
      return pick.template operator()<T>();
    }
  });
  if (fn == nullptr) no_kernel(node, dtype);
  return fn;
}

Lowered lower_unary(const ir::Node& node, std::span<const ir::ValueType> in);
// Elementwise nodes on complex operands, and complex (two real parts): complex_kernels.cpp.
bool is_complex_elementwise(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_complex_elementwise(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_binary(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_compare(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_select(const ir::Node& node, std::span<const ir::ValueType> in);
// reshape, stop_gradient, bitcast_convert when they cannot be a view of their operand.
// How an elementwise step reads one operand whose producer the schedule absorbed instead of
// materializing it (docs/cpu-backend.md, "Absorbed fills and broadcasts").
struct OperandRead {
  enum class Kind : uint8_t {
    dense,   // the operand's own buffer, element i
    cyclic,  // a broadcast's source over trailing dims: element i % period of the source
    scalar,  // a broadcast's one-element source: element 0
    fill,    // a full node: no buffer, the value below
  };
  Kind kind = Kind::dense;
  int64_t period = 0;  // cyclic: the source's element count
  uint64_t fill = 0;   // fill: the element's bytes
};

// Whether lower_absorbing can build node (binary, compare or select) for its operand dtypes:
// float32 binary ops and compares, select of any width. Other nodes keep materialized operands.
bool can_absorb_operands(const ir::Node& node, std::span<const ir::ValueType> in);
// The kernel of such a node reading operand k as reads[k]; in are the node's operand types.
// Its step inputs are the non-fill operands in order (a cyclic or scalar one is the source).
Lowered lower_absorbing(const ir::Node& node, std::span<const ir::ValueType> in,
                        std::span<const OperandRead> reads);
Lowered lower_copy(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_convert(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_full(const ir::Node& node, std::span<const ir::ValueType> in);
// The bytes of one element of a full node's result (its value converted to the result dtype).
uint64_t fill_bits(const ir::Node& full);
Lowered lower_iota(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_broadcast_in_dim(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_transpose(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_slice(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_pad(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_concatenate(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_reduce(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_argmax(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_dot_general(const ir::Node& node, std::span<const ir::ValueType> in);
// A dot_general or convolution whose result dtype (preferred_element_type) is wider than its
// operands: `product`'s kernel of the wide type on operands converted into scratch
// (widened_product.cpp).
Lowered lower_widened(const ir::Node& node, std::span<const ir::ValueType> in, LowerFn product);
// oneDNN for the float32 forms it expresses, else the reference loop (convolution.cpp).
Lowered lower_convolution(const ir::Node& node, std::span<const ir::ValueType> in);

// reduce_window_sum, reduce_window_max, select_and_scatter_add (reduce_window.cpp); rev
// (reverse.cpp).
Lowered lower_reduce_window(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_select_and_scatter_add(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_rev(const ir::Node& node, std::span<const ir::ValueType> in);

// gather, scatter and scatter_add/mul/min/max, dynamic_slice and dynamic_update_slice
// (gather_scatter.cpp).
Lowered lower_gather(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_scatter(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_dynamic_slice(const ir::Node& node, std::span<const ir::ValueType> in);
// cumsum, cumprod, cummax, cummin (scan_kernels.cpp): XLA's CPU scan, bit for bit.
Lowered lower_scan(const ir::Node& node, std::span<const ir::ValueType> in);
// sort (one operand of a multi-operand stable sort), top_k (values or indices): sort_kernels.cpp.
Lowered lower_sort(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_top_k(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_threefry2x32(const ir::Node& node, std::span<const ir::ValueType> in);

}  // namespace kiln::cpu
