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
  // Sums of bools count, as in numpy; integer sums stay integer.
  if (p == Prim::reduce_sum && x.dtype() == bool_) in = astype(x, int32, loc);
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

Array mean(const Array& x, Axes axes, bool keepdims, Loc loc) {
  std::vector<int64_t> ax = axes.resolve(x.ndim(), loc);
  int64_t count = 1;
  for (int64_t a : ax) count *= x.shape()[static_cast<int>(a)];
  Array xf = is_floating(x.dtype()) || is_complex(x.dtype()) ? x : astype(x, float32, loc);
  return div(sum(xf, axes, keepdims, loc), static_cast<double>(count), loc);
}

Array argmax(const Array& x, int64_t axis, bool keepdims, Loc loc) {
  int64_t ax = ops::normalize_axis(axis, x.ndim(), loc);
  ir::Attrs a;
  a.axis = ax;
  Array r = bind(Prim::argmax, {&x, 1}, std::move(a), loc);
  return keepdims ? expand_dims(r, ax, loc) : r;
}

}  // namespace kiln
