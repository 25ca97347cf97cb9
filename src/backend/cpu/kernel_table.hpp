// The CPU backend's one table: for every primitive, the dtypes it runs and how it is lowered.
// supports(), the compile-time check and the lowering all read it, so they cannot disagree.
#pragma once

#include <string>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/kernel.hpp"

namespace kiln::cpu {

struct PrimRow {
  DTypeMask dtypes = 0;
  LowerFn lower = nullptr;  // nullptr: handled by the scheduler (parameter, constant)
};

const PrimRow& prim_row(ir::Prim p);
bool prim_supports(ir::Prim p, DType t);
// The dtype a node is checked against: its operand's for comparisons, argmax and conversions
// (their results are bool/int32/anything), its result's otherwise.
DType checked_dtype(const ir::Node& node, std::span<const ir::ValueType> in);
// "float32, float64" — the dtypes a primitive runs on, for error messages.
std::string dtype_list(DTypeMask mask);

}  // namespace kiln::cpu
