#include "backend/cpu/schedule_plan.hpp"

#include <algorithm>
#include <unordered_map>

#include "backend/cpu/fusion.hpp"
#include "backend/cpu/threads.hpp"

namespace kiln::cpu {

using ir::Prim;

size_t byte_size(const ir::ValueType& t) {
  return static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype);
}

bool is_view_prim(ir::Prim p) {
  return p == Prim::reshape || p == Prim::stop_gradient || p == Prim::sharding_constraint ||
         p == Prim::bitcast_convert;
}

// reads[i]: the values node i's step reads (its inputs, except where an absorbed operand reads a
// broadcast's source or nothing, see plan_absorption).
Liveness analyze(const ir::Graph& g, const std::vector<std::vector<ValueId>>& reads) {
  const size_t n = g.nodes.size();
  Liveness l{std::vector<bool>(n, false), std::vector<int64_t>(n, -1), std::vector<ValueId>(n),
             std::vector<bool>(n, false), std::vector<int64_t>(n, -1)};
  for (ValueId v : g.outputs) l.needed[v] = true;
  for (size_t i = n; i-- > 0;) {
    if (!l.needed[i]) continue;
    for (ValueId u : reads[i]) l.needed[u] = true;
  }
  for (size_t j = g.outputs.size(); j-- > 0;) l.output_of[g.outputs[j]] = static_cast<int64_t>(j);
  for (size_t i = 0; i < n; ++i) {
    l.root[i] = static_cast<ValueId>(i);
    const ir::Node& node = g.nodes[i];
    if (l.needed[i] && is_view_prim(node.prim) && l.output_of[i] < 0 &&
        byte_size(node.type) == byte_size(g.nodes[node.inputs[0]].type)) {
      l.is_view[i] = true;
      l.root[i] = l.root[node.inputs[0]];
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!l.needed[i] || l.is_view[i]) continue;
    for (ValueId u : reads[i]) l.last_use[l.root[u]] = static_cast<int64_t>(i);
  }
  return l;
}

std::vector<ir::ValueType> operand_types(const ir::Graph& g, const ir::Node& node) {
  std::vector<ir::ValueType> types;
  for (ValueId u : node.inputs) types.push_back(g.nodes[u].type);
  return types;
}

namespace {

// How node i can read operand u without u being materialized (kind dense: it cannot).
OperandRead absorbable(const ir::Graph& g, ValueId u, ValueId* source) {
  const ir::Node& p = g.nodes[u];
  *source = u;
  if (p.prim == Prim::full) return {OperandRead::Kind::fill, 0, fill_bits(p)};
  if (p.prim != Prim::broadcast_in_dim || p.inputs.size() != 1) return {};
  const ValueId src = p.inputs[0];
  const ir::Node& s = g.nodes[src];
  if (s.prim == Prim::full && s.type.dtype == p.type.dtype)  // a broadcast fill is a fill
    return {OperandRead::Kind::fill, 0, fill_bits(s)};
  const Shape& from = s.type.shape;
  const Shape& to = p.type.shape;
  if (s.type.dtype != p.type.dtype || from.numel() == 0) return {};
  *source = src;
  if (from.numel() == 1) return {OperandRead::Kind::scalar, 1, 0};
  // The source must be the result's trailing dims, in order and unexpanded.
  const int off = to.rank() - from.rank();
  if (off < 0 || p.attrs.dims.size() != static_cast<size_t>(from.rank())) return {};
  for (int k = 0; k < from.rank(); ++k) {
    if (p.attrs.dims[static_cast<size_t>(k)] != off + k || from[k] != to[off + k]) return {};
  }
  return {OperandRead::Kind::cyclic, from.numel(), 0};
}

}  // namespace

Absorption plan_absorption(const ir::Graph& g) {
  const size_t n = g.nodes.size();
  Absorption a{std::vector<std::vector<ValueId>>(n), std::vector<std::vector<OperandRead>>(n)};
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = g.nodes[i];
    a.reads[i] = node.inputs;
    if (node.type.shape.numel() == 0) continue;
    if (!can_absorb_operands(node, operand_types(g, node))) continue;
    std::vector<OperandRead> ops(node.inputs.size());
    std::vector<ValueId> src(node.inputs.size());
    int64_t period = 0;  // one row length for all cyclic operands: the longest period wins
    for (size_t k = 0; k < ops.size(); ++k) {
      ops[k] = absorbable(g, node.inputs[k], &src[k]);
      if (ops[k].kind == OperandRead::Kind::dense) src[k] = node.inputs[k];
      if (ops[k].kind == OperandRead::Kind::cyclic) period = std::max(period, ops[k].period);
    }
    bool any = false;
    std::vector<ValueId> reads;
    for (size_t k = 0; k < ops.size(); ++k) {
      if (ops[k].kind == OperandRead::Kind::cyclic && ops[k].period != period) {
        ops[k] = {};  // another period: materialized, read densely
        src[k] = node.inputs[k];
      }
      any = any || ops[k].kind != OperandRead::Kind::dense;
      if (ops[k].kind != OperandRead::Kind::fill) reads.push_back(src[k]);
    }
    if (!any) continue;
    a.reads[i] = std::move(reads);
    a.operand[i] = std::move(ops);
  }
  return a;
}

// A group's thread count and tile length, as the lowering pass builds them.
int group_threads(int threads, int64_t numel) {
  return threads > 1 && numel >= threads * kMinParallelElementsPerThread ? threads : 1;
}

int64_t group_tile(const ir::Graph& g, const Groups& G, size_t grp) {
  const int64_t numel = g.nodes[G.members[grp].back()].type.shape.numel();
  const int64_t period = G.period[grp];
  if (G.head[grp] >= 0) {
    const ir::Node& h = g.nodes[static_cast<size_t>(G.head[grp])];
    const int64_t rows = h.type.shape[0], row_elements = numel / rows;
    const int64_t chunk = head_chunk_rows(h, operand_types(g, h));
    if (chunk < rows) return head_tile_elements(period, chunk * row_elements);
  }
  return std::min(tile_elements(period), numel);
}

namespace {

// Heads (fusion.hpp): a GEMM or convolution whose result is read densely by members of one group
// and nothing else becomes that group's head, when its rows split into chunks of whole tiles.
void plan_heads(const ir::Graph& g, const Absorption& a, const Liveness& l, Groups& G) {
  const size_t n = g.nodes.size();
  constexpr int32_t kNoReader = -2, kManyGroups = -1;
  std::vector<int32_t> reader_group(n, kNoReader);  // per root: the one group reading it
  for (size_t i = 0; i < n; ++i) {
    if (!l.needed[i] || l.is_view[i]) continue;
    for_each_read(g, a, i, [&](size_t, ValueId u, OperandRead::Kind kind) {
      const ValueId r = l.root[u];
      const int32_t grp = kind == OperandRead::Kind::dense ? G.of[i] : kManyGroups;
      reader_group[r] = reader_group[r] == kNoReader || reader_group[r] == grp ? grp : kManyGroups;
    });
  }
  for (size_t u = 0; u < n; ++u) {
    const ir::Node& node = g.nodes[u];
    const int32_t grp = reader_group[u];
    if (!l.needed[u] || l.is_view[u] || l.output_of[u] >= 0 || grp < 0 ||
        G.head[static_cast<size_t>(grp)] >= 0 || G.of[u] >= 0)
      continue;
    const std::vector<ir::ValueType> types = operand_types(g, node);
    if (!can_head(node, types)) continue;
    const int64_t rows = node.type.shape[0];
    const int64_t row_elements = node.type.shape.numel() / rows;
    const int64_t chunk = head_chunk_rows(node, types);
    if (chunk < rows &&
        head_tile_elements(G.period[static_cast<size_t>(grp)], chunk * row_elements) == 0)
      continue;
    G.head[static_cast<size_t>(grp)] = static_cast<int64_t>(u);
    G.of[u] = grp;
  }
}

// Sums (fusion.hpp): a float32 reduce_sum over the leading dims of a member's value joins the
// member's group when the group runs on one thread.
void plan_sums(const ir::Graph& g, const Liveness& l, Groups& G, int threads) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& node = g.nodes[i];
    if (!l.needed[i] || l.is_view[i] || node.prim != Prim::reduce_sum || G.of[i] >= 0) continue;
    const ValueId v = l.root[node.inputs[0]];
    const int32_t grp = G.of[v];
    if (grp < 0) continue;
    const size_t gi = static_cast<size_t>(grp);
    if (std::find(G.members[gi].begin(), G.members[gi].end(), v) == G.members[gi].end()) continue;
    if (group_threads(threads, g.nodes[G.members[gi].back()].type.shape.numel()) > 1) continue;
    const ir::ValueType in = g.nodes[node.inputs[0]].type;
    if (!can_fold_sum(node, {&in, 1}, group_tile(g, G, gi))) {
      // A group without a broadcast period may take the sum's, so that tiles hold whole rows.
      if (G.period[gi] != 0 || !G.sums[gi].empty()) continue;
      G.period[gi] = node.type.shape.numel();
      const int64_t tile = group_tile(g, G, gi);
      if (tile == 0 || !can_fold_sum(node, {&in, 1}, tile)) {
        G.period[gi] = 0;
        continue;
      }
    }
    G.sums[gi].push_back(static_cast<ValueId>(i));
    G.of[i] = grp;
  }
}

}  // namespace

Groups plan_groups(const ir::Graph& g, const Absorption& a, const Liveness& l, bool fuse,
                   int64_t min_elements, int threads) {
  const size_t n = g.nodes.size();
  Groups G{{}, {}, {}, {}, std::vector<int32_t>(n, -1)};
  // Unfused, every node is its own single-threaded step: the reference schedule (and, measured on
  // the MLP train step, a fork per elementwise node costs more than the split saves).
  if (!fuse) return G;
  std::vector<bool> open;
  std::unordered_map<int64_t, int32_t> open_by_numel;
  auto close = [&](int32_t grp) {
    open[static_cast<size_t>(grp)] = false;
    const int64_t numel = g.nodes[G.members[static_cast<size_t>(grp)][0]].type.shape.numel();
    auto it = open_by_numel.find(numel);
    if (it != open_by_numel.end() && it->second == grp) open_by_numel.erase(it);
  };
  for (size_t i = 0; i < n; ++i) {
    const ir::Node& node = g.nodes[i];
    if (!l.needed[i] || l.is_view[i] || node.prim == Prim::parameter || node.prim == Prim::constant)
      continue;
    const bool fusible = node.type.shape.numel() >= min_elements && is_fusible(node, a.operand[i]);
    const int64_t numel = node.type.shape.numel();
    const int64_t period = fusible ? cyclic_period(a.operand[i]) : 0;
    int32_t target = -1;
    if (fusible) {
      auto it = open_by_numel.find(numel);
      if (it != open_by_numel.end()) {
        const int64_t p = G.period[static_cast<size_t>(it->second)];
        if (period == 0 || p == 0 || p == period) target = it->second;
      }
    }
    for (ValueId u : a.reads[i]) {
      const int32_t grp = G.of[l.root[u]];
      if (grp >= 0 && grp != target && open[static_cast<size_t>(grp)]) close(grp);
    }
    if (!fusible) continue;
    if (target < 0) {
      auto it = open_by_numel.find(numel);
      if (it != open_by_numel.end()) close(it->second);
      target = static_cast<int32_t>(G.members.size());
      G.members.emplace_back();
      G.period.push_back(0);
      open.push_back(true);
      open_by_numel[numel] = target;
    }
    G.members[static_cast<size_t>(target)].push_back(static_cast<ValueId>(i));
    G.of[i] = target;
    if (period != 0) G.period[static_cast<size_t>(target)] = period;
  }
  G.head.assign(G.members.size(), -1);
  G.sums.assign(G.members.size(), {});
  plan_heads(g, a, l, G);
  plan_sums(g, l, G, threads);
  for (size_t grp = 0; grp < G.members.size(); ++grp) {
    auto& m = G.members[grp];
    if (m.size() != 1 || G.head[grp] >= 0 || !G.sums[grp].empty()) continue;
    const int64_t numel = g.nodes[m[0]].type.shape.numel();
    if (threads > 1 && numel >= 2 * kMinParallelElementsPerThread) continue;
    G.of[m[0]] = -1;
    m.clear();
  }
  return G;
}

std::vector<bool> extend_lifetimes_over_groups(const ir::Graph& g, const Absorption& a,
                                               const Groups& G, Liveness& l) {
  const size_t n = g.nodes.size();
  std::vector<bool> read_outside(n, false);
  std::fill(l.last_use.begin(), l.last_use.end(), -1);
  for (size_t i = 0; i < n; ++i) {
    if (!l.needed[i] || l.is_view[i]) continue;
    const int32_t grp = G.of[i];
    const auto pos = static_cast<int64_t>(grp >= 0 ? G.members[grp].back() : i);
    for (ValueId u : a.reads[i]) {
      const ValueId r = l.root[u];
      l.last_use[r] = std::max(l.last_use[r], pos);
      if (G.of[r] >= 0 && G.of[r] != grp) read_outside[r] = true;
    }
  }
  return read_outside;
}

Plan make_plan(const ir::Graph& g, bool fuse, int64_t min_fused_elements, int threads) {
  Plan p;
  p.absorbed = plan_absorption(g);
  p.live = analyze(g, p.absorbed.reads);
  p.groups = plan_groups(g, p.absorbed, p.live, fuse, min_fused_elements, threads);
  p.read_outside = extend_lifetimes_over_groups(g, p.absorbed, p.groups, p.live);
  return p;
}

}  // namespace kiln::cpu
