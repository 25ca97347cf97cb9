// gather, scatter, dynamic slices (lax) and take / take_along_axis (jnp), as JAX builds them
// (jax/_src/lax/slicing.py, jax/_src/numpy/indexing.py).
#include "kiln/indexing.hpp"

#include <algorithm>
#include <limits>

#include "ops/indexing_util.hpp"
#include "ops/operands.hpp"

namespace kiln {

using ir::Prim;

namespace ops {

Shape index_batch_shape(const Array& indices, const ir::GatherDims& dims) {
  Shape s;
  for (int i = 0; i < indices.ndim(); ++i)
    if (i != dims.index_vector_dim) s.push_back(indices.shape()[i]);
  return s;
}

namespace {

// The per-component upper limit of the index vectors (operand dim - window size along
// start_index_map), shaped to broadcast against the indices along index_vector_dim.
Array start_limits(const Array& indices, const ir::GatherDims& dims, const Shape& operand,
                   const std::vector<int64_t>& window_sizes, const Loc& loc) {
  std::vector<int64_t> limits;
  for (int64_t d : dims.start_index_map)
    limits.push_back(operand[static_cast<int>(d)] - window_sizes[static_cast<size_t>(d)]);
  std::vector<double> values(limits.begin(), limits.end());
  Array l = astype(
      array(std::span<const double>(values), Shape{static_cast<int64_t>(values.size())}, loc),
      indices.dtype(), loc);
  if (dims.index_vector_dim == indices.ndim()) return reshape(l, {}, loc);
  return broadcast_in_dim(l, indices.shape(), {dims.index_vector_dim}, loc);
}

}  // namespace

Array indices_in_bounds(const Array& indices, const ir::GatherDims& dims, const Shape& operand,
                        const std::vector<int64_t>& window_sizes, const Loc& loc) {
  Array limits = start_limits(indices, dims, operand, window_sizes, loc);
  Array ok = bitwise_and(greater_equal(indices, 0, loc), less_equal(indices, limits, loc), loc);
  if (dims.index_vector_dim == indices.ndim()) return ok;
  // All components of each vector: a min over index_vector_dim of the 0/1 values.
  return astype(min(astype(ok, int32, loc), Axes(dims.index_vector_dim), false, loc), bool_, loc);
}

Array clamp_indices(const Array& indices, const ir::GatherDims& dims, const Shape& operand,
                    const std::vector<int64_t>& window_sizes, const Loc& loc) {
  Array limits = start_limits(indices, dims, operand, window_sizes, loc);
  return minimum(maximum(indices, zeros_like(indices, loc), loc), limits, loc);
}

std::vector<int64_t> scatter_window_sizes(const ir::GatherDims& dims, const Shape& operand,
                                          const Shape& updates) {
  std::vector<int64_t> sizes(static_cast<size_t>(operand.rank()), 1);
  size_t k = 0;
  for (int64_t i = 0; i < operand.rank(); ++i) {
    auto has = [&](const std::vector<int64_t>& v) {
      return std::find(v.begin(), v.end(), i) != v.end();
    };
    if (has(dims.collapsed_slice_dims) || has(dims.operand_batching_dims)) continue;
    sizes[static_cast<size_t>(i)] = updates[static_cast<int>(dims.offset_dims[k++])];
  }
  return sizes;
}

ir::GatherDims scatter_as_gather(const ir::GatherDims& dims, const Shape& operand,
                                 const Shape& updates) {
  ir::GatherDims g = dims;
  g.slice_sizes = scatter_window_sizes(dims, operand, updates);
  return g;
}

Array broadcast_batch(const Array& mask, const std::vector<int64_t>& offset_dims,
                      const Shape& shape, const Loc& loc) {
  std::vector<int64_t> batch_dims;
  for (int i = 0; i < shape.rank(); ++i)
    if (std::find(offset_dims.begin(), offset_dims.end(), i) == offset_dims.end())
      batch_dims.push_back(i);
  return broadcast_in_dim(mask, shape, batch_dims, loc);
}

}  // namespace ops

// ---- lax level --------------------------------------------------------------------------------

Array gather(const Array& operand, const Array& indices, const ir::GatherDims& dims, Loc loc) {
  ir::Attrs a;
  a.gather = dims;
  Array xs[2] = {operand, indices};
  return bind(Prim::gather, xs, std::move(a), loc);
}

Array scatter(const Array& operand, const Array& indices, const Array& updates,
              const ir::GatherDims& dims, ScatterCombine combine, Loc loc) {
  static constexpr Prim kPrims[] = {Prim::scatter, Prim::scatter_add, Prim::scatter_mul,
                                    Prim::scatter_min, Prim::scatter_max};
  ir::Attrs a;
  a.gather = dims;
  a.gather.slice_sizes.clear();  // gather's only
  Array xs[3] = {operand, indices, updates};
  return bind(kPrims[static_cast<size_t>(combine)], xs, std::move(a), loc);
}

Array scatter_add(const Array& operand, const Array& indices, const Array& updates,
                  const ir::GatherDims& dims, Loc loc) {
  return scatter(operand, indices, updates, dims, ScatterCombine::add, loc);
}

namespace {

// JAX's _dynamic_slice_indices: each start as a scalar of one integer dtype (int32 unless an
// array start is 64-bit), negative starts wrapped by the dim's size (statically for C++ integers,
// with a select for arrays), so that the primitive's clamp sees what JAX's does.
std::vector<Array> dynamic_starts(const Array& x, const std::vector<Operand>& starts,
                                  const char* op, const Loc& loc) {
  if (static_cast<int>(starts.size()) != x.ndim())
    throw ShapeError(message(std::string(op) + ": " + std::to_string(starts.size()) +
                                 " start indices for an operand of shape " + x.shape().str(),
                             loc, "Give one start index per dimension"));
  DType t = int32;
  for (const Operand& s : starts) {
    if (s.is_scalar()) {
      if (s.weak() == WeakKind::floating)
        throw DTypeError(message(std::string(op) + ": a start index must be an integer", loc));
      continue;
    }
    const Array& a = s.array();
    if (a.ndim() != 0 || !is_integer(a.dtype()))
      throw DTypeError(message(std::string(op) + ": start indices must be integer scalars, got " +
                                   std::string(short_name(a.dtype())) + "[" + a.shape().dims_str() +
                                   "]",
                               loc));
    if (itemsize(a.dtype()) == 8) t = is_signed(a.dtype()) ? int64 : uint64;
  }
  std::vector<Array> out;
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t n = x.shape()[static_cast<int>(i)];
    const Operand& s = starts[i];
    if (s.is_scalar()) {
      const int64_t v = s.ivalue();
      out.push_back(scalar(static_cast<double>(v < 0 ? v + n : v), t, loc));
      continue;
    }
    Array a = astype(s.array(), t, loc);
    if (is_signed(t)) a = where(less(a, 0, loc), add(a, n, loc), a, loc);
    out.push_back(a);
  }
  return out;
}

}  // namespace

Array dynamic_slice(const Array& x, const std::vector<Operand>& start_indices,
                    std::vector<int64_t> slice_sizes, Loc loc) {
  std::vector<Array> in = {x};
  for (Array& s : dynamic_starts(x, start_indices, "dynamic_slice", loc)) in.push_back(s);
  ir::Attrs a;
  a.shape = Shape(slice_sizes);
  return bind(Prim::dynamic_slice, in, std::move(a), loc);
}

Array dynamic_update_slice(const Array& x, const Array& update,
                           const std::vector<Operand>& start_indices, Loc loc) {
  std::vector<Array> in = {x, update};
  for (Array& s : dynamic_starts(x, start_indices, "dynamic_update_slice", loc)) in.push_back(s);
  return bind(Prim::dynamic_update_slice, in, {}, loc);
}

Array dynamic_slice_in_dim(const Array& x, const Operand& start, int64_t size, int64_t axis,
                           Loc loc) {
  const int64_t ax = ops::normalize_axis(axis, x.ndim(), loc);
  std::vector<Operand> starts(static_cast<size_t>(x.ndim()), Operand(0, loc));
  starts[static_cast<size_t>(ax)] = start;
  std::vector<int64_t> sizes = x.shape().vec();
  sizes[static_cast<size_t>(ax)] = size;
  return dynamic_slice(x, starts, sizes, loc);
}

Array dynamic_update_slice_in_dim(const Array& x, const Array& update, const Operand& start,
                                  int64_t axis, Loc loc) {
  const int64_t ax = ops::normalize_axis(axis, x.ndim(), loc);
  std::vector<Operand> starts(static_cast<size_t>(x.ndim()), Operand(0, loc));
  starts[static_cast<size_t>(ax)] = start;
  return dynamic_update_slice(x, update, starts, loc);
}

Array dynamic_index_in_dim(const Array& x, const Operand& index, int64_t axis, bool keepdims,
                           Loc loc) {
  const int64_t ax = ops::normalize_axis(axis, x.ndim(), loc);
  Array s = dynamic_slice_in_dim(x, index, 1, ax, loc);
  return keepdims ? s : squeeze(s, Axes(ax), loc);
}

// ---- numpy level --------------------------------------------------------------------------------

namespace {

void require_integer(const Array& indices, const char* op, const Loc& loc) {
  if (!is_integer(indices.dtype()))
    throw DTypeError(message(std::string(op) + ": indices must be integers, got " +
                                 std::string(short_name(indices.dtype())),
                             loc, "Convert them with astype(indices, int32)"));
}

// Negative indices count from the end (jnp's normalisation): where(i < 0, i + n, i).
Array wrap_negative(const Array& i, int64_t n, const Loc& loc) {
  if (!is_signed(i.dtype())) return i;
  return where(less(i, 0, loc), add(i, n, loc), i, loc);
}

}  // namespace

Array ops::fill_value(DType t, const Shape& shape, const Loc& loc) {
  ir::Attrs a;
  a.shape = shape;
  a.dtype = t;
  if (is_floating(t)) {
    a.value = Scalar::from_double(std::numeric_limits<double>::quiet_NaN(), t);
  } else if (t == bool_) {
    a.value = Scalar::from_int(1, t);
  } else if (is_unsigned(t)) {
    a.value = Scalar{t, itemsize(t) == 8 ? ~0ull : (1ull << (8 * itemsize(t))) - 1};
  } else {
    a.value = Scalar{t, 1ull << (8 * itemsize(t) - 1)};
  }
  return bind(Prim::full, {}, std::move(a), loc);
}

Array take(const Array& x, const Array& indices, std::optional<int64_t> axis, TakeMode mode,
           Loc loc) {
  require_integer(indices, "take", loc);
  if (!axis) return take(reshape(x, {-1}, loc), indices, 0, mode, loc);
  const int64_t ax = ops::normalize_axis(*axis, x.ndim(), loc);
  const int64_t n = x.shape()[static_cast<int>(ax)];
  // At least 32-bit, so that wrapping by n and comparing with n cannot overflow.
  Array idx = itemsize(indices.dtype()) < 4 ? astype(indices, int32, loc) : indices;
  if (mode == TakeMode::wrap) {
    if (n == 0) throw ValueError(message("take: mode wrap on an empty axis", loc));
    // Floor modulo: ((i % n) + n) % n.
    idx = rem(add(rem(idx, n, loc), n, loc), n, loc);
  } else if (mode == TakeMode::fill) {
    idx = wrap_negative(idx, n, loc);
  }
  const int64_t k = indices.ndim();
  ir::GatherDims d;
  for (int64_t i = 0; i < ax; ++i) d.offset_dims.push_back(i);
  for (int64_t i = ax + k; i < x.ndim() + k - 1; ++i) d.offset_dims.push_back(i);
  d.collapsed_slice_dims = {ax};
  d.start_index_map = {ax};
  d.index_vector_dim = k;
  d.slice_sizes = x.shape().vec();
  d.slice_sizes[static_cast<size_t>(ax)] = n == 0 ? 0 : 1;
  std::vector<int64_t> idx_shape = idx.shape().vec();
  idx_shape.push_back(1);
  Array idx1 = reshape(idx, idx_shape, loc);
  if (n == 0 && mode != TakeMode::fill)
    throw ValueError(message("take: cannot take from an empty axis (mode clip)", loc));
  Array out = n == 0 ? ops::fill_value(x.dtype(), Shape{}, loc) : gather(x, idx1, d, loc);
  if (mode != TakeMode::fill) return out;
  Shape out_shape;
  for (int64_t i = 0; i < ax; ++i) out_shape.push_back(x.shape()[static_cast<int>(i)]);
  for (int64_t s : indices.shape().vec()) out_shape.push_back(s);
  for (int64_t i = ax + 1; i < x.ndim(); ++i) out_shape.push_back(x.shape()[static_cast<int>(i)]);
  if (n == 0) return broadcast_to(out, out_shape, loc);
  Array ok = ops::indices_in_bounds(idx1, d, x.shape(), d.slice_sizes, loc);
  return where(ops::broadcast_batch(ok, d.offset_dims, out.shape(), loc), out,
               ops::fill_value(x.dtype(), out.shape(), loc), loc);
}

Array take_along_axis(const Array& x, const Array& indices, int64_t axis, Loc loc) {
  require_integer(indices, "take_along_axis", loc);
  if (indices.ndim() != x.ndim())
    throw ShapeError(message("take_along_axis: indices " + indices.shape().str() + " and operand " +
                                 x.shape().str() + " differ in rank",
                             loc));
  const int64_t ax = ops::normalize_axis(axis, x.ndim(), loc);
  // Broadcast both over every dim but the axis; those dims become batching dims.
  Shape xs = x.shape(), is = indices.shape();
  xs[static_cast<int>(ax)] = 1;
  is[static_cast<int>(ax)] = 1;
  Shape common = ops::broadcast_shapes({xs, is}, loc);
  Shape x_target = common, i_target = common;
  x_target[static_cast<int>(ax)] = x.shape()[static_cast<int>(ax)];
  i_target[static_cast<int>(ax)] = indices.shape()[static_cast<int>(ax)];
  Array xb = broadcast_to(x, x_target, loc);
  const int64_t n = x_target[static_cast<int>(ax)];
  Array idx = broadcast_to(indices, i_target, loc);
  if (itemsize(idx.dtype()) < 4) idx = astype(idx, int32, loc);
  idx = wrap_negative(idx, n, loc);
  std::vector<int64_t> idx_shape = idx.shape().vec();
  idx_shape.push_back(1);
  Array idx1 = reshape(idx, idx_shape, loc);
  ir::GatherDims d;
  d.collapsed_slice_dims = {ax};
  d.start_index_map = {ax};
  d.index_vector_dim = x.ndim();
  for (int64_t i = 0; i < x.ndim(); ++i) {
    if (i == ax) continue;
    d.operand_batching_dims.push_back(i);
    d.start_indices_batching_dims.push_back(i);
  }
  d.slice_sizes.assign(static_cast<size_t>(x.ndim()), 1);
  if (n == 0) return broadcast_to(ops::fill_value(x.dtype(), Shape{}, loc), idx.shape(), loc);
  Array out = gather(xb, idx1, d, loc);
  Array ok = ops::indices_in_bounds(idx1, d, xb.shape(), d.slice_sizes, loc);
  return where(ok, out, ops::fill_value(x.dtype(), out.shape(), loc), loc);
}

}  // namespace kiln
