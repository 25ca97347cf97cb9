// A graph pass: common-subexpression elimination.
#pragma once

#include "kiln/ir.hpp"

namespace kiln::passes {

// Merges nodes that compute the same value: the same primitive, the same (already merged) inputs,
// equal attributes and the same type. Constants merge when their literal bytes are equal. Readers
// of a duplicate (graph outputs included) read the first such node instead, and the duplicate is
// dropped; the survivor keeps its own source location.
//
// Parameters never merge: each is a distinct input. threefry2x32 does merge: kiln's random numbers
// are counter-based, a pure function of the key and counter inputs (no hidden state), so two
// threefry nodes on the same inputs produce the same bits and computing them once is exact.
ir::Graph common_subexpression_elimination(const ir::Graph& g);

}  // namespace kiln::passes
