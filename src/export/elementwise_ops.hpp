// Which registry rows are plain elementwise StableHLO ops: `op %x[, %y] : type` (chlo ops add
// `-> type`) with no attributes. The exporter writes them from the row's `stablehlo` name and the
// importer reads that name back to the row's primitive, so the two maps cannot drift.
#pragma once

#include "kiln/ir.hpp"

namespace kiln {

constexpr bool is_plain_elementwise(ir::Prim p) {
  const ir::PrimInfo& row = ir::info(p);
  return (row.kind == ir::PrimKind::unary || row.kind == ir::PrimKind::binary) &&
         !row.stablehlo.empty() && p != ir::Prim::convert && p != ir::Prim::bitcast_convert &&
         p != ir::Prim::reduce_precision && p != ir::Prim::sharding_constraint;
}

}  // namespace kiln
