#include <limits>

#include "kiln/ops.hpp"
#include "ops/operands.hpp"

namespace kiln {
namespace {

using ir::Prim;

// Puts back the reduced axes as size-1 dimensions (keepdims=True).
Array keep_dims(const Array& r, const Shape& in, const std::vector<int64_t>& axes, const Loc& loc) {
  std::vector<int64_t> s = in.vec();
  for (int64_t a : axes) s[static_cast<size_t>(a)] = 1;
  return reshape(r, std::move(s), loc);
}

Array reduce(Prim p, const Array& x, const Axes& axes, bool keepdims, const Loc& loc) {
  std::vector<int64_t> ax = axes.resolve(x.ndim(), loc);
  Array in = x;
  // Sums of bools count, as in numpy; integer sums stay integer. Products accumulate as jnp.prod
  // does: bools and narrow integers in int32 / uint32.
  if (p == Prim::reduce_sum && x.dtype() == bool_) in = astype(x, int32, loc);
  if (p == Prim::reduce_prod) in = astype(x, ops::accumulation_dtype(x.dtype()), loc);
  Array r = in;
  if (!ax.empty()) {
    ir::Attrs a;
    a.dims = ax;
    r = bind(p, {&in, 1}, std::move(a), loc);
  }
  return keepdims ? keep_dims(r, x.shape(), ax, loc) : r;
}

}  // namespace

Array sum(const Array& x, Axes axes, bool keepdims, Loc loc) {
  return reduce(Prim::reduce_sum, x, axes, keepdims, loc);
}
Array max(const Array& x, Axes axes, bool keepdims, Loc loc) {
  return reduce(Prim::reduce_max, x, axes, keepdims, loc);
}
Array min(const Array& x, Axes axes, bool keepdims, Loc loc) {
  return reduce(Prim::reduce_min, x, axes, keepdims, loc);
}

Array prod(const Array& x, Axes axes, bool keepdims, Loc loc) {
  return reduce(Prim::reduce_prod, x, axes, keepdims, loc);
}

// any: the maximum of the truth values (as uint8); all: their minimum.
Array any(const Array& x, Axes axes, bool keepdims, Loc loc) {
  Array truth = x.dtype() == bool_ ? x : not_equal(x, 0.0, loc);
  return astype(reduce(Prim::reduce_max, astype(truth, uint8, loc), axes, keepdims, loc), bool_,
                loc);
}
Array all(const Array& x, Axes axes, bool keepdims, Loc loc) {
  Array truth = x.dtype() == bool_ ? x : not_equal(x, 0.0, loc);
  return astype(reduce(Prim::reduce_min, astype(truth, uint8, loc), axes, keepdims, loc), bool_,
                loc);
}

// jnp.var: 16-bit floats computed in float32 and rounded back; the mean subtracted first (as
// JAX does: sum / N, broadcast, subtract, square, sum, / (N - ddof)).
Array var(const Array& x, Axes axes, double ddof, bool keepdims, Loc loc) {
  std::vector<int64_t> ax = axes.resolve(x.ndim(), loc);
  int64_t count = 1;
  for (int64_t a : ax) count *= x.shape()[static_cast<int>(a)];
  const DType out = is_floating(x.dtype()) ? x.dtype() : float32;
  const DType compute = itemsize(out) == 2 ? float32 : out;
  Array xc = astype(x, compute, loc);
  Array centered = sub(xc, mean(xc, axes, true, loc), loc);
  Array squares = sum(mul(centered, centered, loc), axes, keepdims, loc);
  const double denominator = static_cast<double>(count) - ddof;
  Array r = denominator > 0 ? div(squares, denominator, loc)
                            : full_like(squares, std::numeric_limits<double>::quiet_NaN(), loc);
  return astype(r, out, loc);
}

Array std(const Array& x, Axes axes, double ddof, bool keepdims, Loc loc) {
  const DType out = is_floating(x.dtype()) ? x.dtype() : float32;
  const DType compute = itemsize(out) == 2 ? float32 : out;
  Array v = var(astype(x, compute, loc), axes, ddof, keepdims, loc);
  return astype(sqrt(v, loc), out, loc);
}

Array mean(const Array& x, Axes axes, bool keepdims, Loc loc) {
  std::vector<int64_t> ax = axes.resolve(x.ndim(), loc);
  int64_t count = 1;
  for (int64_t a : ax) count *= x.shape()[static_cast<int>(a)];
  Array xf = is_floating(x.dtype()) || is_complex(x.dtype()) ? x : astype(x, float32, loc);
  return div(sum(xf, axes, keepdims, loc), static_cast<double>(count), loc);
}

namespace {
Array arg_reduce(Prim p, const Array& x, int64_t axis, bool keepdims, const Loc& loc) {
  int64_t ax = ops::normalize_axis(axis, x.ndim(), loc);
  ir::Attrs a;
  a.axis = ax;
  // Bools order as 0 < 1 (the primitive takes numbers).
  Array in = x.dtype() == bool_ ? astype(x, uint8, loc) : x;
  Array r = bind(p, {&in, 1}, std::move(a), loc);
  return keepdims ? expand_dims(r, ax, loc) : r;
}
}  // namespace

Array argmax(const Array& x, int64_t axis, bool keepdims, Loc loc) {
  return arg_reduce(Prim::argmax, x, axis, keepdims, loc);
}
Array argmin(const Array& x, int64_t axis, bool keepdims, Loc loc) {
  return arg_reduce(Prim::argmin, x, axis, keepdims, loc);
}

}  // namespace kiln
