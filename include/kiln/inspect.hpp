// A readable summary of a checkpoint's state dict (what `kiln inspect FILE.msgpack` prints).
#pragma once

#include <string>

#include "kiln/serialization.hpp"

namespace kiln {

// The key tree, one entry per line indented by depth, each array as dtype[shape] (numpy's dtype
// names, as stored); native values as Python shows them ("int 0"); then the totals: arrays,
// elements and bytes over the whole state, and over its top-level "params" when there is one.
std::string inspect_summary(const serialization::StateValue& v);

}  // namespace kiln
