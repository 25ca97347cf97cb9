// The CPU backend's one table: for every primitive, the dtypes it runs (its registry row's, or
// fewer) and how it is lowered. supports(), the compile-time check and the lowering all read it,
// so they cannot disagree.
#pragma once

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/kernel.hpp"

namespace kiln::cpu {

struct PrimRow {
  DTypeMask dtypes = 0;
  LowerFn lower = nullptr;  // nullptr: handled by the scheduler (parameter, constant)
};

const PrimRow& prim_row(ir::Prim p);
bool prim_supports(ir::Prim p, DType t);

}  // namespace kiln::cpu
