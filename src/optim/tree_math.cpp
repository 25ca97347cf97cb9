#include "optim/tree_math.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

#include "kiln/ops.hpp"

namespace kiln::optim::tree_math {

Tree tree_zeros_like(const Tree& t) {
  return tree_map([](const Array& x) { return zeros_like(x); }, t);
}

Tree tree_full_like(const Tree& t, double value) {
  return tree_map([value](const Array& x) { return full_like(x, value); }, t);
}

Array zero_count() {
  return zeros(Shape{}, int32);
}

Array safe_increment(const Array& count) {
  // optax numerics.safe_int32_increment:
  //   jnp.where(count < max_int32, count + 1, max_int32)
  constexpr int kMax = std::numeric_limits<int32_t>::max();
  return where(less(count, kMax), add(count, 1), kMax);
}

Array bias_correction(double decay, const Array& count) {
  // optax tree_bias_correction: `bias_correction_ = 1 - decay**count`. decay is a Python float and
  // count an int32 array, so jnp.power promotes both to float32 (the weak float adopts the default
  // float type) and lax.pow lowers to an elementwise power in float32.
  return sub(1, pow(decay, astype(count, float32)));
}

Array integer_pow(const Array& x, int64_t y) {
  if (y == 0) return ones_like(x);
  bool reciprocal = y < 0;
  uint64_t e = reciprocal ? static_cast<uint64_t>(-(y + 1)) + 1 : static_cast<uint64_t>(y);
  Array acc;
  Array base = x;
  // Same multiplication order as jax.lax.integer_pow's lowering, so the rounding matches.
  while (e > 0) {
    if (e & 1) acc = acc.empty() ? base : mul(acc, base);
    e >>= 1;
    if (e > 0) base = mul(base, base);
  }
  return reciprocal ? div(ones_like(acc), acc) : acc;
}

Array power(const Array& x, double p) {
  if (std::nearbyint(p) == p && std::fabs(p) <= 64) return integer_pow(x, static_cast<int64_t>(p));
  return pow(x, p);
}

Array safe_norm(const Array& x, double min_norm) {
  // optax: norm = linalg.norm(x); x = where(norm <= min_norm, 1, x);
  // where(norm <= min_norm, min_norm, linalg.norm(x)). linalg.norm of all of x is sqrt(sum(x²)).
  Array norm = sqrt(sum(square(x)));
  Array small = less_equal(norm, min_norm);
  Array masked = where(small, ones_like(x), x);
  return where(small, scalar(min_norm, norm.dtype()), sqrt(sum(square(masked))));
}

Array safe_root_mean_squares(const Array& x, double min_rms) {
  Array rms = sqrt(mean(square(x)));
  Array small = less_equal(rms, min_rms);
  Array masked = where(small, ones_like(x), x);
  return where(small, scalar(min_rms, rms.dtype()), sqrt(mean(square(masked))));
}

const Tree& require_params(const Tree& params, const char* who) {
  if (params.is_none())
    throw ValueError(std::string(who) +
                     ": you are using a transformation that requires the current value of "
                     "parameters, but you are "
                     "not passing `params` when calling `update`. Pass the params tree as update's "
                     "third argument.");
  return params;
}

}  // namespace kiln::optim::tree_math
