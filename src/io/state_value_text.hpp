// How state-dict values are named in messages and summaries: arrays as dtype[shape] with numpy's
// dtype names (what the file says), native values with their Python type.
#pragma once

#include <string>

#include "kiln/serialization.hpp"

namespace kiln::serialization {

// "float32[2,3]", "int32[]".
std::string array_type(DType dtype, const Shape& shape);
// A native value as Python would show it: "int 5", "float 0.5", "bool True", "str 'x'", "None",
// "complex (1+2j)".
std::string native_text(const StateValue& v);
// What a value is, for error messages: "an array float32[2,3]", "a map with 2 entries", "int 5".
std::string describe(const StateValue& v);
// The same for a template tree: "an array float32[2,3]", "a dict", "a list of 3", "None".
std::string describe(const Tree& t);

}  // namespace kiln::serialization
