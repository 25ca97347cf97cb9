// dense<...> literals: their elements read as the bytes of their tensor type. MLIR writes floats
// as decimals or as their bits in hex (0x7F800000), integers in decimal, i1 as true/false, and
// whole buffers as raw little-endian hex strings (dense<"0x0000803F">).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "import/mlir_syntax.hpp"

namespace kiln::mlir {

// The literal's scalar elements in row-major order (nested lists flattened).
std::vector<const Attr*> dense_elements(const Attr& dense);

struct DenseBytes {
  std::vector<uint8_t> bytes;  // little-endian, as kiln stores arrays
  bool splat = false;          // one element's bytes stand for every element
};
// The bytes of `dense` (an Attr::Kind::dense) in its type's dtype. A wrong element count, an
// element out of its type's range or of the wrong kind is a ValueError at its position.
DenseBytes dense_bytes(const Attr& dense, std::string_view source_name);

}  // namespace kiln::mlir
