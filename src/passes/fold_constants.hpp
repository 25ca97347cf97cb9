// A graph pass: constant folding.
#pragma once

#include <cstddef>
#include <memory>

#include "kiln/ir.hpp"

namespace kiln::passes {

// Every node whose inputs are all `constant` or `full` nodes (of at most `max_bytes` each) and
// whose result takes at most `max_bytes` is computed once, now, and becomes a `constant` node
// holding the result. Folds chain: a folded node is a constant for the nodes after it. Iota (no
// inputs) folds too; parameters, constants and fills are left as they are (materialize_fills turns
// small fills into constants), and so is broadcast_in_dim: the CPU backend reads a broadcast
// splat as a scalar, which a materialized constant would make a result-sized read.
//
// The value is computed by the CPU backend's own kernel for that node, on the same input bytes, so
// the constant is bit-identical to what the executable would have computed on every run. A node the
// backend cannot run (kiln::Error) is left for compile to report.
ir::Graph fold_constants(const ir::Graph& g, size_t max_bytes = size_t{64} << 10);

// n's value (a host buffer of n.type), computed now by the CPU backend's kernel for n alone; each
// of n's inputs must name a `constant` or `full` node of g. Throws kiln::Error when the backend
// cannot run n. The importer folds while loops' counters with it (src/import/while_loop.cpp).
std::shared_ptr<Buffer> evaluate_on_literals(const ir::Graph& g, const ir::Node& n);

}  // namespace kiln::passes
