// Constants of Flax's msgpack format (flax/serialization.py), shared by the codec, the Tree
// conversion and the inspector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kiln::serialization {

// _MsgpackExtType: ext type codes of the values msgpack has no native form for.
inline constexpr int8_t kExtNdarray = 1;
inline constexpr int8_t kExtComplex = 2;
inline constexpr int8_t kExtNumpyScalar = 3;

// Arrays over MAX_CHUNK_SIZE bytes are written as {kChunkedMarker: True, "shape": {"0": d0, ...},
// "chunks": {"0": flat[0:cs], ...}} because msgpack objects stop at 2**31 - 1 bytes.
inline constexpr size_t kMaxChunkBytes = size_t{1} << 30;
inline constexpr std::string_view kChunkedMarker = "__msgpack_chunked_array__";

}  // namespace kiln::serialization
