// The cpu compile's planning passes over a graph, before any kernel, place or step exists: which
// values each step reads (absorption), what the outputs need and when each storage dies
// (liveness), and the elementwise fusion groups (fusion.hpp). Each pass is a function of the graph
// and the earlier passes' results, testable alone (tests/backend/schedule_plan_test.cpp). The
// passes after them each take this plan: lowering (schedule_lowering.hpp), placement
// (schedule_placement.hpp) and step emission (schedule.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/lowerings.hpp"
#include "kiln/ir.hpp"

namespace kiln::cpu {

using ir::ValueId;

size_t byte_size(const ir::ValueType& t);

// Primitives whose result is their operand's bytes unchanged: when not a graph output they become
// views of the operand and cost no step.
bool is_view_prim(ir::Prim p);
std::vector<ir::ValueType> operand_types(const ir::Graph& g, const ir::Node& node);

// Elementwise steps read full and trailing-broadcast operands in place instead of materialized
// result-sized buffers: a fill is a scalar in the kernel's params, a broadcast's source is read
// cyclically. What a step reads changes here, before liveness, so a full or broadcast_in_dim that
// every needed reader absorbed is neither needed, computed nor given arena bytes.
struct Absorption {
  std::vector<std::vector<ValueId>> reads;        // per node: the values its step reads
  std::vector<std::vector<OperandRead>> operand;  // per node: how each operand is read; empty: all
                                                  // dense (the node's own lowering)
};

Absorption plan_absorption(const ir::Graph& g);

// What the outputs need, which nodes are views, and the last reader of each storage (a value and
// the views of it share one storage, named by its root value).
struct Liveness {
  std::vector<bool> needed;
  std::vector<int64_t> output_of;  // first output position of a value, or -1
  std::vector<ValueId> root;
  std::vector<bool> is_view;
  std::vector<int64_t> last_use;  // node index of the last reader of a root, or -1
};

// reads[i]: the values node i's step reads (its inputs, except where an absorbed operand reads a
// broadcast's source or nothing, see plan_absorption).
Liveness analyze(const ir::Graph& g, const std::vector<std::vector<ValueId>>& reads);

// Elementwise fusion groups (fusion.hpp). Walking the needed nodes in order, a fusible node joins
// the open group of its element count (when their broadcast periods agree); a group runs as one
// step at its last member, so it closes as soon as any node outside it reads one of its values:
// that reader must see the value computed. A group of one stays a plain step unless it is big
// enough to be split over threads.
struct Groups {
  std::vector<std::vector<ValueId>> members;  // per group, in graph order; empty: dissolved
  std::vector<int64_t>
      period;  // per group: its tiles' period (its cyclic operands' or a sum's), or 0
  std::vector<int64_t> head;               // per group: its head (fusion.hpp), or -1
  std::vector<std::vector<ValueId>> sums;  // per group: the sums it folds in (fusion.hpp)
  std::vector<int32_t> of;                 // per node: its group (members, head, sums), or -1
};

Groups plan_groups(const ir::Graph& g, const Absorption& a, const Liveness& l, bool fuse,
                   int64_t min_elements, int threads);

// A group's thread count and tile length, as the fused step will be built with them.
int group_threads(int threads, int64_t numel);
int64_t group_tile(const ir::Graph& g, const Groups& G, size_t grp);

// Lifetimes under fusion: a group member runs at its group's last member, so its operands live
// until then (l.last_use is recomputed). Returns, per node, whether a member value is read outside
// its group (it is materialized; the others stay in tile buffers).
std::vector<bool> extend_lifetimes_over_groups(const ir::Graph& g, const Absorption& a,
                                               const Groups& G, Liveness& l);

// Calls f(k, u, kind) for each operand k of node i that its step reads (fills are not read): u is
// the value read (a broadcast's source where absorbed), kind how it is read.
template <class F>
void for_each_read(const ir::Graph& g, const Absorption& a, size_t i, F f) {
  const std::vector<OperandRead>& reading = a.operand[i];
  for (size_t k = 0, r = 0; k < g.nodes[i].inputs.size(); ++k) {
    const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
    if (kind == OperandRead::Kind::fill) continue;
    f(k, a.reads[i][r++], kind);
  }
}

// The planning passes' results, in order (make_plan), which the later passes read.
struct Plan {
  Absorption absorbed;
  Liveness live;
  Groups groups;
  std::vector<bool> read_outside;  // per node: a group member read outside its group
};

Plan make_plan(const ir::Graph& g, bool fuse, int64_t min_fused_elements, int threads);

// Parameters, constants and views take a place but are no step.
inline bool is_leaf(const ir::Graph& g, const Liveness& l, size_t i) {
  const ir::Prim p = g.nodes[i].prim;
  return p == ir::Prim::parameter || p == ir::Prim::constant || l.is_view[i];
}

// The schedule's steps in order, as the lowering, placement and emission passes walk them:
// on_node(i) for a needed node stepped alone, on_group(grp) for a fusion group at its last member.
template <class OnNode, class OnGroup>
void for_each_step(const ir::Graph& g, const Plan& p, OnNode on_node, OnGroup on_group) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!p.live.needed[i] || is_leaf(g, p.live, i)) continue;
    if (const int32_t grp = p.groups.of[i]; grp >= 0) {
      if (p.groups.members[static_cast<size_t>(grp)].back() == i)
        on_group(static_cast<size_t>(grp));
      continue;
    }
    on_node(i);
  }
}

}  // namespace kiln::cpu
