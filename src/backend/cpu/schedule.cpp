#include "backend/cpu/schedule.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <utility>

#include "backend/cpu/fusion.hpp"
#include "backend/cpu/kernel_table.hpp"
#include "backend/cpu/lowerings.hpp"
#include "backend/cpu/memory_plan.hpp"
#include "backend/cpu/schedule_plan.hpp"
#include "backend/cpu/threads.hpp"
#include "kiln/error.hpp"

namespace kiln::cpu {
namespace {

using ir::Prim;

enum class Region : uint8_t { none, input, output, arena, constant };

struct Place {
  Region region = Region::none;
  uint32_t index = 0;  // input, output or constant number
  size_t offset = 0;   // arena offset
  bool operator==(const Place&) const = default;
};

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

// Outputs name nodes and every node reads earlier values only (the backend's support check has
// passed every node's dtypes).
void check_order(const ir::Graph& g) {
  const size_t n = g.nodes.size();
  for (ValueId v : g.outputs) {
    if (v >= n)
      throw Error("graph " + g.name + ": output %" + std::to_string(v) + " is not a node");
  }
  for (size_t i = 0; i < n; ++i) {
    for (ValueId u : g.nodes[i].inputs) {
      if (u >= i) {
        throw Error("graph " + g.name + ": value %" + std::to_string(i) + " reads %" +
                    std::to_string(u) + ", which is not defined before it");
      }
    }
  }
}

// The planning passes' results (schedule_plan.hpp), which step emission reads.
struct Plan {
  Absorption absorbed;
  Liveness live;
  Groups groups;
  std::vector<bool> read_outside;  // per node: a group member read outside its group
};

Plan make_plan(const ir::Graph& g, const ScheduleOptions& options, int threads) {
  Plan p;
  p.absorbed = plan_absorption(g);
  p.live = analyze(g, p.absorbed.reads);
  p.groups = plan_groups(g, p.absorbed, p.live, options.fuse, options.min_fused_elements, threads);
  p.read_outside = extend_lifetimes_over_groups(g, p.absorbed, p.groups, p.live);
  return p;
}

// What step emission produces; CpuExecutable takes it over.
struct Emitted {
  std::vector<Step> steps;
  std::vector<Slot> operand_slots;
  std::vector<std::string> step_text;
  std::vector<std::shared_ptr<const Buffer>> constants;
  std::vector<int> output_aliases;  // empty: no input is donated
  size_t max_operands = 1;
  size_t arena_bytes = 0;
  size_t fused_groups = 0;
};

// One fused step under construction (emit_group): its operands, its params and its text.
struct FusedStep {
  explicit FusedStep(const std::vector<ValueId>& m) : members(m) {}
  const std::vector<ValueId>& members;
  ValueId last = 0;
  int32_t grp = -1;
  int64_t head = -1;
  int64_t numel = 0;
  std::unique_ptr<FusedParams> params = std::make_unique<FusedParams>();
  // Step operands: the values read from outside the group (the head's inputs first), then the
  // materialized results.
  std::vector<ValueId> external;
  std::vector<ValueId> materialized;
  std::unordered_map<ValueId, size_t> last_reader;  // internal value -> member position
  std::vector<bool> external_cyclic;                // read as a broadcast source (":bcast")
  std::unordered_map<ValueId, uint32_t> buffer_of;  // internal value -> tile buffer
  std::string head_text, fills, names, values, donated_text;

  uint32_t step_index(ValueId r) const {
    auto e = std::find(external.begin(), external.end(), r);
    if (e != external.end()) return static_cast<uint32_t>(e - external.begin());
    auto o = std::find(materialized.begin(), materialized.end(), r);
    return static_cast<uint32_t>(external.size() + static_cast<size_t>(o - materialized.begin()));
  }
};

// Step emission over the plan, in graph order: placement (inputs, constants, views, arena bytes),
// in-place reuse of dying operands and donation of inputs, and one step per node or fusion group,
// then the copies of outputs not written in place.
class StepEmitter {
 public:
  StepEmitter(const ir::Graph& g, const Plan& plan, const ScheduleOptions& options, int threads)
      : g_(g),
        a_(plan.absorbed),
        l_(plan.live),
        G_(plan.groups),
        read_outside_(plan.read_outside),
        threads_(threads),
        num_inputs_(g.inputs.size()),
        arena_base_(static_cast<uint32_t>(g.inputs.size() + g.outputs.size())),
        place_(g.nodes.size()) {
    plan_donation(options.donated_inputs);
  }

  Emitted run() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!l_.needed[i] || place_leaf(i)) continue;
      if (const int32_t grp = G_.of[i]; grp >= 0) {
        if (G_.members[grp].back() == i) emit_group(G_.members[grp]);
        continue;
      }
      emit_node(i);
    }
    emit_output_copies();
    out_.arena_bytes = arena_.size();
    return std::move(out_);
  }

 private:
  Slot slot_of(const Place& p) const {
    switch (p.region) {
      case Region::input:
        return {p.index, 0};
      case Region::output:
        return {static_cast<uint32_t>(num_inputs_) + p.index, 0};
      case Region::arena:
        return {arena_base_, p.offset};
      case Region::constant:
        return {arena_base_ + 1 + p.index, 0};
      case Region::none:
        break;
    }
    return {};
  }

  // Donation: output j may be written into donated input k once k has no reader left. Inputs that
  // an output copies at the end (returned unchanged, or through a view) are read then: never.
  void plan_donation(const std::vector<bool>& donated) {
    aliasable_.assign(num_inputs_, false);
    for (size_t k = 0; k < num_inputs_ && k < donated.size(); ++k) aliasable_[k] = donated[k];
    for (ValueId v : g_.outputs) {
      const ir::Node& r = g_.nodes[l_.root[v]];
      if (r.prim == Prim::parameter && r.attrs.index >= 0 &&
          static_cast<size_t>(r.attrs.index) < num_inputs_)
        aliasable_[static_cast<size_t>(r.attrs.index)] = false;
    }
    if (std::find(aliasable_.begin(), aliasable_.end(), true) != aliasable_.end())
      out_.output_aliases.assign(g_.outputs.size(), -1);
  }

  // The donated input whose bytes output j, written by the step at node position i, can take, or
  // -1: same size, read by no later step, and read by this step only where `overwrites_safely(p)`
  // says it reads those elements before writing them (index for index, elementwise).
  template <class F>
  int donated_input_for(size_t i, size_t j, const F& overwrites_safely) {
    const size_t bytes = byte_size(g_.nodes[g_.outputs[j]].type);
    for (size_t k = 0; k < num_inputs_; ++k) {
      const ValueId p = g_.inputs[k];
      if (!aliasable_[k] || bytes == 0 || byte_size(g_.nodes[p].type) != bytes) continue;
      const int64_t last = l_.last_use[p];
      if (last > static_cast<int64_t>(i)) continue;
      if (last == static_cast<int64_t>(i) && !overwrites_safely(p)) continue;
      aliasable_[k] = false;  // one output per donated input
      return static_cast<int>(k);
    }
    return -1;
  }

  void add_step(Lowered lowered, const std::vector<Place>& ins, const Place& out,
                const Place& scratch, const std::string& line) {
    Step s;
    s.fn = lowered.fn;
    s.params = std::move(lowered.params);
    s.first_input = static_cast<uint32_t>(out_.operand_slots.size());
    s.num_inputs = static_cast<uint32_t>(ins.size());
    for (const Place& p : ins) out_.operand_slots.push_back(slot_of(p));
    s.out = slot_of(out);
    s.scratch_bytes = lowered.scratch_bytes;
    if (s.scratch_bytes > 0) s.scratch = slot_of(scratch);
    out_.max_operands = std::max(out_.max_operands, ins.size());
    out_.steps.push_back(std::move(s));
    out_.step_text.push_back(line);
  }

  bool place_leaf(size_t i);
  void emit_node(size_t i);
  void emit_group(const std::vector<ValueId>& members);
  void build_head(FusedStep& f);
  void collect_operands(FusedStep& f);
  void build_ops(FusedStep& f);
  void build_sums(FusedStep& f);
  bool overwrites_safely(const FusedStep& f, ValueId p, size_t m_pos) const;
  void place_group_results(FusedStep& f, const std::vector<ValueId>& dying,
                           std::vector<ValueId>& overwritten);
  void emit_fused_step(FusedStep& f, const std::vector<ValueId>& dying,
                       const std::vector<ValueId>& overwritten);
  void emit_output_copies();

  const ir::Graph& g_;
  const Absorption& a_;
  const Liveness& l_;
  const Groups& G_;
  const std::vector<bool>& read_outside_;
  const int threads_;
  const size_t num_inputs_;
  const uint32_t arena_base_;
  std::vector<Place> place_;
  std::vector<bool> aliasable_;
  ArenaPlan arena_;
  Emitted out_;
};

// Parameters and constants take their own buffers, views their operand's; none is a step.
bool StepEmitter::place_leaf(size_t i) {
  const ir::Node& node = g_.nodes[i];
  const std::string value = "%" + std::to_string(i);
  if (node.prim == Prim::parameter) {
    if (node.attrs.index < 0 || static_cast<size_t>(node.attrs.index) >= num_inputs_) {
      throw Error(message("graph " + g_.name + ": parameter " + value + " has index " +
                              std::to_string(node.attrs.index) + " but the graph has " +
                              std::to_string(num_inputs_) + " inputs",
                          node.loc));
    }
    place_[i] = {Region::input, static_cast<uint32_t>(node.attrs.index), 0};
    return true;
  }
  if (node.prim == Prim::constant) {
    const auto& lit = node.attrs.literal;
    if (!lit || lit->bytes() < byte_size(node.type) ||
        (byte_size(node.type) > 0 && lit->host_data() == nullptr)) {
      throw Error(message("graph " + g_.name + ": constant " + value + " (" + node.type.str() +
                              ") has no host literal of its size",
                          node.loc));
    }
    place_[i] = {Region::constant, static_cast<uint32_t>(out_.constants.size()), 0};
    out_.constants.push_back(lit);
    return true;
  }
  if (l_.is_view[i]) {
    place_[i] = place_[l_.root[i]];
    return true;
  }
  return false;
}

// One node, one step. Its result: the output buffer itself when the value is a graph output
// (or a donated input's bytes); else arena bytes, taken over from an operand that dies here when
// the kernel is elementwise.
void StepEmitter::emit_node(size_t i) {
  const ir::Node& node = g_.nodes[i];
  const auto types = operand_types(g_, node);
  const std::vector<OperandRead>& reading = a_.operand[i];
  const std::vector<ValueId>& reads = a_.reads[i];
  Lowered lowered = reading.empty() ? prim_row(node.prim).lower(node, types)
                                    : lower_absorbing(node, types, reading);
  const size_t bytes = byte_size(node.type);
  // Only a densely read operand may be overwritten by the result: a cyclic or scalar source is
  // read again after its first elements are written.
  std::vector<ValueId> dense_reads;
  for (size_t k = 0, r = 0; k < node.inputs.size(); ++k) {
    const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
    if (kind == OperandRead::Kind::fill) continue;
    if (kind == OperandRead::Kind::dense) dense_reads.push_back(l_.root[reads[r]]);
    ++r;
  }
  std::vector<ValueId> dying;
  for (ValueId u : reads) {
    const ValueId r = l_.root[u];
    if (place_[r].region == Region::arena && l_.last_use[r] == static_cast<int64_t>(i) &&
        std::find(dying.begin(), dying.end(), r) == dying.end()) {
      dying.push_back(r);
    }
  }
  ValueId reused = static_cast<ValueId>(-1);
  int donated = -1;
  if (l_.output_of[i] >= 0) {
    const auto j = static_cast<size_t>(l_.output_of[i]);
    place_[i] = {Region::output, static_cast<uint32_t>(j), 0};
    if (!out_.output_aliases.empty()) {
      donated = donated_input_for(i, j, [&](ValueId p) {
        return lowered.elementwise &&
               std::find(dense_reads.begin(), dense_reads.end(), p) != dense_reads.end();
      });
      out_.output_aliases[j] = donated;
    }
  } else {
    if (lowered.elementwise) {
      for (ValueId r : dying) {
        if (byte_size(g_.nodes[r].type) == bytes && bytes > 0 &&
            std::find(dense_reads.begin(), dense_reads.end(), r) != dense_reads.end()) {
          reused = r;
          break;
        }
      }
    }
    place_[i] = reused != static_cast<ValueId>(-1)
                    ? place_[reused]
                    : Place{Region::arena, 0, arena_.allocate(bytes)};
  }
  Place scratch{Region::arena, 0, 0};
  if (lowered.scratch_bytes > 0) scratch.offset = arena_.allocate(lowered.scratch_bytes);

  std::vector<Place> ins;
  std::string line = "%" + std::to_string(i) + " = " + std::string(ir::name(node.prim)) + " " +
                     node.type.str() + " (";
  for (size_t k = 0, r = 0; k < node.inputs.size(); ++k) {
    line += k ? ", %" : "%";
    const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
    if (kind == OperandRead::Kind::fill) {  // a scalar in the kernel's params
      line += std::to_string(node.inputs[k]) + ":fill";
      continue;
    }
    const ValueId u = reads[r++];
    ins.push_back(place_[l_.root[u]]);
    if (kind != OperandRead::Kind::dense) line += std::to_string(node.inputs[k]) + ":bcast %";
    line += std::to_string(u) + "@" + place_str(place_[l_.root[u]]);
  }
  line += ") -> " + place_str(place_[i]);
  if (reused != static_cast<ValueId>(-1)) line += " (in place)";
  if (donated >= 0) line += " (into donated input[" + std::to_string(donated) + "])";
  if (lowered.scratch_bytes > 0) {
    line += " scratch " + place_str(scratch) + " " + std::to_string(lowered.scratch_bytes) + "B";
  }
  const size_t scratch_bytes = lowered.scratch_bytes;
  add_step(std::move(lowered), ins, place_[i], scratch, line);

  if (scratch_bytes > 0) arena_.release(scratch.offset, scratch_bytes);
  for (ValueId r : dying) {
    if (r != reused) arena_.release(place_[r].offset, byte_size(g_.nodes[r].type));
  }
}

// One step for a fusion group, at its last member (fusion.hpp).
void StepEmitter::emit_group(const std::vector<ValueId>& members) {
  FusedStep f(members);
  f.last = members.back();
  f.grp = G_.of[f.last];
  f.numel = g_.nodes[f.last].type.shape.numel();
  f.head = G_.head[f.grp];
  f.params->numel = f.numel;
  f.params->tile = group_tile(g_, G_, static_cast<size_t>(f.grp));
  f.params->threads = group_threads(threads_, f.numel);
  if (f.head >= 0) build_head(f);
  collect_operands(f);
  build_ops(f);
  build_sums(f);
  std::vector<ValueId> dying;
  for (ValueId r : f.external) {
    if (place_[r].region == Region::arena && l_.last_use[r] == static_cast<int64_t>(f.last))
      dying.push_back(r);
  }
  std::vector<ValueId> overwritten;  // dying operands a result took in place
  place_group_results(f, dying, overwritten);
  emit_fused_step(f, dying, overwritten);
}

// The head runs chunk by chunk into a scratch buffer the group's tiles then read.
void StepEmitter::build_head(FusedStep& f) {
  const ir::Node& h = g_.nodes[static_cast<size_t>(f.head)];
  const auto types = operand_types(g_, h);
  FusedHead fh;
  fh.rows = h.type.shape[0];
  fh.itemsize = static_cast<uint32_t>(itemsize(h.type.dtype));
  const int64_t row_elements = f.numel / fh.rows;
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
    auto e = std::find(f.external.begin(), f.external.end(), r);
    fh.inputs.push_back(static_cast<uint32_t>(e - f.external.begin()));
    if (e == f.external.end()) f.external.push_back(r);
  }
  f.params->head = std::move(fh);
  f.head_text = std::string(ir::name(h.prim)) + " %" + std::to_string(f.head) + " in chunks of " +
                std::to_string(f.params->head->chunk_rows) + " rows; ";
}

// Which values the step reads from outside the group and which member results it materializes.
void StepEmitter::collect_operands(FusedStep& f) {
  for (size_t m = 0; m < f.members.size(); ++m) {
    for (ValueId u : a_.reads[f.members[m]]) {
      const ValueId r = l_.root[u];
      if (G_.of[r] == f.grp) {
        f.last_reader[r] = m;
      } else if (std::find(f.external.begin(), f.external.end(), r) == f.external.end()) {
        f.external.push_back(r);
      }
    }
  }
  for (ValueId m : f.members) {
    if (l_.output_of[m] >= 0 || read_outside_[m]) f.materialized.push_back(m);
  }
  // A summed value is read after the last member of each tile: its tile buffer stays its own.
  for (ValueId r : G_.sums[static_cast<size_t>(f.grp)]) {
    f.materialized.push_back(r);
    f.last_reader[l_.root[g_.nodes[r].inputs[0]]] = f.members.size();
  }
  f.external_cyclic.assign(f.external.size(), false);
}

// Each member's tile kernels and where its operands and result live per tile.
void StepEmitter::build_ops(FusedStep& f) {
  const int64_t tiles = (f.numel + f.params->tile - 1) / f.params->tile;
  const int64_t last_count = f.numel - (tiles - 1) * f.params->tile;
  std::vector<uint32_t> free_buffers;
  uint32_t num_buffers = 0;
  size_t widest = 1;
  for (size_t m = 0; m < f.members.size(); ++m) {
    const ValueId v = f.members[m];
    const ir::Node& node = g_.nodes[v];
    const auto types = operand_types(g_, node);
    const std::vector<OperandRead>& reading = a_.operand[v];
    const std::vector<ValueId>& reads = a_.reads[v];
    FusedOp op;
    Lowered full = lower_tile(node, types, reading, f.params->tile);
    op.fn = full.fn;
    op.full_tile = std::move(full.params);
    op.last_tile = lower_tile(node, types, reading, last_count).params;
    for (size_t k = 0, r = 0; k < node.inputs.size(); ++k) {
      const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
      if (kind == OperandRead::Kind::fill) {
        f.fills += ", %" + std::to_string(node.inputs[k]) + ":fill";
        continue;
      }
      const ValueId u = l_.root[reads[r++]];
      FusedOperand o;
      o.itemsize = static_cast<uint32_t>(itemsize(g_.nodes[u].type.dtype));
      o.advance = kind == OperandRead::Kind::dense;
      if (static_cast<int64_t>(u) == f.head) {
        o.from = FusedOperand::From::head;
      } else if (G_.of[u] == f.grp && f.buffer_of.count(u)) {
        o.from = FusedOperand::From::tile;
        o.index = f.buffer_of[u];
      } else {
        o.index = f.step_index(u);
        if (kind != OperandRead::Kind::dense && o.index < f.external.size())
          f.external_cyclic[o.index] = true;
      }
      op.in.push_back(o);
    }
    op.out.itemsize = static_cast<uint32_t>(itemsize(node.type.dtype));
    widest = std::max<size_t>(widest, op.out.itemsize);
    if (std::find(f.materialized.begin(), f.materialized.end(), v) != f.materialized.end()) {
      op.out.index = f.step_index(v);
    } else {
      op.out.from = FusedOperand::From::tile;
      if (free_buffers.empty()) {
        op.out.index = num_buffers++;
      } else {
        op.out.index = free_buffers.back();
        free_buffers.pop_back();
      }
      f.buffer_of[v] = op.out.index;
    }
    // Buffers whose last reader this is are free for later members (not for this one's result:
    // it was placed first, so a kernel never writes a buffer it is still reading).
    for (const FusedOperand& o : op.in) {
      if (o.from != FusedOperand::From::tile) continue;
      for (auto& [value, buffer] : f.buffer_of) {
        if (buffer == o.index && f.last_reader[value] == m &&
            std::find(free_buffers.begin(), free_buffers.end(), buffer) == free_buffers.end())
          free_buffers.push_back(buffer);
      }
    }
    f.names += (m ? "," : "") + std::string(ir::name(node.prim));
    f.values += (m ? "," : "") + ("%" + std::to_string(v));
    f.params->ops.push_back(std::move(op));
  }
  f.params->buffers_per_thread = num_buffers;
  f.params->tile_buffer_bytes = ArenaPlan::aligned(static_cast<size_t>(f.params->tile) * widest);
  f.params->sums_offset = fused_tiles_end(*f.params);
}

// The sums the group folds in, each into its own accumulators.
void StepEmitter::build_sums(FusedStep& f) {
  for (ValueId r : G_.sums[static_cast<size_t>(f.grp)]) {
    const ValueId v = l_.root[g_.nodes[r].inputs[0]];
    FusedSum sum;
    sum.in.itemsize = 4;
    if (f.buffer_of.count(v)) {
      sum.in.from = FusedOperand::From::tile;
      sum.in.index = f.buffer_of[v];
    } else {
      sum.in.index = f.step_index(v);
    }
    sum.out = f.step_index(r);
    sum.period = g_.nodes[r].type.shape.numel();
    sum.acc_offset = f.params->sums_offset + f.params->sums_bytes;
    f.params->sums_bytes += ArenaPlan::aligned(static_cast<size_t>(sum.period) * sizeof(double));
    f.params->sums.push_back(sum);
    f.names += ",reduce_sum";
    f.values += ",%" + std::to_string(r);
  }
}

// Within a tile the members run in order, so result m may overwrite a value p the group reads (a
// dying operand, or a donated input) when every member reading p reads it densely and runs no
// later than m's writer — and the head, which reads its operands chunk by chunk while the members
// write theirs, does not read p.
bool StepEmitter::overwrites_safely(const FusedStep& f, ValueId p, size_t m_pos) const {
  if (f.head >= 0) {
    for (ValueId u : g_.nodes[static_cast<size_t>(f.head)].inputs)
      if (l_.root[u] == p) return false;
  }
  for (size_t q = 0; q < f.members.size(); ++q) {
    bool reads_p = false, safely = q <= m_pos;
    for_each_read(g_, a_, f.members[q], [&](size_t, ValueId u, OperandRead::Kind kind) {
      if (l_.root[u] != p) return;
      reads_p = true;
      safely = safely && kind == OperandRead::Kind::dense;
    });
    if (reads_p && !safely) return false;
  }
  return true;
}

// Places of the materialized results: an output's buffer (or a donated input's bytes), a dying
// operand's bytes where overwrites_safely allows, else fresh bytes, allocated while the operands
// are still live so that a result never shares them.
void StepEmitter::place_group_results(FusedStep& f, const std::vector<ValueId>& dying,
                                      std::vector<ValueId>& overwritten) {
  for (ValueId m : f.materialized) {
    const size_t m_pos =
        static_cast<size_t>(std::find(f.members.begin(), f.members.end(), m) - f.members.begin());
    const size_t bytes = byte_size(g_.nodes[m].type);
    if (l_.output_of[m] < 0) {
      auto in_place = std::find_if(dying.begin(), dying.end(), [&](ValueId r) {
        return byte_size(g_.nodes[r].type) == bytes && bytes > 0 && m_pos < f.members.size() &&
               std::find(overwritten.begin(), overwritten.end(), r) == overwritten.end() &&
               overwrites_safely(f, r, m_pos);
      });
      if (in_place != dying.end()) {
        place_[m] = place_[*in_place];
        overwritten.push_back(*in_place);
        f.donated_text += ", %" + std::to_string(m) + " in place of %" + std::to_string(*in_place);
      } else {
        place_[m] = Place{Region::arena, 0, arena_.allocate(bytes)};
      }
      continue;
    }
    place_[m] = Place{Region::output, static_cast<uint32_t>(l_.output_of[m]), 0};
    if (out_.output_aliases.empty()) continue;
    const auto j = static_cast<size_t>(l_.output_of[m]);
    const int donated =
        donated_input_for(f.last, j, [&](ValueId p) { return overwrites_safely(f, p, m_pos); });
    out_.output_aliases[j] = donated;
    if (donated >= 0)
      f.donated_text +=
          ", %" + std::to_string(m) + " into donated input[" + std::to_string(donated) + "]";
  }
}

void StepEmitter::emit_fused_step(FusedStep& f, const std::vector<ValueId>& dying,
                                  const std::vector<ValueId>& overwritten) {
  Lowered lowered;
  lowered.fn = &fused_kernel;
  lowered.scratch_bytes = fused_scratch_bytes(*f.params);
  lowered.params = std::move(f.params);
  Place scratch{Region::arena, 0, 0};
  if (lowered.scratch_bytes > 0) scratch.offset = arena_.allocate(lowered.scratch_bytes);

  std::vector<Place> ins;
  std::string line = "%" + std::to_string(f.last) + " = fused[" + f.names + "] " +
                     g_.nodes[f.last].type.str() + " {" + f.head_text + f.values + "} (";
  for (size_t k = 0; k < f.external.size(); ++k) {
    ins.push_back(place_[f.external[k]]);
    line += (k ? ", %" : "%") + std::to_string(f.external[k]) +
            (f.external_cyclic[k] ? ":bcast@" : "@") + place_str(place_[f.external[k]]);
  }
  line += (f.external.empty() && !f.fills.empty() ? f.fills.substr(2) : f.fills) + ") -> ";
  for (size_t k = 0; k < f.materialized.size(); ++k) {
    ins.push_back(place_[f.materialized[k]]);
    line += (k ? ", %" : "%") + std::to_string(f.materialized[k]) + "@" +
            place_str(place_[f.materialized[k]]);
  }
  const auto& fp = static_cast<const FusedParams&>(*lowered.params);
  line += f.donated_text + ", tile " + std::to_string(fp.tile);
  if (fp.threads > 1) line += ", " + std::to_string(fp.threads) + " threads";
  if (lowered.scratch_bytes > 0) {
    line += ", scratch " + place_str(scratch) + " " + std::to_string(lowered.scratch_bytes) + "B";
  }
  const size_t scratch_bytes = lowered.scratch_bytes;
  // The results are trailing operands; `out` is unused (the arena's base).
  add_step(std::move(lowered), ins, Place{Region::arena, 0, 0}, scratch, line);
  if (scratch_bytes > 0) arena_.release(scratch.offset, scratch_bytes);
  for (ValueId r : dying) {
    if (std::find(overwritten.begin(), overwritten.end(), r) == overwritten.end())
      arena_.release(place_[r].offset, byte_size(g_.nodes[r].type));
  }
  ++out_.fused_groups;
}

// Outputs not written in place: parameters, constants, views and repeated values.
void StepEmitter::emit_output_copies() {
  for (size_t j = 0; j < g_.outputs.size(); ++j) {
    const ValueId v = g_.outputs[j];
    const Place target{Region::output, static_cast<uint32_t>(j), 0};
    const Place src = place_[l_.root[v]];
    if (src == target) continue;
    ir::Node copy;
    copy.prim = Prim::reshape;
    copy.type = g_.nodes[v].type;
    const ir::ValueType& type = g_.nodes[v].type;
    add_step(
        lower_copy(copy, {&type, 1}), {src}, target, {},
        "output[" + std::to_string(j) + "] = copy %" + std::to_string(v) + "@" + place_str(src));
  }
}

}  // namespace

CpuExecutable::CpuExecutable(const ir::Graph& g, const ScheduleOptions& options) {
  check_order(g);
  num_inputs_ = g.inputs.size();
  threads_ = options.threads > 0 ? options.threads : num_threads();
  const Plan plan = make_plan(g, options, threads_);
  Emitted e = StepEmitter(g, plan, options, threads_).run();
  steps_ = std::move(e.steps);
  operand_slots_ = std::move(e.operand_slots);
  step_text_ = std::move(e.step_text);
  constants_ = std::move(e.constants);
  output_aliases_ = std::move(e.output_aliases);
  fused_groups_ = e.fused_groups;
  for (ValueId v : g.outputs) output_types_.push_back(g.nodes[v].type);

  // Run-time tables: sized once here so run() never allocates.
  const size_t arena_base = num_inputs_ + g.outputs.size();
  arena_bytes_ = e.arena_bytes;
  arena_ = allocate_host(arena_bytes_, Device{});
  bases_.assign(arena_base + 1 + constants_.size(), nullptr);
  bases_[arena_base] = static_cast<std::byte*>(arena_->host_data());
  for (size_t k = 0; k < constants_.size(); ++k) {
    bases_[arena_base + 1 + k] = static_cast<std::byte*>(constants_[k]->host_data());
  }
  operand_ptrs_.assign(e.max_operands, nullptr);
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
