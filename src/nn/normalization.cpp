// nn::BatchNorm and nn::LayerNorm, as flax.linen's (flax/linen/normalization.py).
//
// _compute_stats(x, axes, dtype):
//   dtype = dtype or x.dtype, promoted with float32 (force_float32_reductions); x = x.astype(dtype)
//   fast variance: mu = mean(x), mu2 = mean(x²), var = maximum(0, mu2 − mu²)
//   else:          mu = mean(x), var = mean((x − mu)²)
// _normalize(x, mean, var, reduction_axes, feature_axes):
//   mean, var = expand_dims(·, reduction_axes)
//   y = x − mean;  mul = rsqrt(var + epsilon);  mul *= scale (reshaped to the feature axes)
//   y *= mul;  y += bias;  return y.astype(dtype or result_type(x, scale, bias), made inexact)
// This is the order of operations below, so float32 results round as Flax's do (up to the order
// of the reductions' additions, which XLA does not fix either). Parameters are created inside
// _normalize, after BatchNorm's batch_stats: {"batch_stats"} before {"params"} for a model whose
// first variable is a BatchNorm's, as in Flax.
#include "kiln/nn/normalization.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "kiln/ops.hpp"

namespace kiln::nn {

namespace {

// Sorted, unique, non-negative axes (Flax's _canonicalize_axes).
std::vector<int64_t> canonical_axes(const std::vector<int64_t>& axes, int rank, const char* who,
                                    const char* which, const Loc& loc) {
  std::vector<int64_t> out;
  for (int64_t a : axes) {
    const int64_t n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank)
      throw ValueError(message(std::string(who) + ": " + which + " " + std::to_string(a) +
                                   " is out of range for an input of rank " + std::to_string(rank),
                               loc));
    out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool contains(const std::vector<int64_t>& v, int64_t a) {
  return std::find(v.begin(), v.end(), a) != v.end();
}

// (mean, var) over `axes`, in at least float32.
std::pair<Array, Array> compute_stats(const Array& x, const std::vector<int64_t>& axes,
                                      std::optional<DType> dtype, bool use_fast_variance,
                                      bool force_float32, const Loc& loc) {
  DType dt = dtype ? *dtype : x.dtype();
  if (force_float32) dt = promote(dt, float32);
  const Array xs = x.dtype() == dt ? x : astype(x, dt, loc);
  const Axes ax(axes);
  Array mu = mean(xs, ax, false, loc);
  if (use_fast_variance) {
    // mean(x²) − mean(x)² can round below zero; Flax clips it.
    Array mu2 = mean(square(xs, loc), ax, false, loc);
    return {mu, maximum(0.0, sub(mu2, square(mu, loc), loc), loc)};
  }
  Array centred = sub(xs, mean(xs, ax, true, loc), loc);
  return {mu, mean(square(centred, loc), ax, false, loc)};
}

struct NormalizeOptions {
  double epsilon;
  std::optional<DType> dtype;
  DType param_dtype;
  bool use_bias, use_scale;
  const Initializer& bias_init;
  const Initializer& scale_init;
};

Array normalize(Scope& s, const Array& x, const Array& mean_, const Array& var_,
                const std::vector<int64_t>& reduction_axes,
                const std::vector<int64_t>& feature_axes, const NormalizeOptions& o,
                const Loc& loc) {
  std::vector<int64_t> stat_shape = x.shape().vec();  // 1 on the reduced axes
  for (int64_t a : reduction_axes) stat_shape[static_cast<size_t>(a)] = 1;
  std::vector<int64_t> feature_shape(static_cast<size_t>(x.ndim()), 1);  // the params' broadcast
  Shape param_shape;
  for (int64_t a : feature_axes) {
    feature_shape[static_cast<size_t>(a)] = x.shape()[static_cast<int>(a)];
    param_shape.push_back(x.shape()[static_cast<int>(a)]);
  }
  Array y = sub(x, reshape(mean_, stat_shape, loc), loc);
  Array mul = rsqrt(add(reshape(var_, stat_shape, loc), o.epsilon, loc), loc);
  DType out = x.dtype();
  if (o.use_scale) {
    Array scale = s.param("scale", o.scale_init, param_shape, o.param_dtype, loc);
    mul = mul * reshape(scale, feature_shape, loc);
    out = promote(out, scale.dtype());
  }
  y = y * mul;
  if (o.use_bias) {
    Array bias = s.param("bias", o.bias_init, param_shape, o.param_dtype, loc);
    y = y + reshape(bias, feature_shape, loc);
    out = promote(out, bias.dtype());
  }
  // flax.linen.dtypes.canonicalize_dtype(x, scale, bias, dtype=dtype), inexact.
  if (o.dtype) out = *o.dtype;
  if (!is_floating(out)) out = promote(out, float32);
  return y.dtype() == out ? y : astype(y, out, loc);
}

void check_input(const Array& x, const char* who, const Loc& loc) {
  if (x.empty()) throw ValueError(message(std::string(who) + ": the input is an empty Array", loc));
  if (x.ndim() < 1)
    throw ShapeError(message(
        std::string(who) + ": the input must have at least one axis, got a 0-d array", loc));
}

}  // namespace

Array BatchNorm::operator()(Scope& scope, const Array& x, std::optional<bool> use_running_average,
                            Loc loc) const {
  return in_scope(scope.child("BatchNorm", options.name, loc), x, use_running_average, loc);
}

Array BatchNorm::in_scope(Scope& own, const Array& x, std::optional<bool> use_running_average,
                          Loc loc) const {
  if (options.use_running_average && use_running_average)
    throw ValueError(message(
        "nn::BatchNorm: 'use_running_average' was given both in the options and at the call", loc,
        "give it once (Flax's merge_param)"));
  if (!options.use_running_average && !use_running_average)
    throw ValueError(
        message("nn::BatchNorm: 'use_running_average' must be given in the options or at the call",
                loc, "pass it at the call: BatchNorm({})(s, x, /*use_running_average=*/!train)"));
  const bool use_ra =
      options.use_running_average ? *options.use_running_average : *use_running_average;
  check_input(x, "nn::BatchNorm", loc);
  const std::vector<int64_t> feature_axes =
      canonical_axes({options.axis}, x.ndim(), "nn::BatchNorm", "axis", loc);
  std::vector<int64_t> reduction_axes;
  for (int64_t a = 0; a < x.ndim(); ++a)
    if (!contains(feature_axes, a)) reduction_axes.push_back(a);
  Shape feature_shape;
  for (int64_t a : feature_axes) feature_shape.push_back(x.shape()[static_cast<int>(a)]);

  Scope& s = own;
  const DType stats_dtype = options.force_float32_reductions ? float32 : x.dtype();
  Variable ra_mean = s.variable(
      "batch_stats", "mean", [](const Shape& sh, DType dt) { return zeros(sh, dt); }, feature_shape,
      stats_dtype, loc);
  Variable ra_var = s.variable(
      "batch_stats", "var", [](const Shape& sh, DType dt) { return ones(sh, dt); }, feature_shape,
      stats_dtype, loc);

  Array mean_, var_;
  if (use_ra) {
    mean_ = ra_mean.value();
    var_ = ra_var.value();
  } else {
    std::tie(mean_, var_) =
        compute_stats(x, reduction_axes, options.dtype, options.use_fast_variance,
                      options.force_float32_reductions, loc);
    if (!s.is_initializing()) {
      const double m = options.momentum;
      auto update = [&](const Variable& ra, const Array& stat) {
        Array v = add(mul(ra.value(), m, loc), mul(stat, 1.0 - m, loc), loc);
        // Flax would store whatever dtype this promotes to; kiln keeps the variable's dtype so a
        // jitted step's state does not change type (only possible with
        // force_float32_reductions off and a `dtype` wider than the input).
        return v.dtype() == stats_dtype ? v : astype(v, stats_dtype, loc);
      };
      Array new_mean = update(ra_mean, mean_);
      Array new_var = update(ra_var, var_);
      ra_mean.set_value(new_mean, loc);
      ra_var.set_value(new_var, loc);
    }
  }
  return normalize(s, x, mean_, var_, reduction_axes, feature_axes,
                   {options.epsilon, options.dtype, options.param_dtype, options.use_bias,
                    options.use_scale, options.bias_init, options.scale_init},
                   loc);
}

Array LayerNorm::operator()(Scope& scope, const Array& x, Loc loc) const {
  return in_scope(scope.child("LayerNorm", options.name, loc), x, loc);
}

Array LayerNorm::in_scope(Scope& own, const Array& x, Loc loc) const {
  check_input(x, "nn::LayerNorm", loc);
  const std::vector<int64_t> reduction_axes =
      canonical_axes(options.reduction_axes, x.ndim(), "nn::LayerNorm", "reduction_axes", loc);
  const std::vector<int64_t> feature_axes =
      canonical_axes(options.feature_axes, x.ndim(), "nn::LayerNorm", "feature_axes", loc);
  Scope& s = own;
  auto [mean_, var_] = compute_stats(x, reduction_axes, options.dtype, options.use_fast_variance,
                                     options.force_float32_reductions, loc);
  return normalize(s, x, mean_, var_, reduction_axes, feature_axes,
                   {options.epsilon, options.dtype, options.param_dtype, options.use_bias,
                    options.use_scale, options.bias_init, options.scale_init},
                   loc);
}

}  // namespace kiln::nn
