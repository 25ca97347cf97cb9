// Composite functions as jax.nn defines them, written with kiln's primitives.
#include <cmath>
#include <numbers>

#include "kiln/ops.hpp"
#include "ops/operands.hpp"

namespace kiln {

// jax.nn.relu has a custom derivative, 1 where x > 0 and 0 elsewhere (relu'(0) = 0), which the
// select gives; max's balanced tie rule would give 0.5 at 0. The second branch is max(x, 0) rather
// than a plain 0 so that NaN still propagates, as it does through jax.nn.relu (it is 0 wherever
// x <= 0). Its gradient is zero wherever the select takes it, so stop_gradient drops its VJP
// (compares, selects and fills over the whole activation) from every training step.
Array relu(const Array& x, Loc loc) {
  return where(greater(x, 0, loc), x, stop_gradient(maximum(x, 0, loc), loc), loc);
}

Array gelu(const Array& x, bool approximate, Loc loc) {
  if (approximate) {
    // jax.nn.gelu(approximate=True): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    const double c = std::sqrt(2.0 / std::numbers::pi);
    Array inner = mul(mul(x, add(1.0, mul(0.044715, mul(x, x, loc), loc), loc), loc), c, loc);
    return mul(mul(x, 0.5, loc), add(1.0, tanh(inner, loc), loc), loc);
  }
  // exact: x/2 (1 + erf(x / sqrt 2))
  return mul(mul(x, 0.5, loc), add(1.0, erf(div(x, std::numbers::sqrt2, loc), loc), loc), loc);
}

Array silu(const Array& x, Loc loc) {
  return mul(x, logistic(x, loc), loc);
}

Array log_softmax(const Array& x, Axes axes, Loc loc) {
  // The max is a constant shift: stop_gradient keeps it out of the derivative, as jax.nn does.
  Array shifted = sub(x, stop_gradient(kiln::max(x, axes, true, loc), loc), loc);
  return sub(shifted, log(sum(exp(shifted, loc), axes, true, loc), loc), loc);
}

Array softmax(const Array& x, Axes axes, Loc loc) {
  Array unnormalized = exp(sub(x, stop_gradient(kiln::max(x, axes, true, loc), loc), loc), loc);
  return div(unnormalized, sum(unnormalized, axes, true, loc), loc);
}

Array logsumexp(const Array& x, Axes axes, bool keepdims, Loc loc) {
  Array m = stop_gradient(kiln::max(x, axes, true, loc), loc);
  Array r = add(log(sum(exp(sub(x, m, loc), loc), axes, true, loc), loc), m, loc);
  if (keepdims) return r;
  return squeeze(r, axes.all() ? Axes() : axes, loc);
}

// jax.nn.one_hot: x compared with an iota along the new axis.
Array one_hot(const Array& x, int64_t num_classes, DType dtype, int64_t axis, Loc loc) {
  const int64_t ax = ops::normalize_axis(axis, x.ndim() + 1, loc);
  std::vector<int64_t> s = x.shape().vec();
  s.insert(s.begin() + ax, num_classes);
  std::vector<int64_t> dims;
  for (int64_t d = 0; d <= x.ndim(); ++d)
    if (d != ax) dims.push_back(d);
  Array lhs = broadcast_in_dim(x, Shape(s), dims, loc);
  return astype(kiln::equal(lhs, iota(x.dtype(), Shape(s), ax, loc), loc), dtype, loc);
}

}  // namespace kiln
