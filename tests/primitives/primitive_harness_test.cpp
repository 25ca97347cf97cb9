// Every primitive on every backend present (cpu; kilncpu and any other plugin registered through
// PJRT_NAMES_AND_LIBRARY_PATHS, see tests/CMakeLists.txt), on the cases cases.cpp generates from
// the registry: every row against its float64 / exact reference (cases.hpp names the four whose
// references live with their own tests), every row on other backends against the cpu bit for bit
// (within the reference's tolerance for libm rows), every differentiable row's VJP against float64
// central differences, and every exported row through to_stablehlo -> from_stablehlo to the same
// bits.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <random>

#include "backend/support_check.hpp"
#include "kiln/autodiff.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/export.hpp"
#include "kiln/import.hpp"
#include "kiln/ops.hpp"
#include "primitives/cases.hpp"
#include "transforms/vjp_rules.hpp"

namespace kiln::harness {
namespace {

using ir::Prim;

// Collectives are left out: they exchange between devices, so no one-device graph holds them;
// tests/spmd checks each against JAX on meshes of 2, 4 and 8 devices.
bool is_collective(Prim p) {
  return ir::info(p).kind == ir::PrimKind::collective;
}

// The real dtypes p accepts. Complex operands and results (and complex, whose results are) are
// complex_harness_test.cpp's: a HostArray element is one 8-byte word.
std::vector<DType> accepted(Prim p) {
  std::vector<DType> out;
  if (p == Prim::complex || is_collective(p)) return out;
  for (int d = 0; d < kNumDTypes; ++d)
    if (ir::accepts(p, static_cast<DType>(d)) && !is_complex(static_cast<DType>(d)))
      out.push_back(static_cast<DType>(d));
  return out;
}

// The rows whose every case is complex_harness_test.cpp's.
bool complex_only(Prim p) {
  return p == Prim::complex || (ir::info(p).dtypes & ir::kRealDTypes) == 0;
}

std::string label(const Case& c) {
  return std::string(ir::name(c.prim)) + " on " + c.what;
}

// The one-node graph of a case, built through Graph::add (its type rule) and verified.
ir::Graph graph_of(const Case& c) {
  ir::Graph g;
  g.name = std::string(ir::name(c.prim));
  std::vector<ir::ValueId> ids;
  for (const HostArray& h : c.in) ids.push_back(g.add_parameter({h.dtype, h.shape}));
  g.outputs = {g.add(c.prim, ids, c.attrs, std::source_location::current())};
  g.verify();
  return g;
}

HostArray run(const ir::Graph& g, const Case& c, Device d) {
  auto exe = d.backend()->compile(g, d);
  std::vector<Array> ins;
  std::vector<Buffer*> in_ptrs;
  for (const HostArray& h : c.in) ins.push_back(to_array(h, d));
  for (const Array& a : ins) in_ptrs.push_back(a.buffer().get());
  const ir::ValueType& t = exe->output_types().at(0);
  auto out = d.backend()->allocate(static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype), d);
  Buffer* out_ptrs[] = {out.get()};
  exe->run(in_ptrs, out_ptrs);
  return to_host(Array::from_buffer(out, t.dtype, t.shape));
}

// The cpu first (the reference the others are held to), then every other platform present.
std::vector<Device> backends() {
  std::vector<Device> out = {devices("cpu").at(0)};
  for (const std::string& p : platforms())
    if (p != "cpu") out.push_back(devices(p).at(0));
  return out;
}

bool is_elementwise(Prim p) {
  const ir::PrimKind k = ir::info(p).kind;
  return k == ir::PrimKind::unary || k == ir::PrimKind::binary || k == ir::PrimKind::compare ||
         k == ir::PrimKind::select;
}

// Counts mismatches by (backend, primitive, dtype) and reports the first few of each group, then
// one line per group with its count, so a run says exactly which rows differ without flooding.
struct Mismatches {
  struct Group {
    int count = 0;
    std::vector<std::string> examples;
  };
  std::map<std::string, Group> groups;
  int count = 0;
  void report(const Device& d, Prim p, DType t, const std::string& what) {
    ++count;
    Group& g =
        groups[std::string(d.str()) + " " + std::string(ir::name(p)) + " " + std::string(name(t))];
    if (++g.count <= 3) g.examples.push_back(what);
  }
  ~Mismatches() {
    for (const auto& [key, g] : groups) {
      std::string all;
      for (const std::string& e : g.examples) all += "\n  " + e;
      ADD_FAILURE() << key << ": " << g.count << " mismatches; the first:" << all;
    }
  }
};

// What a backend other than kiln's own does differently by design, as explicit expectations per
// backend and primitive (docs/reference.md, "The harness on XLA"). The cpu and kilncpu have none:
// they are held to the cpu's bits exactly (within the reference's tolerance for libm rows).
struct Expectations {
  // Flush-to-zero and denormals-are-zero on float32, float64 and bfloat16 (not float16, which XLA
  // computes in float32 where its denormals are normal): XLA's CPU backend sets the MXCSR's FTZ
  // and DAZ bits around every computation. Its results are held to the cpu's on the case's inputs
  // flushed to signed zeros, with the cpu's result flushed too.
  bool flushes_denormals = false;
  // max and min that do not propagate a NaN operand and pick either zero of a ±0 tie (XLA's CPU
  // backend lowers them to a compare and select): the result must be one of the two operands.
  // reduce_max / reduce_min, their windowed and cumulative forms, over values holding a NaN may
  // give the non-NaN extreme.
  bool min_max_may_drop_nan = false;
  // The libm rows (tolerance_ulps > 0) within this many ulps of the cpu instead of the reference's
  // tolerance: XLA's own polynomial approximations (the largest seen is 7, tanh on float64; every
  // row's largest is in docs/reference.md).
  int libm_ulps = 0;
};

Expectations expectations_of(const Device& d) {
  // "XlaDevice" is how XLA's CPU PJRT plugin describes its devices (whatever name it is registered
  // under in PJRT_NAMES_AND_LIBRARY_PATHS).
  if (std::string(d.str()).starts_with("XlaDevice")) return {true, true, 8};
  return {};
}

bool flushed_by(DType t) {
  return t == DType::float32 || t == DType::float64 || t == DType::bfloat16;
}

// bits with a denormal value replaced by the zero of its sign.
uint64_t flush(uint64_t bits, DType t) {
  if (!flushed_by(t)) return bits;
  const double x = Scalar{t, bits}.to_double();
  const double smallest_normal =
      t == DType::float64 ? std::numeric_limits<double>::min() : std::numeric_limits<float>::min();
  if (x == 0 || std::isnan(x) || std::abs(x) >= smallest_normal) return bits;
  return bits & (1ull << (8 * itemsize(t) - 1));
}

HostArray flushed(HostArray h) {
  for (uint64_t& b : h.bits) b = flush(b, h.dtype);
  return h;
}

// How many representable values of t lie between a and b (finite).
int64_t ulp_distance(uint64_t a, uint64_t b, DType t) {
  const uint64_t sign = 1ull << (8 * itemsize(t) - 1);
  auto line = [&](uint64_t v) {
    return (v & sign) ? -static_cast<int64_t>(v & (sign - 1)) : static_cast<int64_t>(v);
  };
  const int64_t d = line(a) - line(b);
  return d < 0 ? -d : d;
}

TEST(PrimitiveHarness, EveryRowHasCasesForEveryDtypeItAccepts) {
  for (int i = 0; i < ir::kNumPrims; ++i) {
    const auto p = static_cast<Prim>(i);
    if (p == Prim::parameter || p == Prim::constant) continue;  // in every case's graph
    if (is_collective(p) || complex_only(p)) continue;
    EXPECT_NE(accepted(p).size(), 0u) << ir::name(p);
    for (DType t : accepted(p)) EXPECT_FALSE(cases(p, t).empty()) << ir::name(p) << " " << name(t);
  }
}

// The expected bits of every element of case c's result (a failure, and nothing, for a row
// without a reference).
std::optional<std::vector<uint64_t>> expected(const Case& c, const ir::ValueType& out) {
  if (!is_elementwise(c.prim)) {
    std::optional<std::vector<uint64_t>> r = structured_reference(c, out.shape);
    if (!r)
      ADD_FAILURE() << label(c) << ": no reference (tests/primitives/structured_references.cpp)";
    return r;
  }
  std::vector<uint64_t> r(static_cast<size_t>(out.shape.numel()));
  for (size_t k = 0; k < r.size(); ++k) {
    const std::optional<uint64_t> e = reference(c, out.dtype, k);
    if (!e) {
      ADD_FAILURE() << label(c) << ": no reference (tests/primitives/references.cpp)";
      return std::nullopt;
    }
    r[k] = *e;
  }
  return r;
}

// Whether got matches the reference: within the row's tolerance (max and min and their
// reductions, windows, scans and scatters order -0 below +0, so a ±0 tie has one answer).
bool matches(const Case& c, size_t k, uint64_t got, uint64_t want, DType t) {
  const Prim p = c.prim;
  if (p == Prim::lgamma || p == Prim::digamma) return lanczos_close(c.in[0].bits[k], got, want, t);
  return close(got, want, t, tolerance_ulps(p, t));
}

TEST(PrimitiveHarness, EveryRowMatchesItsReferenceOnEveryBackend) {
  Mismatches bad;
  size_t checked = 0;
  for (const Device& d : backends()) {
    // A backend with documented differences (XLA's) is held to the cpu's bits under its
    // expectations below; the cpu is held to the reference here.
    const Expectations x = expectations_of(d);
    if (x.flushes_denormals || x.min_max_may_drop_nan || x.libm_ulps > 0) continue;
    for (int i = 0; i < ir::kNumPrims; ++i) {
      const auto p = static_cast<Prim>(i);
      for (DType t : accepted(p)) {
        if (!d.backend()->supports(p, t)) continue;  // its support check is tested elsewhere
        for (const Case& c : cases(p, t)) {
          const ir::Graph g = graph_of(c);
          const ir::ValueType& out = g.nodes[g.outputs[0]].type;
          const std::optional<std::vector<uint64_t>> want = expected(c, out);
          if (!want) continue;
          HostArray got;
          try {
            got = run(g, c, d);
          } catch (const Error& e) {
            bad.report(d, p, t, std::string(d.str()) + " " + label(c) + ": " + e.what());
            continue;
          }
          checked += got.bits.size();
          for (size_t k = 0; k < got.bits.size(); ++k) {
            if (matches(c, k, got.bits[k], (*want)[k], out.dtype)) continue;
            std::string args;
            if (is_elementwise(p))
              for (const HostArray& h : c.in) args += " " + bits_str(h.bits[k], h.dtype);
            bad.report(d, p, t,
                       std::string(d.str()) + " " + label(c) + " element " + std::to_string(k) +
                           " (" + args + " ): got " + bits_str(got.bits[k], out.dtype) +
                           ", reference " + bits_str((*want)[k], out.dtype) + " (tolerance " +
                           std::to_string(tolerance_ulps(p, out.dtype)) + " ulps)");
          }
        }
      }
    }
  }
  EXPECT_EQ(bad.count, 0);
  EXPECT_GT(checked, 10000u);  // the generator really produced the edge-value products
}

TEST(PrimitiveHarness, EveryRowGivesTheCpusBitsOnEveryOtherBackend) {
  const std::vector<Device> all = backends();
  if (all.size() < 2)
    GTEST_SKIP() << "only the cpu is present; ctest's PrimitiveHarness.kilncpu registers the "
                    "conformance plugin (PJRT_NAMES_AND_LIBRARY_PATHS)";
  Mismatches bad;
  size_t compared = 0;
  for (size_t b = 1; b < all.size(); ++b) {
    const Device& d = all[b];
    const Expectations x = expectations_of(d);
    for (int i = 0; i < ir::kNumPrims; ++i) {
      const auto p = static_cast<Prim>(i);
      const bool min_max = p == Prim::max || p == Prim::min;
      const bool reduce_min_max = p == Prim::reduce_max || p == Prim::reduce_min ||
                                  p == Prim::reduce_window_max || p == Prim::reduce_window_min ||
                                  p == Prim::cummax || p == Prim::cummin;
      for (DType t : accepted(p)) {
        if (!d.backend()->supports(p, t)) continue;  // its support check is tested elsewhere
        int64_t largest_ulps = 0;
        for (Case c : cases(p, t)) {
          if (x.flushes_denormals)
            for (HostArray& h : c.in) h = flushed(h);
          const ir::Graph g = graph_of(c);
          HostArray want = run(g, c, all[0]);
          if (x.flushes_denormals) want = flushed(want);
          HostArray got;
          try {
            got = run(g, c, d);
          } catch (const Error& e) {
            bad.report(d, p, t, std::string(d.str()) + " " + label(c) + ": " + e.what());
            continue;
          }
          if (got.shape != want.shape || got.dtype != want.dtype) {
            bad.report(d, p, t, std::string(d.str()) + " " + label(c) + ": type differs");
            continue;
          }
          const DType o = want.dtype;
          const int ulps = tolerance_ulps(p, o);
          compared += want.bits.size();
          for (size_t k = 0; k < want.bits.size(); ++k) {
            const uint64_t g_k = got.bits[k], w_k = want.bits[k];
            const double gv = Scalar{o, g_k}.to_double(), wv = Scalar{o, w_k}.to_double();
            if (x.libm_ulps > 0 && ulps > 0 && std::isfinite(gv) && std::isfinite(wv) &&
                std::abs(wv) >= std::numeric_limits<float>::min())  // the largest, for the docs
              largest_ulps = std::max(largest_ulps, ulp_distance(g_k, w_k, o));
            if (close(g_k, w_k, o, ulps)) continue;
            if ((p == Prim::lgamma || p == Prim::digamma) &&
                lanczos_close(c.in[0].bits[k], g_k, w_k, o))
              continue;
            if (x.min_max_may_drop_nan && min_max && is_floating(o)) {
              const uint64_t a = c.in[0].bits[k], b2 = c.in[1].bits[k];
              const double av = Scalar{o, a}.to_double(), bv = Scalar{o, b2}.to_double();
              const bool nan_or_zero_tie = std::isnan(av) || std::isnan(bv) || (av == 0 && bv == 0);
              if (nan_or_zero_tie && (g_k == a || g_k == b2)) continue;
            }
            if (x.min_max_may_drop_nan && reduce_min_max && std::isnan(wv)) continue;
            if (x.libm_ulps > 0 && ulps > 0 && close(g_k, w_k, o, x.libm_ulps)) continue;
            std::string args;
            if (is_elementwise(p))
              for (const HostArray& h : c.in) args += " " + bits_str(h.bits[k], h.dtype);
            bad.report(d, p, t,
                       std::string(d.str()) + " " + label(c) + " element " + std::to_string(k) +
                           " (" + args + " ): " + bits_str(g_k, o) + ", cpu " + bits_str(w_k, o));
          }
        }
        if (largest_ulps > 0)
          std::cout << d.str() << " " << ir::name(p) << " " << name(t) << ": within "
                    << largest_ulps << " ulps of the cpu\n";
      }
    }
  }
  EXPECT_EQ(bad.count, 0);
  EXPECT_GT(compared, 10000u * (all.size() - 1));
}

TEST(PrimitiveHarness, ExportThenImportGivesTheSameBits) {
  const Device cpu = devices("cpu").at(0);
  Mismatches bad;
  for (int i = 0; i < ir::kNumPrims; ++i) {
    const auto p = static_cast<Prim>(i);
    if (ir::info(p).stablehlo.empty()) continue;  // not exported (threefry2x32, stop_gradient)
    for (DType t : accepted(p)) {
      for (const Case& c : cases(p, t)) {
        const ir::Graph g = graph_of(c);
        const std::string text = to_stablehlo(g);
        ir::Graph back;
        try {
          back = from_stablehlo(text, label(c));
        } catch (const Error& e) {
          bad.report(cpu, p, t,
                     label(c) + ": the importer refuses what the exporter wrote: " + e.what() +
                         "\n" + text);
          continue;
        }
        const HostArray want = run(g, c, cpu), got = run(back, c, cpu);
        if (got.bits != want.bits || got.dtype != want.dtype)
          bad.report(cpu, p, t, label(c) + ": imported graph gives other bits\n" + text);
      }
    }
  }
  EXPECT_EQ(bad.count, 0);
}

// The row's VJP against float64 central differences of <f(x), ct> for a random cotangent ct.
TEST(PrimitiveHarness, EveryVjpRuleMatchesCentralDifferences) {
  const Loc loc = Loc::current();
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  int rows = 0, differentiated = 0;
  for (int i = 0; i < ir::kNumPrims; ++i) {
    const auto p = static_cast<Prim>(i);
    if (ir::info(p).grad != ir::Grad::rule || is_collective(p) || complex_only(p)) continue;
    const std::vector<Case> cs = gradient_cases(p);
    EXPECT_FALSE(cs.empty()) << ir::name(p) << " has no float64 case to differentiate";
    ++rows;
    if (!cs.empty()) ++differentiated;
    for (const Case& c : cs) {
      SCOPED_TRACE(label(c));
      std::vector<Array> in;
      std::vector<size_t> wrt;  // the float64 operands
      for (size_t k = 0; k < c.in.size(); ++k) {
        in.push_back(to_array(c.in[k], default_device()));
        if (c.in[k].dtype == DType::float64) wrt.push_back(k);
      }
      const Array y = bind(p, in, c.attrs, loc);
      if (y.dtype() != DType::float64) continue;
      std::vector<double> ct(static_cast<size_t>(y.size()));
      for (double& v : ct) v = normal(rng);
      auto inner = [&](const std::vector<Array>& xs) {
        std::vector<double> v = bind(p, xs, c.attrs, loc).to_vector<double>();
        double s = 0;
        for (size_t k = 0; k < v.size(); ++k) s += v[k] * ct[k];
        return s;
      };
      std::vector<Array> primals;
      for (size_t k : wrt) primals.push_back(in[k]);
      auto body = [&](std::span<const Array> tracers) {
        std::vector<Array> xs = in;
        for (size_t j = 0; j < wrt.size(); ++j) xs[wrt[j]] = tracers[j];
        return std::vector<Array>{bind(p, xs, c.attrs, loc)};
      };
      const Array seed = Array::from_data<double>(ct, y.shape());
      auto [outs, cts] = detail::vjp_core(
          primals, body, [&](std::span<const Array>) { return std::vector<Array>{seed}; },
          "harness", loc);
      for (size_t j = 0; j < wrt.size(); ++j) {
        const std::vector<double> analytic = cts[j].to_vector<double>();
        std::vector<double> x = in[wrt[j]].to_vector<double>();
        for (size_t e = 0; e < x.size(); ++e) {
          const double h = 1e-6, x0 = x[e];
          std::vector<Array> xs = in;
          x[e] = x0 + h;
          xs[wrt[j]] = Array::from_data<double>(x, in[wrt[j]].shape());
          const double up = inner(xs);
          x[e] = x0 - h;
          xs[wrt[j]] = Array::from_data<double>(x, in[wrt[j]].shape());
          const double down = inner(xs);
          x[e] = x0;
          const double numeric = (up - down) / (2 * h);
          EXPECT_NEAR(analytic[e], numeric, 1e-6 + 1e-6 * std::abs(numeric))
              << "operand " << wrt[j] << " element " << e;
        }
      }
    }
  }
  EXPECT_EQ(differentiated, rows);
}

// ---- the registry's checks ----------------------------------------------------------------

TEST(Registry, AVjpTableMissingARuleIsCaughtNamingThePrimitive) {
  EXPECT_EQ(autodiff::first_unmatched_rule(autodiff::vjp_rules()), ir::kNumPrims);
  std::array<autodiff::VjpRule, ir::kNumPrims> holed = autodiff::vjp_rules();
  holed[static_cast<size_t>(Prim::exp)] = nullptr;
  EXPECT_EQ(autodiff::first_unmatched_rule(holed), static_cast<int>(Prim::exp));
  // A rule for a primitive whose row says its cotangent is zero is caught too.
  std::array<autodiff::VjpRule, ir::kNumPrims> extra = autodiff::vjp_rules();
  extra[static_cast<size_t>(Prim::floor)] = extra[static_cast<size_t>(Prim::neg)];
  EXPECT_EQ(autodiff::first_unmatched_rule(extra), static_cast<int>(Prim::floor));
}

TEST(Registry, AKernelTableMayOnlyNarrowTheRow) {
  EXPECT_NO_THROW(check_narrows(Prim::pow, ir::dtype_bit(DType::float32), "cpu"));
  EXPECT_NO_THROW(check_narrows(Prim::pow, ir::info(Prim::pow).dtypes, "cpu"));
  try {
    check_narrows(Prim::pow, ir::kNumericDTypes, "cpu");
    FAIL() << "expected kiln::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("cpu kernel table runs pow on uint8, uint16"), std::string::npos) << m;
    EXPECT_NE(m.find("only narrow"), std::string::npos) << m;
  }
}

// Complex rows admit both complex dtypes or neither; orderings, integer-only and window rows
// refuse them (tests/primitives/complex_harness_test.cpp lists the rows that admit them).
TEST(Registry, ComplexRowsAdmitBothComplexDtypesAndNoOrdering) {
  for (const ir::PrimInfo& row : ir::registry::kPrimTable)
    EXPECT_EQ(ir::accepts(row.prim, DType::complex64), ir::accepts(row.prim, DType::complex128))
        << row.name;
  for (Prim p : {Prim::lt, Prim::le, Prim::gt, Prim::ge, Prim::max, Prim::min, Prim::reduce_max,
                 Prim::argmax, Prim::floor, Prim::atan2, Prim::rem, Prim::full})
    EXPECT_FALSE(ir::accepts(p, DType::complex64)) << ir::name(p);
  try {
    (void)ir::infer_type(Prim::lt, std::vector<ir::ValueType>(2, {DType::complex64, {2}}), {}, {});
    FAIL() << "expected kiln::DTypeError";
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("lt: needs"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("got complex64"), std::string::npos) << e.what();
  }
}

// The drifts the registry settled: pow is float (and complex) only everywhere, abs and sign take
// signed operands (kiln::abs / kiln::sign of unsigned arrays are x and x != 0, as jnp's).
TEST(Registry, PowIsFloatOnlyAndAbsSignAreSigned) {
  EXPECT_EQ(ir::info(Prim::pow).dtypes, ir::kFloatDTypes | ir::kComplexDTypes);
  EXPECT_FALSE(devices("cpu")[0].backend()->supports(Prim::pow, DType::int32));
  EXPECT_THROW(
      (void)ir::infer_type(Prim::pow, std::vector<ir::ValueType>(2, {DType::int32, {2}}), {}, {}),
      DTypeError);
  EXPECT_FALSE(ir::accepts(Prim::abs, DType::uint8));
  EXPECT_TRUE(ir::accepts(Prim::abs, DType::int8));
  EXPECT_TRUE(ir::accepts(Prim::neg, DType::uint8));
  const Array u = Array::from_data<uint8_t>(std::vector<uint8_t>{0, 3, 255}, {3});
  EXPECT_EQ(kiln::abs(u).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 3, 255}));
  EXPECT_EQ(kiln::sign(u).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_EQ(kiln::sign(u).dtype(), DType::uint8);
}

// bool is one byte in kiln but i1 in StableHLO: bool <-> int8/uint8 exported as
// stablehlo.bitcast_convert changes the bit width, which XLA refuses ("rank of smaller element type
// should be 1 more"); JAX's lax.bitcast_convert_type refuses it as well. kiln's type rule does too.
TEST(Registry, BitcastConvertRefusesBoolToAnotherDtype) {
  const Array u = Array::from_data<uint8_t>(std::vector<uint8_t>{1, 0}, {2});
  const Array b = astype(u, DType::bool_);
  for (auto [x, to] : {std::pair{b, DType::uint8}, std::pair{u, DType::bool_}}) {
    try {
      (void)bitcast_convert(x, to);
      FAIL() << "expected kiln::DTypeError";
    } catch (const DTypeError& e) {
      EXPECT_NE(std::string(e.what()).find("use convert (astype) instead"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(bitcast_convert(b, DType::bool_).to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(bitcast_convert(u, DType::int8).to_vector<int8_t>(), (std::vector<int8_t>{1, 0}));
}

TEST(Registry, DifferentiatingThroughANonDifferentiablePrimitiveNamesItAndTheLine) {
  const Array x = Array::from_data<double>(std::vector<double>{1.5, -2}, {2});
  const Loc line = Loc::current();
  auto f = [&](const Array& a) {
    Array bits = bitcast_convert(a, DType::uint64, line);
    return sum(bitcast_convert(bits, DType::float64, line));
  };
  try {
    (void)grad(f)(x);
    FAIL() << "expected kiln::GradError";
  } catch (const GradError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("bitcast_convert_type is not differentiable"), std::string::npos) << m;
    EXPECT_NE(m.find("primitive_harness_test.cpp:" + std::to_string(line.line())),
              std::string::npos)
        << m;
  }
  // stop_gradient is the way to say "zero by intent".
  auto g = [&](const Array& a) {
    Array bits = bitcast_convert(stop_gradient(a), DType::uint64, line);
    return sum(bitcast_convert(bits, DType::float64, line)) + sum(a);
  };
  EXPECT_EQ(grad(g)(x).to_vector<double>(), (std::vector<double>{1, 1}));
}

}  // namespace
}  // namespace kiln::harness

namespace kiln::harness {
namespace {

std::string dtype_words(ir::DTypeMask m) {
  if ((m & ir::kComplexDTypes) == ir::kComplexDTypes && (m & ir::kRealDTypes) != 0)
    return dtype_words(m & ir::kRealDTypes) + ", complex";
  if (m == ir::kComplexDTypes) return "complex";
  if (m == ir::kRealDTypes) return "all";
  if (m == ir::kNumericDTypes) return "numeric (not bool)";
  if (m == ir::kFloatDTypes) return "floating-point";
  if (m == ir::kIntDTypes) return "integer";
  if (m == ir::kBitwiseDTypes) return "integer or bool";
  if (m == (ir::kSignedIntDTypes | ir::kFloatDTypes)) return "signed integer or floating-point";
  std::string out;
  for (int d = 0; d < kNumDTypes; ++d)
    if ((m & ir::dtype_bit(static_cast<DType>(d))) != 0)
      out += (out.empty() ? "" : ", ") + std::string(name(static_cast<DType>(d)));
  return out;
}

// The docs' table of rows, as the registry gives it.
std::string registry_table() {
  std::string t = "| primitive | dtypes | gradient | StableHLO |\n|---|---|---|---|\n";
  for (const ir::PrimInfo& row : ir::registry::kPrimTable) {
    const char* grad = row.grad == ir::Grad::rule   ? "VJP rule"
                       : row.grad == ir::Grad::zero ? "zero"
                                                    : "not differentiable";
    t += "| `" + std::string(row.name) + "` | " + dtype_words(row.dtypes) + " | " + grad + " | " +
         (row.stablehlo.empty() ? std::string("—") : "`" + std::string(row.stablehlo) + "`") +
         " |\n";
  }
  return t;
}

TEST(Registry, TheDocsTableIsTheRegistrys) {
  std::ifstream f(std::string(KILN_SOURCE_DIR) + "/docs/primitives.md");
  ASSERT_TRUE(f) << "docs/primitives.md";
  const std::string doc((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::string begin = "<!-- registry dtypes: begin -->\n",
                    end = "<!-- registry dtypes: end -->";
  const size_t a = doc.find(begin), b = doc.find(end);
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  EXPECT_EQ(doc.substr(a + begin.size(), b - a - begin.size()), registry_table())
      << "paste the expected table between the markers in docs/primitives.md";
}

}  // namespace
}  // namespace kiln::harness
