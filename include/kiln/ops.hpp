// Array operations: numpy-style broadcasting and JAX type promotion at the API, each lowering to
// kiln's primitives (ir.hpp). Every function records the caller's source line for its errors.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
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
// As jnp's: exp, log, log1p, expm1, sqrt, rsqrt, tanh, logistic, sin, cos, erf and erf_inv of an
// integer or bool array promote it to float32 first; floor, ceil and round of one return it
// unchanged; abs and sign of an unsigned one are x and (x != 0).
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
// jnp.arcsin / arccos / arctan as XLA expands chlo.asin / acos / atan: with r = sqrt((1 - x)(1 +
// x)), 2·atan2(x, 1 + r), atan2(r, x) and atan2(x, 1). Integer inputs give float32.
Array arcsin(const Array& x, Loc loc = Loc::current());
Array arccos(const Array& x, Loc loc = Loc::current());
Array arctan(const Array& x, Loc loc = Loc::current());
// lax.lgamma (log |Γ(x)|) and lax.digamma, with XLA's Lanczos approximation (g = 7, 9 terms).
// digamma has no gradient in kiln (JAX's needs polygamma).
Array lgamma(const Array& x, Loc loc = Loc::current());
Array digamma(const Array& x, Loc loc = Loc::current());
// lax.reduce_precision: rounds to the nearest value (ties to even) of a float format with
// `exponent_bits` exponent and `mantissa_bits` mantissa bits; overflow gives ±inf, underflow ±0.
Array reduce_precision(const Array& x, int exponent_bits, int mantissa_bits,
                       Loc loc = Loc::current());
// lax.population_count and lax.clz on integers: set bits, leading zero bits.
Array population_count(const Array& x, Loc loc = Loc::current());
Array clz(const Array& x, Loc loc = Loc::current());
// jnp.isnan / isinf / isfinite (bool; always false / false / true for integers and bool).
Array isnan(const Array& x, Loc loc = Loc::current());
Array isinf(const Array& x, Loc loc = Loc::current());
Array isfinite(const Array& x, Loc loc = Loc::current());
Array floor(const Array& x, Loc loc = Loc::current());
Array ceil(const Array& x, Loc loc = Loc::current());
// Rounds half away from zero (lax.round's default).
Array round(const Array& x, Loc loc = Loc::current());
Array square(const Array& x, Loc loc = Loc::current());
Array reciprocal(const Array& x, Loc loc = Loc::current());
Array logical_not(const Array& x, Loc loc = Loc::current());

// Binary operations broadcast as numpy does and promote as JAX does (kiln/dtype.hpp: `promote`; a
// C++ scalar is weakly typed, as a Python scalar). On bool operands add and maximum are logical
// or, mul and minimum logical and (jnp's). div is true division (jnp.divide): integer or bool
// operands give float32. rem is lax.rem: the result has the sign of a (C's %, fmod), unlike
// jnp.remainder's floor modulo. pow and arctan2 compute in floating point: integer operands give
// float32 (jnp.power of two integer arrays stays integer; kiln's does not). Integer arithmetic
// wraps; integer division by zero gives -1 (XLA's).
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
// lax.shift_right_arithmetic: the sign bit fills in (counts >= the bit width give 0 or -1).
Array shift_right_arithmetic(const Operand& a, const Operand& b, Loc loc = Loc::current());

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

// ---- complex (complex64 / complex128) ----
// jnp.real / jnp.imag: the parts of a complex array (float32 parts for complex64, float64 for
// complex128). Of a real array: x itself / zeros like it.
Array real(const Array& x, Loc loc = Loc::current());
Array imag(const Array& x, Loc loc = Loc::current());
// jnp.conj: complex(real(x), -imag(x)), as JAX writes it; a real array is returned as is.
Array conj(const Array& x, Loc loc = Loc::current());
// lax.complex: re + i*im from two float32 or float64 operands (broadcast; weak scalars adapt).
Array complex(const Operand& re, const Operand& im, Loc loc = Loc::current());
// jnp.angle: atan2(imag(x), real(x)) in (-pi, pi]; integer operands give float32.
Array angle(const Array& x, Loc loc = Loc::current());
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
// jnp.stack: the arrays (all of one shape) joined along a new axis.
Array stack(const std::vector<Array>& xs, int64_t axis = 0, Loc loc = Loc::current());
// jnp.split into `sections` equal parts along `axis` (a ShapeError when they are not equal) ...
std::vector<Array> split(const Array& x, int64_t sections, int64_t axis = 0,
                         Loc loc = Loc::current());
// ... or at the sorted `indices` (indices.size() + 1 parts; write one index as
// std::vector<int64_t>{i}: a braced {i} alone means sections).
std::vector<Array> split(const Array& x, const std::vector<int64_t>& indices, int64_t axis,
                         Loc loc = Loc::current());
// jnp.tril / jnp.triu: zeros above (below) the k-th diagonal of the last two dims.
Array tril(const Array& x, int64_t k = 0, Loc loc = Loc::current());
Array triu(const Array& x, int64_t k = 0, Loc loc = Loc::current());
// jax.nn.one_hot: x's integers compared with 0..num_classes-1 along a new axis (out-of-range
// values give all zeros).
Array one_hot(const Array& x, int64_t num_classes, DType dtype = float32, int64_t axis = -1,
              Loc loc = Loc::current());
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
struct DotOptions {
  // lax's preferred_element_type: a result dtype wider than the (promoted) operands, the products
  // accumulated in it (int8 -> int32 exactly; bfloat16/float16 -> float32). Empty: the operands'.
  std::optional<DType> preferred_element_type = std::nullopt;
};
Array dot_general(const Array& a, const Array& b, ir::DotDims dims, Loc loc = Loc::current());
Array dot_general(const Array& a, const Array& b, ir::DotDims dims, const DotOptions& options,
                  Loc loc = Loc::current());
// numpy matmul: 1-d operands promoted and squeezed, leading batch dims broadcast.
Array matmul(const Array& a, const Array& b, Loc loc = Loc::current());
Array matmul(const Array& a, const Array& b, const DotOptions& options, Loc loc = Loc::current());
// jnp.einsum on explicit ("ij,jk->ik") or implicit ("ij,jk") subscripts, without "...": each
// operand's repeated labels become a diagonal, labels only it has are summed, and each pair of
// operands contracts with one dot_general (left to right).
Array einsum(std::string_view subscripts, const std::vector<Array>& operands,
             Loc loc = Loc::current());
// numpy dot for 1-d and 2-d operands.
Array dot(const Array& a, const Array& b, Loc loc = Loc::current());

// ---- convolution and windows (src/ops/convolution.cpp) ----
struct ConvOptions {
  std::vector<int64_t> window_strides = {};               // empty: 1 per spatial dim
  std::vector<std::pair<int64_t, int64_t>> padding = {};  // (low, high) per spatial dim; empty: 0
  std::vector<int64_t> lhs_dilation = {}, rhs_dilation = {};  // empty: 1
  int64_t feature_group_count = 1;
  // lax's preferred_element_type (see DotOptions); empty: the operands' dtype.
  std::optional<DType> preferred_element_type = std::nullopt;
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
