// A readable summary of a checkpoint's state dict: what `kiln inspect FILE` prints for a Flax
// .msgpack or a .safetensors file (either read into a state dict by checkpoint::read_state).
#pragma once

#include <filesystem>
#include <string>

#include "kiln/serialization.hpp"

namespace kiln {

// The key tree, one entry per line indented by depth, each array as dtype[shape] (numpy's dtype
// names, as stored) followed by " crc32=xxxxxxxx": zlib's CRC-32 of its elements' bytes as stored
// (little-endian, row-major; a chunked array's joined), the same in either file format and what
// Python's zlib.crc32(np.asarray(x).tobytes()) gives; native values as Python shows them
// ("int 0"); then the totals: arrays, elements and bytes over the whole state, and over its
// top-level "params" when there is one.
std::string inspect_summary(const serialization::StateValue& v);
// The summary of a .msgpack or .safetensors file read in place (checkpoint::read_state_in_place):
// each array is read once, checksummed as it is read and released, so memory stays constant
// beyond the largest array whatever the file's size.
std::string inspect_file(const std::filesystem::path& path);

}  // namespace kiln
