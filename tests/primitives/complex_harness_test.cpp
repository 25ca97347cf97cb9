// complex64 / complex128 on every registry row that admits them (the per-primitive harness's
// HostArray holds one 8-byte word per element, so complex cases live here). Each row is checked
//  - on the cpu against an independent reference: the exact rows (neg, add, sub, real, imag,
//    complex, eq, ne, convert, select) bit for bit against per-part double arithmetic; mul and div
//    against their definitions in long double within 2 ulps of the operands' scale; the libm rows
//    against std::complex<long double> within a stated normwise bound; the shape rows against the
//    same row applied to the real and imaginary parts; reduce_sum and dot_general against float64
//    sums of the parts;
//  - on every other backend present (kilncpu; XLA's CPU plugin in the reference lane) against the
//    cpu: bit for bit, libm rows within XLA's ulps (docs/primitives.md, "Complex numbers");
//  - through to_stablehlo -> from_stablehlo to the same bits;
//  - VJP rules against complex128 central differences, under JAX's convention (a cotangent pairs
//    with a tangent as Re(sum ct * dx), no conjugation).
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <limits>
#include <map>
#include <random>

#include "kiln/autodiff.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/export.hpp"
#include "kiln/import.hpp"
#include "kiln/ops.hpp"
#include "primitives/cases.hpp"

namespace kiln::harness {
namespace {

using ir::Prim;
using C128 = std::complex<double>;
using LC = std::complex<long double>;

// The rows that admit complex, and what kind of reference each gets.
bool is_exact_row(Prim p) {
  switch (p) {
    case Prim::neg:
    case Prim::add:
    case Prim::sub:
    case Prim::real:
    case Prim::imag:
    case Prim::eq:
    case Prim::ne:
    case Prim::convert:
    case Prim::stop_gradient:
    case Prim::sharding_constraint:
      return true;
    default:
      return false;
  }
}
bool is_libm_row(Prim p) {
  switch (p) {
    case Prim::exp:
    case Prim::log:
    case Prim::log1p:
    case Prim::expm1:
    case Prim::sqrt:
    case Prim::rsqrt:
    case Prim::tanh:
    case Prim::sin:
    case Prim::cos:
    case Prim::pow:
    case Prim::abs:
    case Prim::sign:
      return true;
    default:
      return false;
  }
}

// The bound, in units of the parts' epsilon, on |kiln - reference| / max(|reference|, scale):
// measured on these cases (largest seen: 2.1 for complex64 log1p, near |1 + z| = 1) with margin.
constexpr double kLibmEps = 4;
constexpr double kArithmeticEps = 2;

// Part values: zeros, ones, a spread of magnitudes, infinities, NaN.
std::vector<double> part_values(bool with_specials) {
  std::vector<double> v = {0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-3, -7e5, 0.3};
  if (with_specials) {
    v.push_back(std::numeric_limits<double>::infinity());
    v.push_back(-std::numeric_limits<double>::infinity());
    v.push_back(std::numeric_limits<double>::quiet_NaN());
  }
  return v;
}

std::vector<C128> complex_values(bool with_specials) {
  std::vector<C128> out;
  for (double re : part_values(with_specials))
    for (double im : part_values(with_specials)) out.emplace_back(re, im);
  return out;
}

Array complex_array(const std::vector<C128>& v, DType t, const Shape& s) {
  if (t == DType::complex128) return Array::from_data<C128>(v, s);
  std::vector<std::complex<float>> f;
  for (const C128& z : v)
    f.emplace_back(static_cast<float>(z.real()), static_cast<float>(z.imag()));
  return Array::from_data<std::complex<float>>(f, s);
}

std::vector<C128> complex_values_of(const Array& a) {
  if (a.dtype() == DType::complex128) return a.to_vector<C128>();
  std::vector<C128> out;
  for (const auto& z : a.to_vector<std::complex<float>>()) out.emplace_back(z.real(), z.imag());
  return out;
}

// A graph of one node over parameters of the operands' types.
ir::Graph one_node(Prim p, const std::vector<Array>& in, const ir::Attrs& attrs) {
  ir::Graph g;
  g.name = std::string(ir::name(p));
  std::vector<ir::ValueId> ids;
  for (const Array& a : in) ids.push_back(g.add_parameter({a.dtype(), a.shape()}));
  g.outputs = {g.add(p, ids, attrs, std::source_location::current())};
  g.verify();
  return g;
}

Array run(const ir::Graph& g, const std::vector<Array>& in, Device d) {
  auto exe = d.backend()->compile(g, d);
  std::vector<Array> ins;
  std::vector<Buffer*> ptrs;
  for (const Array& a : in)
    ins.push_back(Array::from_bytes(a.buffer()->host_data(),
                                    static_cast<size_t>(a.size()) * itemsize(a.dtype()), a.dtype(),
                                    a.shape(), d));
  for (const Array& a : ins) ptrs.push_back(a.buffer().get());
  const ir::ValueType& t = exe->output_types().at(0);
  auto out = d.backend()->allocate(static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype), d);
  Buffer* outs[] = {out.get()};
  exe->run(ptrs, outs);
  return device_get(Array::from_buffer(out, t.dtype, t.shape));
}

// Bytes of an array on the host, for bit-for-bit comparisons.
std::vector<uint8_t> bytes_of(const Array& a) {
  std::vector<uint8_t> b(static_cast<size_t>(a.size()) * itemsize(a.dtype()));
  if (!b.empty()) a.copy_to_host(b.data(), a.dtype());
  return b;
}

struct ComplexCase {
  Prim prim;
  std::vector<Array> in;
  ir::Attrs attrs;
  std::string what;
};

// Elementwise cases: every value (unary) or every pair of values (binary) of the part values.
std::vector<ComplexCase> elementwise_cases(Prim p, DType t) {
  std::vector<ComplexCase> out;
  const std::vector<C128> v = complex_values(true);
  const int arity = ir::info(p).arity;
  const std::string dt(name(t));
  if (p == Prim::complex) {  // two real parts
    const DType part = real_dtype(t);
    std::vector<double> re, im;
    for (double a : part_values(true))
      for (double b : part_values(true)) {
        re.push_back(a);
        im.push_back(b);
      }
    const Shape s{static_cast<int64_t>(re.size())};
    Array r = astype(Array::from_data<double>(re, s), part),
          i = astype(Array::from_data<double>(im, s), part);
    out.push_back({p, {r, i}, {}, std::string(name(part)) + " part pairs"});
    return out;
  }
  if (arity == 1) {
    const Shape s{static_cast<int64_t>(v.size())};
    if (p == Prim::convert) {
      for (DType to : {DType::complex64, DType::complex128, DType::float32, DType::float64,
                       DType::int32, DType::bool_, DType::float16}) {
        ir::Attrs a;
        a.dtype = to;
        out.push_back({p, {complex_array(v, t, s)}, a, dt + " -> " + std::string(name(to))});
      }
      // real -> complex, from every real dtype class.
      for (DType from :
           {DType::float32, DType::float64, DType::int32, DType::bool_, DType::bfloat16}) {
        ir::Attrs a;
        a.dtype = t;
        std::vector<double> x = part_values(from != DType::int32 && from != DType::bool_);
        for (double& e : x)
          if (from == DType::bool_) e = e != 0;
        Array src =
            astype(Array::from_data<double>(x, Shape{static_cast<int64_t>(x.size())}), from);
        out.push_back({p, {src}, a, std::string(name(from)) + " -> " + dt});
      }
      return out;
    }
    out.push_back({p, {complex_array(v, t, s)}, {}, dt + " edge values"});
    return out;
  }
  std::vector<C128> x, y;
  for (const C128& a : v)
    for (const C128& b : v) {
      x.push_back(a);
      y.push_back(b);
    }
  const Shape s{static_cast<int64_t>(x.size())};
  if (p == Prim::select) {
    std::vector<double> pred(x.size());
    for (size_t i = 0; i < pred.size(); ++i) pred[i] = static_cast<double>(i % 2);
    Array c = astype(Array::from_data<double>(pred, s), DType::bool_);
    out.push_back({p, {c, complex_array(x, t, s), complex_array(y, t, s)}, {}, dt + " pairs"});
    return out;
  }
  out.push_back({p, {complex_array(x, t, s), complex_array(y, t, s)}, {}, dt + " pairs"});
  return out;
}

// Structured rows: the real harness's float64 cases (shapes, attributes), with complex operands.
std::vector<ComplexCase> structured_cases(Prim p, DType t) {
  std::mt19937_64 rng(static_cast<uint64_t>(p) * 31 + static_cast<uint64_t>(t));
  std::normal_distribution<double> normal;
  std::vector<ComplexCase> out;
  for (const Case& c : cases(p, DType::float64)) {
    ComplexCase cc{p, {}, c.attrs, std::string(name(t)) + " (" + c.what + ")"};
    for (const HostArray& h : c.in) {
      if (h.dtype != DType::float64) {
        cc.in.push_back(to_array(h, default_device()));
        continue;
      }
      std::vector<C128> v(static_cast<size_t>(h.shape.numel()));
      for (C128& z : v) z = {normal(rng), normal(rng)};
      cc.in.push_back(complex_array(v, t, h.shape));
    }
    out.push_back(std::move(cc));
  }
  return out;
}

bool is_elementwise(Prim p) {
  const ir::PrimKind k = ir::info(p).kind;
  return k == ir::PrimKind::unary || k == ir::PrimKind::binary || k == ir::PrimKind::compare ||
         k == ir::PrimKind::select;
}

std::vector<DType> complex_dtypes_of(Prim p) {
  std::vector<DType> out;
  for (DType t : {DType::complex64, DType::complex128})
    if (ir::accepts(p, t) || (p == Prim::complex)) out.push_back(t);
  return out;
}

std::vector<ComplexCase> complex_cases(Prim p, DType t) {
  if (p == Prim::parameter || p == Prim::constant) return {};
  return is_elementwise(p) ? elementwise_cases(p, t) : structured_cases(p, t);
}

// Rows that admit complex (complex itself takes real parts and gives complex).
std::vector<Prim> complex_rows() {
  std::vector<Prim> out;
  for (const ir::PrimInfo& row : ir::registry::kPrimTable)
    if (((row.dtypes & ir::kComplexDTypes) != 0 || row.prim == Prim::complex) &&
        row.prim != Prim::parameter && row.prim != Prim::constant)
      out.push_back(row.prim);
  return out;
}

// ---- references -----------------------------------------------------------------------------

double eps_of(DType t) {
  return real_dtype(t) == DType::float32 ? std::numeric_limits<float>::epsilon()
                                         : std::numeric_limits<double>::epsilon();
}

LC ld(const C128& z) {
  return {z.real(), z.imag()};
}

// The libm rows in long double: StableHLO's definitions.
LC libm_reference(Prim p, LC x, LC y) {
  switch (p) {
    case Prim::exp:
      return std::exp(x);
    case Prim::log:
      return std::log(x);
    case Prim::log1p:  // 1 + x keeping the sign of x's imaginary zero
      return std::log(LC(1 + x.real(), x.imag()));
    case Prim::expm1:
      return LC(std::exp(x).real() - 1, std::exp(x).imag());
    case Prim::sqrt:
      return std::sqrt(x);
    case Prim::rsqrt:
      return LC(1) / std::sqrt(x);
    case Prim::tanh:
      return std::tanh(x);
    case Prim::sin:
      return std::sin(x);
    case Prim::cos:
      return std::cos(x);
    case Prim::pow:
      return std::pow(x, y);
    case Prim::abs:
      return std::abs(x);
    case Prim::sign:
      return x == LC(0) ? LC(0) : x / std::abs(x);
    case Prim::mul:
      return x * y;
    case Prim::div:
      return x / y;
    default:
      return LC(std::numeric_limits<long double>::quiet_NaN());
  }
}

bool finite(const LC& z) {
  return std::isfinite(z.real()) && std::isfinite(z.imag());
}

// The exact rows, part by part in double (every result is one rounding of an exact value, or
// exact).
std::vector<C128> exact_reference(const ComplexCase& c, DType out) {
  const size_t n = static_cast<size_t>(c.in[0].size());
  std::vector<C128> r(n);
  auto cx = [&](size_t k) {
    return is_complex(c.in[k].dtype()) ? complex_values_of(c.in[k]) : std::vector<C128>{};
  };
  switch (c.prim) {
    case Prim::neg: {
      auto x = cx(0);
      for (size_t i = 0; i < n; ++i) r[i] = {-x[i].real(), -x[i].imag()};
      break;
    }
    case Prim::add:
    case Prim::sub: {
      auto x = cx(0), y = cx(1);
      const bool add = c.prim == Prim::add;
      for (size_t i = 0; i < n; ++i) {
        if (out == DType::complex64) {
          const float a = static_cast<float>(x[i].real()), b = static_cast<float>(x[i].imag());
          const float cc = static_cast<float>(y[i].real()), d = static_cast<float>(y[i].imag());
          r[i] = add ? C128(a + cc, b + d) : C128(a - cc, b - d);
        } else {
          r[i] = add ? C128(x[i].real() + y[i].real(), x[i].imag() + y[i].imag())
                     : C128(x[i].real() - y[i].real(), x[i].imag() - y[i].imag());
        }
      }
      break;
    }
    default:
      break;
  }
  return r;
}

// Mismatches grouped by (row, dtype): the first three of each group and its count.
struct Bad {
  std::map<std::string, std::pair<int, std::string>> groups;
  void operator()(const std::string& what) {
    const std::string group = what.substr(0, what.find(" on ") + 14);
    auto& [count, first] = groups[group];
    if (++count <= 3) first += "\n  " + what;
  }
  ~Bad() {
    for (const auto& [group, g] : groups)
      ADD_FAILURE() << group << "...: " << g.first << " mismatches; the first:" << g.second;
  }
};

std::string str(const C128& z) {
  char b[96];
  std::snprintf(b, sizeof b, "(%.17g, %.17g)", z.real(), z.imag());
  return b;
}

// Whether got and want agree part by part as IEEE values (NaN with NaN; zeros by sign).
bool same_values(const C128& got, const C128& want) {
  auto same = [](double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return a == b && std::signbit(a) == std::signbit(b);
  };
  return same(got.real(), want.real()) && same(got.imag(), want.imag());
}

// Results as complex values (a real result has imaginary part 0; bool is 0 or 1).
std::vector<C128> values_of(const Array& a) {
  if (is_complex(a.dtype())) return complex_values_of(a);
  std::vector<C128> out;
  for (double x : astype(a, DType::float64).to_vector<double>()) out.emplace_back(x, 0.0);
  return out;
}

// The reference of case c's result, element by element, or nothing where it is not compared
// here (a non-finite libm result: the other backends' lane compares those with XLA's).
std::vector<std::optional<C128>> reference(const ComplexCase& c, const ir::ValueType& out) {
  const Device cpu = devices("cpu").at(0);
  const size_t n = static_cast<size_t>(out.shape.numel());
  std::vector<std::optional<C128>> r(n);
  const Prim p = c.prim;
  if (p == Prim::neg || p == Prim::add || p == Prim::sub) {
    for (size_t i = 0; auto z : exact_reference(c, out.dtype)) r[i++] = z;
    return r;
  }
  if (p == Prim::real || p == Prim::imag || p == Prim::eq || p == Prim::ne ||
      p == Prim::stop_gradient || p == Prim::sharding_constraint) {
    auto x = complex_values_of(c.in[0]);
    auto y = c.in.size() > 1 ? complex_values_of(c.in[1]) : x;
    for (size_t i = 0; i < n; ++i) {
      const bool eq = x[i].real() == y[i].real() && x[i].imag() == y[i].imag();
      r[i] = p == Prim::real   ? C128(x[i].real(), 0)
             : p == Prim::imag ? C128(x[i].imag(), 0)
             : p == Prim::eq   ? C128(eq, 0)
             : p == Prim::ne   ? C128(!eq, 0)
                               : x[i];
    }
    return r;
  }
  if (p == Prim::complex) {
    auto re = astype(c.in[0], DType::float64).to_vector<double>();
    auto im = astype(c.in[1], DType::float64).to_vector<double>();
    for (size_t i = 0; i < n; ++i) r[i] = C128(re[i], im[i]);
    return r;
  }
  if (p == Prim::convert) {
    // Per part through the real conversions (themselves checked by the real harness): complex ->
    // real is the real part converted; real -> complex is (x converted to the parts' dtype, 0).
    const DType from = c.in[0].dtype(), to = out.dtype;
    Array re = is_complex(from) ? real(c.in[0]) : c.in[0];
    Array im = is_complex(from) ? imag(c.in[0]) : zeros_like(astype(c.in[0], DType::float64));
    if (is_complex(to)) {
      auto a = astype(astype(re, real_dtype(to)), DType::float64).to_vector<double>();
      auto b = astype(astype(im, real_dtype(to)), DType::float64).to_vector<double>();
      for (size_t i = 0; i < n; ++i) r[i] = C128(a[i], b[i]);
    } else {
      auto a = astype(astype(re, to), DType::float64).to_vector<double>();
      for (size_t i = 0; i < n; ++i) r[i] = C128(a[i], 0);
    }
    return r;
  }
  if (p == Prim::select) {
    auto pred = c.in[0].to_vector<bool>();
    auto x = complex_values_of(c.in[1]), y = complex_values_of(c.in[2]);
    for (size_t i = 0; i < n; ++i) r[i] = pred[i] ? x[i] : y[i];
    return r;
  }
  if (is_libm_row(p) || p == Prim::mul || p == Prim::div) {
    auto x = complex_values_of(c.in[0]);
    auto y = c.in.size() > 1 ? complex_values_of(c.in[1]) : x;
    for (size_t i = 0; i < n; ++i) {
      const LC z = libm_reference(p, ld(x[i]), ld(y[i]));
      if (!finite(z) || !finite(ld(x[i])) || !finite(ld(y[i]))) continue;
      // pow is exp(y log x): its condition number is |y log x|, which the parts' rounding (of
      // log x, say) turns into that many epsilons of error; compared where it is moderate.
      if (p == Prim::pow && (x[i] == C128(0) || std::abs(ld(y[i]) * std::log(ld(x[i]))) > 16))
        continue;
      r[i] = C128(static_cast<double>(z.real()), static_cast<double>(z.imag()));
    }
    return r;
  }
  if (p == Prim::dot_general) {
    // Four real products in float64 (the real harness checks float64 dot_general exactly).
    auto part = [&](const Array& a, bool re_part) {
      return astype(re_part ? real(a) : imag(a), DType::float64);
    };
    std::vector<Array> rr = {part(c.in[0], true), part(c.in[1], true)};
    std::vector<Array> ii = {part(c.in[0], false), part(c.in[1], false)};
    std::vector<Array> ri = {part(c.in[0], true), part(c.in[1], false)};
    std::vector<Array> ir_ = {part(c.in[0], false), part(c.in[1], true)};
    auto re = (bind(p, rr, c.attrs, Loc::current()) - bind(p, ii, c.attrs, Loc::current()))
                  .to_vector<double>();
    auto im = (bind(p, ri, c.attrs, Loc::current()) + bind(p, ir_, c.attrs, Loc::current()))
                  .to_vector<double>();
    for (size_t i = 0; i < n; ++i) r[i] = C128(re[i], im[i]);
    return r;
  }
  // Shape rows and reduce_sum: the row on the real parts and on the imaginary parts (float64).
  std::vector<Array> re, im;
  for (const Array& a : c.in) {
    re.push_back(is_complex(a.dtype()) ? astype(real(a), DType::float64) : a);
    im.push_back(is_complex(a.dtype()) ? astype(imag(a), DType::float64) : a);
  }
  auto a = bind(p, re, c.attrs, Loc::current()).to_vector<double>();
  auto b = bind(p, im, c.attrs, Loc::current()).to_vector<double>();
  (void)cpu;
  for (size_t i = 0; i < n; ++i) r[i] = C128(a[i], b[i]);
  return r;
}

// The rows whose complex results are one rounding (or none) of exact values.
bool bit_exact_reference(Prim p) {
  return is_exact_row(p) || p == Prim::select || p == Prim::complex ||
         ir::info(p).kind == ir::PrimKind::shape;
}

// Normwise: |got - want| <= bound * eps * max(|want|, scale).
bool near(const C128& got, const C128& want, double bound, double eps, double scale) {
  if (!std::isfinite(got.real()) || !std::isfinite(got.imag())) return false;
  const double err = std::abs(ld(got) - ld(want));
  return err <= bound * eps * std::max(std::abs(want), scale) ||
         err <= std::numeric_limits<float>::min();  // at the underflow threshold
}

TEST(ComplexHarness, TheRowsThatAdmitComplexAreJaxs) {
  std::vector<std::string> names;
  for (Prim p : complex_rows()) names.push_back(std::string(ir::name(p)));
  const std::vector<std::string> want = {"neg",
                                         "abs",
                                         "sign",
                                         "exp",
                                         "log",
                                         "log1p",
                                         "expm1",
                                         "sqrt",
                                         "rsqrt",
                                         "tanh",
                                         "sin",
                                         "cos",
                                         "stop_gradient",
                                         "convert_element_type",
                                         "real",
                                         "imag",
                                         "add",
                                         "sub",
                                         "mul",
                                         "div",
                                         "pow",
                                         "complex",
                                         "eq",
                                         "ne",
                                         "select",
                                         "broadcast_in_dim",
                                         "reshape",
                                         "transpose",
                                         "slice",
                                         "concatenate",
                                         "pad",
                                         "reduce_sum",
                                         "dot_general",
                                         "rev",
                                         "sharding_constraint"};
  EXPECT_EQ(names, want);
  for (Prim p : complex_rows())
    for (DType t : complex_dtypes_of(p)) EXPECT_FALSE(complex_cases(p, t).empty()) << ir::name(p);
}

TEST(ComplexHarness, EveryComplexRowMatchesItsReferenceOnTheCpu) {
  const Device cpu = devices("cpu").at(0);
  Bad bad;
  size_t checked = 0;
  for (Prim p : complex_rows()) {
    for (DType t : complex_dtypes_of(p)) {
      for (const ComplexCase& c : complex_cases(p, t)) {
        const ir::Graph g = one_node(p, c.in, c.attrs);
        const ir::ValueType out = g.nodes[g.outputs[0]].type;
        const std::vector<C128> got = values_of(run(g, c.in, cpu));
        const std::vector<std::optional<C128>> want = reference(c, out);
        const double eps = eps_of(is_complex(out.dtype) ? out.dtype : t);
        // The operands element by element (elementwise rows; zeros elsewhere, for the messages).
        const bool ew = is_elementwise(p) && p != Prim::select;
        std::vector<C128> x = ew && is_complex(c.in[0].dtype()) ? complex_values_of(c.in[0])
                                                                : std::vector<C128>(got.size());
        std::vector<C128> y =
            ew && c.in.size() > 1 && is_complex(c.in[1].dtype()) ? complex_values_of(c.in[1]) : x;
        for (size_t i = 0; i < got.size(); ++i) {
          if (!want[i]) continue;
          ++checked;
          bool ok = false;
          if (bit_exact_reference(p)) {
            ok = same_values(got[i], *want[i]);
          } else if (p == Prim::mul || p == Prim::div) {
            // The scale of the terms: |x||y| for the product, |x|/|y| for the quotient.
            const double scale =
                p == Prim::mul ? std::abs(x[i]) * std::abs(y[i]) : std::abs(x[i]) / std::abs(y[i]);
            ok = near(got[i], *want[i], kArithmeticEps, eps, scale);
          } else if (p == Prim::dot_general || p == Prim::reduce_sum) {
            ok = near(got[i], *want[i], 4.0 * 64, eps, 1.0);  // sums of up to 64 unit terms
          } else {
            ok = near(got[i], *want[i], kLibmEps, eps, 0.0);
          }
          if (!ok)
            bad(std::string(ir::name(p)) + " on " + c.what + " element " + std::to_string(i) +
                " (x " + str(x[i]) + ", y " + str(y[i]) + "): got " + str(got[i]) + ", reference " +
                str(*want[i]));
        }
      }
    }
  }
  EXPECT_GT(checked, 10000u);
}

// Other backends (kilncpu; XLA in the reference lane) give the cpu's bits. XLA's documented
// differences (docs/primitives.md, "Complex numbers"): the libm rows within kXlaLibmEps normwise
// (its own approximations), sin and cos within kXlaSinCosEps (it computes sinh of a small
// imaginary part as (e^y - e^-y)/2 and loses digits), pow within kXlaPowEps where |y log x| <= 16
// (XLA computes it in the parts' precision and loses up to that many epsilons; elsewhere both
// lose digits, differently, and it is not compared); where an operand has an infinite or NaN part,
// or the result overflows, the libm rows follow C99 Annex G in kiln and not in XLA; on the
// negative real axis XLA ignores the sign of a zero imaginary part (sqrt(-1 - 0i) = +i).
constexpr double kXlaLibmEps = 8;
constexpr double kXlaSinCosEps = 400;
constexpr double kXlaPowEps = 16;

bool xla_may_differ(Prim p, const C128& x, const C128& y, const C128& got, const C128& want) {
  if (!is_libm_row(p)) return false;
  auto nonfinite = [](const C128& z) {
    return !std::isfinite(z.real()) || !std::isfinite(z.imag());
  };
  if (nonfinite(x) || (p == Prim::pow && nonfinite(y)) || nonfinite(want)) return true;
  const bool on_cut = x.imag() == 0 && std::signbit(x.imag()) && x.real() < 0;
  if (on_cut && same_values(std::conj(got), want)) return true;
  return p == Prim::pow && x != C128(0) && std::abs(ld(y) * std::log(ld(x))) > 16;
}

TEST(ComplexHarness, EveryComplexRowGivesTheCpusBitsOnEveryOtherBackend) {
  std::vector<Device> others;
  for (const std::string& pl : platforms())
    if (pl != "cpu") others.push_back(devices(pl).at(0));
  if (others.empty())
    GTEST_SKIP() << "only the cpu is present (ctest's PrimitiveHarness.kilncpu "
                    "and PrimitiveHarness.xla register plugins)";
  const Device cpu = devices("cpu").at(0);
  for (const Device& d : others) {
    const bool xla = std::string(d.str()).starts_with("XlaDevice");
    Bad bad;
    for (Prim p : complex_rows()) {
      for (DType t : complex_dtypes_of(p)) {
        double largest = 0;
        for (const ComplexCase& c : complex_cases(p, t)) {
          const ir::Graph g = one_node(p, c.in, c.attrs);
          const Array want_a = run(g, c.in, cpu);
          Array got_a;
          try {
            got_a = run(g, c.in, d);
          } catch (const Error& e) {
            bad(std::string(d.str()) + " " + std::string(ir::name(p)) + " on " + c.what + ": " +
                e.what());
            continue;
          }
          const std::vector<C128> want = values_of(want_a), got = values_of(got_a);
          const bool libm = is_libm_row(p) || p == Prim::dot_general || p == Prim::reduce_sum;
          const double eps = eps_of(t);
          const bool ew = is_elementwise(p) && p != Prim::select && is_complex(c.in[0].dtype());
          const std::vector<C128> x =
              ew ? complex_values_of(c.in[0]) : std::vector<C128>(want.size());
          const std::vector<C128> y = ew && c.in.size() > 1 ? complex_values_of(c.in[1]) : x;
          const double bound = p == Prim::sin || p == Prim::cos ? kXlaSinCosEps
                               : p == Prim::pow                 ? kXlaPowEps
                                                                : kXlaLibmEps;
          for (size_t i = 0; i < want.size(); ++i) {
            if (same_values(got[i], want[i])) continue;
            if (xla && xla_may_differ(p, x[i], y[i], got[i], want[i])) continue;
            if (xla && libm && finite(ld(want[i])) && finite(ld(got[i]))) {
              const double diff = std::abs(ld(got[i]) - ld(want[i]));
              const double err = diff / (eps * std::max(std::abs(want[i]), 1e-300));
              if (diff > std::numeric_limits<float>::min()) largest = std::max(largest, err);
              if (err <= bound || diff <= std::numeric_limits<float>::min()) continue;
            }
            bad(std::string(d.str()) + " " + std::string(ir::name(p)) + " on " + c.what +
                " element " + std::to_string(i) + ": " + str(got[i]) + ", cpu " + str(want[i]));
          }
        }
        if (largest > 0)
          std::cout << d.str() << " " << ir::name(p) << " " << name(t) << ": within " << largest
                    << " eps (normwise) of the cpu\n";
      }
    }
  }
}

TEST(ComplexHarness, ExportThenImportGivesTheSameBits) {
  const Device cpu = devices("cpu").at(0);
  Bad bad;
  for (Prim p : complex_rows()) {
    if (ir::info(p).stablehlo.empty()) continue;
    for (DType t : complex_dtypes_of(p)) {
      for (const ComplexCase& c : complex_cases(p, t)) {
        const ir::Graph g = one_node(p, c.in, c.attrs);
        const std::string text = to_stablehlo(g);
        ir::Graph back;
        try {
          back = from_stablehlo(text, c.what);
        } catch (const Error& e) {
          bad(std::string(ir::name(p)) + " on " + c.what + ": the importer refuses " + e.what() +
              "\n" + text);
          continue;
        }
        const Array want = run(g, c.in, cpu), got = run(back, c.in, cpu);
        if (bytes_of(got) != bytes_of(want) || got.dtype() != want.dtype())
          bad(std::string(ir::name(p)) + " on " + c.what + ": other bits after the round trip\n" +
              text);
      }
    }
  }
}

// A complex literal survives export and import: JAX's `dense<(1.0,2.0)>` form, splat and not.
TEST(ComplexHarness, ComplexConstantsRoundTripInJaxsForm) {
  const std::string text = R"(module @m {
  func.func public @main(%arg0: tensor<2xcomplex<f32>>) -> (tensor<2xcomplex<f32>>) {
    %cst = stablehlo.constant dense<(1.000000e+00,2.000000e+00)> : tensor<complex<f32>>
    %0 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<complex<f32>>) -> tensor<2xcomplex<f32>>
    %1 = stablehlo.multiply %arg0, %0 : tensor<2xcomplex<f32>>
    %c2 = stablehlo.constant dense<[(0.5,-1.5), (0.000000e+00,3.000000e+00)]> : tensor<2xcomplex<f32>>
    %2 = stablehlo.add %1, %c2 : tensor<2xcomplex<f32>>
    return %2 : tensor<2xcomplex<f32>>
  }
})";
  const ir::Graph g = from_stablehlo(text, "literal");
  const Array x = Array::from_data<std::complex<float>>(
      std::vector<std::complex<float>>{{1, 1}, {-2, 0.5}}, Shape{2});
  const auto got = run(g, {x}, devices("cpu").at(0)).to_vector<std::complex<float>>();
  // (1 + i)(1 + 2i) + (0.5 - 1.5i) = (-1 + 3i) + (0.5 - 1.5i); (-2 + 0.5i)(1 + 2i) + 3i.
  EXPECT_EQ(got, (std::vector<std::complex<float>>{{-0.5f, 1.5f}, {-3.0f, -0.5f}}));
  const ir::Graph back = from_stablehlo(to_stablehlo(g), "again");
  EXPECT_EQ(run(back, {x}, devices("cpu").at(0)).to_vector<std::complex<float>>(), got);
  EXPECT_NE(to_stablehlo(g).find("dense<[(5.000000e-01,-1.500000e+00)"), std::string::npos)
      << to_stablehlo(g);
}

// ---- VJPs -------------------------------------------------------------------------------------

std::vector<double> values_of_real(const std::vector<C128>& v) {
  std::vector<double> out;
  for (const C128& z : v) out.push_back(z.real());
  return out;
}

// Inputs in a smooth region: parts in (0.3, 0.9) (away from branch cuts, poles and zeros); an
// elementwise case gets 6 elements (its edge-value vectors are long).
std::vector<Array> smooth_inputs(const ComplexCase& c, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.3, 0.9);
  std::vector<Array> out;
  for (const Array& a : c.in) {
    const Shape s = is_elementwise(c.prim) ? Shape{6} : a.shape();
    const auto n = static_cast<size_t>(s.numel());
    if (is_complex(a.dtype())) {
      std::vector<C128> v(n);
      for (C128& z : v) z = {u(rng), u(rng)};
      out.push_back(Array::from_data<C128>(v, s));
    } else if (is_floating(a.dtype())) {
      std::vector<double> v(n);
      for (double& x : v) x = u(rng);
      out.push_back(Array::from_data<double>(v, s));
    } else if (a.dtype() == DType::bool_ && is_elementwise(c.prim)) {
      out.push_back(
          astype(Array::from_data<double>(std::vector<double>{1, 0, 1, 1, 0, 0}, s), DType::bool_));
    } else {
      out.push_back(a);
    }
  }
  return out;
}

TEST(ComplexHarness, EveryVjpRuleMatchesCentralDifferencesUnderJaxsConvention) {
  const Loc loc = Loc::current();
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  int checked_rows = 0;
  size_t derivatives = 0;
  for (Prim p : complex_rows()) {
    if (ir::info(p).grad != ir::Grad::rule) continue;
    std::vector<ComplexCase> cs = complex_cases(p, DType::complex128);
    if (p == Prim::convert) {  // the differentiable conversions: complex128 <-> float64
      std::erase_if(cs, [](const ComplexCase& c) {
        const DType from = c.in[0].dtype(), to = c.attrs.dtype;
        return !((from == DType::complex128 && (to == DType::float64 || to == DType::complex128)) ||
                 (from == DType::float64 && to == DType::complex128));
      });
    }
    ASSERT_FALSE(cs.empty()) << ir::name(p);
    ++checked_rows;
    for (size_t ci = 0; ci < std::min<size_t>(cs.size(), 2); ++ci) {
      const ComplexCase& c = cs[ci];
      SCOPED_TRACE(std::string(ir::name(p)) + " on " + c.what);
      std::vector<Array> in = smooth_inputs(c, rng);
      std::vector<size_t> wrt;
      for (size_t k = 0; k < in.size(); ++k)
        if (is_complex(in[k].dtype()) || in[k].dtype() == DType::float64) wrt.push_back(k);
      const Array y = bind(p, in, c.attrs, loc);
      const bool complex_out = is_complex(y.dtype());
      std::vector<C128> ct(static_cast<size_t>(y.size()));
      for (C128& v : ct) v = {normal(rng), complex_out ? normal(rng) : 0.0};
      // <ct, f(x)> = Re sum ct * f(x): JAX's pairing of cotangents with values.
      auto inner = [&](const std::vector<Array>& xs) {
        const std::vector<C128> v = values_of(bind(p, xs, c.attrs, loc));
        double s = 0;
        for (size_t k = 0; k < v.size(); ++k) s += (ct[k] * v[k]).real();
        return s;
      };
      std::vector<Array> primals;
      for (size_t k : wrt) primals.push_back(in[k]);
      auto body = [&](std::span<const Array> tracers) {
        std::vector<Array> xs = in;
        for (size_t j = 0; j < wrt.size(); ++j) xs[wrt[j]] = tracers[j];
        return std::vector<Array>{bind(p, xs, c.attrs, loc)};
      };
      Array seed = complex_out ? Array::from_data<C128>(ct, y.shape())
                               : Array::from_data<double>(values_of_real(ct), y.shape());
      auto [outs, cts] = detail::vjp_core(
          primals, body, [&](std::span<const Array>) { return std::vector<Array>{seed}; },
          "complex harness", loc);
      for (size_t j = 0; j < wrt.size(); ++j) {
        const size_t k = wrt[j];
        const std::vector<C128> g = values_of(cts[j]);
        const bool cx = is_complex(in[k].dtype());
        std::vector<C128> x = values_of(in[k]);
        auto with = [&](const std::vector<C128>& v) {
          std::vector<Array> xs = in;
          if (cx) {
            xs[k] = Array::from_data<C128>(v, in[k].shape());
          } else {
            xs[k] = Array::from_data<double>(values_of_real(v), in[k].shape());
          }
          return xs;
        };
        for (size_t e = 0; e < x.size(); ++e) {
          for (int part = 0; part < (cx ? 2 : 1); ++part) {
            const double h = 1e-6;
            const C128 step = part == 0 ? C128(h, 0) : C128(0, h);
            std::vector<C128> v = x;
            v[e] = x[e] + step;
            const double up = inner(with(v));
            v[e] = x[e] - step;
            const double down = inner(with(v));
            const double numeric = (up - down) / (2 * h);
            // Re(g * dx): dx = 1 gives Re g, dx = i gives -Im g.
            const double analytic = part == 0 ? g[e].real() : -g[e].imag();
            ++derivatives;
            EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-6 * std::abs(numeric))
                << "operand " << k << " element " << e << (part ? " (imaginary part)" : "");
          }
        }
      }
    }
  }
  EXPECT_GE(checked_rows, 25);
  EXPECT_GT(derivatives, 500u);
  std::cout << checked_rows << " rows, " << derivatives << " partial derivatives checked\n";
}

}  // namespace
}  // namespace kiln::harness
