// How a scope turns its path and a call count into an rng: Flax's LazyRng suffix folded in with
// flax.core.scope._fold_in_static (flax_fix_rng_separator=False, Flax's default).
//
//   data = the suffix elements concatenated, no separator: strings as UTF-8, integers big-endian
//          in the fewest bytes (0 is no bytes);
//   key  = random::fold_in(stream_key, uint32 of the first 4 bytes of SHA-1(data), big-endian).
//
// Internal to kiln (src/), so tests can pin each step.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kiln::nn::detail {

// SHA-1 of `bytes` (OpenSSL's libcrypto).
std::array<uint8_t, 20> sha1(std::string_view bytes);

// The bytes Flax hashes for suffix (names..., count): names concatenated, then count big-endian in
// the fewest bytes, as Python's int.to_bytes((n.bit_length() + 7) // 8, "big").
std::string static_fold_bytes(std::span<const std::string> names, uint64_t count);

// The uint32 folded into the stream key for that suffix: SHA-1's first 4 bytes, big-endian.
uint32_t static_fold_data(std::span<const std::string> names, uint64_t count);

}  // namespace kiln::nn::detail
