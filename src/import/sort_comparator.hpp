// What a stablehlo.sort comparator computes, found by running it. kiln's sort primitive has one
// ordering (JAX's: ascending, -0.0 equal to 0.0, NaNs equal to each other and after +inf,
// lexicographic over the first num_keys operands); a comparator is imported when it computes that
// ordering for some num_keys, whatever ops it spells it with.
#pragma once

#include <span>
#include <string_view>

#include "import/mlir_syntax.hpp"
#include "kiln/dtype.hpp"

namespace kiln::mlir {

// The num_keys for which `comparator` (arguments x0, y0, x1, y1, ... of the operands' dtypes)
// equals kiln's ordering on a fixed set of probes (every edge value of each dtype: ±0, ±inf, ±NaN,
// the extreme integers, with and without ties), or 0 when no num_keys does or the region uses an
// op the probe cannot run (constant, compare, select, and, or, xor, not are enough for what JAX
// writes).
int sort_comparator_keys(const Region& comparator, std::span<const DType> operand_dtypes,
                         std::string_view source_name);

}  // namespace kiln::mlir
