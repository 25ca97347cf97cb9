#include "backend/cpu/schedule.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "backend/cpu/fusion.hpp"
#include "backend/cpu/lowerings.hpp"
#include "backend/cpu/schedule_lowering.hpp"
#include "backend/cpu/schedule_placement.hpp"
#include "backend/cpu/schedule_plan.hpp"
#include "backend/cpu/threads.hpp"
#include "kiln/error.hpp"

namespace kiln::cpu {
namespace {

using ir::Prim;

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

// Every needed parameter names an input and every needed constant holds a host literal of its
// size: they are placed there, not computed.
void check_leaves(const ir::Graph& g, const Liveness& l) {
  const size_t num_inputs = g.inputs.size();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& node = g.nodes[i];
    if (!l.needed[i]) continue;
    const std::string value = "%" + std::to_string(i);
    if (node.prim == Prim::parameter &&
        (node.attrs.index < 0 || static_cast<size_t>(node.attrs.index) >= num_inputs)) {
      throw Error(message("graph " + g.name + ": parameter " + value + " has index " +
                              std::to_string(node.attrs.index) + " but the graph has " +
                              std::to_string(num_inputs) + " inputs",
                          node.loc));
    }
    if (node.prim == Prim::constant) {
      const auto& lit = node.attrs.literal;
      if (!lit || lit->bytes() < byte_size(node.type) ||
          (byte_size(node.type) > 0 && lit->host_data() == nullptr)) {
        throw Error(message("graph " + g.name + ": constant " + value + " (" + node.type.str() +
                                ") has no host literal of its size",
                            node.loc));
      }
    }
  }
}

// Step emission: one step per node or fusion group, in the plan's order, from its lowering and
// the places of its operands and results, then the copies of outputs not written in place.
class Emitter {
 public:
  Emitter(const ir::Graph& g, const Plan& plan, const Placement& placement)
      : g_(g),
        plan_(plan),
        p_(placement),
        num_inputs_(g.inputs.size()),
        arena_base_(static_cast<uint32_t>(g.inputs.size() + g.outputs.size())) {}

  Emitted run(Lowering&& lowering) {
    for_each_step(
        g_, plan_, [&](size_t i) { emit_node(i, std::move(lowering.node[i])); },
        [&](size_t grp) { emit_group(lowering.groups[grp]); });
    emit_output_copies();
    for (ValueId c : p_.constants) out_.constants.push_back(g_.nodes[c].attrs.literal);
    out_.output_aliases = p_.output_aliases;
    out_.arena_bytes = p_.arena_bytes;
    out_.fused_groups = lowering.num_fused_groups();
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

  // The place of the scratch of the step at node i, and its text.
  Place scratch_of(size_t i) const { return {Region::arena, 0, p_.scratch[i]}; }
  std::string scratch_text(size_t i, size_t bytes) const {
    return place_str(scratch_of(i)) + " " + std::to_string(bytes) + "B";
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

  void emit_node(size_t i, Lowered lowered);
  void emit_group(FusedGroup& f);
  void emit_output_copies();

  const ir::Graph& g_;
  const Plan& plan_;
  const Placement& p_;
  const size_t num_inputs_;
  const uint32_t arena_base_;
  Emitted out_;
};

// One node, one step: its operands where they were placed (an absorbed fill is in the kernel's
// params, a broadcast's source is read in place of the broadcast).
void Emitter::emit_node(size_t i, Lowered lowered) {
  const ir::Node& node = g_.nodes[i];
  const std::vector<OperandRead>& reading = plan_.absorbed.operand[i];
  const std::vector<ValueId>& reads = plan_.absorbed.reads[i];
  const std::vector<ValueId>& root = plan_.live.root;
  std::vector<Place> ins;
  std::string line = "%" + std::to_string(i) + " = " + std::string(ir::name(node.prim)) + " " +
                     node.type.str() + " (";
  for (size_t k = 0, r = 0; k < node.inputs.size(); ++k) {
    line += k ? ", %" : "%";
    const OperandRead::Kind kind = reading.empty() ? OperandRead::Kind::dense : reading[k].kind;
    if (kind == OperandRead::Kind::fill) {
      line += std::to_string(node.inputs[k]) + ":fill";
      continue;
    }
    const ValueId u = reads[r++];
    ins.push_back(p_.place[root[u]]);
    if (kind != OperandRead::Kind::dense) line += std::to_string(node.inputs[k]) + ":bcast %";
    line += std::to_string(u) + "@" + place_str(p_.place[root[u]]);
  }
  line += ") -> " + place_str(p_.place[i]);
  if (p_.in_place_of[i] != kNoValue) line += " (in place)";
  if (p_.donated[i] >= 0) line += " (into donated input[" + std::to_string(p_.donated[i]) + "])";
  if (lowered.scratch_bytes > 0) line += " scratch " + scratch_text(i, lowered.scratch_bytes);
  add_step(std::move(lowered), ins, p_.place[i], scratch_of(i), line);
}

// One step for a fusion group, at its last member (fusion.hpp): its operands, then its
// materialized results.
void Emitter::emit_group(FusedGroup& f) {
  const ValueId last = f.last();
  std::vector<Place> ins;
  std::string line = "%" + std::to_string(last) + " = fused[" + f.names + "] " +
                     g_.nodes[last].type.str() + " {" + f.head_text + f.values + "} (";
  for (size_t k = 0; k < f.external.size(); ++k) {
    ins.push_back(p_.place[f.external[k]]);
    line += (k ? ", %" : "%") + std::to_string(f.external[k]) +
            (f.external_cyclic[k] ? ":bcast@" : "@") + place_str(p_.place[f.external[k]]);
  }
  line += (f.external.empty() && !f.fills.empty() ? f.fills.substr(2) : f.fills) + ") -> ";
  std::string notes;  // results in place of an operand or in a donated input
  for (size_t k = 0; k < f.materialized.size(); ++k) {
    const ValueId m = f.materialized[k];
    ins.push_back(p_.place[m]);
    line += (k ? ", %" : "%") + std::to_string(m) + "@" + place_str(p_.place[m]);
    if (p_.in_place_of[m] != kNoValue)
      notes += ", %" + std::to_string(m) + " in place of %" + std::to_string(p_.in_place_of[m]);
    if (p_.donated[m] >= 0)
      notes +=
          ", %" + std::to_string(m) + " into donated input[" + std::to_string(p_.donated[m]) + "]";
  }
  line += notes + ", tile " + std::to_string(f.params->tile);
  if (f.params->threads > 1) line += ", " + std::to_string(f.params->threads) + " threads";
  if (f.scratch_bytes > 0) line += ", scratch " + scratch_text(last, f.scratch_bytes);
  Lowered lowered;
  lowered.fn = &fused_kernel;
  lowered.scratch_bytes = f.scratch_bytes;
  lowered.params = std::move(f.params);
  // The results are trailing operands; `out` is unused (the arena's base).
  add_step(std::move(lowered), ins, Place{Region::arena, 0, 0}, scratch_of(last), line);
}

// Outputs not written in place: parameters, constants, views and repeated values.
void Emitter::emit_output_copies() {
  for (size_t j = 0; j < g_.outputs.size(); ++j) {
    const ValueId v = g_.outputs[j];
    const Place target{Region::output, static_cast<uint32_t>(j), 0};
    const Place src = p_.place[plan_.live.root[v]];
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

Emitted emit_steps(const ir::Graph& g, const Plan& plan, Lowering lowering,
                   const Placement& placement) {
  return Emitter(g, plan, placement).run(std::move(lowering));
}

CpuExecutable::CpuExecutable(const ir::Graph& g, const ScheduleOptions& options) {
  check_order(g);
  num_inputs_ = g.inputs.size();
  threads_ = options.threads > 0 ? options.threads : num_threads();
  // The passes, each over the graph and the passes before it.
  const Plan plan = make_plan(g, options.fuse, options.min_fused_elements, threads_);
  check_leaves(g, plan.live);
  Lowering lowering = lower_plan(g, plan, threads_);
  const Placement placement = place_values(g, plan, lowering, options.donated_inputs);
  Emitted e = emit_steps(g, plan, std::move(lowering), placement);
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
