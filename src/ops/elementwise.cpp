// Elementwise operations: promotion and broadcasting here, one primitive per operation below.
#include <cmath>

#include "kiln/ops.hpp"
#include "ops/operands.hpp"

namespace kiln {
namespace {

using ir::Prim;

Array unary(Prim p, const Array& x, const Loc& loc) {
  return bind(p, {&x, 1}, {}, loc);
}

// Floating-point or complex: the dtypes jnp's transcendental functions keep.
bool inexact(DType t) {
  return is_floating(t) || is_complex(t);
}

// A unary op that, like jnp's, promotes integer and bool inputs to float32 first.
Array unary_float(Prim p, const Array& x, const Loc& loc) {
  if (!inexact(x.dtype())) return unary(p, astype(x, float32, loc), loc);
  return unary(p, x, loc);
}

Array binary_as(Prim p, const Operand& a, const Operand& b, DType t, const Loc& loc) {
  Shape s = ops::broadcast_shapes({ops::shape_of(a), ops::shape_of(b)}, loc);
  Array xs[2] = {ops::coerce(a, t, s, loc), ops::coerce(b, t, s, loc)};
  return bind(p, xs, {}, loc);
}

// jnp's arithmetic on bools is logic: add and max are or, mul and min are and.
Prim bool_equivalent(Prim p) {
  switch (p) {
    case Prim::add:
    case Prim::max:
      return Prim::or_;
    case Prim::mul:
    case Prim::min:
      return Prim::and_;
    default:
      return p;
  }
}

Array binary(Prim p, const Operand& a, const Operand& b, const Loc& loc) {
  DType t = ops::result_dtype({&a, &b});
  return binary_as(t == bool_ ? bool_equivalent(p) : p, a, b, t, loc);
}

Array binary_float(Prim p, const Operand& a, const Operand& b, const Loc& loc) {
  DType t = ops::result_dtype({&a, &b});
  return binary_as(p, a, b, inexact(t) ? t : float32, loc);
}

}  // namespace

Array neg(const Array& x, Loc loc) {
  return unary(Prim::neg, x, loc);
}
// lax.abs and lax.sign take signed operands (as StableHLO's abs and sign); jnp's answers for
// unsigned ones are x and x != 0. abs of a complex array is its modulus, a real array.
Array abs(const Array& x, Loc loc) {
  return is_unsigned(x.dtype()) ? x : unary(Prim::abs, x, loc);
}
Array sign(const Array& x, Loc loc) {
  if (is_unsigned(x.dtype())) return astype(not_equal(x, 0, loc), x.dtype(), loc);
  return unary(Prim::sign, x, loc);
}
Array exp(const Array& x, Loc loc) {
  return unary_float(Prim::exp, x, loc);
}
Array log(const Array& x, Loc loc) {
  return unary_float(Prim::log, x, loc);
}
Array log1p(const Array& x, Loc loc) {
  return unary_float(Prim::log1p, x, loc);
}
Array expm1(const Array& x, Loc loc) {
  return unary_float(Prim::expm1, x, loc);
}
Array sqrt(const Array& x, Loc loc) {
  return unary_float(Prim::sqrt, x, loc);
}
Array rsqrt(const Array& x, Loc loc) {
  return unary_float(Prim::rsqrt, x, loc);
}
Array tanh(const Array& x, Loc loc) {
  return unary_float(Prim::tanh, x, loc);
}
Array logistic(const Array& x, Loc loc) {
  return unary_float(Prim::logistic, x, loc);
}
Array sigmoid(const Array& x, Loc loc) {
  return unary_float(Prim::logistic, x, loc);
}
Array sin(const Array& x, Loc loc) {
  return unary_float(Prim::sin, x, loc);
}
Array cos(const Array& x, Loc loc) {
  return unary_float(Prim::cos, x, loc);
}
Array erf(const Array& x, Loc loc) {
  return unary_float(Prim::erf, x, loc);
}
Array erf_inv(const Array& x, Loc loc) {
  return unary_float(Prim::erf_inv, x, loc);
}
// The chlo.asin / acos / atan expansions XLA applies to what JAX writes, op for op.
Array arcsin(const Array& x, Loc loc) {
  Array f = is_floating(x.dtype()) ? x : astype(x, float32, loc);
  Array r = sqrt(mul(sub(1, f, loc), add(f, 1, loc), loc), loc);
  Array half = arctan2(f, add(r, 1, loc), loc);
  return add(half, half, loc);
}
Array arccos(const Array& x, Loc loc) {
  Array f = is_floating(x.dtype()) ? x : astype(x, float32, loc);
  return arctan2(sqrt(mul(sub(1, f, loc), add(f, 1, loc), loc), loc), f, loc);
}
Array arctan(const Array& x, Loc loc) {
  Array f = is_floating(x.dtype()) ? x : astype(x, float32, loc);
  return arctan2(f, ones_like(f, loc), loc);
}
Array lgamma(const Array& x, Loc loc) {
  return unary_float(Prim::lgamma, x, loc);
}
Array digamma(const Array& x, Loc loc) {
  return unary_float(Prim::digamma, x, loc);
}
Array reduce_precision(const Array& x, int exponent_bits, int mantissa_bits, Loc loc) {
  ir::Attrs a;
  a.exponent_bits = exponent_bits;
  a.mantissa_bits = mantissa_bits;
  return bind(Prim::reduce_precision, {&x, 1}, std::move(a), loc);
}
Array population_count(const Array& x, Loc loc) {
  return unary(Prim::popcnt, x, loc);
}
Array clz(const Array& x, Loc loc) {
  return unary(Prim::clz, x, loc);
}
// As jnp writes them: x != x; |x| == inf; and is_finite, read back by the importer as |x| < inf.
Array isnan(const Array& x, Loc loc) {
  if (!is_floating(x.dtype())) return full(x.shape(), 0, bool_, loc);
  return not_equal(x, x, loc);
}
Array isinf(const Array& x, Loc loc) {
  if (!is_floating(x.dtype())) return full(x.shape(), 0, bool_, loc);
  return equal(abs(x, loc), INFINITY, loc);
}
Array isfinite(const Array& x, Loc loc) {
  if (!is_floating(x.dtype())) return full(x.shape(), 1, bool_, loc);
  return less(abs(x, loc), INFINITY, loc);
}
Array floor(const Array& x, Loc loc) {
  return is_floating(x.dtype()) ? unary(Prim::floor, x, loc) : x;
}
Array ceil(const Array& x, Loc loc) {
  return is_floating(x.dtype()) ? unary(Prim::ceil, x, loc) : x;
}
Array round(const Array& x, Loc loc) {
  return is_floating(x.dtype()) ? unary(Prim::round, x, loc) : x;
}
Array square(const Array& x, Loc loc) {
  return mul(x, x, loc);
}
Array reciprocal(const Array& x, Loc loc) {
  return div(1, x, loc);
}
Array logical_not(const Array& x, Loc loc) {
  return unary(Prim::not_, x, loc);
}
Array stop_gradient(const Array& x, Loc loc) {
  return unary(Prim::stop_gradient, x, loc);
}

Array add(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::add, a, b, loc);
}
Array sub(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::sub, a, b, loc);
}
Array mul(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::mul, a, b, loc);
}
// True division, as jnp.divide: integer operands give float32.
Array div(const Operand& a, const Operand& b, Loc loc) {
  return binary_float(Prim::div, a, b, loc);
}
Array rem(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::rem, a, b, loc);
}
Array pow(const Operand& a, const Operand& b, Loc loc) {
  return binary_float(Prim::pow, a, b, loc);
}
Array arctan2(const Operand& a, const Operand& b, Loc loc) {
  return binary_float(Prim::atan2, a, b, loc);
}
Array maximum(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::max, a, b, loc);
}
Array minimum(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::min, a, b, loc);
}
Array bitwise_and(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::and_, a, b, loc);
}
Array bitwise_or(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::or_, a, b, loc);
}
Array bitwise_xor(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::xor_, a, b, loc);
}
Array shift_left(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::shift_left, a, b, loc);
}
Array shift_right_logical(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::shift_right_logical, a, b, loc);
}

Array shift_right_arithmetic(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::shift_right_arithmetic, a, b, loc);
}

Array equal(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::eq, a, b, loc);
}
Array not_equal(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::ne, a, b, loc);
}
Array less(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::lt, a, b, loc);
}
Array less_equal(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::le, a, b, loc);
}
Array greater(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::gt, a, b, loc);
}
Array greater_equal(const Operand& a, const Operand& b, Loc loc) {
  return binary(Prim::ge, a, b, loc);
}

Array where(const Operand& cond, const Operand& a, const Operand& b, Loc loc) {
  DType t = ops::result_dtype({&a, &b});
  Shape s = ops::broadcast_shapes({ops::shape_of(cond), ops::shape_of(a), ops::shape_of(b)}, loc);
  Array c = ops::coerce(cond, bool_, s, loc);
  Array xs[3] = {c, ops::coerce(a, t, s, loc), ops::coerce(b, t, s, loc)};
  return bind(Prim::select, xs, {}, loc);
}

Array astype(const Array& x, DType dtype, Loc loc) {
  if (x.dtype() == dtype) return x;
  ir::Attrs a;
  a.dtype = dtype;
  return bind(Prim::convert, {&x, 1}, std::move(a), loc);
}

Array real(const Array& x, Loc loc) {
  return is_complex(x.dtype()) ? unary(Prim::real, x, loc) : x;
}
Array imag(const Array& x, Loc loc) {
  return is_complex(x.dtype()) ? unary(Prim::imag, x, loc) : zeros_like(x, loc);
}
Array conj(const Array& x, Loc loc) {
  if (!is_complex(x.dtype())) return x;
  Array parts[2] = {real(x, loc), neg(imag(x, loc), loc)};
  return bind(Prim::complex, parts, {}, loc);
}
// lax.complex takes float32 or float64 parts; integer and 16-bit float operands promote to
// float32 (complex64), as jnp's `re + 1j * im` would give.
Array complex(const Operand& re, const Operand& im, Loc loc) {
  const DType t = ops::result_dtype({&re, &im});
  if (is_complex(t))
    throw DTypeError(message("complex: the parts must be real, got " + std::string(name(t)), loc,
                             "take real() and imag() of a complex operand first"));
  return binary_as(Prim::complex, re, im, t == float64 ? float64 : float32, loc);
}
Array angle(const Array& x, Loc loc) {
  if (is_complex(x.dtype())) return arctan2(imag(x, loc), real(x, loc), loc);
  Array xf = inexact(x.dtype()) ? x : astype(x, float32, loc);
  return arctan2(zeros_like(xf, loc), xf, loc);
}

Array bitcast_convert(const Array& x, DType dtype, Loc loc) {
  if (x.dtype() == dtype) return x;
  ir::Attrs a;
  a.dtype = dtype;
  return bind(Prim::bitcast_convert, {&x, 1}, std::move(a), loc);
}

Array clip(const Array& x, const Operand& lo, const Operand& hi, Loc loc) {
  return minimum(maximum(x, lo, loc), hi, loc);
}

Array operator+(const Operand& a, const Operand& b) {
  return add(a, b, a.loc());
}
Array operator-(const Operand& a, const Operand& b) {
  return sub(a, b, a.loc());
}
Array operator*(const Operand& a, const Operand& b) {
  return mul(a, b, a.loc());
}
Array operator/(const Operand& a, const Operand& b) {
  return div(a, b, a.loc());
}
Array operator-(const Operand& a) {
  return neg(a.array(), a.loc());
}
Array operator<(const Operand& a, const Operand& b) {
  return less(a, b, a.loc());
}
Array operator<=(const Operand& a, const Operand& b) {
  return less_equal(a, b, a.loc());
}
Array operator>(const Operand& a, const Operand& b) {
  return greater(a, b, a.loc());
}
Array operator>=(const Operand& a, const Operand& b) {
  return greater_equal(a, b, a.loc());
}
Array operator==(const Operand& a, const Operand& b) {
  return equal(a, b, a.loc());
}
Array operator!=(const Operand& a, const Operand& b) {
  return not_equal(a, b, a.loc());
}

}  // namespace kiln
