#include "backend/cpu/schedule.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "backend/cpu/fusion.hpp"
#include "backend/cpu/kernel_table.hpp"
#include "backend/cpu/lowerings.hpp"
#include "backend/cpu/memory_plan.hpp"
#include "backend/cpu/threads.hpp"
#include "kiln/error.hpp"

namespace kiln::cpu {
namespace {

using ir::Prim;
using ir::ValueId;

enum class Region : uint8_t { none, input, output, arena, constant };

struct Place {
  Region region = Region::none;
  uint32_t index = 0;  // input, output or constant number
  size_t offset = 0;   // arena offset
  bool operator==(const Place&) const = default;
};

size_t byte_size(const ir::ValueType& t) {
  return static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype);
}

// Primitives whose result is their operand's bytes unchanged: when not a graph output they become
// views of the operand and cost no step.
bool is_view_prim(Prim p) {
  return p == Prim::reshape || p == Prim::stop_gradient || p == Prim::bitcast_convert;
}

std::string place_str(const Place& p) {
  switch (p.region) {
    case Region::input:
      return "input[" + std::to_string(p.index) + "]";
    case Region::output:
      return "output[" + std::to_string(p.index) + "]";
    case Region::constant:
      return "const[" + std::to_string(p.index) + "]";
    case Region::arena:
      return "arena+" + std::to_string(p.offset);
    case Region::none:
      break;
  }
  return "?";
}

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

// Elementwise steps read full and trailing-broadcast operands in place instead of materialized
// result-sized buffers: a fill is a scalar in the kernel's params, a broadcast's source is read
// cyclically. What a step reads changes here, before liveness, so a full or broadcast_in_dim that
// every needed reader absorbed is neither needed, computed nor given arena bytes.
struct Absorption {
  std::vector<std::vector<ValueId>> reads;        // per node: the values its step reads
  std::vector<std::vector<OperandRead>> operand;  // per node: how each operand is read; empty: all
                                                  // dense (the node's own lowering)
};

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

std::vector<ir::ValueType> operand_types(const ir::Graph& g, const ir::Node& node) {
  std::vector<ir::ValueType> types;
  for (ValueId u : node.inputs) types.push_back(g.nodes[u].type);
  return types;
}

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

// A group's thread count and tile length, as emit_group will build them.
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

}  // namespace

CpuExecutable::CpuExecutable(const ir::Graph& g, const ScheduleOptions& options) {
  const size_t n = g.nodes.size();
  num_inputs_ = g.inputs.size();
  const size_t num_outputs = g.outputs.size();

  for (ValueId v : g.outputs) {
    if (v >= n)
      throw Error("graph " + g.name + ": output %" + std::to_string(v) + " is not a node");
  }
  // 1. Every node reads earlier values only (the backend's support check has passed every node).
  for (size_t i = 0; i < n; ++i) {
    for (ValueId u : g.nodes[i].inputs) {
      if (u >= i) {
        throw Error("graph " + g.name + ": value %" + std::to_string(i) + " reads %" +
                    std::to_string(u) + ", which is not defined before it");
      }
    }
  }

  const Absorption absorbed = plan_absorption(g);
  Liveness live = analyze(g, absorbed.reads);
  threads_ = options.threads > 0 ? options.threads : num_threads();
  const Groups groups =
      plan_groups(g, absorbed, live, options.fuse, options.min_fused_elements, threads_);
  // A group member runs at its group's last member: its operands live until then. A member value
  // read outside its group (or a graph output) is materialized; the others stay in tile buffers.
  std::vector<bool> read_outside(n, false);
  {
    std::fill(live.last_use.begin(), live.last_use.end(), -1);
    for (size_t i = 0; i < n; ++i) {
      if (!live.needed[i] || live.is_view[i]) continue;
      const int32_t grp = groups.of[i];
      const auto pos = static_cast<int64_t>(grp >= 0 ? groups.members[grp].back() : i);
      for (ValueId u : absorbed.reads[i]) {
        const ValueId r = live.root[u];
        live.last_use[r] = std::max(live.last_use[r], pos);
        if (groups.of[r] >= 0 && groups.of[r] != grp) read_outside[r] = true;
      }
    }
  }
  // Plain references, not a structured binding: the lambdas below capture them, which clang
  // refuses for bindings under -fopenmp.
  const auto& needed = live.needed;
  const auto& output_of = live.output_of;
  const auto& root = live.root;
  const auto& is_view = live.is_view;
  const auto& last_use = live.last_use;

  // 2. Places and steps, in graph order.
  const auto arena_base = static_cast<uint32_t>(num_inputs_ + num_outputs);
  auto slot_of = [&](const Place& p) -> Slot {
    switch (p.region) {
      case Region::input:
        return {p.index, 0};
      case Region::output:
        return {static_cast<uint32_t>(num_inputs_) + p.index, 0};
      case Region::arena:
        return {arena_base, p.offset};
      case Region::constant:
        return {arena_base + 1 + p.index, 0};
      case Region::none:
        break;
    }
    return {};
  };

  std::vector<Place> place(n);
  ArenaPlan arena;
  size_t max_operands = 1;

  // Donation: output j may be written into donated input k once k has no reader left. Inputs that
  // an output copies at the end (returned unchanged, or through a view) are read then: never.
  std::vector<bool> aliasable(num_inputs_, false);
  for (size_t k = 0; k < num_inputs_ && k < options.donated_inputs.size(); ++k)
    aliasable[k] = options.donated_inputs[k];
  for (ValueId v : g.outputs) {
    const ir::Node& r = g.nodes[root[v]];
    if (r.prim == Prim::parameter && r.attrs.index >= 0 &&
        static_cast<size_t>(r.attrs.index) < num_inputs_)
      aliasable[static_cast<size_t>(r.attrs.index)] = false;
  }
  if (std::find(aliasable.begin(), aliasable.end(), true) != aliasable.end())
    output_aliases_.assign(num_outputs, -1);
  // The donated input whose bytes output j, written by the step at node position i, can take, or
  // -1: same size, read by no later step, and read by this step only where `overwrites_safely(p)`
  // says it reads those elements before writing them (index for index, elementwise).
  auto donated_input_for = [&](size_t i, size_t j, const auto& overwrites_safely) -> int {
    const size_t bytes = byte_size(g.nodes[g.outputs[j]].type);
    for (size_t k = 0; k < num_inputs_; ++k) {
      const ValueId p = g.inputs[k];
      if (!aliasable[k] || bytes == 0 || byte_size(g.nodes[p].type) != bytes) continue;
      const int64_t last = last_use[p];
      if (last > static_cast<int64_t>(i)) continue;
      if (last == static_cast<int64_t>(i) && !overwrites_safely(p)) continue;
      aliasable[k] = false;  // one output per donated input
      return static_cast<int>(k);
    }
    return -1;
  };

  auto add_step = [&](Lowered lowered, const std::vector<Place>& ins, const Place& out,
                      const Place& scratch, const std::string& line) {
    Step s;
    s.fn = lowered.fn;
    s.params = std::move(lowered.params);
    s.first_input = static_cast<uint32_t>(operand_slots_.size());
    s.num_inputs = static_cast<uint32_t>(ins.size());
    for (const Place& p : ins) operand_slots_.push_back(slot_of(p));
    s.out = slot_of(out);
    s.scratch_bytes = lowered.scratch_bytes;
    if (s.scratch_bytes > 0) s.scratch = slot_of(scratch);
    max_operands = std::max(max_operands, ins.size());
    steps_.push_back(std::move(s));
    step_text_.push_back(line);
  };

  // One step for a fusion group, at its last member (fusion.hpp).
  auto emit_group = [&](const std::vector<ValueId>& members) {
    const ValueId last = members.back();
    const int32_t grp = groups.of[last];
    const std::vector<ValueId>& sums = groups.sums[static_cast<size_t>(grp)];
    const int64_t numel = g.nodes[last].type.shape.numel();
    const int64_t head = groups.head[grp];
    auto params = std::make_unique<FusedParams>();
    params->numel = numel;
    params->tile = group_tile(g, groups, static_cast<size_t>(grp));
    params->threads = group_threads(threads_, numel);

    // Step operands: the values read from outside the group (the head's inputs first), then the
    // materialized results.
    std::vector<ValueId> external;
    std::vector<ValueId> materialized;
    std::unordered_map<ValueId, size_t> last_reader;  // internal value -> member position
    std::string head_text;
    if (head >= 0) {
      const ir::Node& h = g.nodes[static_cast<size_t>(head)];
      const auto types = operand_types(g, h);
      FusedHead fh;
      fh.rows = h.type.shape[0];
      fh.itemsize = static_cast<uint32_t>(itemsize(h.type.dtype));
      const int64_t row_elements = numel / fh.rows;
      fh.chunk_rows = head_chunk_rows(h, types);
      fh.chunk_elements = fh.chunk_rows * row_elements;
      Lowered full = lower_head_chunk(h, types, fh.chunk_rows);
      const int64_t rest = fh.rows % fh.chunk_rows;
      Lowered last = rest ? lower_head_chunk(h, types, rest) : Lowered{};
      fh.fn = full.fn;
      fh.full_chunk = std::move(full.params);
      fh.last_chunk = rest ? std::move(last.params) : nullptr;
      fh.input0_chunk_bytes =
          byte_size(types[0]) / static_cast<size_t>(fh.rows) * static_cast<size_t>(fh.chunk_rows);
      fh.scratch_bytes = ArenaPlan::aligned(std::max(full.scratch_bytes, last.scratch_bytes));
      fh.buffer_offset = fh.scratch_bytes;
      fh.tiles_offset = fh.buffer_offset +
                        ArenaPlan::aligned(static_cast<size_t>(fh.chunk_elements) * fh.itemsize);
      for (ValueId u : h.inputs) {
        const ValueId r = root[u];
        auto e = std::find(external.begin(), external.end(), r);
        fh.inputs.push_back(static_cast<uint32_t>(e - external.begin()));
        if (e == external.end()) external.push_back(r);
      }
      params->head = std::move(fh);
      head_text = std::string(ir::name(h.prim)) + " %" + std::to_string(head) + " in chunks of " +
                  std::to_string(params->head->chunk_rows) + " rows; ";
    }
    const int64_t tiles = (numel + params->tile - 1) / params->tile;
    const int64_t last_count = numel - (tiles - 1) * params->tile;
    for (size_t m = 0; m < members.size(); ++m) {
      for (ValueId u : absorbed.reads[members[m]]) {
        const ValueId r = root[u];
        if (groups.of[r] == grp) {
          last_reader[r] = m;
        } else if (std::find(external.begin(), external.end(), r) == external.end()) {
          external.push_back(r);
        }
      }
    }
    for (ValueId m : members) {
      if (output_of[m] >= 0 || read_outside[m]) materialized.push_back(m);
    }
    // A summed value is read after the last member of each tile: its tile buffer stays its own.
    for (ValueId r : sums) {
      materialized.push_back(r);
      last_reader[root[g.nodes[r].inputs[0]]] = members.size();
    }
    auto step_index = [&](ValueId r) -> uint32_t {
      auto e = std::find(external.begin(), external.end(), r);
      if (e != external.end()) return static_cast<uint32_t>(e - external.begin());
      auto o = std::find(materialized.begin(), materialized.end(), r);
      return static_cast<uint32_t>(external.size() + static_cast<size_t>(o - materialized.begin()));
    };

    // How each external value is read (a broadcast source: ":bcast"), and the absorbed fills.
    std::vector<bool> external_cyclic(external.size(), false);
    std::string fills;
    std::unordered_map<ValueId, uint32_t> buffer_of;  // internal value -> tile buffer
    std::vector<uint32_t> free_buffers;
    uint32_t num_buffers = 0;
    size_t widest = 1;
    std::string names, values;
    for (size_t m = 0; m < members.size(); ++m) {
      const ValueId v = members[m];
      const ir::Node& node = g.nodes[v];
      const auto types = operand_types(g, node);
      const std::vector<OperandRead>& reading = absorbed.operand[v];
      const std::vector<ValueId>& reads = absorbed.reads[v];
      FusedOp op;
      Lowered full = lower_tile(node, types, reading, params->tile);
      op.fn = full.fn;
      op.full_tile = std::move(full.params);
      op.last_tile = lower_tile(node, types, reading, last_count).params;
      for (size_t k = 0, r = 0; k < node.inputs.size(); ++k) {
        const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
        if (kind == OperandRead::Kind::fill) {
          fills += ", %" + std::to_string(node.inputs[k]) + ":fill";
          continue;
        }
        const ValueId u = root[reads[r++]];
        FusedOperand o;
        o.itemsize = static_cast<uint32_t>(itemsize(g.nodes[u].type.dtype));
        o.advance = kind == OperandRead::Kind::dense;
        if (static_cast<int64_t>(u) == head) {
          o.from = FusedOperand::From::head;
        } else if (groups.of[u] == grp && buffer_of.count(u)) {
          o.from = FusedOperand::From::tile;
          o.index = buffer_of[u];
        } else {
          o.index = step_index(u);
          if (kind != OperandRead::Kind::dense && o.index < external.size())
            external_cyclic[o.index] = true;
        }
        op.in.push_back(o);
      }
      op.out.itemsize = static_cast<uint32_t>(itemsize(node.type.dtype));
      widest = std::max<size_t>(widest, op.out.itemsize);
      if (std::find(materialized.begin(), materialized.end(), v) != materialized.end()) {
        op.out.index = step_index(v);
      } else {
        op.out.from = FusedOperand::From::tile;
        if (free_buffers.empty()) {
          op.out.index = num_buffers++;
        } else {
          op.out.index = free_buffers.back();
          free_buffers.pop_back();
        }
        buffer_of[v] = op.out.index;
      }
      // Buffers whose last reader this is are free for later members (not for this one's result:
      // it was placed first, so a kernel never writes a buffer it is still reading).
      for (const FusedOperand& o : op.in) {
        if (o.from != FusedOperand::From::tile) continue;
        for (auto& [value, buffer] : buffer_of) {
          if (buffer == o.index && last_reader[value] == m &&
              std::find(free_buffers.begin(), free_buffers.end(), buffer) == free_buffers.end())
            free_buffers.push_back(buffer);
        }
      }
      names += (m ? "," : "") + std::string(ir::name(node.prim));
      values += (m ? "," : "") + ("%" + std::to_string(v));
      params->ops.push_back(std::move(op));
    }
    params->buffers_per_thread = num_buffers;
    params->tile_buffer_bytes = ArenaPlan::aligned(static_cast<size_t>(params->tile) * widest);
    params->sums_offset = fused_tiles_end(*params);
    for (ValueId r : sums) {
      const ValueId v = root[g.nodes[r].inputs[0]];
      FusedSum sum;
      sum.in.itemsize = 4;
      if (buffer_of.count(v)) {
        sum.in.from = FusedOperand::From::tile;
        sum.in.index = buffer_of[v];
      } else {
        sum.in.index = step_index(v);
      }
      sum.out = step_index(r);
      sum.period = g.nodes[r].type.shape.numel();
      sum.acc_offset = params->sums_offset + params->sums_bytes;
      params->sums_bytes += ArenaPlan::aligned(static_cast<size_t>(sum.period) * sizeof(double));
      params->sums.push_back(sum);
      names += ",reduce_sum";
      values += ",%" + std::to_string(r);
    }

    // Places. Within a tile the members run in order, so result m may overwrite a value p the
    // group reads (a dying operand, or a donated input) when every member reading p reads it
    // densely and runs no later than m's writer — and the head, which reads its operands chunk by
    // chunk while the members write theirs, does not read p. Otherwise a result gets fresh bytes,
    // allocated while the operands are still live so that it never shares them.
    auto overwrites_safely = [&](ValueId p, size_t m_pos) {
      if (head >= 0) {
        for (ValueId u : g.nodes[static_cast<size_t>(head)].inputs)
          if (root[u] == p) return false;
      }
      for (size_t q = 0; q < members.size(); ++q) {
        bool reads_p = false, safely = q <= m_pos;
        for_each_read(g, absorbed, members[q], [&](size_t, ValueId u, OperandRead::Kind kind) {
          if (root[u] != p) return;
          reads_p = true;
          safely = safely && kind == OperandRead::Kind::dense;
        });
        if (reads_p && !safely) return false;
      }
      return true;
    };
    std::vector<ValueId> dying;
    std::string donated_text;
    for (ValueId r : external) {
      if (place[r].region == Region::arena && last_use[r] == static_cast<int64_t>(last))
        dying.push_back(r);
    }
    std::vector<ValueId> overwritten;  // dying operands a result took in place
    for (ValueId m : materialized) {
      const size_t m_pos =
          static_cast<size_t>(std::find(members.begin(), members.end(), m) - members.begin());
      const size_t bytes = byte_size(g.nodes[m].type);
      if (output_of[m] < 0) {
        auto in_place = std::find_if(dying.begin(), dying.end(), [&](ValueId r) {
          return byte_size(g.nodes[r].type) == bytes && bytes > 0 && m_pos < members.size() &&
                 std::find(overwritten.begin(), overwritten.end(), r) == overwritten.end() &&
                 overwrites_safely(r, m_pos);
        });
        if (in_place != dying.end()) {
          place[m] = place[*in_place];
          overwritten.push_back(*in_place);
          donated_text += ", %" + std::to_string(m) + " in place of %" + std::to_string(*in_place);
        } else {
          place[m] = Place{Region::arena, 0, arena.allocate(bytes)};
        }
        continue;
      }
      place[m] = Place{Region::output, static_cast<uint32_t>(output_of[m]), 0};
      if (output_aliases_.empty()) continue;
      const auto j = static_cast<size_t>(output_of[m]);
      const int donated =
          donated_input_for(last, j, [&](ValueId p) { return overwrites_safely(p, m_pos); });
      output_aliases_[j] = donated;
      if (donated >= 0)
        donated_text +=
            ", %" + std::to_string(m) + " into donated input[" + std::to_string(donated) + "]";
    }
    Lowered lowered;
    lowered.fn = &fused_kernel;
    lowered.scratch_bytes = fused_scratch_bytes(*params);
    lowered.params = std::move(params);
    Place scratch{Region::arena, 0, 0};
    if (lowered.scratch_bytes > 0) scratch.offset = arena.allocate(lowered.scratch_bytes);

    std::vector<Place> ins;
    std::string line = "%" + std::to_string(last) + " = fused[" + names + "] " +
                       g.nodes[last].type.str() + " {" + head_text + values + "} (";
    for (size_t k = 0; k < external.size(); ++k) {
      ins.push_back(place[external[k]]);
      line += (k ? ", %" : "%") + std::to_string(external[k]) +
              (external_cyclic[k] ? ":bcast@" : "@") + place_str(place[external[k]]);
    }
    line += (external.empty() && !fills.empty() ? fills.substr(2) : fills) + ") -> ";
    for (size_t k = 0; k < materialized.size(); ++k) {
      ins.push_back(place[materialized[k]]);
      line += (k ? ", %" : "%") + std::to_string(materialized[k]) + "@" +
              place_str(place[materialized[k]]);
    }
    const auto& fp = static_cast<const FusedParams&>(*lowered.params);
    line += donated_text + ", tile " + std::to_string(fp.tile);
    if (fp.threads > 1) line += ", " + std::to_string(fp.threads) + " threads";
    if (lowered.scratch_bytes > 0) {
      line += ", scratch " + place_str(scratch) + " " + std::to_string(lowered.scratch_bytes) + "B";
    }
    const size_t scratch_bytes = lowered.scratch_bytes;
    // The results are trailing operands; `out` is unused (the arena's base).
    add_step(std::move(lowered), ins, Place{Region::arena, 0, 0}, scratch, line);
    if (scratch_bytes > 0) arena.release(scratch.offset, scratch_bytes);
    for (ValueId r : dying) {
      if (std::find(overwritten.begin(), overwritten.end(), r) == overwritten.end())
        arena.release(place[r].offset, byte_size(g.nodes[r].type));
    }
    ++fused_groups_;
  };

  for (size_t i = 0; i < n; ++i) {
    if (!needed[i]) continue;
    const ir::Node& node = g.nodes[i];
    const std::string value = "%" + std::to_string(i);
    const std::string type = node.type.str();
    if (node.prim == Prim::parameter) {
      if (node.attrs.index < 0 || static_cast<size_t>(node.attrs.index) >= num_inputs_) {
        throw Error(message("graph " + g.name + ": parameter " + value + " has index " +
                                std::to_string(node.attrs.index) + " but the graph has " +
                                std::to_string(num_inputs_) + " inputs",
                            node.loc));
      }
      place[i] = {Region::input, static_cast<uint32_t>(node.attrs.index), 0};
      continue;
    }
    if (node.prim == Prim::constant) {
      const auto& lit = node.attrs.literal;
      if (!lit || lit->bytes() < byte_size(node.type) ||
          (byte_size(node.type) > 0 && lit->host_data() == nullptr)) {
        throw Error(message("graph " + g.name + ": constant " + value + " (" + type +
                                ") has no host literal of its size",
                            node.loc));
      }
      place[i] = {Region::constant, static_cast<uint32_t>(constants_.size()), 0};
      constants_.push_back(lit);
      continue;
    }
    if (is_view[i]) {
      place[i] = place[root[i]];
      continue;
    }
    if (const int32_t grp = groups.of[i]; grp >= 0) {
      if (groups.members[grp].back() == i) emit_group(groups.members[grp]);
      continue;
    }

    const auto types = operand_types(g, node);
    const std::vector<OperandRead>& reading = absorbed.operand[i];
    const std::vector<ValueId>& reads = absorbed.reads[i];
    Lowered lowered = reading.empty() ? prim_row(node.prim).lower(node, types)
                                      : lower_absorbing(node, types, reading);
    const size_t bytes = byte_size(node.type);
    // Only a densely read operand may be overwritten by the result: a cyclic or scalar source is
    // read again after its first elements are written.
    std::vector<ValueId> dense_reads;
    for (size_t k = 0, r = 0; k < node.inputs.size(); ++k) {
      const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
      if (kind == OperandRead::Kind::fill) continue;
      if (kind == OperandRead::Kind::dense) dense_reads.push_back(root[reads[r]]);
      ++r;
    }

    // Result: the output buffer itself when the value is a graph output; else arena bytes, taken
    // over from an operand that dies here when the kernel is elementwise.
    std::vector<ValueId> dying;
    for (ValueId u : reads) {
      const ValueId r = root[u];
      if (place[r].region == Region::arena && last_use[r] == static_cast<int64_t>(i) &&
          std::find(dying.begin(), dying.end(), r) == dying.end()) {
        dying.push_back(r);
      }
    }
    ValueId reused = static_cast<ValueId>(-1);
    int donated = -1;
    if (output_of[i] >= 0) {
      const auto j = static_cast<size_t>(output_of[i]);
      place[i] = {Region::output, static_cast<uint32_t>(j), 0};
      if (!output_aliases_.empty()) {
        donated = donated_input_for(i, j, [&](ValueId p) {
          return lowered.elementwise &&
                 std::find(dense_reads.begin(), dense_reads.end(), p) != dense_reads.end();
        });
        output_aliases_[j] = donated;
      }
    } else {
      if (lowered.elementwise) {
        for (ValueId r : dying) {
          if (byte_size(g.nodes[r].type) == bytes && bytes > 0 &&
              std::find(dense_reads.begin(), dense_reads.end(), r) != dense_reads.end()) {
            reused = r;
            break;
          }
        }
      }
      place[i] = reused != static_cast<ValueId>(-1)
                     ? place[reused]
                     : Place{Region::arena, 0, arena.allocate(bytes)};
    }
    Place scratch{Region::arena, 0, 0};
    if (lowered.scratch_bytes > 0) scratch.offset = arena.allocate(lowered.scratch_bytes);

    std::vector<Place> ins;
    std::string line = value + " = " + std::string(ir::name(node.prim)) + " " + type + " (";
    for (size_t k = 0, r = 0; k < node.inputs.size(); ++k) {
      line += k ? ", %" : "%";
      const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
      if (kind == OperandRead::Kind::fill) {  // a scalar in the kernel's params
        line += std::to_string(node.inputs[k]) + ":fill";
        continue;
      }
      const ValueId u = reads[r++];
      ins.push_back(place[root[u]]);
      if (kind != OperandRead::Kind::dense) line += std::to_string(node.inputs[k]) + ":bcast %";
      line += std::to_string(u) + "@" + place_str(place[root[u]]);
    }
    line += ") -> " + place_str(place[i]);
    if (reused != static_cast<ValueId>(-1)) line += " (in place)";
    if (donated >= 0) line += " (into donated input[" + std::to_string(donated) + "])";
    if (lowered.scratch_bytes > 0) {
      line += " scratch " + place_str(scratch) + " " + std::to_string(lowered.scratch_bytes) + "B";
    }
    const size_t scratch_bytes = lowered.scratch_bytes;
    add_step(std::move(lowered), ins, place[i], scratch, line);

    if (scratch_bytes > 0) arena.release(scratch.offset, scratch_bytes);
    for (ValueId r : dying) {
      if (r != reused) arena.release(place[r].offset, byte_size(g.nodes[r].type));
    }
  }

  // 3. Outputs not written in place: parameters, constants, views and repeated values.
  for (size_t j = 0; j < num_outputs; ++j) {
    const ValueId v = g.outputs[j];
    const Place target{Region::output, static_cast<uint32_t>(j), 0};
    const Place src = place[root[v]];
    output_types_.push_back(g.nodes[v].type);
    if (src == target) continue;
    ir::Node copy;
    copy.prim = Prim::reshape;
    copy.type = g.nodes[v].type;
    const ir::ValueType& type = g.nodes[v].type;
    add_step(
        lower_copy(copy, {&type, 1}), {src}, target, {},
        "output[" + std::to_string(j) + "] = copy %" + std::to_string(v) + "@" + place_str(src));
  }

  // 4. Run-time tables: sized once here so run() never allocates.
  arena_bytes_ = arena.size();
  arena_ = allocate_host(arena_bytes_, Device{});
  bases_.assign(num_inputs_ + num_outputs + 1 + constants_.size(), nullptr);
  bases_[arena_base] = static_cast<std::byte*>(arena_->host_data());
  for (size_t k = 0; k < constants_.size(); ++k) {
    bases_[arena_base + 1 + k] = static_cast<std::byte*>(constants_[k]->host_data());
  }
  operand_ptrs_.assign(max_operands, nullptr);
  for (ValueId v : g.inputs) input_bytes_.push_back(byte_size(g.nodes[v].type));
  for (const auto& t : output_types_) output_bytes_.push_back(byte_size(t));

  for (const auto& c : constants_) constant_bytes_ += c->bytes();
  name_ = g.name;
}

size_t CpuExecutable::peak_bytes() const {
  size_t bytes = arena_bytes_ + constant_bytes_;
  for (size_t b : input_bytes_) bytes += b;
  for (size_t b : output_bytes_) bytes += b;
  return bytes;
}

void CpuExecutable::bind(std::span<Buffer* const> inputs, std::span<Buffer* const> outputs) {
  if (inputs.size() != num_inputs_ || outputs.size() != output_bytes_.size()) {
    throw ValueError("cpu executable: expected " + std::to_string(num_inputs_) + " inputs and " +
                     std::to_string(output_bytes_.size()) + " outputs, got " +
                     std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i]->bytes() < input_bytes_[i]) {
      throw ValueError("cpu executable: input " + std::to_string(i) + " holds " +
                       std::to_string(inputs[i]->bytes()) + " bytes, the graph reads " +
                       std::to_string(input_bytes_[i]));
    }
    bases_[i] = static_cast<std::byte*>(inputs[i]->host_data());
    if (bases_[i] == nullptr && input_bytes_[i] > 0) {
      throw ValueError("cpu executable: input " + std::to_string(i) +
                       " is not in host memory. Move it to the cpu with kiln::device_put first");
    }
  }
  for (size_t j = 0; j < outputs.size(); ++j) {
    if (outputs[j]->bytes() < output_bytes_[j]) {
      throw ValueError("cpu executable: output " + std::to_string(j) + " holds " +
                       std::to_string(outputs[j]->bytes()) + " bytes, the graph writes " +
                       std::to_string(output_bytes_[j]));
    }
    bases_[num_inputs_ + j] = static_cast<std::byte*>(outputs[j]->host_data());
    if (bases_[num_inputs_ + j] == nullptr && output_bytes_[j] > 0) {
      throw ValueError("cpu executable: output " + std::to_string(j) +
                       " is not a host buffer; allocate outputs with the cpu backend");
    }
  }
}

void CpuExecutable::run_step(const Step& s) {
  std::byte* const* bases = bases_.data();
  const Slot* slots = operand_slots_.data() + s.first_input;
  for (uint32_t k = 0; k < s.num_inputs; ++k) {
    operand_ptrs_[k] = bases[slots[k].base] + slots[k].offset;
  }
  const KernelArgs args{{operand_ptrs_.data(), s.num_inputs},
                        bases[s.out.base] + s.out.offset,
                        s.scratch_bytes ? bases[s.scratch.base] + s.scratch.offset : nullptr};
  s.fn(args, *s.params);
}

void CpuExecutable::run(std::span<Buffer* const> inputs, std::span<Buffer* const> outputs) {
  // KILN_PROFILE=n: each executable's n-th run is profiled and printed to stderr. Early runs pay
  // for warm-up (first-touch page faults of fresh arena and output memory, oneDNN generating its
  // kernels), so n = 3 or more shows the steady state.
  static const int64_t profile_run = [] {
    const char* v = std::getenv("KILN_PROFILE");
    return v == nullptr ? int64_t{0} : std::max<int64_t>(0, std::atoll(v));
  }();
  if (profile_run > 0 && ++runs_ == profile_run) {
    const std::string text = run_profiled(inputs, outputs);
    std::fputs(text.c_str(), stderr);
    return;
  }
  bind(inputs, outputs);
  for (const Step& s : steps_) run_step(s);
}

std::string CpuExecutable::run_profiled(std::span<Buffer* const> inputs,
                                        std::span<Buffer* const> outputs) {
  using Clock = std::chrono::steady_clock;
  bind(inputs, outputs);
  std::vector<double> us(steps_.size());
  const auto t0 = Clock::now();
  for (size_t i = 0; i < steps_.size(); ++i) {
    const auto a = Clock::now();
    run_step(steps_[i]);
    us[i] = std::chrono::duration<double, std::micro>(Clock::now() - a).count();
  }
  const double total = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  std::vector<size_t> order(steps_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return us[a] > us[b]; });
  char buf[96];
  std::snprintf(buf, sizeof buf, ": %.1f us in %zu steps, slowest first\n", total, steps_.size());
  std::string out = "profile of cpu executable " + name_ + buf;
  for (size_t i : order) {
    std::snprintf(buf, sizeof buf, "  %10.1f us %5.1f%%  ", us[i],
                  total > 0 ? 100.0 * us[i] / total : 0.0);
    out += buf + step_text_[i] + "\n";
  }
  return out;
}

std::string CpuExecutable::describe() const {
  std::string out = "cpu executable " + name_ + ": " + std::to_string(steps_.size()) + " steps (" +
                    std::to_string(fused_groups_) + " fused), arena " +
                    std::to_string(arena_bytes_) + " bytes, peak " + std::to_string(peak_bytes()) +
                    " bytes, " + std::to_string(num_inputs_) + " inputs, " +
                    std::to_string(output_bytes_.size()) + " outputs, " + std::to_string(threads_) +
                    (threads_ == 1 ? " thread\n" : " threads\n");
  for (const std::string& line : step_text_) out += "  " + line + "\n";
  return out;
}

}  // namespace kiln::cpu
