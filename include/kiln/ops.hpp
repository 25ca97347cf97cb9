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
Array squeeze(const Array& x, Axes axes = {}, Loc loc = Loc::current());

// ---- reductions ----
Array sum(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Array max(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Array min(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
Array mean(const Array& x, Axes axes = {}, bool keepdims = false, Loc loc = Loc::current());
// Index of the first maximum along `axis`, as int32.
Array argmax(const Array& x, int64_t axis, bool keepdims = false, Loc loc = Loc::current());

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
