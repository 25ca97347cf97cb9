// The cpu compile's placement pass: where every value's bytes live, given the plan
// (schedule_plan.hpp) and the lowering pass's facts (schedule_lowering.hpp: which kernels are
// elementwise, their scratch bytes, each fused step's operands and results). Walking the steps in
// order: a parameter is its input buffer, a constant its literal, a view its root's bytes, a graph
// output the caller's output buffer (or a donated input's bytes), everything else arena bytes
// (memory_plan.hpp), taken over from an operand that dies at the step when the kernel may
// overwrite it. Scratch is the step's own until the step ends. Emission (schedule.hpp) reads the
// result; tested alone in tests/backend/schedule_passes_test.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/cpu/schedule_lowering.hpp"

namespace kiln::cpu {

enum class Region : uint8_t { none, input, output, arena, constant };

struct Place {
  Region region = Region::none;
  uint32_t index = 0;  // input, output or constant number
  size_t offset = 0;   // arena offset
  bool operator==(const Place&) const = default;
};

// As describe() prints it: input[k], output[j], const[c], arena+offset.
std::string place_str(const Place& p);

inline constexpr ValueId kNoValue = static_cast<ValueId>(-1);

struct Placement {
  std::vector<Place> place;          // per value; none: not needed
  std::vector<ValueId> in_place_of;  // per value: the dying operand whose arena bytes it took
  std::vector<int> donated;          // per value: the donated input whose bytes it took, or -1
  std::vector<size_t> scratch;       // per step, at its node (a group's: its last member's): its
                                     // scratch's arena offset, when it has scratch bytes
  std::vector<int> output_aliases;   // per output: the donated input it is written into, or -1;
                                     // empty: no input is donated
  std::vector<ValueId> constants;    // the constant nodes, in the order of their const[c] places
  size_t arena_bytes = 0;
};

// donated_inputs: kiln::CompileOptions::donated_inputs (ScheduleOptions). An output may take a
// donated input's bytes when the input has the same size and no later step reads it (nor this
// step, unless it reads those elements before writing them); inputs that an output returns
// unchanged (or through a view) are never given away.
Placement place_values(const ir::Graph& g, const Plan& plan, const Lowering& lowering,
                       const std::vector<bool>& donated_inputs);

}  // namespace kiln::cpu
