// stablehlo.while, imported by unrolling. kiln's IR has no control flow; JAX writes while loops
// whose trip count is fixed by the program (lax.fori_loop with constant bounds: threefry2x32's
// five rounds on CPU, random.choice's binary search), so such a loop is unrolled at import: the
// loop-carried values computable from constants alone (the counter) are folded to literals
// before each test of the condition, the condition must then be a known boolean, and the body is
// inlined once per iteration, its other values ordinary graph values. A loop whose condition
// depends on data, or that runs past kMaxWhileIterations, is refused (Unsupported).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "import/mlir_syntax.hpp"
#include "kiln/ir.hpp"

namespace kiln::mlir {

// The most body instances one while loop unrolls to (the importer's node budget bounds the total).
inline constexpr int64_t kMaxWhileIterations = 10'000;

// Lowers one instance of a region into the graph: binds its arguments to `args`, lowers its ops
// and returns the values its stablehlo.return names.
using RegionLowering =
    std::function<std::vector<ir::ValueId>(const Region&, const std::vector<ir::ValueId>& args)>;

// The while op `op` (regions: cond, body; both take the loop-carried values) with initial values
// `inits`, unrolled into `g`: returns the loop-carried values after the last iteration.
std::vector<ir::ValueId> unroll_while(const Op& op, const std::vector<ir::ValueId>& inits,
                                      ir::Graph& g, const RegionLowering& lower_region,
                                      std::string_view source_name);

}  // namespace kiln::mlir
