#include "passes/dead_code.hpp"

#include "passes/graph_copy.hpp"

namespace kiln::passes {

ir::Graph dead_code_elimination(const ir::Graph& g) {
  std::vector<bool> live(g.nodes.size(), false);
  for (ir::ValueId v : g.outputs) live[v] = true;
  for (ir::ValueId v : g.inputs) live[v] = true;
  // Nodes only read earlier nodes, so one backward sweep sees every reader before its inputs.
  for (size_t i = g.nodes.size(); i-- > 0;) {
    if (g.nodes[i].prim == ir::Prim::parameter) live[i] = true;
    if (!live[i]) continue;
    for (ir::ValueId u : g.nodes[i].inputs) live[u] = true;
  }
  detail::GraphCopy c(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (live[i]) c.map[i] = c.append(c.renamed(static_cast<ir::ValueId>(i)));
  }
  return c.finish();
}

}  // namespace kiln::passes
