// Flax's chunked form of arrays over 2**30 bytes (flax/serialization.py _chunk / _unchunk):
// {"__msgpack_chunked_array__": True, "shape": {"0": d0, ...}, "chunks": {"0": flat[0:cs], ...}}
// with cs = max(1, 2**30 / itemsize) elements per 1-d chunk.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "io/flax_format.hpp"
#include "kiln/serialization.hpp"

namespace kiln::serialization {

// The chunked form of `a`; max_chunk_bytes is Flax's MAX_CHUNK_SIZE (a parameter for tests).
StateValue chunk_array(const Array& a, size_t max_chunk_bytes = kMaxChunkBytes);
// Whether v is a map holding the chunked-array marker (Flax tests only the key's presence).
bool is_chunked_array(const StateValue& v);
// dtype and shape of a well-formed chunked array, without joining its chunks; nullopt otherwise.
std::optional<std::pair<DType, Shape>> chunked_array_type(const StateValue& v);
// Joins the chunks into one array; a malformed chunked map is a ValueError naming `where`.
Array unchunk_array(const StateValue& v, const std::string& where);

}  // namespace kiln::serialization
