// What an Array holds: a concrete buffer, or the identity of a value in a trace being recorded.
#pragma once

#include <cstdint>
#include <memory>
#include <source_location>

#include "kiln/array.hpp"
#include "kiln/backend.hpp"
#include "kiln/dtype.hpp"
#include "kiln/shape.hpp"

namespace kiln {

struct ShardedValue;  // core/sharded_value.hpp

struct ArrayImpl {
  DType dtype = DType::float32;
  Shape shape;
  std::shared_ptr<Buffer> buffer;  // concrete arrays
  uint64_t trace_id = 0;           // tracers: the trace that records them (0: concrete)
  uint32_t value = 0;              // tracers: the node in that trace's graph
  std::source_location created;    // tracers: where the op that made them was called
  // Donated arrays: the jitted call that took the buffer (JitOptions::donate_argnums); the buffer
  // is then null and every read is a ValueError (live_buffer).
  std::source_location donated_to;
  // Arrays placed over a mesh: the sharding and each device's shard (`buffer` is then null until
  // something reads the array whole, which assembles it once on the mesh's first device).
  std::shared_ptr<ShardedValue> sharded;
};

// An Array's internals, for the library's own code (Array's representation is not its API).
struct ArrayAccess {
  static const std::shared_ptr<ArrayImpl>& impl(const Array& a) { return a.impl_; }
  static Array wrap(std::shared_ptr<ArrayImpl> impl) { return Array(std::move(impl)); }
};

// The buffer of a concrete array; a ValueError naming both calls when a jitted call it was donated
// to has taken it (`loc`: where it is used now).
const std::shared_ptr<Buffer>& live_buffer(const ArrayImpl& impl, const std::source_location& loc);

}  // namespace kiln
