// The compile-time check every non-cpu backend runs before sending a graph anywhere: the first node
// the backend cannot run is a kiln::Unsupported naming the primitive, the dtype, the user's source
// line and the remedy — not a failure deep inside a vendor compiler.
#pragma once

#include "kiln/backend.hpp"
#include "kiln/ir.hpp"

namespace kiln {

// Throws Unsupported for the first node of `g` whose primitive `backend.supports()` refuses on its
// result dtype or on an operand's dtype.
void check_supported(const ir::Graph& g, const Backend& backend);

}  // namespace kiln
