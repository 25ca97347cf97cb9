// Array operations: numpy-style broadcasting and JAX type promotion at the API, each lowering to
// kiln's primitives (ir.hpp). Every function records the caller's source line for its errors.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/ir.hpp"

namespace kiln {

// Reduction axes: one axis, a list, or (default) all of them. Negative axes count from the end.
class Axes {
 public:
  Axes() = default;
  Axes(int axis) : axes_{axis}, all_(false) {}
  Axes(std::initializer_list<int64_t> axes) : axes_(axes), all_(false) {}
  Axes(std::vector<int64_t> axes) : axes_(std::move(axes)), all_(false) {}
  bool all() const { return all_; }
  // Normalised (non-negative, sorted, unique) axes for an array of rank `rank`.
  std::vector<int64_t> resolve(int rank, const Loc& loc) const;

 private:
  std::vector<int64_t> axes_;
  bool all_ = true;
};

// ---- creation ----
Array full(const Shape& shape, double value, DType dtype = float32, Loc loc = Loc::current());
Array zeros(const Shape& shape, DType dtype = float32, Loc loc = Loc::current());
Array ones(const Shape& shape, DType dtype = float32, Loc loc = Loc::current());
Array full_like(const Array& x, double value, Loc loc = Loc::current());
Array zeros_like(const Array& x, Loc loc = Loc::current());
Array ones_like(const Array& x, Loc loc = Loc::current());
// 0, 1, ..., n-1 along `axis` of `shape`.
Array iota(DType dtype, const Shape& shape, int64_t axis = 0, Loc loc = Loc::current());
Array arange(int64_t n, DType dtype = int32, Loc loc = Loc::current());
// A host array from values: array({1, 2, 3, 4}, {1, 4}); the shape defaults to 1-d.
Array array(std::initializer_list<float> values, const Shape& shape = {}, Loc loc = Loc::current());
Array array(std::span<const float> values, const Shape& shape, Loc loc = Loc::current());
Array array(std::span<const double> values, const Shape& shape, Loc loc = Loc::current());
Array array(std::span<const int32_t> values, const Shape& shape, Loc loc = Loc::current());
Array array(std::span<const uint32_t> values, const Shape& shape, Loc loc = Loc::current());
// A 0-d array of `value` in `dtype`.
Array scalar(double value, DType dtype = float32, Loc loc = Loc::current());

// ---- elementwise ----
Array neg(const Array& x, Loc loc = Loc::current());
Array abs(const Array& x, Loc loc = Loc::current());
Array sign(const Array& x, Loc loc = Loc::current());
Array exp(const Array& x, Loc loc = Loc::current());
Array log(const Array& x, Loc loc = Loc::current());
Array log1p(const Array& x, Loc loc = Loc::current());
Array expm1(const Array& x, Loc loc = Loc::current());
Array sqrt(const Array& x, Loc loc = Loc::current());
Array rsqrt(const Array& x, Loc loc = Loc::current());
Array tanh(const Array& x, Loc loc = Loc::current());
Array logistic(const Array& x, Loc loc = Loc::current());
Array sigmoid(const Array& x, Loc loc = Loc::current());  // = logistic
Array sin(const Array& x, Loc loc = Loc::current());
Array cos(const Array& x, Loc loc = Loc::current());
Array erf(const Array& x, Loc loc = Loc::current());
Array erf_inv(const Array& x, Loc loc = Loc::current());
Array floor(const Array& x, Loc loc = Loc::current());
Array ceil(const Array& x, Loc loc = Loc::current());
// Rounds half away from zero (lax.round's default).
Array round(const Array& x, Loc loc = Loc::current());
Array square(const Array& x, Loc loc = Loc::current());
Array reciprocal(const Array& x, Loc loc = Loc::current());
Array logical_not(const Array& x, Loc loc = Loc::current());

Array add(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array sub(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array mul(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array div(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array rem(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array pow(const Operand& a, const Operand& b, Loc loc = Loc::current());
// jnp.arctan2(a, b): the angle of the point (b, a) in (-pi, pi]; integer operands give float32.
Array arctan2(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array maximum(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array minimum(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array bitwise_and(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array bitwise_or(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array bitwise_xor(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array shift_left(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array shift_right_logical(const Operand& a, const Operand& b, Loc loc = Loc::current());

Array equal(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array not_equal(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array less(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array less_equal(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array greater(const Operand& a, const Operand& b, Loc loc = Loc::current());
Array greater_equal(const Operand& a, const Operand& b, Loc loc = Loc::current());

// cond ? a : b, elementwise, with broadcasting (jnp.where).
Array where(const Operand& cond, const Operand& a, const Operand& b, Loc loc = Loc::current());
Array astype(const Array& x, DType dtype, Loc loc = Loc::current());
// Reinterprets the bits of each element as `dtype` (same itemsize).
Array bitcast_convert(const Array& x, DType dtype, Loc loc = Loc::current());
Array stop_gradient(const Array& x, Loc loc = Loc::current());
Array clip(const Array& x, const Operand& lo, const Operand& hi, Loc loc = Loc::current());

Array operator+(const Operand& a, const Operand& b);
Array operator-(const Operand& a, const Operand& b);
Array operator*(const Operand& a, const Operand& b);
Array operator/(const Operand& a, const Operand& b);
Array operator-(const Operand& a);
Array operator<(const Operand& a, const Operand& b);
Array operator<=(const Operand& a, const Operand& b);
Array operator>(const Operand& a, const Operand& b);
Array operator>=(const Operand& a, const Operand& b);
Array operator==(const Operand& a, const Operand& b);
Array operator!=(const Operand& a, const Operand& b);

// ---- shape ----
// lax.broadcast_in_dim: operand dim i becomes result dim dims[i].
Array broadcast_in_dim(const Array& x, const Shape& shape, std::vector<int64_t> dims,
                       Loc loc = Loc::current());
// numpy broadcasting of x to `shape`.
Array broadcast_to(const Array& x, const Shape& shape, Loc loc = Loc::current());
// One dimension may be -1 (inferred).
Array reshape(const Array& x, std::vector<int64_t> shape, Loc loc = Loc::current());
// Default permutation: reversed axes (x.T).
Array transpose(const Array& x, std::vector<int64_t> perm = {}, Loc loc = Loc::current());
Array slice(const Array& x, std::vector<int64_t> start, std::vector<int64_t> limit,
            std::vector<int64_t> stride = {}, Loc loc = Loc::current());
Array concatenate(const std::vector<Array>& xs, int64_t axis = 0, Loc loc = Loc::current());
// lax.pad with non-negative low/high/interior padding per dimension.
Array pad(const Array& x, const Operand& padding_value, std::vector<int64_t> low,
          std::vector<int64_t> high, std::vector<int64_t> interior = {}, Loc loc = Loc::current());
Array expand_dims(const Array& x, int64_t axis, Loc loc = Loc::current());
Array squeeze(const Array& x, Axes axes = {}, Loc loc = Loc::current());

// ---- reductions ----
Array sum(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Array max(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Array min(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Array mean(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Array prod(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
// jnp.any / jnp.all: whether any / every element (x != 0) along the axes is true; bool result.
Array any(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Array all(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
// jnp.var / jnp.std: mean squared deviation over N - ddof (NaN when N - ddof <= 0, as JAX).
// Integer operands become float32.
Array var(const Array& x, Axes axes = {}, double ddof = 0, bool keepdims = false,
          Loc loc = Loc::current());
Array std(const Array& x, Axes axes = {}, double ddof = 0, bool keepdims = false,
          Loc loc = Loc::current());
// Index of the first maximum (minimum) along `axis`, as int32; a NaN counts as both, as jnp's.
Array argmax(const Array& x, int64_t axis, bool keepdims = false, Loc loc = Loc::current());
Array argmin(const Array& x, int64_t axis, bool keepdims = false, Loc loc = Loc::current());

// ---- cumulative (src/ops/sorting.cpp) ----
// lax.cumsum & co.: the running sum / product / max / min along `axis` (from its end when
// `reverse`), each result rounded as XLA's CPU rounds it (docs/primitives.md, "How sums round").
// cumsum and cumprod of bool, and of integers narrower than 32 bits, accumulate in int32 / uint32,
// as jnp's; cummax and cummin keep the dtype.
Array cumsum(const Array& x, int64_t axis, bool reverse = false, Loc loc = Loc::current());
Array cumprod(const Array& x, int64_t axis, bool reverse = false, Loc loc = Loc::current());
Array cummax(const Array& x, int64_t axis, bool reverse = false, Loc loc = Loc::current());
Array cummin(const Array& x, int64_t axis, bool reverse = false, Loc loc = Loc::current());

// ---- sorting (src/ops/sorting.cpp) ----
// jnp.sort / jnp.argsort along `axis`: stable, NaNs last and -0.0 equal to 0.0 (JAX's order).
// descending reverses the sorted order as jnp does: NaNs first, and argsort keeps equal
// elements in their original order. argsort gives int32 indices.
Array sort(const Array& x, int64_t axis = -1, bool descending = false, Loc loc = Loc::current());
Array argsort(const Array& x, int64_t axis = -1, bool descending = false, Loc loc = Loc::current());
// lax.sort of several operands of one shape along `dimension`: each operand reordered by a stable
// lexicographic sort on the first num_keys of them.
std::vector<Array> sort(const std::vector<Array>& operands, int64_t dimension, int64_t num_keys = 1,
                        Loc loc = Loc::current());
// lax.top_k: the k largest along the last axis, largest first (ties: lower index first; +NaN
// above +inf, -0.0 below 0.0), and their int32 indices.
std::pair<Array, Array> top_k(const Array& x, int64_t k, Loc loc = Loc::current());

// ---- contraction ----
Array dot_general(const Array& a, const Array& b, ir::DotDims dims, Loc loc = Loc::current());
// numpy matmul: 1-d operands promoted and squeezed, leading batch dims broadcast.
Array matmul(const Array& a, const Array& b, Loc loc = Loc::current());
// numpy dot for 1-d and 2-d operands.
Array dot(const Array& a, const Array& b, Loc loc = Loc::current());

// ---- convolution and windows (src/ops/convolution.cpp) ----
struct ConvOptions {
  std::vector<int64_t> window_strides = {};               // empty: 1 per spatial dim
  std::vector<std::pair<int64_t, int64_t>> padding = {};  // (low, high) per spatial dim; empty: 0
  std::vector<int64_t> lhs_dilation = {}, rhs_dilation = {};  // empty: 1
  int64_t feature_group_count = 1;
  // lax's string form of ConvDimensionNumbers: N/C batch/feature of lhs and out, O/I out/in
  // features of rhs, any other letters spatial (matched across the three by letter).
  std::string lhs_spec = "NHWC", rhs_spec = "HWIO", out_spec = "NHWC";
};
// lax.conv_general_dilated. Operands are promoted to one dtype, as dot_general does.
Array conv_general_dilated(const Array& lhs, const Array& rhs, const ConvOptions& options = {},
                           Loc loc = Loc::current());
// lax.padtype_to_pads: "SAME" | "SAME_LOWER" | "VALID" -> (low, high) per spatial dim. `window` is
// the (dilated) window size.
std::vector<std::pair<int64_t, int64_t>> padtype_to_pads(std::span<const int64_t> in_spatial,
                                                         std::span<const int64_t> window,
                                                         std::span<const int64_t> strides,
                                                         std::string_view padding,
                                                         Loc loc = Loc::current());
// lax.reduce_window with max (init -inf, or the lowest integer) / add (init 0): one window size,
// stride and (low, high) padding per dim of x; empty strides: 1, empty padding: 0.
Array reduce_window_max(const Array& x, std::vector<int64_t> window, std::vector<int64_t> strides,
                        std::vector<std::pair<int64_t, int64_t>> padding, Loc loc = Loc::current());
Array reduce_window_sum(const Array& x, std::vector<int64_t> window, std::vector<int64_t> strides,
                        std::vector<std::pair<int64_t, int64_t>> padding, Loc loc = Loc::current());
// With min (init +inf, or the highest integer) / multiply (init 1).
Array reduce_window_min(const Array& x, std::vector<int64_t> window, std::vector<int64_t> strides,
                        std::vector<std::pair<int64_t, int64_t>> padding, Loc loc = Loc::current());
Array reduce_window_prod(const Array& x, std::vector<int64_t> window, std::vector<int64_t> strides,
                         std::vector<std::pair<int64_t, int64_t>> padding,
                         Loc loc = Loc::current());
// lax.rev: reverses the order of elements along `dims`.
Array rev(const Array& x, std::vector<int64_t> dims, Loc loc = Loc::current());

// ---- composites (as jax.nn defines them) ----
Array relu(const Array& x, Loc loc = Loc::current());
// approximate=true is jax.nn.gelu's default (the tanh form).
Array gelu(const Array& x, bool approximate = true, Loc loc = Loc::current());
Array silu(const Array& x, Loc loc = Loc::current());
Array softmax(const Array& x, Axes axes = -1, Loc loc = Loc::current());
Array log_softmax(const Array& x, Axes axes = -1, Loc loc = Loc::current());
Array logsumexp(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());

// Binds one primitive: records a node under a trace, or compiles (cached) and runs it eagerly.
// Inputs must already have the shapes and dtypes the primitive requires.
Array bind(ir::Prim prim, std::span<const Array> inputs, ir::Attrs attrs, const Loc& loc);

}  // namespace kiln
