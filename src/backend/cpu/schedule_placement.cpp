#include "backend/cpu/schedule_placement.hpp"

#include <algorithm>
#include <span>

#include "backend/cpu/memory_plan.hpp"

namespace kiln::cpu {

using ir::Prim;

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

namespace {

// The walk over the steps that places their results and scratch, reusing and donating bytes.
class Placer {
 public:
  Placer(const ir::Graph& g, const Plan& plan, const Lowering& lowering)
      : g_(g), a_(plan.absorbed), l_(plan.live), lowering_(lowering) {
    const size_t n = g.nodes.size();
    p_.place.assign(n, Place{});
    p_.in_place_of.assign(n, kNoValue);
    p_.donated.assign(n, -1);
    p_.scratch.assign(n, 0);
  }

  Placement run(const Plan& plan, const std::vector<bool>& donated_inputs) {
    place_leaves();
    plan_donation(donated_inputs);
    for_each_step(
        g_, plan, [&](size_t i) { place_node(i); },
        [&](size_t grp) { place_group(lowering_.groups[grp]); });
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (l_.needed[i] && l_.is_view[i]) p_.place[i] = p_.place[l_.root[i]];
    }
    p_.arena_bytes = arena_.size();
    return std::move(p_);
  }

 private:
  void place_leaves();
  void plan_donation(const std::vector<bool>& donated);
  template <class F>
  int donated_input_for(size_t i, size_t j, const F& overwrites_safely);
  void place_node(size_t i);
  bool overwrites_safely(const FusedGroup& f, ValueId p, size_t m_pos) const;
  void place_group(const FusedGroup& f);
  size_t place_scratch(size_t step, size_t bytes);
  void release_dying(const std::vector<ValueId>& dying, std::span<const ValueId> kept);

  const ir::Graph& g_;
  const Absorption& a_;
  const Liveness& l_;
  const Lowering& lowering_;
  std::vector<bool> aliasable_;  // per input: donated and not yet given to an output
  ArenaPlan arena_;
  Placement p_;
};

// Parameters take their input buffers and constants their literals, numbered in graph order.
void Placer::place_leaves() {
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    const ir::Node& node = g_.nodes[i];
    if (!l_.needed[i]) continue;
    if (node.prim == Prim::parameter) {
      p_.place[i] = {Region::input, static_cast<uint32_t>(node.attrs.index), 0};
    } else if (node.prim == Prim::constant) {
      p_.place[i] = {Region::constant, static_cast<uint32_t>(p_.constants.size()), 0};
      p_.constants.push_back(static_cast<ValueId>(i));
    }
  }
}

// Donation: output j may be written into donated input k once k has no reader left. Inputs that
// an output copies at the end (returned unchanged, or through a view) are read then: never.
void Placer::plan_donation(const std::vector<bool>& donated) {
  const size_t num_inputs = g_.inputs.size();
  aliasable_.assign(num_inputs, false);
  for (size_t k = 0; k < num_inputs && k < donated.size(); ++k) aliasable_[k] = donated[k];
  for (ValueId v : g_.outputs) {
    const ir::Node& r = g_.nodes[l_.root[v]];
    if (r.prim == Prim::parameter && r.attrs.index >= 0 &&
        static_cast<size_t>(r.attrs.index) < num_inputs)
      aliasable_[static_cast<size_t>(r.attrs.index)] = false;
  }
  if (std::find(aliasable_.begin(), aliasable_.end(), true) != aliasable_.end())
    p_.output_aliases.assign(g_.outputs.size(), -1);
}

// The donated input whose bytes output j, written by the step at node position i, can take, or
// -1: same size, read by no later step, and read by this step only where `overwrites_safely(p)`
// says it reads those elements before writing them (index for index, elementwise).
template <class F>
int Placer::donated_input_for(size_t i, size_t j, const F& overwrites_safely) {
  const size_t bytes = byte_size(g_.nodes[g_.outputs[j]].type);
  for (size_t k = 0; k < g_.inputs.size(); ++k) {
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

size_t Placer::place_scratch(size_t step, size_t bytes) {
  if (bytes > 0) p_.scratch[step] = arena_.allocate(bytes);
  return bytes;
}

// After a step: its scratch was released; the operands that died there return their bytes, except
// those a result took over.
void Placer::release_dying(const std::vector<ValueId>& dying, std::span<const ValueId> kept) {
  for (ValueId r : dying) {
    if (std::find(kept.begin(), kept.end(), r) == kept.end())
      arena_.release(p_.place[r].offset, byte_size(g_.nodes[r].type));
  }
}

// One node's step. Its result: the output buffer itself when the value is a graph output (or a
// donated input's bytes); else arena bytes, taken over from an operand that dies here when the
// kernel is elementwise and reads that operand densely.
void Placer::place_node(size_t i) {
  const ir::Node& node = g_.nodes[i];
  const Lowered& lowered = lowering_.node[i];
  const size_t bytes = byte_size(node.type);
  // Only a densely read operand may be overwritten by the result: a cyclic or scalar source is
  // read again after its first elements are written.
  std::vector<ValueId> dense_reads;
  for_each_read(g_, a_, i, [&](size_t, ValueId u, OperandRead::Kind kind) {
    if (kind == OperandRead::Kind::dense) dense_reads.push_back(l_.root[u]);
  });
  auto read_densely = [&](ValueId r) {
    return std::find(dense_reads.begin(), dense_reads.end(), r) != dense_reads.end();
  };
  std::vector<ValueId> dying;
  for (ValueId u : a_.reads[i]) {
    const ValueId r = l_.root[u];
    if (p_.place[r].region == Region::arena && l_.last_use[r] == static_cast<int64_t>(i) &&
        std::find(dying.begin(), dying.end(), r) == dying.end()) {
      dying.push_back(r);
    }
  }
  if (l_.output_of[i] >= 0) {
    const auto j = static_cast<size_t>(l_.output_of[i]);
    p_.place[i] = {Region::output, static_cast<uint32_t>(j), 0};
    if (!p_.output_aliases.empty()) {
      p_.donated[i] = donated_input_for(
          i, j, [&](ValueId p) { return lowered.elementwise && read_densely(p); });
      p_.output_aliases[j] = p_.donated[i];
    }
  } else {
    if (lowered.elementwise) {
      for (ValueId r : dying) {
        if (byte_size(g_.nodes[r].type) == bytes && bytes > 0 && read_densely(r)) {
          p_.in_place_of[i] = r;
          break;
        }
      }
    }
    p_.place[i] = p_.in_place_of[i] != kNoValue ? p_.place[p_.in_place_of[i]]
                                                : Place{Region::arena, 0, arena_.allocate(bytes)};
  }
  if (place_scratch(i, lowered.scratch_bytes) > 0)
    arena_.release(p_.scratch[i], lowered.scratch_bytes);
  release_dying(dying, {&p_.in_place_of[i], 1});
}

// Within a tile the members run in order, so result m may overwrite a value p the group reads (a
// dying operand, or a donated input) when every member reading p reads it densely and runs no
// later than m's writer — and the head, which reads its operands chunk by chunk while the members
// write theirs, does not read p.
bool Placer::overwrites_safely(const FusedGroup& f, ValueId p, size_t m_pos) const {
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

// A fused step's materialized results: an output's buffer (or a donated input's bytes), a dying
// operand's bytes where overwrites_safely allows, else fresh bytes, allocated while the operands
// are still live so that a result never shares them.
void Placer::place_group(const FusedGroup& f) {
  const ValueId last = f.last();
  std::vector<ValueId> dying;
  for (ValueId r : f.external) {
    if (p_.place[r].region == Region::arena && l_.last_use[r] == static_cast<int64_t>(last))
      dying.push_back(r);
  }
  std::vector<ValueId> overwritten;  // dying operands a result took in place
  for (ValueId m : f.materialized) {
    const size_t m_pos =  // a sum: after every member
        static_cast<size_t>(std::find(f.members.begin(), f.members.end(), m) - f.members.begin());
    const size_t bytes = byte_size(g_.nodes[m].type);
    if (l_.output_of[m] < 0) {
      auto in_place = std::find_if(dying.begin(), dying.end(), [&](ValueId r) {
        return byte_size(g_.nodes[r].type) == bytes && bytes > 0 && m_pos < f.members.size() &&
               std::find(overwritten.begin(), overwritten.end(), r) == overwritten.end() &&
               overwrites_safely(f, r, m_pos);
      });
      if (in_place != dying.end()) {
        p_.place[m] = p_.place[*in_place];
        p_.in_place_of[m] = *in_place;
        overwritten.push_back(*in_place);
      } else {
        p_.place[m] = Place{Region::arena, 0, arena_.allocate(bytes)};
      }
      continue;
    }
    const auto j = static_cast<size_t>(l_.output_of[m]);
    p_.place[m] = Place{Region::output, static_cast<uint32_t>(j), 0};
    if (p_.output_aliases.empty()) continue;
    p_.donated[m] =
        donated_input_for(last, j, [&](ValueId p) { return overwrites_safely(f, p, m_pos); });
    p_.output_aliases[j] = p_.donated[m];
  }
  if (place_scratch(last, f.scratch_bytes) > 0) arena_.release(p_.scratch[last], f.scratch_bytes);
  release_dying(dying, overwritten);
}

}  // namespace

Placement place_values(const ir::Graph& g, const Plan& plan, const Lowering& lowering,
                       const std::vector<bool>& donated_inputs) {
  return Placer(g, plan, lowering).run(plan, donated_inputs);
}

}  // namespace kiln::cpu
