// A graph pass: `full` nodes become constants computed once at compile time.
#pragma once

#include <cstddef>

#include "kiln/ir.hpp"

namespace kiln::passes {

// Every `full` node whose value takes at most `max_bytes` becomes a `constant` node holding the
// filled literal, so an executable fills it once when compiled instead of on every run; equal fills
// (same dtype, shape and value) share one literal. Larger fills stay kernels: their bytes would
// otherwise live as long as the executable.
ir::Graph materialize_fills(const ir::Graph& g, size_t max_bytes = size_t{64} << 10);

}  // namespace kiln::passes
