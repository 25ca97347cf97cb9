// The cpu compile's lowering pass: each step's kernel, chosen from the plan (schedule_plan.hpp)
// before any value has a place. A node stepped alone gets its lowering (kernel_table.cpp, or the
// absorbing kernel when it reads a fill or a broadcast's source), with the facts placement needs:
// whether it is elementwise (its result may take a dying operand's bytes) and its scratch bytes.
// A fusion group gets its fused step's description (fusion.hpp): its operands, its materialized
// results and its FusedParams. Placement (schedule_placement.hpp) and emission (schedule.hpp) read
// it; tested alone in tests/backend/schedule_passes_test.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/fusion.hpp"
#include "backend/cpu/schedule_plan.hpp"

namespace kiln::cpu {

// One fusion group lowered to one fused step.
struct FusedGroup {
  std::vector<ValueId> members;  // Groups::members of the group, in graph order
  int64_t head = -1;             // its head (fusion.hpp), or -1
  std::unique_ptr<FusedParams> params;
  size_t scratch_bytes = 0;  // fused_scratch_bytes(*params)
  // Step operands: the values read from outside the group (roots; the head's inputs first), then
  // the materialized results (members read outside the group or outputs, then the sums).
  std::vector<ValueId> external;
  std::vector<ValueId> materialized;
  std::vector<bool> external_cyclic;  // per external: read as a broadcast source (":bcast")
  // describe()'s pieces: the head's chunking, the fills its members read, its ops and values.
  std::string head_text, fills, names, values;

  ValueId last() const { return members.back(); }
};

struct Lowering {
  std::vector<Lowered> node;        // per node stepped alone: its kernel; others: empty
  std::vector<FusedGroup> groups;   // per group of the plan (a dissolved one: empty)
  size_t num_fused_groups() const;  // the groups that are a step
};

// `threads`: the threads a big enough fused group's tiles are split over (group_threads).
Lowering lower_plan(const ir::Graph& g, const Plan& plan, int threads);

}  // namespace kiln::cpu
