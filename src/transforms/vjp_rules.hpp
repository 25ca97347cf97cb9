// One VJP rule per differentiable primitive, in one table (vjp_rules.cpp).
#pragma once

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

// Cotangents of node's operands, one per operand; an empty Array means zero (no contribution).
std::vector<Array> vjp(const VjpArgs& args);

}  // namespace kiln::autodiff
