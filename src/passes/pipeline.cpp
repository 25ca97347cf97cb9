#include "passes/pipeline.hpp"

#include "passes/cse.hpp"
#include "passes/dead_code.hpp"
#include "passes/fold_constants.hpp"
#include "passes/simplify.hpp"

namespace kiln::passes {

ir::Graph optimize(const ir::Graph& g) {
  ir::Graph cur = g;
  // Each pass can expose work for the others (a merged node makes a chain, a fold makes a splat);
  // a round that leaves the graph's text and size unchanged is the fixed point.
  for (int round = 0; round < 4; ++round) {
    ir::Graph next =
        dead_code_elimination(common_subexpression_elimination(fold_constants(simplify(cur))));
    const bool same = next.nodes.size() == cur.nodes.size() && next.str() == cur.str();
    cur = std::move(next);
    if (same) break;
  }
  return cur;
}

}  // namespace kiln::passes
