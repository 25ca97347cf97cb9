// What the rewriting passes share: copying a graph node by node while renaming values.
#pragma once

#include <vector>

#include "kiln/ir.hpp"

namespace kiln::passes::detail {

// A graph being rebuilt from `src`: map[v] is the new name of src's value v. Nodes are appended
// in src's order, so the result is in SSA order whenever every node's inputs were mapped first.
struct GraphCopy {
  const ir::Graph& src;
  ir::Graph out;
  std::vector<ir::ValueId> map;

  explicit GraphCopy(const ir::Graph& g) : src(g), map(g.nodes.size(), 0) { out.name = g.name; }

  // Appends `n` (its inputs already renamed) and returns its new name. The type is n's own: the
  // passes only append nodes that compute what an src node computed.
  ir::ValueId append(ir::Node n) {
    out.nodes.push_back(std::move(n));
    return static_cast<ir::ValueId>(out.nodes.size() - 1);
  }
  // src node v with its inputs renamed.
  ir::Node renamed(ir::ValueId v) const {
    ir::Node n = src.nodes[v];
    for (ir::ValueId& u : n.inputs) u = map[u];
    return n;
  }
  // Renames the graph's inputs and outputs; call once every node is mapped.
  ir::Graph finish() {
    for (ir::ValueId v : src.inputs) out.inputs.push_back(map[v]);
    for (ir::ValueId v : src.outputs) out.outputs.push_back(map[v]);
    return std::move(out);
  }
};

}  // namespace kiln::passes::detail
