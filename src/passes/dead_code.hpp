// A graph pass: dead-code elimination.
#pragma once

#include "kiln/ir.hpp"

namespace kiln::passes {

// Drops every node that no graph output depends on. Parameters always stay, in order: they are the
// graph's inputs, and the caller passes a buffer for each. Surviving nodes keep their order,
// attributes and source locations; only value names change.
ir::Graph dead_code_elimination(const ir::Graph& g);

}  // namespace kiln::passes
