// SPMD partitioning: a jitted function's global graph, with the layouts of its inputs (and, where
// given, of its outputs), becomes one per-device graph with the collectives it needs — the graph
// spmd::Program runs on every device of the mesh.
//
// Layouts propagate forward through the graph, one node at a time, by the node's sharding rule
// (sharding_rule.hpp). An operand whose layout differs from what the rule wants is resharded:
// partial sums are added (psum), split dimensions that must become whole are gathered
// (all_gather), whole dimensions that must be split keep this device's block (a slice chosen by
// axis_index). A primitive without a rule is computed whole on every device.
#pragma once

#include <optional>
#include <vector>

#include "kiln/ir.hpp"
#include "spmd/layout.hpp"

namespace kiln::spmd {

struct Partitioned {
  ir::Graph local;              // the per-device graph: parameters and results are shards
  std::vector<Layout> inputs;   // as given
  std::vector<Layout> outputs;  // as given, else as propagated (never partial)
};

// in[i]: graph input i's layout; out[o]: output o's wanted layout, or nullopt for whatever
// propagation gives it. Layouts have been checked against the shapes (divisible splits).
Partitioned partition(const ir::Graph& g, const MeshAxes& mesh, std::vector<Layout> in,
                      const std::vector<std::optional<Layout>>& out);

}  // namespace kiln::spmd
