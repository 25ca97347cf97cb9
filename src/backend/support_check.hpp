// The compile-time check every backend runs before compiling a graph: the first node the backend
// cannot run is a kiln::Unsupported naming the primitive, the dtype, the user's source line and the
// remedy — not a failure deep inside a kernel or a vendor compiler.
#pragma once

#include <string_view>

#include "kiln/backend.hpp"
#include "kiln/ir.hpp"

namespace kiln {

// Throws Unsupported for the first node of `g` whose primitive `backend.supports()` refuses on its
// result dtype or on an operand's dtype.
void check_supported(const ir::Graph& g, const Backend& backend);

// Throws kiln::Error when a backend's kernel table lets p run on dtypes its registry row refuses: a
// table may only narrow the row. Backends call it for every row as they build their tables.
void check_narrows(ir::Prim p, ir::DTypeMask kernels, std::string_view platform);

}  // namespace kiln
