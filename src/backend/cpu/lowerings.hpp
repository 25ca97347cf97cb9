// The lowering of each primitive family to kernel calls. kernel_table.cpp maps every primitive to
// one of these and to the dtypes it accepts.
#pragma once

#include "backend/cpu/kernel.hpp"

namespace kiln::cpu {

// Thrown by a lowering for a node it cannot build (a bug: supports() said yes).
[[noreturn]] void no_kernel(const ir::Node& node, DType dtype);

Lowered lower_unary(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_binary(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_compare(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_select(const ir::Node& node, std::span<const ir::ValueType> in);
// reshape, stop_gradient, bitcast_convert when they cannot be a view of their operand.
Lowered lower_copy(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_convert(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_full(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_iota(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_broadcast_in_dim(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_transpose(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_slice(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_pad(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_concatenate(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_reduce(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_argmax(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_dot_general(const ir::Node& node, std::span<const ir::ValueType> in);
// oneDNN for the float32 forms it expresses, else the reference loop (convolution.cpp).
Lowered lower_convolution(const ir::Node& node, std::span<const ir::ValueType> in);

// reduce_window_sum, reduce_window_max, select_and_scatter_add (reduce_window.cpp); rev
// (reverse.cpp).
Lowered lower_reduce_window(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_select_and_scatter_add(const ir::Node& node, std::span<const ir::ValueType> in);
Lowered lower_rev(const ir::Node& node, std::span<const ir::ValueType> in);

Lowered lower_threefry2x32(const ir::Node& node, std::span<const ir::ValueType> in);

}  // namespace kiln::cpu
