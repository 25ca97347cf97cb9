// Elementwise kernels on complex64 / complex128 (std::complex<float> / std::complex<double>):
// arithmetic, the transcendental functions, eq/ne, and the real <-> complex primitives (real, imag,
// abs, complex). Products and quotients are XLA's to the bit (each part one fused multiply-add;
// Smith's quotient); the transcendental functions follow StableHLO's definitions through the C
// library, within the ulp bounds docs/primitives.md states.
#include <cmath>
#include <complex>
#include <concepts>
#include <limits>
#include <type_traits>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {
namespace {

template <class P>
using Cx = std::complex<P>;

// -x, except that a NaN keeps its sign: XLA's negations fold into fused multiply-subtract
// instructions, which pass a NaN operand through unchanged, so its NaNs carry the operand's sign.
template <class P>
P negated(P x) {
  return std::isnan(x) ? x : -x;
}

// (a + bi)(c + di) with each part one rounding of a fused multiply-add, as XLA's CPU backend
// computes it: re = fma(a, c, -(b d)), im = fma(b, c, a d) (bit for bit on 200 000 random products
// of each dtype). No C99 Annex G recovery of infinities: XLA has none either.
template <class P>
Cx<P> mul(Cx<P> x, Cx<P> y) {
  const P a = x.real(), b = x.imag(), c = y.real(), d = y.imag();
  return {std::fma(a, c, negated(b * d)), std::fma(b, c, a * d)};
}

// (a + bi) / (c + di) by Smith's algorithm (the ratio of the smaller to the larger part of the
// divisor keeps the intermediate products in range), with fused multiply-adds as XLA's CPU backend
// computes it; where that gives NaN + NaN i, C99 Annex G's recovery of the infinities and zeros
// the quotient has: a zero divisor, an infinite dividend over a finite divisor, a finite dividend
// over an infinite divisor.
template <class P>
Cx<P> div(Cx<P> x, Cx<P> y) {
  const P a = x.real(), b = x.imag(), c = y.real(), d = y.imag();
  P re, im;
  if (std::fabs(c) < std::fabs(d)) {
    const P r = c / d, den = std::fma(c, r, d);
    re = std::fma(a, r, b) / den;
    im = std::fma(b, r, negated(a)) / den;
  } else {
    const P r = d / c, den = std::fma(d, r, c);
    re = std::fma(b, r, a) / den;
    im = std::fma(negated(a), r, b) / den;
  }
  if (!std::isnan(re) || !std::isnan(im)) return {re, im};
  constexpr P inf = std::numeric_limits<P>::infinity();
  auto unit = [](bool inf_part, P sign_of) {
    return std::copysign(inf_part ? P{1} : P{0}, sign_of);
  };
  if (c == 0 && d == 0 && (!std::isnan(a) || !std::isnan(b))) {
    const P s = std::copysign(inf, c);
    return {s * a, s * b};
  }
  const bool x_inf = std::isinf(a) || std::isinf(b), y_inf = std::isinf(c) || std::isinf(d);
  if (x_inf && std::isfinite(c) && std::isfinite(d)) {
    const P ua = unit(std::isinf(a), a), ub = unit(std::isinf(b), b);
    return {inf * (ua * c + ub * d), inf * (ub * c - ua * d)};
  }
  if (y_inf && std::isfinite(a) && std::isfinite(b)) {
    const P uc = unit(std::isinf(c), c), ud = unit(std::isinf(d), d);
    return {P{0} * (a * uc + b * ud), P{0} * (b * uc - a * ud)};
  }
  return {re, im};
}

// ---- unary: complex -> complex -------------------------------------------------------------

struct Neg {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    return -z;
  }
};
// z / |z|, zero at zero (stablehlo.sign); NaN parts stay NaN.
struct Sign {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    const P m = std::hypot(z.real(), z.imag());
    if (m == 0) return z;
    return {z.real() / m, z.imag() / m};
  }
};
struct Exp {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    return std::exp(z);
  }
};
struct Log {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    return std::log(z);
  }
};
// log(1 + z) = log|1 + z| + i arg(1 + z). Near z = 0, log|1 + z| = log1p(a (a + 2) + b^2) / 2
// keeps the digits of small z; elsewhere (|1 + z|^2 outside (1/2, 2), where that sum cancels or
// is large) it is log(hypot(1 + a, b)). The imaginary part keeps the sign of b (atan2).
struct Log1p {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    const P a = z.real(), b = z.imag();
    const P m = std::fma(a, a + 2, b * b);
    const P re = std::fabs(m) < P{0.5} ? std::log1p(m) / 2 : std::log(std::hypot(a + 1, b));
    return {re, std::atan2(b, a + 1)};
  }
};
// exp(z) - 1: re = expm1(a) cos(b) - 2 sin^2(b/2) (no cancellation near zero), im = exp(a) sin(b).
struct Expm1 {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    const P a = z.real(), b = z.imag();
    const P s = std::sin(b / 2);
    return {std::expm1(a) * std::cos(b) - 2 * s * s, std::exp(a) * std::sin(b)};
  }
};
struct Sqrt {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    return std::sqrt(z);
  }
};
struct Rsqrt {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    return div(Cx<P>(1, 0), std::sqrt(z));
  }
};
struct Tanh {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    return std::tanh(z);
  }
};
struct Sin {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    return std::sin(z);
  }
};
struct Cos {
  template <class P>
  Cx<P> operator()(Cx<P> z) const {
    return std::cos(z);
  }
};

// ---- unary: complex -> real ------------------------------------------------------------------

struct Real {
  template <class P>
  P operator()(Cx<P> z) const {
    return z.real();
  }
};
struct Imag {
  template <class P>
  P operator()(Cx<P> z) const {
    return z.imag();
  }
};
// The modulus without overflow or underflow in between (stablehlo.abs of a complex operand).
struct Abs {
  template <class P>
  P operator()(Cx<P> z) const {
    return std::hypot(z.real(), z.imag());
  }
};

// ---- binary -----------------------------------------------------------------------------------

struct Add {
  template <class P>
  Cx<P> operator()(Cx<P> x, Cx<P> y) const {
    return {x.real() + y.real(), x.imag() + y.imag()};
  }
};
struct Sub {
  template <class P>
  Cx<P> operator()(Cx<P> x, Cx<P> y) const {
    return {x.real() - y.real(), x.imag() - y.imag()};
  }
};
struct Mul {
  template <class P>
  Cx<P> operator()(Cx<P> x, Cx<P> y) const {
    return mul(x, y);
  }
};
struct Div {
  template <class P>
  Cx<P> operator()(Cx<P> x, Cx<P> y) const {
    return div(x, y);
  }
};
// x^y = exp(y log x) in the next wider precision (double for complex64, long double for
// complex128): the rounding of log x is amplified by |y log x|, which the extra digits absorb.
// A zero base gives XLA's answers: 1 for y = 0, 0 for a real y > 0, NaN otherwise.
struct Pow {
  template <class P>
  Cx<P> operator()(Cx<P> x, Cx<P> y) const {
    if (x.real() == 0 && x.imag() == 0) {
      if (y.real() == 0 && y.imag() == 0) return {1, 0};
      if (y.imag() == 0 && y.real() > 0) return {0, 0};
      constexpr P nan = std::numeric_limits<P>::quiet_NaN();
      return {nan, nan};
    }
    using W = std::conditional_t<std::is_same_v<P, float>, double, long double>;
    const Cx<W> r = std::exp(Cx<W>(y) * std::log(Cx<W>(x)));
    return {static_cast<P>(r.real()), static_cast<P>(r.imag())};
  }
};
struct Eq {
  template <class P>
  bool operator()(Cx<P> x, Cx<P> y) const {
    return x.real() == y.real() && x.imag() == y.imag();
  }
};
struct Ne {
  template <class P>
  bool operator()(Cx<P> x, Cx<P> y) const {
    return !Eq{}(x, y);
  }
};
// lax.complex: two real parts -> one complex element.
struct MakeComplex {
  template <std::floating_point P>
  Cx<P> operator()(P re, P im) const {
    return {re, im};
  }
};

template <class Op, class In, class Out>
void unary_kernel(const KernelArgs& a, const KernelParams& p) {
  const int64_t n = static_cast<const CountParams&>(p).n;
  const In* x = in_ptr<In>(a, 0);
  Out* y = out_ptr<Out>(a);
  Op op;
  for (int64_t i = 0; i < n; ++i) y[i] = op(x[i]);
}

template <class Op, class In, class Out>
void binary_kernel(const KernelArgs& a, const KernelParams& p) {
  const int64_t n = static_cast<const CountParams&>(p).n;
  const In* x = in_ptr<In>(a, 0);
  const In* y = in_ptr<In>(a, 1);
  Out* z = out_ptr<Out>(a);
  Op op;
  for (int64_t i = 0; i < n; ++i) z[i] = op(x[i], y[i]);
}

// The kernel of Op on parts of type P (float for complex64, double for complex128).
template <class Op, class P>
KernelFn kernel_for(int arity) {
  using C = Cx<P>;
  if constexpr (std::is_invocable_v<Op, C>) {
    return arity == 1 ? &unary_kernel<Op, C, std::invoke_result_t<Op, C>> : nullptr;
  } else if constexpr (std::is_invocable_v<Op, C, C>) {
    return arity == 2 ? &binary_kernel<Op, C, std::invoke_result_t<Op, C, C>> : nullptr;
  } else {
    return arity == 2 ? &binary_kernel<Op, P, C> : nullptr;  // MakeComplex: real operands
  }
}

template <class Op>
KernelFn pick(DType parts, int arity) {
  return parts == DType::float32 ? kernel_for<Op, float>(arity) : kernel_for<Op, double>(arity);
}

using ir::Prim;
struct ComplexKernel {
  Prim prim;
  KernelFn (*pick)(DType parts, int arity);
};
constexpr ComplexKernel kKernels[] = {
    {Prim::neg, &pick<Neg>},     {Prim::sign, &pick<Sign>},
    {Prim::exp, &pick<Exp>},     {Prim::log, &pick<Log>},
    {Prim::log1p, &pick<Log1p>}, {Prim::expm1, &pick<Expm1>},
    {Prim::sqrt, &pick<Sqrt>},   {Prim::rsqrt, &pick<Rsqrt>},
    {Prim::tanh, &pick<Tanh>},   {Prim::sin, &pick<Sin>},
    {Prim::cos, &pick<Cos>},     {Prim::real, &pick<Real>},
    {Prim::imag, &pick<Imag>},   {Prim::abs, &pick<Abs>},
    {Prim::add, &pick<Add>},     {Prim::sub, &pick<Sub>},
    {Prim::mul, &pick<Mul>},     {Prim::div, &pick<Div>},
    {Prim::pow, &pick<Pow>},     {Prim::eq, &pick<Eq>},
    {Prim::ne, &pick<Ne>},       {Prim::complex, &pick<MakeComplex>},
};

}  // namespace

bool is_complex_elementwise(const ir::Node& node, std::span<const ir::ValueType> in) {
  return node.prim == Prim::complex || (!in.empty() && is_complex(in[0].dtype));
}

Lowered lower_complex_elementwise(const ir::Node& node, std::span<const ir::ValueType> in) {
  const DType parts = real_dtype(in[0].dtype);  // complex: its operands are the parts
  KernelFn fn = nullptr;
  for (const ComplexKernel& k : kKernels)
    if (k.prim == node.prim && (parts == DType::float32 || parts == DType::float64))
      fn = k.pick(parts, static_cast<int>(in.size()));
  if (fn == nullptr) no_kernel(node, in[0].dtype);
  Lowered l;
  l.fn = fn;
  l.params = std::make_unique<CountParams>(node.type.shape.numel());
  l.elementwise = true;
  return l;
}

}  // namespace kiln::cpu
