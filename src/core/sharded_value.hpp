// What an Array placed over a mesh holds: its sharding and each device's shard.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/sharding.hpp"

namespace kiln {

struct ShardedValue {
  ShardedValue(NamedSharding s, std::vector<Array> parts)
      : sharding(std::move(s)), shards(std::move(parts)) {}
  NamedSharding sharding;
  std::vector<Array> shards;  // one per mesh device, in mesh order
  // The whole array on the mesh's first device, assembled the first time something reads the
  // array whole (an eager op, printing, to_vector).
  std::once_flag assembled;
  std::shared_ptr<Buffer> whole;
};

// Copies the box [starts, starts + sizes) of a row-major array of `shape` (itemsize bytes each)
// between `whole` and a dense `piece`: out of whole (to_piece) or into it.
void copy_box(std::byte* whole, std::byte* piece, const Shape& shape, size_t itemsize,
              const std::vector<int64_t>& starts, const std::vector<int64_t>& sizes, bool to_piece);

// An array of `global` type made of `shards` (one per mesh device, each of the sharding's shard
// shape, on its device).
Array make_sharded(NamedSharding sharding, std::vector<Array> shards, DType dtype, Shape global);

// The shards of x laid out by `sharding`: its own when it already has that sharding, else sliced
// from its host copy. x is concrete; the sharding has been checked against its shape.
std::vector<Array> shards_for(const Array& x, const NamedSharding& sharding);

}  // namespace kiln
