// A primitive's sharding rule: the registry slot ir::PrimInfo::sharding points at one. The SPMD
// partitioner (partition.cpp) asks a node's rule which layouts its operands must have and which
// its result then has; it reshards operands that differ and emits the primitive on per-device
// shapes. A row without its own rule gets its kind's (elementwise kinds share one); a primitive
// with neither is computed whole (its operands gathered on every device) — correct, not fast.
#pragma once

#include <span>
#include <vector>

#include "kiln/ir.hpp"
#include "spmd/layout.hpp"

namespace kiln::ir {

struct ShardingRule {
  struct Choice {
    std::vector<spmd::Layout> operands;  // what each operand must be resharded to
    spmd::Layout result;                 // the layout of the node's per-device result
  };
  // `in`: the operands' global types; `operands`: their current layouts (never partial: the
  // partitioner sums partial values before a rule sees them, unless `accepts_partial`).
  Choice (*propagate)(const Node& node, std::span<const ValueType> in,
                      std::span<const spmd::Layout> operands, const spmd::MeshAxes& mesh);
  // The node's attributes on per-device shapes (`local`: its per-device result type); nullptr
  // when they do not change.
  Attrs (*local_attrs)(const Node& node, const ValueType& local) = nullptr;
};

}  // namespace kiln::ir

namespace kiln::spmd {

// The rule the partitioner uses for p: its row's, else its kind's; nullptr when it has none.
const ir::ShardingRule* sharding_rule(ir::Prim p);

}  // namespace kiln::spmd
