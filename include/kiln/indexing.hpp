// Gathering, scattering and dynamic slicing: lax's gather / scatter / dynamic_slice family with
// StableHLO's dimension numbers, and the numpy-level operations built on them (take,
// take_along_axis). See docs/indexing.md.
//
// Out-of-bounds indices behave as in JAX on XLA: gather and the dynamic slices clamp each start
// so that the slice stays inside the operand; a scatter drops an update window that would reach
// outside (JAX's default FILL_OR_DROP).
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/ir.hpp"
#include "kiln/ops.hpp"

namespace kiln {

// ---- lax level ----
// lax.gather (mode "clip": the StableHLO op). dims.slice_sizes: one per operand dim.
Array gather(const Array& operand, const Array& indices, const ir::GatherDims& dims,
             Loc loc = Loc::current());

// lax.scatter and its combining forms. `dims` uses GatherDims' fields under their gather names
// (offset_dims = update_window_dims, collapsed_slice_dims = inserted_window_dims, start_index_map
// = scatter_dims_to_operand_dims; ir.hpp). Duplicate indices combine in the order of the updates
// (scatter: the last one wins).
enum class ScatterCombine { replace, add, mul, min, max };
Array scatter(const Array& operand, const Array& indices, const Array& updates,
              const ir::GatherDims& dims, ScatterCombine combine = ScatterCombine::replace,
              Loc loc = Loc::current());
Array scatter_add(const Array& operand, const Array& indices, const Array& updates,
                  const ir::GatherDims& dims, Loc loc = Loc::current());

// lax.dynamic_slice: start indices are scalars (arrays or C++ integers); a negative start counts
// from the end (as JAX wraps it), then every start is clamped so the slice fits.
Array dynamic_slice(const Array& x, const std::vector<Operand>& start_indices,
                    std::vector<int64_t> slice_sizes, Loc loc = Loc::current());
// lax.dynamic_update_slice: x with `update` written at the (wrapped, clamped) start.
Array dynamic_update_slice(const Array& x, const Array& update,
                           const std::vector<Operand>& start_indices, Loc loc = Loc::current());
// lax.dynamic_slice_in_dim / dynamic_update_slice_in_dim / dynamic_index_in_dim: one axis
// dynamic, the others whole.
Array dynamic_slice_in_dim(const Array& x, const Operand& start, int64_t size, int64_t axis = 0,
                           Loc loc = Loc::current());
Array dynamic_update_slice_in_dim(const Array& x, const Array& update, const Operand& start,
                                  int64_t axis = 0, Loc loc = Loc::current());
Array dynamic_index_in_dim(const Array& x, const Operand& index, int64_t axis = 0,
                           bool keepdims = true, Loc loc = Loc::current());

// ---- numpy level ----
// jnp.take's modes. fill (jnp.take's default): negative indices count from the end, any other
// out-of-range index gives NaN (floats) or the dtype's... as JAX's fill value; clip: indices are
// clamped; wrap: taken modulo the axis size.
enum class TakeMode { fill, clip, wrap };
// jnp.take(x, indices, axis): with no axis, x is flattened first.
Array take(const Array& x, const Array& indices, std::optional<int64_t> axis = std::nullopt,
           TakeMode mode = TakeMode::fill, Loc loc = Loc::current());
// jnp.take_along_axis(x, indices, axis) (mode "fill", as jnp's default).
Array take_along_axis(const Array& x, const Array& indices, int64_t axis, Loc loc = Loc::current());

// ---- numpy indexing: x[...] and x.at[...] ----
// One component of an index expression, as numpy/JAX read them:
//   an integer          x[2], x[-1]        (negative counts from the end; out of range: ValueError)
//   a Slice             x[1:3], x[::-1]    Slice{1, 3}, Slice{std::nullopt, std::nullopt, -1}
//   an integer Array    x[idx]             (advanced indexing; negative entries wrap, others
//                                           out of range clamp as JAX's gather)
//   a boolean Array     x[mask]            (concrete only: mask.nonzero()'s integer arrays, so
//                                           the result has one row per true element; a traced
//                                           mask is a TracerError, as JAX's
//                                           NonConcreteBooleanIndexError)
//   newaxis             x[None]
//   ellipsis            x[..., 0]
struct Slice {
  std::optional<int64_t> start = std::nullopt, stop = std::nullopt;
  int64_t step = 1;
};
struct NewAxis {};
struct Ellipsis {};
inline constexpr NewAxis newaxis{};
inline constexpr Ellipsis ellipsis{};
class Index {
 public:
  Index(int i) : v_(static_cast<int64_t>(i)) {}
  Index(int64_t i) : v_(i) {}
  Index(Slice s) : v_(s) {}
  Index(NewAxis) : v_(NewAxis{}) {}
  Index(Ellipsis) : v_(Ellipsis{}) {}
  Index(const Array& a) : v_(a) {}
  const std::variant<int64_t, Slice, NewAxis, Ellipsis, Array>& value() const { return v_; }

 private:
  std::variant<int64_t, Slice, NewAxis, Ellipsis, Array> v_;
};

// x[i0, i1, ...]: index(x, {0, Slice{1, std::nullopt}, idx, newaxis}). Integer arrays broadcast
// together (numpy's advanced indexing, their dims placed where numpy places them).
Array index(const Array& x, const std::vector<Index>& idx, Loc loc = Loc::current());

// JAX's x.at[idx]: at(x, {idx}).set(v) returns x with the indexed elements replaced; add,
// multiply, min and max combine instead (repeated indices combine in order; set: the last wins).
// Out-of-range array entries are dropped, as JAX's default scatter mode. The values broadcast to
// x[idx]'s shape and take x's dtype. The options are JAX's promises, kept on the scatter (and
// exported); unique_indices lets multiply differentiate with respect to v.
struct ScatterOptions {
  bool indices_are_sorted = false;
  bool unique_indices = false;
};
// x.at[idx].get(mode=..., fill_value=...): JAX's gather modes. promise_in_bounds (the default)
// and clip clamp out-of-range starts, as x[idx]; fill (JAX's "fill" and "drop") gives fill_value
// for every window with an out-of-range start — after negative entries wrap once, so -n-1 and n
// are out — static integers included. fill_value must be a scalar (taken to x's dtype); without
// one, jnp's: NaN, the lowest signed / highest unsigned integer, true.
enum class GatherMode { promise_in_bounds, clip, fill };
struct GetOptions {
  GatherMode mode = GatherMode::promise_in_bounds;
  std::optional<Operand> fill_value = std::nullopt;
  bool indices_are_sorted = false;
  bool unique_indices = false;
};
class At {
 public:
  At(Array x, std::vector<Index> idx) : x_(std::move(x)), idx_(std::move(idx)) {}
  Array get(GetOptions o = {}, Loc loc = Loc::current()) const;
  Array set(const Operand& v, ScatterOptions o = {}, Loc loc = Loc::current()) const;
  Array add(const Operand& v, ScatterOptions o = {}, Loc loc = Loc::current()) const;
  Array multiply(const Operand& v, ScatterOptions o = {}, Loc loc = Loc::current()) const;
  Array min(const Operand& v, ScatterOptions o = {}, Loc loc = Loc::current()) const;
  Array max(const Operand& v, ScatterOptions o = {}, Loc loc = Loc::current()) const;

 private:
  Array apply(const Operand& v, ScatterCombine combine, ScatterOptions o, const Loc& loc) const;
  Array x_;
  std::vector<Index> idx_;
};
// Errors name the line of the set/add/... call.
inline At at(const Array& x, std::vector<Index> idx) {
  return At(x, std::move(idx));
}

}  // namespace kiln
