#include "backend/cpu/schedule_lowering.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "backend/cpu/kernel_table.hpp"
#include "backend/cpu/memory_plan.hpp"

namespace kiln::cpu {
namespace {

// Builds one group's fused step (fusion.hpp): its operands, its ops' tile kernels and where each
// op's operands and result live per tile, its head and its sums.
class GroupLowering {
 public:
  GroupLowering(const ir::Graph& g, const Plan& plan, size_t grp, int threads)
      : g_(g), a_(plan.absorbed), l_(plan.live), G_(plan.groups), grp_(static_cast<int32_t>(grp)) {
    f_.members = G_.members[grp];
    f_.head = G_.head[grp];
    f_.params = std::make_unique<FusedParams>();
    numel_ = g_.nodes[f_.last()].type.shape.numel();
    f_.params->numel = numel_;
    f_.params->tile = group_tile(g_, G_, grp);
    f_.params->threads = group_threads(threads, numel_);
    if (f_.head >= 0) build_head();
    collect_operands(plan.read_outside);
    build_ops();
    build_sums();
    f_.scratch_bytes = fused_scratch_bytes(*f_.params);
  }

  FusedGroup take() { return std::move(f_); }

 private:
  uint32_t step_index(ValueId r) const {
    auto e = std::find(f_.external.begin(), f_.external.end(), r);
    if (e != f_.external.end()) return static_cast<uint32_t>(e - f_.external.begin());
    auto o = std::find(f_.materialized.begin(), f_.materialized.end(), r);
    return static_cast<uint32_t>(f_.external.size() +
                                 static_cast<size_t>(o - f_.materialized.begin()));
  }

  void build_head();
  void collect_operands(const std::vector<bool>& read_outside);
  FusedOperand operand_of(ValueId u, OperandRead::Kind kind);
  void build_ops();
  void build_sums();

  const ir::Graph& g_;
  const Absorption& a_;
  const Liveness& l_;
  const Groups& G_;
  const int32_t grp_;
  int64_t numel_ = 0;
  FusedGroup f_;
  std::unordered_map<ValueId, size_t> last_reader_;  // internal value -> member position
  std::unordered_map<ValueId, uint32_t> buffer_of_;  // internal value -> tile buffer
};

// The head runs chunk by chunk into a scratch buffer the group's tiles then read.
void GroupLowering::build_head() {
  const ir::Node& h = g_.nodes[static_cast<size_t>(f_.head)];
  const auto types = operand_types(g_, h);
  FusedHead fh;
  fh.rows = h.type.shape[0];
  fh.itemsize = static_cast<uint32_t>(itemsize(h.type.dtype));
  const int64_t row_elements = numel_ / fh.rows;
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
  fh.tiles_offset =
      fh.buffer_offset + ArenaPlan::aligned(static_cast<size_t>(fh.chunk_elements) * fh.itemsize);
  for (ValueId u : h.inputs) {
    const ValueId r = l_.root[u];
    auto e = std::find(f_.external.begin(), f_.external.end(), r);
    fh.inputs.push_back(static_cast<uint32_t>(e - f_.external.begin()));
    if (e == f_.external.end()) f_.external.push_back(r);
  }
  f_.params->head = std::move(fh);
  f_.head_text = std::string(ir::name(h.prim)) + " %" + std::to_string(f_.head) + " in chunks of " +
                 std::to_string(f_.params->head->chunk_rows) + " rows; ";
}

// Which values the step reads from outside the group and which member results it materializes.
void GroupLowering::collect_operands(const std::vector<bool>& read_outside) {
  for (size_t m = 0; m < f_.members.size(); ++m) {
    for (ValueId u : a_.reads[f_.members[m]]) {
      const ValueId r = l_.root[u];
      if (G_.of[r] == grp_) {
        last_reader_[r] = m;
      } else if (std::find(f_.external.begin(), f_.external.end(), r) == f_.external.end()) {
        f_.external.push_back(r);
      }
    }
  }
  for (ValueId m : f_.members) {
    if (l_.output_of[m] >= 0 || read_outside[m]) f_.materialized.push_back(m);
  }
  // A summed value is read after the last member of each tile: its tile buffer stays its own.
  for (ValueId r : G_.sums[static_cast<size_t>(grp_)]) {
    f_.materialized.push_back(r);
    last_reader_[l_.root[g_.nodes[r].inputs[0]]] = f_.members.size();
  }
  f_.external_cyclic.assign(f_.external.size(), false);
}

// Where a member reads value u (a root) per tile: the head's chunk, a tile buffer, or a step
// operand.
FusedOperand GroupLowering::operand_of(ValueId u, OperandRead::Kind kind) {
  FusedOperand o;
  o.itemsize = static_cast<uint32_t>(itemsize(g_.nodes[u].type.dtype));
  o.advance = kind == OperandRead::Kind::dense;
  if (static_cast<int64_t>(u) == f_.head) {
    o.from = FusedOperand::From::head;
  } else if (G_.of[u] == grp_ && buffer_of_.count(u)) {
    o.from = FusedOperand::From::tile;
    o.index = buffer_of_[u];
  } else {
    o.index = step_index(u);
    if (kind != OperandRead::Kind::dense && o.index < f_.external.size())
      f_.external_cyclic[o.index] = true;
  }
  return o;
}

// Each member's tile kernels and where its operands and result live per tile.
void GroupLowering::build_ops() {
  const int64_t tiles = (numel_ + f_.params->tile - 1) / f_.params->tile;
  const int64_t last_count = numel_ - (tiles - 1) * f_.params->tile;
  std::vector<uint32_t> free_buffers;
  uint32_t num_buffers = 0;
  size_t widest = 1;
  for (size_t m = 0; m < f_.members.size(); ++m) {
    const ValueId v = f_.members[m];
    const ir::Node& node = g_.nodes[v];
    const auto types = operand_types(g_, node);
    const std::vector<OperandRead>& reading = a_.operand[v];
    const std::vector<ValueId>& reads = a_.reads[v];
    FusedOp op;
    Lowered full = lower_tile(node, types, reading, f_.params->tile);
    op.fn = full.fn;
    op.full_tile = std::move(full.params);
    op.last_tile = lower_tile(node, types, reading, last_count).params;
    for (size_t k = 0, r = 0; k < node.inputs.size(); ++k) {
      const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
      if (kind == OperandRead::Kind::fill) {
        f_.fills += ", %" + std::to_string(node.inputs[k]) + ":fill";
        continue;
      }
      op.in.push_back(operand_of(l_.root[reads[r++]], kind));
    }
    op.out.itemsize = static_cast<uint32_t>(itemsize(node.type.dtype));
    widest = std::max<size_t>(widest, op.out.itemsize);
    if (std::find(f_.materialized.begin(), f_.materialized.end(), v) != f_.materialized.end()) {
      op.out.index = step_index(v);
    } else {
      op.out.from = FusedOperand::From::tile;
      if (free_buffers.empty()) {
        op.out.index = num_buffers++;
      } else {
        op.out.index = free_buffers.back();
        free_buffers.pop_back();
      }
      buffer_of_[v] = op.out.index;
    }
    // Buffers whose last reader this is are free for later members (not for this one's result:
    // it was placed first, so a kernel never writes a buffer it is still reading).
    for (const FusedOperand& o : op.in) {
      if (o.from != FusedOperand::From::tile) continue;
      for (auto& [value, buffer] : buffer_of_) {
        if (buffer == o.index && last_reader_[value] == m &&
            std::find(free_buffers.begin(), free_buffers.end(), buffer) == free_buffers.end())
          free_buffers.push_back(buffer);
      }
    }
    f_.names += (m ? "," : "") + std::string(ir::name(node.prim));
    f_.values += (m ? "," : "") + ("%" + std::to_string(v));
    f_.params->ops.push_back(std::move(op));
  }
  f_.params->buffers_per_thread = num_buffers;
  f_.params->tile_buffer_bytes = ArenaPlan::aligned(static_cast<size_t>(f_.params->tile) * widest);
  f_.params->sums_offset = fused_tiles_end(*f_.params);
}

// The sums the group folds in, each into its own accumulators.
void GroupLowering::build_sums() {
  for (ValueId r : G_.sums[static_cast<size_t>(grp_)]) {
    const ValueId v = l_.root[g_.nodes[r].inputs[0]];
    FusedSum sum;
    sum.in.itemsize = 4;
    if (buffer_of_.count(v)) {
      sum.in.from = FusedOperand::From::tile;
      sum.in.index = buffer_of_[v];
    } else {
      sum.in.index = step_index(v);
    }
    sum.out = step_index(r);
    sum.period = g_.nodes[r].type.shape.numel();
    sum.acc_offset = f_.params->sums_offset + f_.params->sums_bytes;
    f_.params->sums_bytes += ArenaPlan::aligned(static_cast<size_t>(sum.period) * sizeof(double));
    f_.params->sums.push_back(sum);
    f_.names += ",reduce_sum";
    f_.values += ",%" + std::to_string(r);
  }
}

}  // namespace

size_t Lowering::num_fused_groups() const {
  return static_cast<size_t>(std::count_if(groups.begin(), groups.end(),
                                           [](const FusedGroup& f) { return !f.members.empty(); }));
}

Lowering lower_plan(const ir::Graph& g, const Plan& plan, int threads) {
  Lowering lowering;
  lowering.node.resize(g.nodes.size());
  lowering.groups.resize(plan.groups.members.size());
  for_each_step(
      g, plan,
      [&](size_t i) {
        const ir::Node& node = g.nodes[i];
        const auto types = operand_types(g, node);
        const std::vector<OperandRead>& reading = plan.absorbed.operand[i];
        lowering.node[i] = reading.empty() ? prim_row(node.prim).lower(node, types)
                                           : lower_absorbing(node, types, reading);
      },
      [&](size_t grp) { lowering.groups[grp] = GroupLowering(g, plan, grp, threads).take(); });
  return lowering;
}

}  // namespace kiln::cpu
