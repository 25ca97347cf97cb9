// Output arrays a compiled graph writes again instead of allocating: jit's call path
// (src/transforms/jit.cpp) and the SPMD program's stages (src/spmd/program.cpp) keep, per output,
// the last few arrays they returned.
#pragma once

#include <memory>
#include <span>

#include "core/array_impl.hpp"
#include "kiln/ir.hpp"

namespace kiln {

// How many arrays per output a pool keeps for reuse: two, so that `x = f(x)` loops (the caller
// holds one, the pool writes the other) never allocate.
constexpr size_t kOutputPoolDepth = 2;

// The array for an output of type `t` on `device`. A training loop passes each step's outputs to
// the next call and drops them after it, so the arrays of the call before last are dead by the
// time this call runs; writing into them again means a steady loop allocates nothing for its
// outputs. An array is reused only when the pool (`slots`, kOutputPoolDepth of them) holds its last
// reference and its buffer's (no view of it escaped), so nobody can observe the overwrite.
Array take_output(std::span<std::shared_ptr<ArrayImpl>> slots, const ir::ValueType& t,
                  Device device);

}  // namespace kiln
