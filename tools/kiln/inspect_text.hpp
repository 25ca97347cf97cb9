// The text `kiln inspect FILE` prints for a checkpoints::Summary: the key tree, one entry per line
// indented by depth, each array as dtype[shape] (numpy's dtype names, as stored) and its
// " crc32=xxxxxxxx"; native values as Python shows them ("int 0"); then the totals over the whole
// state and over its top-level "params" when there is one.
#pragma once

#include <string>

#include "kiln/checkpoints.hpp"

namespace kiln::cli {

std::string inspect_text(const checkpoints::Summary& summary);

}  // namespace kiln::cli
