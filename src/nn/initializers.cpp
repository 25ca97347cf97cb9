// nn::initializers: jax.nn.initializers (jax/_src/nn/initializers.py), op for op, so a kiln
// initializer gives JAX's bits for the same key, shape and dtype.
//
// Constants such as a stddev are made as 0-d arrays of the parameter's dtype and combined with
// kiln ops, because that is what JAX does (`jnp.array(stddev, dtype)`, `jnp.sqrt(variance)`):
// for float32 the variance is rounded to float32 before its square root is taken, and the
// rounding is part of the result.
#include <cmath>
#include <string>

#include "kiln/nn.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"
#include "nn/fans.hpp"

namespace kiln::nn::detail {

namespace {

int normalize_axis(int axis, int rank, const char* which, const Shape& shape) {
  const int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw ValueError("nn::initializers::variance_scaling: " + std::string(which) + " " +
                     std::to_string(axis) + " is out of range for a weights shape " + shape.str());
  return a;
}

}  // namespace

// JAX's _compute_fans: in_size = shape[in_axis], out_size = shape[out_axis], and every other axis
// is the receptive field (a convolution kernel's spatial axes): fan_in = in_size * receptive,
// fan_out = out_size * receptive, receptive = numel / in_size / out_size (a float, as in Python).
std::pair<double, double> compute_fans(const Shape& shape, int in_axis, int out_axis) {
  if (shape.rank() <= 1)
    throw ValueError(
        "nn::initializers::variance_scaling: can't compute input and output sizes of a " +
        std::to_string(shape.rank()) + "-dimensional weights tensor " + shape.str() +
        "; it must be at least 2-d");
  const double in_size =
      static_cast<double>(shape[normalize_axis(in_axis, shape.rank(), "in_axis", shape)]);
  const double out_size =
      static_cast<double>(shape[normalize_axis(out_axis, shape.rank(), "out_axis", shape)]);
  if (in_size == 0 || out_size == 0)
    throw ValueError("nn::initializers::variance_scaling: the weights shape " + shape.str() +
                     " has no inputs or no outputs, so its variance is undefined");
  const double receptive = static_cast<double>(shape.numel()) / in_size / out_size;
  return {in_size * receptive, out_size * receptive};
}

}  // namespace kiln::nn::detail

namespace kiln::nn::initializers {

namespace {

// The stddev of a standard normal truncated to (-2, 2); JAX and Flax divide by it so that a
// truncated-normal variance_scaling has the variance asked for.
constexpr double kTruncatedStd = .87962566103423978;

void require_floating(DType dtype, const char* who) {
  if (!is_floating(dtype))
    throw DTypeError(std::string("nn::initializers::") + who + ": the parameter dtype " +
                     std::string(name(dtype)) +
                     " is not a floating-point type; use constant/zeros/ones for other dtypes");
}

}  // namespace

Initializer constant(double value) {
  return
      [value](const Array&, const Shape& shape, DType dtype) { return full(shape, value, dtype); };
}

Initializer zeros() {
  return [](const Array&, const Shape& shape, DType dtype) { return kiln::zeros(shape, dtype); };
}

Initializer ones() {
  return [](const Array&, const Shape& shape, DType dtype) { return kiln::ones(shape, dtype); };
}

Initializer normal(double stddev) {
  // random.normal(key, shape, dtype) * jnp.array(stddev, dtype)
  return [stddev](const Array& key, const Shape& shape, DType dtype) {
    require_floating(dtype, "normal");
    return random::normal(key, shape, dtype) * scalar(stddev, dtype);
  };
}

Initializer uniform(double scale) {
  // random.uniform(key, shape, dtype) * jnp.array(scale, dtype): values in [0, scale).
  return [scale](const Array& key, const Shape& shape, DType dtype) {
    require_floating(dtype, "uniform");
    return random::uniform(key, shape, dtype) * scalar(scale, dtype);
  };
}

Initializer truncated_normal(double stddev, double lower, double upper) {
  // random.truncated_normal(key, lower, upper, shape, dtype) * jnp.array(stddev, dtype); as in JAX,
  // no correction of the stddev for the truncation (variance_scaling applies one).
  if (!(lower < upper))
    throw ValueError("nn::initializers::truncated_normal: lower (" + std::to_string(lower) +
                     ") must be below upper (" + std::to_string(upper) + ")");
  return [stddev, lower, upper](const Array& key, const Shape& shape, DType dtype) {
    require_floating(dtype, "truncated_normal");
    return random::truncated_normal(key, lower, upper, shape, dtype) * scalar(stddev, dtype);
  };
}

Initializer variance_scaling(double scale, const std::string& mode, const std::string& distribution,
                             int in_axis, int out_axis) {
  // Checked here, when the initializer is made, rather than at init as JAX does: the mistake is
  // then reported where it was written.
  if (mode != "fan_in" && mode != "fan_out" && mode != "fan_avg")
    throw ValueError("nn::initializers::variance_scaling: invalid mode \"" + mode +
                     "\"; it is one of \"fan_in\", \"fan_out\", \"fan_avg\"");
  if (distribution != "truncated_normal" && distribution != "normal" && distribution != "uniform")
    throw ValueError("nn::initializers::variance_scaling: invalid distribution \"" + distribution +
                     "\"; it is one of \"truncated_normal\", \"normal\", \"uniform\"");
  if (!(scale >= 0))
    throw ValueError("nn::initializers::variance_scaling: scale must be non-negative, got " +
                     std::to_string(scale));
  return [=](const Array& key, const Shape& shape, DType dtype) {
    require_floating(dtype, "variance_scaling");
    const auto [fan_in, fan_out] = detail::compute_fans(shape, in_axis, out_axis);
    const double denominator = mode == "fan_in"    ? fan_in
                               : mode == "fan_out" ? fan_out
                                                   : (fan_in + fan_out) / 2;
    // variance = jnp.array(scale / denominator, dtype): the quotient in double, then rounded.
    const Array variance = scalar(scale / denominator, dtype);
    if (distribution == "truncated_normal") {
      // stddev = jnp.sqrt(variance) / jnp.array(.87962566103423978, dtype)
      const Array stddev = sqrt(variance) / scalar(kTruncatedStd, dtype);
      return random::truncated_normal(key, -2.0, 2.0, shape, dtype) * stddev;
    }
    if (distribution == "normal") return random::normal(key, shape, dtype) * sqrt(variance);
    // uniform in [-1, 1) scaled by sqrt(3 * variance): the variance of U(-a, a) is a² / 3.
    return random::uniform(key, shape, dtype, -1.0, 1.0) * sqrt(3.0 * variance);
  };
}

Initializer lecun_normal() {
  return variance_scaling(1.0, "fan_in", "truncated_normal");
}
Initializer lecun_uniform() {
  return variance_scaling(1.0, "fan_in", "uniform");
}
Initializer glorot_normal() {
  return variance_scaling(1.0, "fan_avg", "truncated_normal");
}
Initializer glorot_uniform() {
  return variance_scaling(1.0, "fan_avg", "uniform");
}
Initializer xavier_normal() {
  return glorot_normal();
}
Initializer xavier_uniform() {
  return glorot_uniform();
}
Initializer he_normal() {
  return variance_scaling(2.0, "fan_in", "truncated_normal");
}
Initializer he_uniform() {
  return variance_scaling(2.0, "fan_in", "uniform");
}
Initializer kaiming_normal() {
  return he_normal();
}
Initializer kaiming_uniform() {
  return he_uniform();
}

}  // namespace kiln::nn::initializers
