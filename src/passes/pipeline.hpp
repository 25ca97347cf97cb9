// The graph passes the CPU backend runs before scheduling.
#pragma once

#include "kiln/ir.hpp"

namespace kiln::passes {

// simplify -> fold_constants -> common_subexpression_elimination -> dead_code_elimination, repeated
// until a round changes nothing (at most 4 rounds). Each pass leaves every value bit-identical,
// so the optimized graph computes exactly what `g` computes; inputs, outputs and the source
// locations of surviving nodes are kept.
ir::Graph optimize(const ir::Graph& g);

}  // namespace kiln::passes
