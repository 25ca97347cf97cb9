// Text forms of arrays, as numpy and JAX print them.
#pragma once

#include <string>

#include "kiln/dtype.hpp"
#include "kiln/shape.hpp"

namespace kiln {

// numpy's str(): "[[1. 2.]\n [3. 4.]]", "0.947667", "[ True False]".
std::string format_str(const void* host_data, DType dtype, const Shape& shape);
// JAX's repr(): "Array([[1., 2.]], dtype=float32)".
std::string format_repr(const void* host_data, DType dtype, const Shape& shape);

}  // namespace kiln
