// One VJP rule per differentiable primitive (Grad::rule in its registry row), in one table
// (vjp_rules.cpp).
#pragma once

#include <array>
#include <span>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/ir.hpp"

namespace kiln::autodiff {

struct VjpArgs {
  const ir::Node& node;
  std::span<const Array> in;  // the primal operands
  const Array& out;           // the primal result
  const Array& g;             // the cotangent of the result
};

using VjpRule = std::vector<Array> (*)(const VjpArgs&);

// The first primitive whose row and rule disagree — Grad::rule without a rule, or a rule for a
// primitive whose row says zero or none — or kNumPrims when none does. vjp_rules.cpp
// static_asserts it on its table: a differentiable primitive cannot go without a rule.
constexpr int first_unmatched_rule(std::span<const VjpRule, ir::kNumPrims> rules) {
  for (int p = 0; p < ir::kNumPrims; ++p) {
    const bool has_rule = rules[static_cast<size_t>(p)] != nullptr;
    if (has_rule != (ir::info(static_cast<ir::Prim>(p)).grad == ir::Grad::rule)) return p;
  }
  return ir::kNumPrims;
}

// The table, indexed by primitive.
const std::array<VjpRule, ir::kNumPrims>& vjp_rules();

// Cotangents of node's operands, one per operand; an empty Array means zero (no contribution).
// The node's primitive has a rule (Grad::rule); asking for another is a GradError.
std::vector<Array> vjp(const VjpArgs& args);

}  // namespace kiln::autodiff
