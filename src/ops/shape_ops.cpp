// Shape operations: reshape, transpose, broadcasting, slicing, joining, padding.
#include <algorithm>

#include "kiln/ops.hpp"
#include "ops/operands.hpp"

namespace kiln {

using ir::Prim;

Array broadcast_in_dim(const Array& x, const Shape& shape, std::vector<int64_t> dims, Loc loc) {
  ir::Attrs a;
  a.shape = shape;
  a.dims = std::move(dims);
  return bind(Prim::broadcast_in_dim, {&x, 1}, std::move(a), loc);
}

Array broadcast_to(const Array& x, const Shape& shape, Loc loc) {
  if (x.shape() == shape) return x;
  Shape s = ops::broadcast_shapes({x.shape(), shape}, loc);
  if (!(s == shape))
    throw ShapeError(
        message("cannot broadcast shape " + x.shape().str() + " to " + shape.str(), loc));
  std::vector<int64_t> dims;
  for (int i = 0; i < x.ndim(); ++i) dims.push_back(shape.rank() - x.ndim() + i);
  return broadcast_in_dim(x, shape, std::move(dims), loc);
}

Array reshape(const Array& x, std::vector<int64_t> shape, Loc loc) {
  int64_t known = 1;
  int inferred = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (inferred >= 0) throw ShapeError(message("reshape: only one dimension may be -1", loc));
      inferred = static_cast<int>(i);
    } else {
      known *= shape[i];
    }
  }
  if (inferred >= 0) {
    if (known == 0 || x.size() % known != 0)
      throw ShapeError(message("cannot reshape " + x.shape().str() + " to a shape with -1 and " +
                                   std::to_string(known) + " other elements",
                               loc));
    shape[static_cast<size_t>(inferred)] = x.size() / known;
  }
  Shape s(shape);
  if (s == x.shape()) return x;
  ir::Attrs a;
  a.shape = s;
  return bind(Prim::reshape, {&x, 1}, std::move(a), loc);
}

Array transpose(const Array& x, std::vector<int64_t> perm, Loc loc) {
  if (perm.empty())
    for (int i = x.ndim() - 1; i >= 0; --i) perm.push_back(i);
  for (auto& p : perm) p = ops::normalize_axis(p, x.ndim(), loc);
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i)
    identity = identity && perm[i] == static_cast<int64_t>(i);
  if (identity && static_cast<int>(perm.size()) == x.ndim()) return x;
  ir::Attrs a;
  a.dims = std::move(perm);
  return bind(Prim::transpose, {&x, 1}, std::move(a), loc);
}

Array slice(const Array& x, std::vector<int64_t> start, std::vector<int64_t> limit,
            std::vector<int64_t> stride, Loc loc) {
  if (stride.empty()) stride.assign(start.size(), 1);
  ir::Attrs a;
  a.start = std::move(start);
  a.limit = std::move(limit);
  a.stride = std::move(stride);
  return bind(Prim::slice, {&x, 1}, std::move(a), loc);
}

Array concatenate(const std::vector<Array>& xs, int64_t axis, Loc loc) {
  if (xs.empty()) throw ValueError(message("concatenate of an empty list of arrays", loc));
  DType t = xs[0].dtype();
  for (const auto& x : xs) t = promote(t, x.dtype());
  std::vector<Array> in;
  for (const auto& x : xs) in.push_back(astype(x, t, loc));
  if (in.size() == 1) return in[0];
  ir::Attrs a;
  a.axis = ops::normalize_axis(axis, xs[0].ndim(), loc);
  return bind(Prim::concatenate, in, std::move(a), loc);
}

Array pad(const Array& x, const Operand& padding_value, std::vector<int64_t> low,
          std::vector<int64_t> high, std::vector<int64_t> interior, Loc loc) {
  if (interior.empty()) interior.assign(low.size(), 0);
  Array xs[2] = {x, ops::coerce(padding_value, x.dtype(), Shape{}, loc)};
  ir::Attrs a;
  a.low = std::move(low);
  a.high = std::move(high);
  a.interior = std::move(interior);
  return bind(Prim::pad, xs, std::move(a), loc);
}

Array stack(const std::vector<Array>& xs, int64_t axis, Loc loc) {
  if (xs.empty()) throw ValueError(message("stack of an empty list of arrays", loc));
  const int64_t ax = ops::normalize_axis(axis, xs[0].ndim() + 1, loc);
  std::vector<Array> expanded;
  for (const Array& x : xs) {
    if (!(x.shape() == xs[0].shape()))
      throw ShapeError(message(
          "stack of arrays of different shapes " + xs[0].shape().str() + " and " + x.shape().str(),
          loc));
    expanded.push_back(expand_dims(x, ax, loc));
  }
  return concatenate(expanded, ax, loc);
}

std::vector<Array> split(const Array& x, int64_t sections, int64_t axis, Loc loc) {
  const int64_t ax = ops::normalize_axis(axis, x.ndim(), loc);
  const int64_t n = x.shape()[static_cast<int>(ax)];
  if (sections < 1 || n % sections != 0)
    throw ShapeError(message("split of an axis of size " + std::to_string(n) + " (shape " +
                                 x.shape().str() + ") into " + std::to_string(sections) +
                                 " equal sections",
                             loc, "Give a number of sections that divides it, or indices"));
  std::vector<int64_t> indices;
  for (int64_t i = 1; i < sections; ++i) indices.push_back(i * (n / sections));
  return split(x, indices, ax, loc);
}

// numpy's rule: the parts are [0, i0), [i0, i1), ..., [i_last, n), each index clamped to [0, n]
// (a decreasing pair gives an empty part).
std::vector<Array> split(const Array& x, const std::vector<int64_t>& indices, int64_t axis,
                         Loc loc) {
  const int64_t ax = ops::normalize_axis(axis, x.ndim(), loc);
  const int64_t n = x.shape()[static_cast<int>(ax)];
  std::vector<Array> parts;
  int64_t begin = 0;
  for (size_t k = 0; k <= indices.size(); ++k) {
    const int64_t end = k < indices.size() ? std::clamp<int64_t>(indices[k], 0, n) : n;
    std::vector<int64_t> start(static_cast<size_t>(x.ndim()), 0), limit = x.shape().vec();
    start[static_cast<size_t>(ax)] = std::min(begin, n);
    limit[static_cast<size_t>(ax)] = std::max(std::min(begin, n), end);
    parts.push_back(slice(x, start, limit, {}, loc));
    begin = end;
  }
  return parts;
}

namespace {
// jnp.tri(n, m, k) over x's last two dims, broadcast to x's shape: row + k >= column.
Array lower_triangle(const Array& x, int64_t k, const Loc& loc) {
  if (x.ndim() < 2)
    throw ShapeError(message("tril/triu need at least 2 dims, got shape " + x.shape().str(), loc));
  const Shape s = x.shape();
  Array rows = iota(int32, s, s.rank() - 2, loc), cols = iota(int32, s, s.rank() - 1, loc);
  return greater_equal(add(rows, static_cast<int64_t>(k), loc), cols, loc);
}
}  // namespace

Array tril(const Array& x, int64_t k, Loc loc) {
  return where(lower_triangle(x, k, loc), x, zeros_like(x, loc), loc);
}

Array triu(const Array& x, int64_t k, Loc loc) {
  return where(lower_triangle(x, k - 1, loc), zeros_like(x, loc), x, loc);
}

Array expand_dims(const Array& x, int64_t axis, Loc loc) {
  int64_t ax = ops::normalize_axis(axis, x.ndim() + 1, loc);
  std::vector<int64_t> s = x.shape().vec();
  s.insert(s.begin() + ax, 1);
  return reshape(x, std::move(s), loc);
}

Array squeeze(const Array& x, Axes axes, Loc loc) {
  std::vector<int64_t> drop;
  if (axes.all()) {
    for (int i = 0; i < x.ndim(); ++i)
      if (x.shape()[i] == 1) drop.push_back(i);
  } else {
    drop = axes.resolve(x.ndim(), loc);
    for (int64_t d : drop)
      if (x.shape()[static_cast<int>(d)] != 1)
        throw ShapeError(message("cannot squeeze axis " + std::to_string(d) + " of shape " +
                                     x.shape().str() + ": its size is not 1",
                                 loc));
  }
  std::vector<int64_t> s;
  for (int i = 0; i < x.ndim(); ++i)
    if (std::find(drop.begin(), drop.end(), i) == drop.end()) s.push_back(x.shape()[i]);
  return reshape(x, std::move(s), loc);
}

std::vector<int64_t> Axes::resolve(int rank, const Loc& loc) const {
  std::vector<int64_t> out;
  if (all_) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes_) out.push_back(ops::normalize_axis(a, rank, loc));
  std::sort(out.begin(), out.end());
  if (std::adjacent_find(out.begin(), out.end()) != out.end())
    throw ValueError(message("repeated axis in a reduction", loc));
  return out;
}

}  // namespace kiln
