// kiln::random, built from kiln ops so that every sampler runs eagerly, under jit and under grad.
//
// Every formula below is JAX's (jax/_src/prng.py and jax/_src/random.py, threefry2x32 with
// jax_threefry_partitionable=True, read from the JAX sources), computed with the same primitives
// in the same order so that the bits, and the floats made from them, match JAX's:
//   key(seed)       = [0, seed]                                  (threefry_seed)
//   split(k, n)[i]  = threefry2x32(k, (hi(i), lo(i)))           (_threefry_split_foldlike)
//   fold_in(k, d)   = threefry2x32(k, (0, d))                    (_threefry_fold_in)
//   bits(k)[i]      = out0 ^ out1 of threefry2x32(k, (hi(i), lo(i)))   (32-bit, partitionable)
// with (hi(i), lo(i)) the two 32-bit halves of the 64-bit flat index i (iota_2x32_shape).
#include "kiln/random.hpp"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numbers>
#include <span>
#include <utility>

#include "kiln/ops.hpp"
#include "kiln/trace.hpp"

namespace kiln::random {
namespace {

std::string type_str(const Array& a) {
  return std::string(short_name(a.dtype())) + "[" + a.shape().dims_str() + "]";
}

void check_key(const Array& key, const char* fn, const Loc& loc) {
  if (key.empty())
    throw ValueError(message(std::string("random::") + fn + ": the key is an empty Array", loc));
  if (key.dtype() != uint32 || !(key.shape() == Shape{2})) {
    throw ValueError(message(
        std::string("random::") + fn + ": a key is a u32[2] array, got " + type_str(key), loc,
        key.dtype() == uint32 && key.ndim() == 2 && key.shape()[1] == 2
            ? "this looks like the result of split(); pick one key with key_at(keys, i)"
            : "make keys with random::key(seed), split or fold_in"));
  }
}

void check_float(DType t, const char* fn, const Loc& loc) {
  if (!is_floating(t)) {
    throw DTypeError(message(
        std::string("random::") + fn + " needs a floating dtype, got " + std::string(name(t)), loc,
        "use float32, float64, bfloat16 or float16"));
  }
}

// uint32[2, n]: the counter pairs (hi(i), lo(i)) of a 64-bit iota over n elements, as JAX's
// iota_2x32_shape. kiln arrays never reach 2^32 elements, so hi is 0 (checked).
Array counters(int64_t n, const Loc& loc) {
  if (n > (int64_t{1} << 32)) {
    throw ValueError(
        message("random: " + std::to_string(n) + " values in one draw; kiln draws at most 2^32",
                loc, "draw in several parts with keys from split()"));
  }
  Array hi = zeros(Shape{1, n}, uint32, loc);
  Array lo = iota(uint32, Shape{1, n}, 1, loc);
  return concatenate({hi, lo}, 0, loc);
}

// threefry2x32 of `key` over the counter pairs of `counts` (uint32[2, n]) -> uint32[2, n].
Array hash(const Array& key, const Array& counts, const Loc& loc) {
  Array in[2] = {key, counts};
  return bind(ir::Prim::threefry2x32, in, {}, loc);
}

// Row r of a uint32[2, n] hash output, as uint32[n].
Array row(const Array& out, int64_t r, const Loc& loc) {
  const int64_t n = out.shape()[1];
  return reshape(slice(out, {r, 0}, {r + 1, n}, {}, loc), {n}, loc);
}

Array reshaped(const Array& flat, const Shape& shape, const Loc& loc) {
  return reshape(flat, shape.vec(), loc);
}

// Floats uniform in [0, 1) of dtype t: JAX's _uniform before scaling. The random bits fill the
// mantissa of a number in [1, 2), and 1 is subtracted. JAX draws nbits-wide bits (8 for bfloat16,
// whose 7-bit mantissa is under 8), shifts them right by (bits - nmant) and ors in the bits of 1.0.
// kiln has no uint16/uint64 dtypes, so the 16-bit patterns are assembled inside a float32 (the
// same value, converted exactly) and the 64-bit pattern inside an int64.
Array unit_floats(const Array& key, const Shape& shape, DType t, const Loc& loc) {
  const int64_t n = shape.numel();
  switch (t) {
    case DType::float32: {
      // (bits >> (32 - 23)) | bits(1.0f)
      Array b = bits(key, shape, loc);
      Array f = bitcast_convert(bitwise_or(shift_right_logical(b, 9u, loc), 0x3F800000u, loc),
                                float32, loc);
      return sub(f, 1.0, loc);
    }
    case DType::bfloat16: {
      // 8-bit draw = low byte of the 32-bit bits; (b8 >> (8 - 7)) | 0x3F80 is the bfloat16 pattern,
      // which is the top half of the float32 with the same value.
      Array b8 = bitwise_and(bits(key, shape, loc), 0xFFu, loc);
      Array pattern = bitwise_or(shift_right_logical(b8, 1u, loc), 0x3F80u, loc);
      Array f = astype(bitcast_convert(shift_left(pattern, 16u, loc), float32, loc), bfloat16, loc);
      return sub(f, 1.0, loc);
    }
    case DType::float16: {
      // 16-bit draw = low half of the 32-bit bits; m = b16 >> (16 - 10) is the half's mantissa,
      // placed at the top of a float32 mantissa (23 - 10 = 13) to make the same 1 + m / 1024.
      Array b16 = bitwise_and(bits(key, shape, loc), 0xFFFFu, loc);
      Array m = shift_right_logical(b16, 6u, loc);
      Array f32 =
          bitcast_convert(bitwise_or(shift_left(m, 13u, loc), 0x3F800000u, loc), float32, loc);
      return sub(astype(f32, float16, loc), 1.0, loc);
    }
    case DType::float64: {
      // 64-bit draw (partitionable): (out0 << 32) | out1, no xor. Then (b64 >> 12) | bits(1.0) =
      // (out0 << 20) | (out1 >> 12) | 0x3FF0000000000000.
      Array out = hash(key, counters(n, loc), loc);
      Array hi = astype(row(out, 0, loc), int64, loc);
      Array lo = astype(shift_right_logical(row(out, 1, loc), 12u, loc), int64, loc);
      Array pattern = bitwise_or(bitwise_or(shift_left(hi, int64_t{20}, loc), lo, loc),
                                 int64_t{0x3FF0000000000000}, loc);
      return reshaped(sub(bitcast_convert(pattern, float64, loc), 1.0, loc), shape, loc);
    }
    default:
      break;
  }
  check_float(t, "uniform", loc);
  return {};
}

// JAX's _uniform: max(minval, floats * (maxval - minval) + minval), minval and maxval being 0-d
// arrays of dtype t (or weak scalars, converted to t).
Array uniform_between(const Array& key, const Shape& shape, DType t, const Operand& minval,
                      const Operand& maxval, const Loc& loc) {
  Array lo = minval.is_scalar() ? scalar(minval.value(), t, loc) : minval.array();
  Array hi = maxval.is_scalar() ? scalar(maxval.value(), t, loc) : maxval.array();
  Array floats = unit_floats(key, shape, t, loc);
  return maximum(lo, add(mul(floats, sub(hi, lo, loc), loc), lo, loc), loc);
}

// numpy's nextafter(x, toward) in dtype t, x first rounded to t.
double next_toward(double x, double toward, DType t) {
  switch (t) {
    case DType::float32:
      return std::nextafter(static_cast<float>(x), static_cast<float>(toward));
    case DType::float64:
      return std::nextafter(x, toward);
    default:
      break;
  }
  // 16-bit formats: step the bit pattern (sign-magnitude) by one unit toward `toward`.
  const bool bf = t == DType::bfloat16;
  auto value_of = [bf](uint16_t b) {
    return bf ? static_cast<double>(to_float(bf16{b})) : static_cast<double>(to_float(f16{b}));
  };
  uint16_t b = bf ? to_bf16(static_cast<float>(x)).bits : to_f16(static_cast<float>(x)).bits;
  const double v = value_of(b);
  if (std::isnan(v) || std::isnan(toward)) return std::numeric_limits<double>::quiet_NaN();
  if (v == toward) return v;
  if (v == 0) return toward > 0 ? value_of(0x0001) : value_of(0x8001);
  const bool away_from_zero = (toward > v) == (v > 0);
  return value_of(static_cast<uint16_t>(away_from_zero ? b + 1 : b - 1));
}

// numpy's finfo(t).tiny: the smallest positive normal number.
double tiny(DType t) {
  switch (t) {
    case DType::float64:
      return DBL_MIN;
    case DType::float16:
      return std::ldexp(1.0, -14);
    default:
      return FLT_MIN;  // float32 and bfloat16 share float32's exponent range
  }
}

}  // namespace

std::array<uint32_t, 2> threefry2x32(std::array<uint32_t, 2> key, std::array<uint32_t, 2> count) {
  // Random123's Threefry-2x32 with 20 rounds, as JAX's _threefry2x32_lowering: key schedule
  // (k0, k1, k0 ^ k1 ^ 0x1BD11BDA), rotations [13, 15, 26, 6] and [17, 29, 16, 24] alternating by
  // group of four rounds, and after group g a key injection that also adds g + 1.
  constexpr int kRotations[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  const uint32_t ks[3] = {key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDAu};
  uint32_t x0 = count[0] + ks[0];
  uint32_t x1 = count[1] + ks[1];
  for (int g = 0; g < 5; ++g) {
    for (int r : kRotations[g % 2]) {
      x0 += x1;
      x1 = std::rotl(x1, r) ^ x0;
    }
    x0 += ks[(g + 1) % 3];
    x1 += ks[(g + 2) % 3] + static_cast<uint32_t>(g + 1);
  }
  return {x0, x1};
}

Array key(uint32_t seed, Loc loc) {
  const uint32_t data[2] = {0, seed};
  return array(std::span<const uint32_t>(data), Shape{2}, loc);
}

Array split(const Array& key, int64_t n, Loc loc) {
  check_key(key, "split", loc);
  if (n < 0)
    throw ValueError(
        message("random::split: the number of keys is negative (" + std::to_string(n) + ")", loc));
  // JAX stacks the two output words on a new last axis: keys[i] = (out0[i], out1[i]).
  return transpose(hash(key, counters(n, loc), loc), {1, 0}, loc);
}

Array fold_in(const Array& key, uint32_t data, Loc loc) {
  check_key(key, "fold_in", loc);
  // threefry_seed(data) = [data >> 32, data] = [0, data] is the counter pair.
  const uint32_t counts[2] = {0, data};
  Array c = array(std::span<const uint32_t>(counts), Shape{2, 1}, loc);
  return reshape(hash(key, c, loc), {2}, loc);
}

Array key_at(const Array& keys, int64_t i, Loc loc) {
  if (keys.empty() || keys.dtype() != uint32 || keys.ndim() != 2 || keys.shape()[1] != 2) {
    throw ValueError(message("random::key_at: expected keys of type u32[n,2] (from split), got " +
                                 (keys.empty() ? std::string("an empty Array") : type_str(keys)),
                             loc));
  }
  const int64_t n = keys.shape()[0];
  if (i < 0 || i >= n) {
    throw ValueError(message("random::key_at: index " + std::to_string(i) +
                                 " is out of range for " + std::to_string(n) + " keys",
                             loc));
  }
  return reshape(slice(keys, {i, 0}, {i + 1, 2}, {}, loc), {2}, loc);
}

Array bits(const Array& key, const Shape& shape, Loc loc) {
  check_key(key, "bits", loc);
  Array out = hash(key, counters(shape.numel(), loc), loc);
  return reshaped(bitwise_xor(row(out, 0, loc), row(out, 1, loc), loc), shape, loc);
}

Array uniform(const Array& key, const Shape& shape, DType dtype, double minval, double maxval,
              Loc loc) {
  check_key(key, "uniform", loc);
  check_float(dtype, "uniform", loc);
  return uniform_between(key, shape, dtype, minval, maxval, loc);
}

// JAX's randint (jax/_src/random/core.py): 8- and 16-bit dtypes sample as int32 with the bounds
// clipped to the dtype, then cast. In the w-bit sample type (32, or 64 for the 64-bit dtypes, as
// JAX with jax_enable_x64), with lo/hi the bounds clipped to it:
//   span = uint_w(hi - lo), 1 when hi <= lo, + 1 when maxval lies above the type's maximum
//   multiplier = ((2^(w/2) % span)^2) % span         (2^w % span, without overflow)
//   offset = ((bits(k1) % span) * multiplier + bits(k2) % span) % span   (uint_w, wrapping)
//   result = lo + offset                             (k1, k2 = split(key))
// where 64 random bits are (out0 << 32) | out1 of threefry2x32 (JAX's partitionable 64-bit
// bits). The bounds are static here, so span and multiplier are host integers; x % 0 is x, as
// in XLA.
Array randint(const Array& key, const Shape& shape, int64_t minval, int64_t maxval, DType dtype,
              Loc loc) {
  check_key(key, "randint", loc);
  if (!is_integer(dtype))
    throw DTypeError(message(
        "random::randint: dtype must be an integer type, got " + std::string(name(dtype)), loc));
  // A dtype's bounds, in 128 bits (uint64's maximum is past int64_t).
  using Wide = __int128;
  auto bounds = [](DType t) -> std::pair<Wide, Wide> {
    const int bits = 8 * static_cast<int>(itemsize(t));
    if (is_unsigned(t)) return {0, (Wide{1} << bits) - 1};
    return {-(Wide{1} << (bits - 1)), (Wide{1} << (bits - 1)) - 1};
  };
  Wide lo_in = minval, hi_in = maxval;
  DType sample = dtype;
  if (itemsize(dtype) < 4) {
    const auto [dmin, dmax] = bounds(dtype);
    lo_in = std::clamp(lo_in, dmin, dmax);
    hi_in = std::clamp(hi_in, dmin, dmax + 1);
    sample = int32;
  }
  const int width = 8 * static_cast<int>(itemsize(sample));
  const uint64_t all = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  const auto [smin, smax] = bounds(sample);
  const bool out_of_range = hi_in > smax;
  const Wide lo = std::clamp(lo_in, smin, smax), hi = std::clamp(hi_in, smin, smax);
  uint64_t span = static_cast<uint64_t>(hi - lo) & all;
  if (hi <= lo) span = 1;
  if (out_of_range && hi > lo) span = (span + 1) & all;
  auto urem = [](uint64_t x, uint64_t y) { return y == 0 ? x : x % y; };
  uint64_t multiplier = urem(uint64_t{1} << (width / 2), span);
  multiplier = urem((multiplier * multiplier) & all, span);
  const DType ubits = width == 64 ? uint64 : uint32;
  // A 0-d constant of `t` holding exactly these bits (64-bit values are past a double's 53).
  auto exact = [&](uint64_t v, DType t) {
    return astype(Array::from_data(std::span<const uint64_t>(&v, 1), Shape{}), t, loc);
  };
  auto random_bits = [&](const Array& k) {
    if (width == 32) return bits(k, shape, loc);
    Array out = hash(k, counters(shape.numel(), loc), loc);
    Array high = shift_left(astype(row(out, 0, loc), uint64, loc), exact(32, uint64), loc);
    return reshaped(bitwise_or(high, astype(row(out, 1, loc), uint64, loc), loc), shape, loc);
  };
  Array keys = split(key, 2, loc);
  Array higher = random_bits(key_at(keys, 0, loc));
  Array lower = random_bits(key_at(keys, 1, loc));
  const Array span_array = exact(span, ubits);
  auto mod_span = [&](const Array& x) { return span == 0 ? x : rem(x, span_array, loc); };
  Array offset =
      mod_span(add(mul(mod_span(higher), exact(multiplier, ubits), loc), mod_span(lower), loc));
  const auto low = static_cast<int64_t>(lo);  // minval is an int64_t: lo fits
  Array low_array =
      astype(Array::from_data(std::span<const int64_t>(&low, 1), Shape{}), sample, loc);
  Array out = add(low_array, astype(offset, sample, loc), loc);
  return astype(out, dtype, loc);
}

Array normal(const Array& key, const Shape& shape, DType dtype, Loc loc) {
  check_key(key, "normal", loc);
  check_float(dtype, "normal", loc);
  // JAX's _normal_real: u uniform in [nextafter(-1, 0), 1), then sqrt(2) * erf_inv(u), sqrt(2)
  // rounded to dtype.
  Array u = uniform_between(key, shape, dtype, next_toward(-1.0, 0.0, dtype), 1.0, loc);
  return mul(std::numbers::sqrt2, erf_inv(u, loc), loc);
}

Array truncated_normal(const Array& key, double lower, double upper, const Shape& shape,
                       DType dtype, Loc loc) {
  check_key(key, "truncated_normal", loc);
  check_float(dtype, "truncated_normal", loc);
  if (!(lower < upper)) {
    throw ValueError(message("random::truncated_normal: lower (" + std::to_string(lower) +
                                 ") must be below upper (" + std::to_string(upper) + ")",
                             loc));
  }
  // JAX's _truncated_normal, all in dtype: a = erf(lower / sqrt2), b = erf(upper / sqrt2),
  // u uniform in [a, b), sqrt2 * erf_inv(u) clipped into (lower, upper) by nextafter.
  Array sqrt2 = scalar(std::numbers::sqrt2, dtype, loc);
  Array a = erf(div(scalar(lower, dtype, loc), sqrt2, loc), loc);
  Array b = erf(div(scalar(upper, dtype, loc), sqrt2, loc), loc);
  Array u = uniform_between(key, shape, dtype, a, b, loc);
  Array out = mul(sqrt2, erf_inv(u, loc), loc);
  const double lo = next_toward(lower, std::numeric_limits<double>::infinity(), dtype);
  const double hi = next_toward(upper, -std::numeric_limits<double>::infinity(), dtype);
  return minimum(maximum(out, lo, loc), hi, loc);
}

Array bernoulli(const Array& key, double p, const Shape& shape, Loc loc) {
  check_key(key, "bernoulli", loc);
  // JAX: uniform(key, shape, dtype of p) < p; a Python float p is float32 without x64.
  return less(uniform_between(key, shape, float32, 0.0, 1.0, loc), p, loc);
}

Array categorical(const Array& key, const Array& logits, int64_t axis, Loc loc) {
  check_key(key, "categorical", loc);
  if (logits.empty())
    throw ValueError(message("random::categorical: logits is an empty Array", loc));
  check_float(logits.dtype(), "categorical (logits)", loc);
  if (logits.ndim() == 0) {
    throw ValueError(
        message("random::categorical: logits must have at least one axis, got a 0-d array", loc));
  }
  // JAX's categorical with replace=True and its default "low" Gumbel mode
  // (jax_high_dynamic_range_gumbel off): argmax(gumbel + logits), gumbel = -log(-log(u)) with u
  // uniform in [tiny, 1).
  Array u = uniform_between(key, logits.shape(), logits.dtype(), tiny(logits.dtype()), 1.0, loc);
  Array gumbel = neg(log(neg(log(u, loc), loc), loc), loc);
  return argmax(add(gumbel, logits, loc), axis, false, loc);
}

namespace {

// JAX's _shuffle: ceil(3 · ln(max(1, x.size)) / ln(2^32 - 1)) rounds; each splits the key into
// (key, subkey), draws uint32 sort keys of x's shape from subkey and stably sorts x along `axis`
// by them (lax.sort_key_val).
Array shuffle(Array key, Array x, int64_t axis, const Loc& loc) {
  const int rounds = static_cast<int>(
      std::ceil(3.0 * std::log(static_cast<double>(std::max<int64_t>(1, x.size()))) /
                std::log(static_cast<double>(std::numeric_limits<uint32_t>::max()))));
  for (int r = 0; r < rounds; ++r) {
    Array pair = split(key, 2, loc);
    key = key_at(pair, 0, loc);
    x = sort({bits(key_at(pair, 1, loc), x.shape(), loc), x}, axis, 1, loc)[1];
  }
  return x;
}

void check_population(int64_t n, const char* fn, const Loc& loc) {
  if (n < 0 || n > std::numeric_limits<int32_t>::max())
    throw ValueError(message(
        std::string("random::") + fn + ": n = " + std::to_string(n) + " is not in [0, 2^31)", loc));
}

}  // namespace

Array permutation(const Array& key, int64_t n, Loc loc) {
  check_key(key, "permutation", loc);
  check_population(n, "permutation", loc);
  return shuffle(key, arange(n, int32, loc), 0, loc);
}

// JAX shuffles a 1-d x itself; otherwise it shuffles the indices of `axis` and takes x's slices in
// that order (jnp.take with unique indices). A permutation is taken by sorting: x's slice j gets
// the sort key "where j goes" (the inverse permutation, itself a sort of the permutation).
Array permutation(const Array& key, const Array& x, int64_t axis, bool independent, Loc loc) {
  check_key(key, "permutation", loc);
  if (x.ndim() == 0)
    throw ShapeError(message("random::permutation of a 0-d array", loc,
                             "pass the population size n instead (permutation(key, n))"));
  const int64_t ax = axis < 0 ? axis + x.ndim() : axis;
  if (ax < 0 || ax >= x.ndim())
    throw ShapeError(message("random::permutation: axis " + std::to_string(axis) +
                                 " out of range for shape " + x.shape().str(),
                             loc));
  if (independent || x.ndim() == 1) return shuffle(key, x, ax, loc);
  const int64_t n = x.shape()[static_cast<int>(ax)];
  Array order = shuffle(key, arange(n, int32, loc), 0, loc);
  Array destination = sort({order, arange(n, int32, loc)}, 0, 1, loc)[1];
  return sort({broadcast_in_dim(destination, x.shape(), {ax}, loc), x}, ax, 1, loc)[1];
}

Array choice(const Array& key, int64_t n, const Shape& shape, bool replace, const Array* p,
             Loc loc) {
  check_key(key, "choice", loc);
  check_population(n, "choice", loc);
  const int64_t draws = shape.numel();
  if (draws == 0) return zeros(shape, int32, loc);
  if (n == 0)
    throw ValueError(message("random::choice: a population of 0 unless no samples are taken", loc));
  if (!replace && draws > n)
    throw ValueError(message("random::choice: cannot take a larger sample (size " +
                                 std::to_string(draws) + ") than the population (size " +
                                 std::to_string(n) + ") when replace = false",
                             loc));
  if (p == nullptr) {
    if (replace) return randint(key, shape, 0, n, int32, loc);  // JAX's: randint(key, shape, 0, n)
    return reshape(slice(permutation(key, n, loc), {0}, {draws}, {}, loc), shape.vec(), loc);
  }
  if (!(p->shape() == Shape{n}))
    throw ShapeError(message("random::choice: p has shape " + p->shape().str() +
                                 " but the population is " + std::to_string(n),
                             loc, "give one probability per element"));
  const Array probs = is_floating(p->dtype()) ? *p : astype(*p, float32, loc);
  const DType t = probs.dtype();
  if (replace) {
    // Inverse transform: r uniform in (0, total], its index the number of cumulative sums < r
    // (jnp.searchsorted, side 'left').
    Array cumulative = cumsum(probs, 0, false, loc);
    Array total = slice(cumulative, {n - 1}, {n}, {}, loc);
    Array r = mul(total, sub(1.0, uniform(key, Shape{draws}, t, 0.0, 1.0, loc), loc), loc);
    Array below = less(broadcast_in_dim(cumulative, Shape{draws, n}, {1}, loc),
                       broadcast_in_dim(r, Shape{draws, n}, {0}, loc), loc);
    return reshape(sum(astype(below, int32, loc), 1, false, loc), shape.vec(), loc);
  }
  // Gumbel top-k: the k largest of gumbel noise + log p.
  Array u = uniform_between(key, Shape{n}, t, tiny(t), 1.0, loc);
  Array gumbel = neg(log(neg(log(u, loc), loc), loc), loc);
  Array indices = top_k(add(gumbel, log(probs, loc), loc), draws, loc).second;
  return reshape(indices, shape.vec(), loc);
}

}  // namespace kiln::random
