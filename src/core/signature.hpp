// Hashes of what a cached executable is keyed on: value types and devices.
#pragma once

#include <cstddef>

#include "kiln/device.hpp"
#include "kiln/ir.hpp"
#include "kiln/tree.hpp"

namespace kiln {

inline size_t hash_of(const ir::ValueType& t) {
  size_t h = static_cast<size_t>(t.dtype) * 31 + static_cast<size_t>(t.shape.rank());
  for (int64_t d : t.shape) hash_combine(h, static_cast<size_t>(d));
  return h;
}

inline size_t hash_of(const Device& d) {
  size_t h = reinterpret_cast<size_t>(d.backend());
  hash_combine(h, static_cast<size_t>(d.id()));
  return h;
}

}  // namespace kiln
