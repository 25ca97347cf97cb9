// The reference of every elementwise row: float64 math rounded once to the result's dtype for
// floating operands, exact two's-complement arithmetic for integers, as docs/primitives.md states
// each primitive's semantics.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>

#include "primitives/cases.hpp"

namespace kiln::harness {
namespace {

using ir::Prim;

uint64_t from_double(double v, DType t) {
  return Scalar::from_double(v, t).bits;
}

// erf's inverse in float64 by Newton's method on std::erf.
double erf_inv(double y) {
  if (std::isnan(y) || y < -1 || y > 1) return std::numeric_limits<double>::quiet_NaN();
  if (y == 1 || y == -1) return y * std::numeric_limits<double>::infinity();
  if (y == 0) return y;
  double x = 0;
  for (int i = 0; i < 100; ++i) {
    const double step = (std::erf(x) - y) / (2 / std::sqrt(std::numbers::pi) * std::exp(-x * x));
    x -= step;
    if (std::abs(step) <= 1e-17 * std::abs(x)) break;
  }
  return x;
}

// digamma in float64 from its definition's standard expansions, independent of the Lanczos form
// the kernels use: reflection below 1/2, the recurrence ψ(x) = ψ(x + 1) - 1/x up to x ≥ 10, then
// the asymptotic series ln x - 1/(2x) - Σ B₂ₖ/(2k x²ᵏ).
double digamma(double x) {
  if (std::isnan(x)) return x;
  if (x <= 0 && x == std::floor(x)) return std::numeric_limits<double>::quiet_NaN();
  if (x == -std::numeric_limits<double>::infinity())
    return std::numeric_limits<double>::quiet_NaN();
  if (x < 0.5) return digamma(1 - x) - std::numbers::pi / std::tan(std::numbers::pi * x);
  double shift = 0;
  while (x < 10) {
    shift -= 1 / x;
    x += 1;
  }
  const double r = 1 / (x * x);
  const double series =
      r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132)))));
  return shift + std::log(x) - 0.5 / x - series;
}

// reduce_precision from its definition on values: round to `m` mantissa bits (ties to even),
// then ±inf above the largest finite value of an `e`-bit exponent and ±0 below its smallest normal
// (XLA keeps no subnormals). Formats at least as wide as t's leave its values alone, except that
// t's own subnormals round on t's fixed quantum. NaN stays NaN (the cases keep a mantissa bit: with
// none, XLA's bit arithmetic turns a NaN into ±inf or ±0 by its payload).
double reduce_precision(double x, DType t, int e, int m) {
  const int tm = t == DType::bfloat16  ? 7
                 : t == DType::float16 ? 10
                 : t == DType::float32 ? 23
                                       : 52;
  const int te = t == DType::bfloat16 ? 8 : t == DType::float16 ? 5 : t == DType::float32 ? 8 : 11;
  const double inf = std::numeric_limits<double>::infinity();
  if (std::isnan(x)) return x;
  if (std::isinf(x) || x == 0) return x;
  const int em = std::min(e, te), mm = std::min(m, tm);
  const int t_emin = 2 - (1 << (te - 1));  // t's smallest normal exponent
  const double a = std::fabs(x);
  int exp2 = std::ilogb(a);
  if (exp2 < t_emin) exp2 = t_emin;  // a subnormal of t: t's fixed quantum
  const double quantum = std::ldexp(1.0, exp2 - mm);
  double r = std::nearbyint(a / quantum) * quantum;
  const int emax = (1 << (em - 1)) - 1;
  if (r >= std::ldexp(1.0, emax + 1)) r = inf;
  if (e < te && r < std::ldexp(1.0, 1 - emax)) r = 0;
  return std::copysign(r, x);
}

std::optional<double> float_unary(Prim p, double x) {
  switch (p) {
    case Prim::neg:
      return -x;
    case Prim::abs:
      return std::fabs(x);
    case Prim::sign:
      return std::isnan(x) || x == 0 ? x : (x > 0 ? 1.0 : -1.0);
    case Prim::exp:
      return std::exp(x);
    case Prim::log:
      return std::log(x);
    case Prim::log1p:
      return std::log1p(x);
    case Prim::expm1:
      return std::expm1(x);
    case Prim::sqrt:
      return std::sqrt(x);
    case Prim::rsqrt:
      return 1 / std::sqrt(x);
    case Prim::tanh:
      return std::tanh(x);
    case Prim::logistic:
      return 1 / (1 + std::exp(-x));
    case Prim::sin:
      return std::sin(x);
    case Prim::cos:
      return std::cos(x);
    case Prim::erf:
      return std::erf(x);
    case Prim::erf_inv:
      return erf_inv(x);
    case Prim::lgamma:
      return std::lgamma(x);
    case Prim::digamma:
      return digamma(x);
    case Prim::floor:
      return std::floor(x);
    case Prim::ceil:
      return std::ceil(x);
    case Prim::round:
      return std::round(x);  // half away from zero
    case Prim::stop_gradient:
    case Prim::sharding_constraint:
      return x;
    default:
      return std::nullopt;
  }
}

std::optional<double> float_binary(Prim p, double x, double y) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  switch (p) {
    case Prim::add:
      return x + y;
    case Prim::sub:
      return x - y;
    case Prim::mul:
      return x * y;
    case Prim::div:
      return x / y;
    case Prim::rem:
      return std::fmod(x, y);
    case Prim::pow:
      return std::pow(x, y);
    case Prim::atan2:
      return std::atan2(x, y);
    // IEEE 754-2019 maximum / minimum, as XLA computes them for JAX: -0 orders below +0.
    case Prim::max:
      if (std::isnan(x) || std::isnan(y)) return nan;
      if (x == 0 && y == 0) return std::signbit(x) && std::signbit(y) ? -0.0 : 0.0;
      return x > y ? x : y;
    case Prim::min:
      if (std::isnan(x) || std::isnan(y)) return nan;
      if (x == 0 && y == 0) return std::signbit(x) || std::signbit(y) ? -0.0 : 0.0;
      return x < y ? x : y;
    default:
      return std::nullopt;
  }
}

std::optional<bool> compare(Prim p, auto x, auto y) {
  switch (p) {
    case Prim::eq:
      return x == y;
    case Prim::ne:
      return x != y;
    case Prim::lt:
      return x < y;
    case Prim::le:
      return x <= y;
    case Prim::gt:
      return x > y;
    case Prim::ge:
      return x >= y;
    default:
      return std::nullopt;
  }
}

// Integer rows on sign- or zero-extended values; results wrap to the width.
std::optional<uint64_t> int_op(Prim p, DType t, uint64_t xb, uint64_t yb) {
  const bool is_signed_int = !is_unsigned(t) && t != DType::bool_;
  const int64_t xs = as_signed(xb, t), ys = as_signed(yb, t);
  const uint64_t min = 1ull << (width(t) - 1);
  const uint64_t ycount = yb & mask(t);
  switch (p) {
    case Prim::neg:
      return 0 - xb;
    case Prim::abs:
      return xs < 0 ? 0 - xb : xb;
    case Prim::sign:
      return static_cast<uint64_t>(static_cast<int64_t>(xs > 0) - static_cast<int64_t>(xs < 0));
    case Prim::not_:
      return t == DType::bool_ ? static_cast<uint64_t>(xb == 0) : ~xb;
    case Prim::stop_gradient:
    case Prim::sharding_constraint:
      return xb;
    case Prim::add:
      return xb + yb;
    case Prim::sub:
      return xb - yb;
    case Prim::mul:
      return xb * yb;
    case Prim::div:
      if (yb == 0) return ~0ull;
      if (is_signed_int) {
        if (xb == min && ys == -1) return xb;
        return static_cast<uint64_t>(xs / ys);
      }
      return xb / yb;
    case Prim::rem:
      if (yb == 0) return xb;
      if (is_signed_int) return ys == -1 ? 0 : static_cast<uint64_t>(xs % ys);
      return xb % yb;
    case Prim::max:
      return (is_signed_int ? xs > ys : xb > yb) ? xb : yb;
    case Prim::min:
      return (is_signed_int ? xs < ys : xb < yb) ? xb : yb;
    case Prim::and_:
      return xb & yb;
    case Prim::or_:
      return xb | yb;
    case Prim::xor_:
      return xb ^ yb;
    case Prim::shift_left:
      return ycount >= static_cast<uint64_t>(width(t)) ? 0 : xb << ycount;
    case Prim::shift_right_logical:
      return ycount >= static_cast<uint64_t>(width(t)) ? 0 : (xb & mask(t)) >> ycount;
    case Prim::shift_right_arithmetic:  // on the sign-extended value, whatever the signedness
      return static_cast<uint64_t>(as_signed(xb, t) >>
                                   std::min<uint64_t>(ycount, static_cast<uint64_t>(width(t) - 1)));
    case Prim::popcnt:
      return static_cast<uint64_t>(std::popcount(xb & mask(t)));
    case Prim::clz: {
      uint64_t n = 0;
      for (int b = width(t) - 1; b >= 0 && ((xb >> b) & 1) == 0; --b) ++n;
      return n;
    }
    default:
      break;
  }
  if (auto r = is_signed_int ? compare(p, xs, ys) : compare(p, xb, yb)) return *r ? 1 : 0;
  return std::nullopt;
}

// convert_element_type: float -> int truncates and saturates (NaN -> 0); -> bool is x != 0.
uint64_t convert(uint64_t b, DType from, DType to) {
  const double v = as_double(b, from);
  if (to == DType::bool_) return is_floating(from) ? (v != 0 || std::isnan(v)) : (b != 0);
  if (is_floating(to)) {
    if (is_integer(from) && !is_unsigned(from))
      return from_double(static_cast<double>(as_signed(b, from)), to);
    return from_double(v, to);
  }
  if (!is_floating(from)) {  // int -> int wraps; sign-extend signed sources first
    return (is_unsigned(from) || from == DType::bool_ ? b
                                                      : static_cast<uint64_t>(as_signed(b, from))) &
           mask(to);
  }
  if (std::isnan(v)) return 0;
  const double tv = std::trunc(v);
  if (is_unsigned(to)) {
    const double hi = std::ldexp(1.0, width(to));
    return tv <= 0 ? 0 : tv >= hi ? mask(to) : static_cast<uint64_t>(tv);
  }
  const double lim = std::ldexp(1.0, width(to) - 1);
  if (tv >= lim) return (1ull << (width(to) - 1)) - 1;
  if (tv < -lim) return (1ull << (width(to) - 1)) & mask(to);
  return static_cast<uint64_t>(static_cast<int64_t>(tv)) & mask(to);
}

}  // namespace

std::optional<uint64_t> reference(const Case& c, DType out, size_t i) {
  const Prim p = c.prim;
  const DType t = c.in.empty() ? out : c.in[p == Prim::select ? 1 : 0].dtype;
  auto arg = [&](size_t k) { return c.in[k].bits[i]; };
  if (p == Prim::select) return arg(0) != 0 ? arg(1) : arg(2);
  if (p == Prim::convert) return convert(arg(0), t, out);
  if (p == Prim::bitcast_convert) return arg(0);
  if (is_floating(t)) {
    const double x = as_double(arg(0), t);
    if (c.in.size() == 1) {
      if (p == Prim::reduce_precision)
        return from_double(reduce_precision(x, t, c.attrs.exponent_bits, c.attrs.mantissa_bits),
                           out);
      if (auto r = float_unary(p, x)) return from_double(*r, out);
      return std::nullopt;
    }
    const double y = as_double(arg(1), t);
    if (auto r = float_binary(p, x, y)) return from_double(*r, out);
    if (auto r = compare(p, x, y)) return *r ? 1 : 0;
    return std::nullopt;
  }
  if (auto r = int_op(p, t, arg(0), c.in.size() > 1 ? arg(1) : 0)) {
    return out == DType::bool_ ? *r : *r & mask(out);
  }
  return std::nullopt;
}

int tolerance_ulps(Prim p, DType t) {
  if (!is_floating(t)) return 0;
  switch (p) {
    // Correctly rounded in the compute type, and float64 -> float32 -> 16-bit rounding is
    // innocuous for them: exact.
    case Prim::neg:
    case Prim::abs:
    case Prim::sign:
    case Prim::sqrt:
    case Prim::floor:
    case Prim::ceil:
    case Prim::round:
    case Prim::add:
    case Prim::sub:
    case Prim::mul:
    case Prim::div:
    case Prim::rem:
    case Prim::max:
    case Prim::min:
    case Prim::stop_gradient:
    case Prim::sharding_constraint:
    case Prim::reduce_precision:
      return 0;
    // lgamma and digamma: see lanczos_close.
    case Prim::lgamma:
    case Prim::digamma:
      return 0;
    // Rounded at every step like the reference, but reassociated by tiles of 16 (XLA's order)
    // where the reference folds one element after another.
    case Prim::cumsum:
    case Prim::cumprod:
      return 8;
    // XLA's float32 approximations (docs/primitives.md) and kiln's own float64 ones.
    case Prim::erf:
    case Prim::erf_inv:
      return 16;
    default:
      return 4;  // libm transcendentals and two-rounding formulas (rsqrt, logistic)
  }
}

bool lanczos_close(uint64_t x, uint64_t a, uint64_t b, DType t) {
  const double xv = Scalar{t, x}.to_double();
  const double u = Scalar{t, a}.to_double(), v = Scalar{t, b}.to_double();
  if (a == b || (std::isnan(u) && std::isnan(v))) return true;
  // A subnormal operand: sin(π·x) rounds to a few bits there (XLA flushes such operands to 0).
  if (xv != 0 && std::fabs(xv) < std::numeric_limits<float>::min() && t != DType::float64)
    return true;
  if (xv != 0 && std::fabs(xv) < std::numeric_limits<double>::min()) return true;
  if (!std::isfinite(u) || !std::isfinite(v)) return false;
  const int m = t == DType::bfloat16 ? 7 : t == DType::float16 ? 10 : t == DType::float32 ? 23 : 52;
  // Computed in float32 for the 16-bit types, so their rounding dominates.
  const double eps = std::ldexp(1.0, -std::min(m, 23));
  const double scale = std::max({1.0, std::fabs(u), std::fabs(v)});
  // Near a negative pole the reflection's sin(π·frac(x)) is ill-conditioned: relative to x too.
  const double cond = xv < 0 ? std::max(1.0, std::fabs(xv)) : 1.0;
  return std::fabs(u - v) <= (t == DType::float64 ? 1e4 : 64) * eps * scale * cond;
}

bool close(uint64_t a, uint64_t b, DType t, int ulps) {
  if (a == b) return true;
  if (!is_floating(t)) return false;
  const double x = Scalar{t, a}.to_double(), y = Scalar{t, b}.to_double();
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  if (ulps == 0) return false;
  if (std::isinf(x) || std::isinf(y)) return false;
  // Below the smallest normal, libms differ in flushing: one normal's worth of slack.
  const double tiny = Scalar{t, 1ull << (t == DType::bfloat16  ? 7
                                         : t == DType::float16 ? 10
                                         : t == DType::float32 ? 23
                                                               : 52)}
                          .to_double();
  if (std::abs(x - y) <= tiny) return true;
  // Distance in representable values: map the sign-magnitude bits onto a monotonic integer line.
  const int w = static_cast<int>(8 * itemsize(t));
  const uint64_t sign = 1ull << (w - 1);
  auto line = [&](uint64_t v) {
    return (v & sign) ? -static_cast<int64_t>(v & (sign - 1)) : static_cast<int64_t>(v);
  };
  const int64_t d = line(a) - line(b);
  return (d < 0 ? -d : d) <= ulps;
}

std::string bits_str(uint64_t bits, DType t) {
  char hex[24];
  std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(bits));
  if (!is_floating(t)) return std::string(hex) + " (" + std::to_string(as_signed(bits, t)) + ")";
  return std::string(hex) + " (" + std::to_string(Scalar{t, bits}.to_double()) + ")";
}

}  // namespace kiln::harness
