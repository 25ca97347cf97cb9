#include "backend/cpu/kernel_table.hpp"

#include <array>

#include "backend/cpu/lowerings.hpp"
#include "backend/support_check.hpp"
#include "kiln/error.hpp"

namespace kiln::cpu {
namespace {

using ir::Prim;
using ir::PrimKind;

// Elementwise families pick their functor from the node (elementwise_kernels.cpp), so a new
// unary, binary or comparison primitive needs no row here.
LowerFn family_lowering(PrimKind kind) {
  switch (kind) {
    case PrimKind::unary:
      return &lower_unary;
    case PrimKind::binary:
      return &lower_binary;
    case PrimKind::compare:
      return &lower_compare;
    default:
      return nullptr;
  }
}

std::array<PrimRow, ir::kNumPrims> build_table() {
  std::array<PrimRow, ir::kNumPrims> t{};
  for (int i = 0; i < ir::kNumPrims; ++i) {
    const ir::PrimInfo& row = ir::info(static_cast<Prim>(i));
    t[static_cast<size_t>(i)] = {row.dtypes, family_lowering(row.kind)};
  }
  // The dtypes stay the registry's: the cpu runs every primitive on every dtype its row allows
  // (tests/primitives runs them all). A lowering that covered fewer would narrow them here.
  auto lower = [&](Prim p, LowerFn f) { t[static_cast<size_t>(p)].lower = f; };
  lower(Prim::full, &lower_full);
  lower(Prim::iota, &lower_iota);
  lower(Prim::stop_gradient, &lower_copy);
  lower(Prim::sharding_constraint, &lower_copy);  // one device holds the whole value
  lower(Prim::convert, &lower_convert);
  lower(Prim::bitcast_convert, &lower_copy);
  lower(Prim::select, &lower_select);
  lower(Prim::broadcast_in_dim, &lower_broadcast_in_dim);
  lower(Prim::reshape, &lower_copy);
  lower(Prim::transpose, &lower_transpose);
  lower(Prim::slice, &lower_slice);
  lower(Prim::concatenate, &lower_concatenate);
  lower(Prim::pad, &lower_pad);
  for (Prim p : {Prim::reduce_sum, Prim::reduce_max, Prim::reduce_min, Prim::reduce_prod})
    lower(p, &lower_reduce);
  lower(Prim::argmax, &lower_argmax);
  lower(Prim::argmin, &lower_argmax);
  lower(Prim::dot_general, &lower_dot_general);
  lower(Prim::convolution, &lower_convolution);
  lower(Prim::reduce_window_sum, &lower_reduce_window);
  for (Prim p : {Prim::reduce_window_max, Prim::reduce_window_min, Prim::reduce_window_prod})
    lower(p, &lower_reduce_window);
  lower(Prim::select_and_scatter_add, &lower_select_and_scatter_add);
  lower(Prim::rev, &lower_rev);
  lower(Prim::gather, &lower_gather);
  for (Prim p :
       {Prim::scatter, Prim::scatter_add, Prim::scatter_mul, Prim::scatter_min, Prim::scatter_max})
    lower(p, &lower_scatter);
  lower(Prim::dynamic_slice, &lower_dynamic_slice);
  lower(Prim::dynamic_update_slice, &lower_dynamic_slice);
  for (Prim p : {Prim::cumsum, Prim::cumprod, Prim::cummax, Prim::cummin}) lower(p, &lower_scan);
  lower(Prim::sort, &lower_sort);
  lower(Prim::top_k, &lower_top_k);
  lower(Prim::threefry2x32, &lower_threefry2x32);
  for (int i = 0; i < ir::kNumPrims; ++i) {
    const auto p = static_cast<Prim>(i);
    // A collective exchanges between devices: the SPMD executor (src/spmd) runs it between the
    // per-device pieces it compiles here, so a one-device schedule never holds one.
    if (ir::info(p).kind == PrimKind::collective) {
      t[static_cast<size_t>(i)].dtypes = 0;
      continue;
    }
    check_narrows(p, t[static_cast<size_t>(i)].dtypes, "cpu");
    // parameter and constant are placed by the scheduler; everything else needs a lowering.
    if (t[static_cast<size_t>(i)].lower == nullptr && p != Prim::parameter && p != Prim::constant)
      throw Error("kiln bug: the cpu kernel table has no lowering for " + std::string(ir::name(p)));
  }
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
  return (prim_row(p).dtypes & ir::dtype_bit(t)) != 0;
}

void no_kernel(const ir::Node& node, DType dtype) {
  throw Unsupported(message("kiln's cpu backend has no " + std::string(ir::name(node.prim)) +
                                " kernel for " + std::string(name(dtype)),
                            node.loc,
                            "This is a kiln bug (supports() accepted it): please report it"));
}

}  // namespace kiln::cpu
