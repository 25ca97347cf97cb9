// nn::Conv, as flax.linen.Conv (flax/linen/linear.py, _Conv.__call__ with shared weights):
//   batch dims flattened to one (or one added), strides/dilations broadcast from an int,
//   kernel = param('kernel', kernel_init, kernel_size + (in // groups, features), param_dtype)
//   bias   = param('bias', bias_init, (features,), param_dtype)           # if use_bias
//   x, kernel, bias = promote_dtype(x, kernel, bias, dtype=dtype)
//   y = lax.conv_general_dilated(x, kernel, strides, padding, input_dilation, kernel_dilation,
//                                channels-last dimension numbers, feature_group_count) + bias
// A padding string is resolved by lax.padtype_to_pads against the dilated kernel; CIRCULAR wraps
// the input around first and CAUSAL pads it on the left, then both run VALID.
#include "kiln/nn/convolution.hpp"

#include <string>

#include "kiln/ops.hpp"

namespace kiln::nn {
namespace {

using Pads = std::vector<std::pair<int64_t, int64_t>>;

// Flax's maybe_broadcast: empty -> 1 per dim, one entry -> that value per dim.
std::vector<int64_t> per_dim(const std::vector<int64_t>& v, size_t n, const char* what,
                             const Loc& loc) {
  if (v.empty()) return std::vector<int64_t>(n, 1);
  if (v.size() == 1) return std::vector<int64_t>(n, v[0]);
  if (v.size() != n)
    throw ShapeError(message("nn::Conv: " + std::string(what) + " has " + std::to_string(v.size()) +
                                 " entries for a kernel of " + std::to_string(n) + " dims",
                             loc));
  return v;
}

// jnp.pad(x, pads, mode='wrap') over the spatial dims 1..n of a batched input.
Array wrap_pad(Array x, const Pads& pads, const Loc& loc) {
  for (size_t i = 0; i < pads.size(); ++i) {
    const auto axis = static_cast<int64_t>(i + 1);
    const int64_t n = x.shape()[static_cast<int>(axis)];
    const auto [lo, hi] = pads[i];
    if (lo > n || hi > n)
      throw ShapeError(message("nn::Conv: CIRCULAR padding (" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + ") wraps more than the input's " +
                                   std::to_string(n) + " elements in spatial dim " +
                                   std::to_string(i),
                               loc));
    auto part = [&](int64_t start, int64_t stop) {
      std::vector<int64_t> s(static_cast<size_t>(x.ndim()), 0), l = x.shape().vec();
      s[static_cast<size_t>(axis)] = start;
      l[static_cast<size_t>(axis)] = stop;
      return slice(x, s, l, {}, loc);
    };
    x = concatenate({part(n - lo, n), x, part(0, hi)}, axis, loc);
  }
  return x;
}

}  // namespace

Array Conv::operator()(Scope& scope, const Array& input, Loc loc) const {
  return in_scope(scope.child("Conv", options.name, loc), input, loc);
}

Array Conv::in_scope(Scope& own, const Array& input, Loc loc) const {
  const Options& o = options;
  if (o.features <= 0)
    throw ValueError(
        message("nn::Conv: features must be positive, got " + std::to_string(o.features), loc));
  if (o.kernel_size.empty())
    throw ValueError(message("nn::Conv: kernel_size is empty", loc,
                             "give one size per spatial dim, e.g. .kernel_size = {3, 3}"));
  if (input.empty()) throw ValueError(message("nn::Conv: the input is an empty Array", loc));
  const size_t ns = o.kernel_size.size();
  const int64_t batch_dims = input.ndim() - static_cast<int64_t>(ns + 1);
  if (batch_dims < 0)
    throw ShapeError(message("nn::Conv: a kernel of " + std::to_string(ns) +
                                 " spatial dims needs an input (batch..., spatial..., features) "
                                 "of at least " +
                                 std::to_string(ns + 1) + " dims, got " + input.shape().str(),
                             loc));
  const int64_t in_features = input.shape()[input.ndim() - 1];
  if (o.feature_group_count < 1 || in_features % o.feature_group_count != 0 ||
      o.features % o.feature_group_count != 0)
    throw ShapeError(
        message("nn::Conv: feature_group_count " + std::to_string(o.feature_group_count) +
                    " must divide the input's features (" + std::to_string(in_features) +
                    ") and features (" + std::to_string(o.features) + ")",
                loc));

  // One batch dim for the convolution.
  Array x = input;
  const std::vector<int64_t> in_shape = input.shape().vec();
  if (batch_dims != 1) {
    std::vector<int64_t> flat = {1};
    for (int64_t i = 0; i < batch_dims; ++i) flat[0] *= in_shape[static_cast<size_t>(i)];
    flat.insert(flat.end(), in_shape.begin() + batch_dims, in_shape.end());
    x = reshape(x, flat, loc);
  }

  ConvOptions c;
  c.window_strides = per_dim(o.strides, ns, "strides", loc);
  c.lhs_dilation = per_dim(o.input_dilation, ns, "input_dilation", loc);
  c.rhs_dilation = per_dim(o.kernel_dilation, ns, "kernel_dilation", loc);
  c.feature_group_count = o.feature_group_count;
  std::vector<int64_t> dilated_kernel;
  for (size_t i = 0; i < ns; ++i)
    dilated_kernel.push_back((o.kernel_size[i] - 1) * c.rhs_dilation[i] + 1);
  if (!o.explicit_padding.empty()) {
    if (o.explicit_padding.size() != ns)
      throw ShapeError(message("nn::Conv: explicit_padding has " +
                                   std::to_string(o.explicit_padding.size()) +
                                   " pairs for a kernel of " + std::to_string(ns) + " dims",
                               loc));
    c.padding = o.explicit_padding;
  } else if (o.padding == "CIRCULAR") {
    Pads pads;
    for (int64_t k : dilated_kernel) pads.emplace_back((k - 1) / 2, k / 2);
    x = wrap_pad(x, pads, loc);
  } else if (o.padding == "CAUSAL") {
    if (ns != 1)
      throw ValueError(
          message("nn::Conv: CAUSAL padding is only implemented for 1-d convolutions", loc));
    c.padding = {{dilated_kernel[0] - 1, 0}};
  } else {
    std::vector<int64_t> spatial(x.shape().begin() + 1, x.shape().end() - 1);
    c.padding = padtype_to_pads(spatial, dilated_kernel, c.window_strides, o.padding, loc);
  }
  // Channels-last dimension numbers, as Flax's _conv_dimension_numbers: lhs and out
  // (0, ndim-1, 1, ..., ndim-2), kernel (ndim-1, ndim-2, 0, ..., ndim-3). Shape's rank limit keeps
  // ns at most 6.
  const std::string letters = std::string("TUDHWX").substr(6 - ns);
  c.lhs_spec = "N" + letters + "C";
  c.rhs_spec = letters + "IO";
  c.out_spec = c.lhs_spec;

  Scope& s = own;
  Shape kshape(o.kernel_size);
  kshape.push_back(in_features / o.feature_group_count);
  kshape.push_back(o.features);
  Array kernel = s.param("kernel", o.kernel_init, kshape, o.param_dtype, loc);
  Array bias;
  if (o.use_bias) bias = s.param("bias", o.bias_init, Shape{o.features}, o.param_dtype, loc);

  DType dt = o.dtype ? *o.dtype : promote(x.dtype(), kernel.dtype());
  if (!o.dtype && o.use_bias) dt = promote(dt, bias.dtype());
  auto cast = [&](const Array& a) { return a.dtype() == dt ? a : astype(a, dt, loc); };
  Array y = conv_general_dilated(cast(x), cast(kernel), c, loc);
  if (o.use_bias) y = add(y, cast(bias), loc);
  if (batch_dims != 1) {
    std::vector<int64_t> out(in_shape.begin(), in_shape.begin() + batch_dims);
    out.insert(out.end(), y.shape().begin() + 1, y.shape().end());
    y = reshape(y, out, loc);
  }
  return y;
}

}  // namespace kiln::nn
