// Counter-based PRNG, bit-compatible with JAX's threefry2x32 in its partitionable mode
// (jax_threefry_partitionable=True, the default since JAX 0.5). A key is a uint32[2] array, as
// jax.random.PRNGKey makes it; functions of a key are pure and work eagerly and under jit.
#pragma once

#include <array>
#include <cstdint>

#include "kiln/array.hpp"

namespace kiln::random {

// The threefry2x32 block function on one counter pair (for tests and host-side use).
std::array<uint32_t, 2> threefry2x32(std::array<uint32_t, 2> key, std::array<uint32_t, 2> count);

// key(seed) = [0, seed] as uint32[2] (32-bit seeds, as JAX's PRNGKey).
Array key(uint32_t seed, Loc loc = Loc::current());
// n new keys, uint32[n, 2].
[[nodiscard]] Array split(const Array& key, int64_t n = 2, Loc loc = Loc::current());
// A new key from a key and data (uint32).
[[nodiscard]] Array fold_in(const Array& key, uint32_t data, Loc loc = Loc::current());
// Row i of a split result: split(key)[i].
Array key_at(const Array& keys, int64_t i, Loc loc = Loc::current());

// Uniform random uint32 bits of `shape`.
Array bits(const Array& key, const Shape& shape, Loc loc = Loc::current());
// Uniform in [minval, maxval).
Array uniform(const Array& key, const Shape& shape = {}, DType dtype = float32, double minval = 0.0,
              double maxval = 1.0, Loc loc = Loc::current());
// jax.random.randint: integers in [minval, maxval) (clipped to dtype's range; maxval <= minval
// gives minval), bit-identical to JAX for every integer dtype (int64/uint64: JAX's with
// jax_enable_x64, 64 random bits per value).
Array randint(const Array& key, const Shape& shape, int64_t minval, int64_t maxval,
              DType dtype = int32, Loc loc = Loc::current());
// Standard normal.
Array normal(const Array& key, const Shape& shape = {}, DType dtype = float32,
             Loc loc = Loc::current());
// Standard normal truncated to (lower, upper).
Array truncated_normal(const Array& key, double lower, double upper, const Shape& shape = {},
                       DType dtype = float32, Loc loc = Loc::current());
// True with probability p.
Array bernoulli(const Array& key, double p = 0.5, const Shape& shape = {},
                Loc loc = Loc::current());
// Samples indices from unnormalised log-probabilities along `axis` (Gumbel-max, as JAX does);
// the result has logits' shape without `axis`.
Array categorical(const Array& key, const Array& logits, int64_t axis = -1,
                  Loc loc = Loc::current());
// jax.random.permutation(key, n): a random permutation of 0..n-1 (int32), JAX's sort-based shuffle
// (bit-identical for the same key); eager or under jit.
Array permutation(const Array& key, int64_t n, Loc loc = Loc::current());
// jax.random.permutation(key, x, axis, independent): x's slices along `axis` in a random order, or
// with `independent` each 1-d line along `axis` shuffled on its own (what jax.random.shuffle did)
// — the same orders JAX gives for the same key.
Array permutation(const Array& key, const Array& x, int64_t axis = 0, bool independent = false,
                  Loc loc = Loc::current());
// jax.random.choice(key, n, shape, replace, p) for the population 0..n-1: `shape` draws (int32),
// with or without replacement, uniform or with probabilities p (float, n entries). Bit-identical
// to JAX's for the same key (without p and with replacement: randint(key, shape, 0, n), as JAX).
Array choice(const Array& key, int64_t n, const Shape& shape, bool replace = true,
             const Array* p = nullptr, Loc loc = Loc::current());

}  // namespace kiln::random
