// A graph pass: algebraic simplification, restricted to rewrites that are exact.
#pragma once

#include "kiln/ir.hpp"

namespace kiln::passes {

// Rewrites that leave every value bit-identical (kiln's training runs are reproducible byte for
// byte, and tests pin exact values), so none that reassociates or assumes finite values:
//   reshape(reshape(x))            -> reshape(x);  reshape(x) to x's own shape -> x
//   transpose(transpose(x))        -> one transpose; an identity permutation   -> x
//   broadcast_in_dim(broadcast(x)) -> one broadcast; to x's shape with identity dims -> x
//   convert(x) to x's dtype        -> x
//   x * 1, 1 * x                   -> x  (real floats and integers)
//   x - 0                          -> x  (x - (+0) is x also for x = -0)
//   x + (-0), (-0) + x             -> x  for real floats; x + 0, 0 + x -> x for integers.
//     x + (+0) stays for floats: -0 + +0 is +0, not x.
// "1" and "0" are splats: a `full`, a 0-d constant, or a broadcast_in_dim of either, whose bits
// are exactly that value in x's dtype. Complex and bool values are left alone.
// Caveat: x * 1 on a signaling NaN quiets it; kiln produces no signaling NaNs, so the rewrite is
// exact on every value kiln computes.
// Nodes made unread are left for dead_code_elimination.
ir::Graph simplify(const ir::Graph& g);

}  // namespace kiln::passes
