// Sorting and cumulative operations: jnp.sort / argsort, lax.sort, lax.top_k, lax.cumsum & co.
#include <string>

#include "kiln/error.hpp"
#include "kiln/ops.hpp"
#include "ops/operands.hpp"

namespace kiln {
namespace {

using ir::Prim;

Array cumulative(Prim p, const Array& x, int64_t axis, bool reverse, const Loc& loc) {
  if (x.ndim() == 0)
    throw ShapeError(message(std::string(ir::name(p)) + " of a 0-d array", loc,
                             "reshape it to 1-d (jnp.cumsum flattens when axis is None)"));
  ir::Attrs a;
  a.axis = ops::normalize_axis(axis, x.ndim(), loc);
  a.reverse = reverse;
  Array in = x;
  if (p == Prim::cumsum || p == Prim::cumprod)
    in = astype(x, ops::accumulation_dtype(x.dtype()), loc);
  return bind(p, {&in, 1}, std::move(a), loc);
}

// One result of a lax.sort of `operands`.
Array sort_result(const std::vector<Array>& operands, int64_t axis, int64_t num_keys,
                  int64_t result, const Loc& loc) {
  ir::Attrs a;
  a.axis = axis;
  a.num_keys = num_keys;
  a.result = result;
  return bind(Prim::sort, operands, std::move(a), loc);
}

int64_t sort_axis(const Array& x, int64_t axis, const char* fn, const Loc& loc) {
  if (x.ndim() == 0)
    throw ShapeError(message(std::string(fn) + " of a 0-d array", loc, "sort a 1-d array or more"));
  return ops::normalize_axis(axis, x.ndim(), loc);
}

}  // namespace

Array cumsum(const Array& x, int64_t axis, bool reverse, Loc loc) {
  return cumulative(Prim::cumsum, x, axis, reverse, loc);
}
Array cumprod(const Array& x, int64_t axis, bool reverse, Loc loc) {
  return cumulative(Prim::cumprod, x, axis, reverse, loc);
}
Array cummax(const Array& x, int64_t axis, bool reverse, Loc loc) {
  return cumulative(Prim::cummax, x, axis, reverse, loc);
}
Array cummin(const Array& x, int64_t axis, bool reverse, Loc loc) {
  return cumulative(Prim::cummin, x, axis, reverse, loc);
}

// jnp.sort: an ascending lax.sort, reversed for descending.
Array sort(const Array& x, int64_t axis, bool descending, Loc loc) {
  const int64_t ax = sort_axis(x, axis, "sort", loc);
  Array r = sort_result({x}, ax, 1, 0, loc);
  return descending ? rev(r, {ax}, loc) : r;
}

// jnp.argsort: sorts (x, iota) by x; descending sorts the reversed operands and reverses the
// result, so equal elements keep their original order.
Array argsort(const Array& x, int64_t axis, bool descending, Loc loc) {
  const int64_t ax = sort_axis(x, axis, "argsort", loc);
  Array index = iota(int32, x.shape(), ax, loc);
  if (!descending) return sort_result({x, index}, ax, 1, 1, loc);
  Array r = sort_result({rev(x, {ax}, loc), rev(index, {ax}, loc)}, ax, 1, 1, loc);
  return rev(r, {ax}, loc);
}

std::vector<Array> sort(const std::vector<Array>& operands, int64_t dimension, int64_t num_keys,
                        Loc loc) {
  if (operands.empty()) throw ValueError(message("sort of no operands", loc));
  const int64_t ax = sort_axis(operands[0], dimension, "sort", loc);
  std::vector<Array> out;
  for (size_t r = 0; r < operands.size(); ++r)
    out.push_back(sort_result(operands, ax, num_keys, static_cast<int64_t>(r), loc));
  return out;
}

std::pair<Array, Array> top_k(const Array& x, int64_t k, Loc loc) {
  ir::Attrs a;
  a.k = k;
  Array values = bind(Prim::top_k, {&x, 1}, a, loc);
  a.result = 1;
  Array indices = bind(Prim::top_k, {&x, 1}, std::move(a), loc);
  return {values, indices};
}

}  // namespace kiln
