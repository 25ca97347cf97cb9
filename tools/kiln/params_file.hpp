// --params FILE for eval, predict and export: Flax msgpack or safetensors, checked against the
// model's own parameters.
#pragma once

#include <string>

#include "kiln/tree.hpp"

namespace kiln_tool {

// The parameters in `path` restored onto `templ`. The format comes from the extension (.msgpack,
// .safetensors) and is checked against the file's first bytes; a file of another name is read by
// its first bytes. A file that cannot be decoded fails with the decoder's message (file and byte
// offset); one that decodes but does not fit `templ` adds that it may be from a run of another
// model than --model `model`.
kiln::Tree load_params(const std::string& path, const kiln::Tree& templ, const std::string& model);

}  // namespace kiln_tool
