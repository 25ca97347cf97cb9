#include "backend/cpu/kernel_table.hpp"

#include <array>
#include <stdexcept>

#include "backend/cpu/lowerings.hpp"
#include "kiln/error.hpp"

namespace kiln::cpu {
namespace {

using ir::Prim;

constexpr DTypeMask kSignedAndFloat = kNumeric;  // neg/abs/sign: unsigned ints wrap, as in XLA

std::array<PrimRow, ir::kNumPrims> build_table() {
  std::array<PrimRow, ir::kNumPrims> t{};
  auto set = [&](Prim p, DTypeMask m, LowerFn f) { t[static_cast<size_t>(p)] = {m, f}; };
  set(Prim::parameter, kAll, nullptr);
  set(Prim::constant, kAll, nullptr);
  set(Prim::full, kAll, &lower_full);
  set(Prim::iota, kNumeric, &lower_iota);
  for (Prim p : {Prim::neg, Prim::abs, Prim::sign}) set(p, kSignedAndFloat, &lower_unary);
  for (Prim p : {Prim::exp, Prim::log, Prim::log1p, Prim::expm1, Prim::sqrt, Prim::rsqrt,
                 Prim::tanh, Prim::logistic, Prim::sin, Prim::cos, Prim::erf, Prim::erf_inv,
                 Prim::floor, Prim::ceil, Prim::round}) {
    set(p, kFloats, &lower_unary);
  }
  set(Prim::not_, kBitwise, &lower_unary);
  set(Prim::stop_gradient, kAll, &lower_copy);
  set(Prim::convert, kAll, &lower_convert);
  set(Prim::bitcast_convert, kAll, &lower_copy);
  for (Prim p : {Prim::add, Prim::sub, Prim::mul, Prim::div, Prim::rem, Prim::pow}) {
    set(p, kNumeric, &lower_binary);
  }
  set(Prim::max, kAll, &lower_binary);
  set(Prim::min, kAll, &lower_binary);
  for (Prim p : {Prim::and_, Prim::or_, Prim::xor_}) set(p, kBitwise, &lower_binary);
  set(Prim::shift_left, kInts, &lower_binary);
  set(Prim::shift_right_logical, kInts, &lower_binary);
  for (Prim p : {Prim::eq, Prim::ne, Prim::lt, Prim::le, Prim::gt, Prim::ge}) {
    set(p, kAll, &lower_compare);
  }
  set(Prim::select, kAll, &lower_select);
  set(Prim::broadcast_in_dim, kAll, &lower_broadcast_in_dim);
  set(Prim::reshape, kAll, &lower_copy);
  set(Prim::transpose, kAll, &lower_transpose);
  set(Prim::slice, kAll, &lower_slice);
  set(Prim::concatenate, kAll, &lower_concatenate);
  set(Prim::pad, kAll, &lower_pad);
  set(Prim::reduce_sum, kNumeric, &lower_reduce);
  set(Prim::reduce_max, kAll, &lower_reduce);
  set(Prim::reduce_min, kAll, &lower_reduce);
  set(Prim::argmax, kAll, &lower_argmax);
  set(Prim::dot_general, kNumeric, &lower_dot_general);
  set(Prim::convolution, kNumeric, &lower_convolution);
  set(Prim::reduce_window_sum, kNumeric, &lower_reduce_window);
  set(Prim::reduce_window_max, kAll, &lower_reduce_window);
  set(Prim::select_and_scatter_add, kNumeric, &lower_select_and_scatter_add);
  set(Prim::rev, kAll, &lower_rev);
  set(Prim::threefry2x32, bit(DType::uint32), &lower_threefry2x32);
  return t;
}

const std::array<PrimRow, ir::kNumPrims>& table() {
  static const std::array<PrimRow, ir::kNumPrims> t = build_table();
  return t;
}

}  // namespace

const PrimRow& prim_row(ir::Prim p) {
  return table()[static_cast<size_t>(p)];
}

bool prim_supports(ir::Prim p, DType t) {
  if (static_cast<int>(p) >= ir::kNumPrims) return false;
  return (prim_row(p).dtypes & bit(t)) != 0;
}

DType checked_dtype(const ir::Node& node, std::span<const ir::ValueType> in) {
  switch (node.prim) {
    case Prim::eq:
    case Prim::ne:
    case Prim::lt:
    case Prim::le:
    case Prim::gt:
    case Prim::ge:
    case Prim::argmax:
    case Prim::convert:
    case Prim::bitcast_convert:
      if (!in.empty()) return in[0].dtype;
      break;
    default:
      break;
  }
  return node.type.dtype;
}

std::string dtype_list(DTypeMask mask) {
  std::string out;
  for (int i = 0; i < kNumDTypes; ++i) {
    const auto t = static_cast<DType>(i);
    if ((mask & bit(t)) == 0) continue;
    if (!out.empty()) out += ", ";
    out += name(t);
  }
  return out;
}

void no_kernel(const ir::Node& node, DType dtype) {
  throw Unsupported(message("kiln's cpu backend has no " + std::string(ir::name(node.prim)) +
                                " kernel for " + std::string(name(dtype)),
                            node.loc,
                            "This is a kiln bug (supports() accepted it): please report it"));
}

}  // namespace kiln::cpu
