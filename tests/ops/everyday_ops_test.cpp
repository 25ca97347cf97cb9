// Issue 16's elementwise ops, mixed-precision products and everyday operations at the user level,
// each against a reference computed here from its definition (float64 loops, the C library,
// integer bit arithmetic, exact float conversions). What JAX itself gives for the same programs is
// checked by the corpus (tests/corpus/programs/elementwise.py).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

std::vector<float> v(const Array& a) {
  return astype(a, float32).to_vector<float>();
}

Array seq(std::vector<int64_t> shape, float scale = 0.37f, float offset = -1.1f) {
  Shape s(shape);
  std::vector<float> data(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = offset + scale * static_cast<float>((i * 7) % 11) - 0.05f * static_cast<float>(i);
  return array(std::span<const float>(data), s);
}

// ---- einsum ----

TEST(Einsum, MatchesFloat64Loops) {
  const Array a = seq({3, 4}), b = seq({4, 5}, 0.21f, 0.3f);
  const std::vector<float> av = v(a), bv = v(b);
  // "ij,jk->ki": the transposed product.
  const std::vector<float> got = v(einsum("ij,jk->ki", {a, b}));
  ASSERT_EQ(got.size(), 15u);
  for (int k = 0; k < 5; ++k)
    for (int i = 0; i < 3; ++i) {
      double s = 0;
      for (int j = 0; j < 4; ++j) s += double(av[i * 4 + j]) * bv[j * 5 + k];
      EXPECT_NEAR(got[k * 3 + i], s, 1e-5) << k << "," << i;
    }
  // Implicit output: the labels seen once, sorted ("ij,jk" = "ij,jk->ik").
  EXPECT_EQ(einsum("ij,jk", {a, b}).shape(), (Shape{3, 5}));
  // Three operands, contracted left to right.
  const Array c = seq({5, 2}, 0.5f, -0.2f);
  const std::vector<float> cv = v(c), three = v(einsum("ij,jk,kl->il", {a, b, c}));
  for (int i = 0; i < 3; ++i)
    for (int l = 0; l < 2; ++l) {
      double s = 0;
      for (int j = 0; j < 4; ++j)
        for (int k = 0; k < 5; ++k) s += double(av[i * 4 + j]) * bv[j * 5 + k] * cv[k * 2 + l];
      EXPECT_NEAR(three[i * 2 + l], s, 1e-4);
    }
}

TEST(Einsum, BatchDiagonalTraceAndSums) {
  const Array x = seq({2, 3, 4}), y = seq({2, 4, 2}, 0.3f, 0.1f);
  const std::vector<float> xv = v(x), yv = v(y), bmm = v(einsum("bij,bjk->bik", {x, y}));
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 2; ++k) {
        double s = 0;
        for (int j = 0; j < 4; ++j) s += double(xv[b * 12 + i * 4 + j]) * yv[b * 8 + j * 2 + k];
        EXPECT_NEAR(bmm[b * 6 + i * 2 + k], s, 1e-5);
      }
  const Array m = seq({4, 4});
  const std::vector<float> mv = v(m);
  double trace = 0;
  std::vector<float> diag, colsum(4, 0.0f);
  for (int i = 0; i < 4; ++i) {
    trace += mv[i * 5];
    diag.push_back(mv[i * 5]);
    for (int j = 0; j < 4; ++j) colsum[j] += mv[i * 4 + j];
  }
  EXPECT_NEAR(v(einsum("ii->", {m}))[0], trace, 1e-5);
  EXPECT_EQ(v(einsum("ii->i", {m})), diag);
  const std::vector<float> cs = v(einsum("ij->j", {m}));
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(cs[j], colsum[j], 1e-5);
  EXPECT_EQ(v(einsum("ij->ji", {m})), v(transpose(m, {1, 0})));
  const Array u = seq({3}), w = seq({2}, 1.0f, 0.5f);
  const std::vector<float> uv = v(u), wv = v(w), outer = v(einsum("i,j->ij", {u, w}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) EXPECT_FLOAT_EQ(outer[i * 2 + j], uv[i] * wv[j]);
  EXPECT_NEAR(v(einsum("i,i", {u, u}))[0], uv[0] * uv[0] + uv[1] * uv[1] + uv[2] * uv[2], 1e-5);
}

TEST(Einsum, BadSubscriptsNameTheProblem) {
  const Array a = ones({2, 3});
  EXPECT_THROW(einsum("ij,jk->ik", {a}), ValueError);               // two subscripts, one operand
  EXPECT_THROW(einsum("ijk->i", {a}), ValueError);                  // rank mismatch
  EXPECT_THROW(einsum("ij,ij->i", {a, ones({3, 2})}), ValueError);  // sizes of i differ
  EXPECT_THROW(einsum("ij->iz", {a}), ValueError);                  // output label no operand has
  EXPECT_THROW(einsum("...i->i", {a}), ValueError);                 // ellipses
  try {
    einsum("ij,ij->i", {a, ones({3, 2})});
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("label 'i' has sizes 2 and 3"), std::string::npos)
        << e.what();
  }
}

// ---- one_hot, tril/triu, stack/split ----

TEST(EverydayOps, OneHotAsJaxNnOneHot) {
  const std::vector<int32_t> labels = {0, 3, 1, -1, 4};
  const Array x = array(std::span<const int32_t>(labels), Shape{5});
  const std::vector<float> got = v(one_hot(x, 4));
  ASSERT_EQ(got.size(), 20u);
  for (int i = 0; i < 5; ++i)
    for (int c = 0; c < 4; ++c) EXPECT_EQ(got[i * 4 + c], labels[i] == c ? 1.0f : 0.0f);
  const Array t = one_hot(x, 4, int32, 0);  // classes on axis 0
  EXPECT_EQ(t.dtype(), int32);
  EXPECT_EQ(t.shape(), (Shape{4, 5}));
  const std::vector<int32_t> tv = t.to_vector<int32_t>();
  for (int c = 0; c < 4; ++c)
    for (int i = 0; i < 5; ++i) EXPECT_EQ(tv[c * 5 + i], labels[i] == c ? 1 : 0);
}

TEST(EverydayOps, TrilTriuKeepTheirTriangle) {
  const Array m = seq({2, 3, 4});
  const std::vector<float> mv = v(m);
  for (int k : {-1, 0, 2}) {
    const std::vector<float> lo = v(tril(m, k)), up = v(triu(m, k));
    for (int b = 0; b < 2; ++b)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 4; ++j) {
          const size_t f = static_cast<size_t>(b * 12 + i * 4 + j);
          EXPECT_EQ(lo[f], j <= i + k ? mv[f] : 0.0f) << k;
          EXPECT_EQ(up[f], j >= i + k ? mv[f] : 0.0f) << k;
        }
  }
  EXPECT_THROW(tril(ones({3})), ShapeError);
}

TEST(EverydayOps, StackAndSplit) {
  const Array a = seq({2, 3}), b = seq({2, 3}, 1.0f, 5.0f);
  const Array s = stack({a, b}, 1);
  EXPECT_EQ(s.shape(), (Shape{2, 2, 3}));
  const std::vector<float> av = v(a), bv = v(b), sv = v(s);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(sv[i * 6 + j], av[i * 3 + j]);
      EXPECT_EQ(sv[i * 6 + 3 + j], bv[i * 3 + j]);
    }
  EXPECT_EQ(stack({a, b}, -1).shape(), (Shape{2, 3, 2}));
  EXPECT_THROW(stack({a, ones({3, 2})}), ShapeError);
  const Array x = seq({6, 2});
  const std::vector<Array> thirds = split(x, 3);
  ASSERT_EQ(thirds.size(), 3u);
  EXPECT_EQ(v(thirds[1]), v(slice(x, {2, 0}, {4, 2})));
  const std::vector<Array> at = split(x, std::vector<int64_t>{1, 4, 9}, 0);
  ASSERT_EQ(at.size(), 4u);  // [0,1) [1,4) [4,6) [6,6): numpy's clamped indices
  EXPECT_EQ(at[0].shape(), (Shape{1, 2}));
  EXPECT_EQ(at[1].shape(), (Shape{3, 2}));
  EXPECT_EQ(at[2].shape(), (Shape{2, 2}));
  EXPECT_EQ(at[3].shape(), (Shape{0, 2}));
  EXPECT_EQ(v(at[2]), v(slice(x, {4, 0}, {6, 2})));
  EXPECT_THROW(split(x, 4), ShapeError);
}

// ---- elementwise ----

TEST(EverydayOps, NanInfFiniteAndClip) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  const std::vector<float> xs = {0.0f, -1.5f, inf, -inf, nan, 3e38f, 1e-40f};
  const Array x = array(std::span<const float>(xs), Shape{7});
  const std::vector<float> n = v(isnan(x)), i = v(isinf(x)), f = v(isfinite(x));
  for (size_t k = 0; k < xs.size(); ++k) {
    EXPECT_EQ(n[k], std::isnan(xs[k]) ? 1.0f : 0.0f) << k;
    EXPECT_EQ(i[k], std::isinf(xs[k]) ? 1.0f : 0.0f) << k;
    EXPECT_EQ(f[k], std::isfinite(xs[k]) ? 1.0f : 0.0f) << k;
  }
  EXPECT_EQ(isnan(ones({2}, int32)).dtype(), bool_);
  EXPECT_EQ(v(isfinite(ones({2}, int32))), (std::vector<float>{1, 1}));
  EXPECT_EQ(v(clip(array({-3.0f, 0.5f, 9.0f}), -1.0, 2.0)), (std::vector<float>{-1, 0.5f, 2}));
}

TEST(EverydayOps, InverseTrigonometryWithinUlpsOfTheCLibrary) {
  const std::vector<float> xs = {-1.0f, -0.7f, -0.1f, 0.0f, 0.3f, 0.99f, 1.0f};
  const Array x = array(std::span<const float>(xs), Shape{7});
  const std::vector<float> as = v(arcsin(x)), ac = v(arccos(x)), at = v(arctan(x * 4.0));
  for (size_t k = 0; k < xs.size(); ++k) {
    const double e = 4 * std::numeric_limits<float>::epsilon();
    EXPECT_NEAR(as[k], std::asin(double(xs[k])), e * 2) << xs[k];
    EXPECT_NEAR(ac[k], std::acos(double(xs[k])), e * 4) << xs[k];
    EXPECT_NEAR(at[k], std::atan(4.0 * xs[k]), e * 2) << xs[k];
  }
  EXPECT_TRUE(std::isnan(v(arcsin(array({1.5f})))[0]));
  EXPECT_EQ(arccos(ones({2}, int32)).dtype(), float32);
}

TEST(EverydayOps, BitCountsAndArithmeticShift) {
  const std::vector<int32_t> xs = {0, 1, -1, 7, INT32_MIN, INT32_MAX, -100, 12345678};
  const Array x = array(std::span<const int32_t>(xs), Shape{8});
  const std::vector<int32_t> pc = population_count(x).to_vector<int32_t>();
  const std::vector<int32_t> lz = clz(x).to_vector<int32_t>();
  for (size_t k = 0; k < xs.size(); ++k) {
    EXPECT_EQ(pc[k], std::popcount(static_cast<uint32_t>(xs[k])));
    EXPECT_EQ(lz[k], std::countl_zero(static_cast<uint32_t>(xs[k])));
  }
  const std::vector<int32_t> counts = {0, 1, 3, 31, 32, 40, 2, -1};
  const Array n = array(std::span<const int32_t>(counts), Shape{8});
  const std::vector<int32_t> sra = shift_right_arithmetic(x, n).to_vector<int32_t>();
  for (size_t k = 0; k < xs.size(); ++k) {
    const uint32_t c = static_cast<uint32_t>(counts[k]);
    EXPECT_EQ(sra[k], xs[k] >> (c > 31 ? 31 : c)) << k;  // counts >= 32 fill with the sign
  }
  // On unsigned types the sign bit fills in too (XLA's shift_right_arithmetic).
  const std::vector<uint32_t> us = {0x80000000u, 0x7FFFFFFFu};
  const Array u = array(std::span<const uint32_t>(us), Shape{2});
  EXPECT_EQ(shift_right_arithmetic(u, 4).to_vector<uint32_t>(),
            (std::vector<uint32_t>{0xF8000000u, 0x07FFFFFFu}));
  EXPECT_THROW(population_count(ones({2})), DTypeError);
}

TEST(EverydayOps, ReducePrecisionRoundsLikeTheNarrowFormats) {
  // Normal values of float32 rounded to bfloat16's (8, 7) and float16's (5, 10) formats are
  // exactly their conversions to those types and back.
  const Array x = seq({64}, 0.731f, -20.0f) * 3.3;
  EXPECT_EQ(v(reduce_precision(x, 8, 7)), v(astype(astype(x, bfloat16), float32)));
  EXPECT_EQ(v(reduce_precision(x, 5, 10)), v(astype(astype(x, float16), float32)));
  // e5m2 (fp8): 1 + 2^-3 ties to even (1), 1 + 3·2^-3 ties up (1.5); 61440 = 1.875·2^15 ties
  // up to 2^16, past the largest finite value 57344 = 1.75·2^15 (where 60000 rounds): inf; 1e-5
  // lies below the smallest normal (2^-14): 0.
  const std::vector<float> got =
      v(reduce_precision(array({1.125f, 1.375f, -61440.0f, 1e-5f, -60000.0f}), 5, 2));
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_EQ(got[1], 1.5f);
  EXPECT_EQ(got[2], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(got[3], 0.0f);
  EXPECT_EQ(got[4], -57344.0f);
  EXPECT_THROW(reduce_precision(x, 0, 3), ShapeError);
  // Its gradient rounds the cotangent the same way (JAX's linear rule).
  const Array g = grad([](const Array& y) { return sum(reduce_precision(y, 8, 7) * 1.001); })(
      array({0.5f, 2.0f}));
  EXPECT_EQ(v(g), v(astype(astype(array({1.001f, 1.001f}), bfloat16), float32)));
}

TEST(EverydayOps, LgammaAndDigammaNearTheCLibrary) {
  const std::vector<double> xs = {0.5, 1.0, 1.5, 2.0, 3.7, 10.0, 150.0, -0.5, -2.5, 1e-3};
  // digamma in float64, printed by scipy.special.digamma (build/reference-venv).
  const std::vector<double> psi = {-1.9635100260214235, -0.5772156649015329, 0.03648997397857652,
                                   0.42278433509846713, 1.1671535393615113,  2.251752589066721,
                                   5.007298257075679,   0.03648997397857651, 1.1031566406452433,
                                   -1000.5755719318103};
  const Array x = array(std::span<const double>(xs), Shape{10});
  const std::vector<double> lg = lgamma(x).to_vector<double>(), dg = digamma(x).to_vector<double>();
  for (size_t k = 0; k < xs.size(); ++k) {
    EXPECT_NEAR(lg[k], std::lgamma(xs[k]), 1e-12 * std::max(1.0, std::fabs(lg[k]))) << xs[k];
    EXPECT_NEAR(dg[k], psi[k], 1e-10 * std::max(1.0, std::fabs(psi[k]))) << xs[k];
  }
  EXPECT_TRUE(std::isinf(lgamma(array({0.0f, -3.0f})).to_vector<float>()[1]));
  EXPECT_TRUE(std::isnan(digamma(array({-3.0f})).to_vector<float>()[0]));
  // lgamma' = digamma.
  const Array g = grad([](const Array& y) { return sum(lgamma(y)); })(array({0.7f, 4.0f}));
  EXPECT_EQ(v(g), v(digamma(array({0.7f, 4.0f}))));
  // digamma' = polygamma(1, x), printed by scipy.special.polygamma (build/reference-venv); +inf at
  // the poles, as JAX's.
  const std::vector<double> psi1 = {4.93480220054468,     1.6449340668482266,  0.9348022005446793,
                                    0.6449340668482266,   0.31003785767003833, 0.10516633568168576,
                                    0.006688938271165996, 8.934802200544679,   9.539246644989124,
                                    1000001.6425331959};
  const std::vector<double> dpsi =
      grad([](const Array& y) { return sum(digamma(y)); })(x).to_vector<double>();
  for (size_t k = 0; k < xs.size(); ++k) EXPECT_NEAR(dpsi[k], psi1[k], 1e-13 * psi1[k]) << xs[k];
  const std::vector<float> poles =
      v(grad([](const Array& y) { return sum(digamma(y)); })(array({0.0f, -3.0f, 2.0f})));
  EXPECT_TRUE(std::isinf(poles[0]) && poles[0] > 0 && std::isinf(poles[1]) && poles[1] > 0);
  EXPECT_NEAR(poles[2], 0.6449340668482266, 1e-7);
}

TEST(EverydayOps, NegativePadCropsAndItsGradientPadsBack) {
  const Array x = seq({5});
  const std::vector<float> xv = v(x);
  // low -2 drops two elements, high 1 appends one.
  EXPECT_EQ(v(pad(x, 9.0, {-2}, {1}, {0})), (std::vector<float>{xv[2], xv[3], xv[4], 9}));
  // With interior padding: [x0 p x1 p x2 p x3 p x4] cropped by 3 on the left, 2 on the right.
  EXPECT_EQ(v(pad(x, 0.0, {-3}, {-2}, {1})), (std::vector<float>{0, xv[2], 0, xv[3]}));
  EXPECT_THROW(pad(x, 0.0, {-4}, {-2}, {0}), ShapeError);
  const Array g = grad([](const Array& y) { return sum(pad(y, 0.0, {-3}, {-2}, {1}) * 2.0); })(x);
  EXPECT_EQ(v(g), (std::vector<float>{0, 0, 2, 2, 0}));
}

// ---- mixed-precision products ----

TEST(MixedPrecision, Int8ProductsAccumulateExactlyInInt32) {
  // 64 products of -128 · -128 = 1048576: beyond int8 and int16.
  const Array a = full({2, 64}, -128, int8), b = full({64, 3}, -128, int8);
  const Array c = matmul(a, b, {.preferred_element_type = int32});
  EXPECT_EQ(c.dtype(), int32);
  EXPECT_EQ(c.to_vector<int32_t>(), (std::vector<int32_t>(6, 1048576)));
  EXPECT_EQ(matmul(a, b).dtype(), int8);  // without it: int8, wrapping
  EXPECT_THROW(matmul(ones({2, 2}), ones({2, 2}), {.preferred_element_type = int32}), DTypeError);
  EXPECT_THROW(matmul(ones({2, 2}), ones({2, 2}), {.preferred_element_type = bfloat16}),
               DTypeError);
}

TEST(MixedPrecision, Bfloat16ProductsAccumulateInFloat32) {
  const Array a = astype(seq({3, 40}), bfloat16), b = astype(seq({40, 2}, 0.11f, 0.4f), bfloat16);
  const Array c = matmul(a, b, {.preferred_element_type = float32});
  EXPECT_EQ(c.dtype(), float32);
  const std::vector<float> av = v(a), bv = v(b), cv = c.to_vector<float>();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) {
      double s = 0;
      for (int k = 0; k < 40; ++k) s += double(av[i * 40 + k]) * bv[k * 2 + j];
      EXPECT_NEAR(cv[i * 2 + j], s, 1e-5 * std::max(1.0, std::fabs(s)));
    }
  // The cotangents come back in bfloat16: d/da sum(a·b) = 1·bᵀ, rounded to bfloat16.
  const Array ga = grad(
      [&](const Array& x) { return sum(matmul(x, b, {.preferred_element_type = float32})); })(a);
  EXPECT_EQ(ga.dtype(), bfloat16);
  std::vector<float> want;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 40; ++k) want.push_back(bv[k * 2] + bv[k * 2 + 1]);
  EXPECT_EQ(v(ga), v(astype(array(std::span<const float>(want), Shape{3, 40}), bfloat16)));
}

TEST(MixedPrecision, ConvolutionWithPreferredElementType) {
  const Array x = astype(seq({1, 5, 5, 2}, 3.0f, -10.0f), int8);
  const Array k = astype(seq({3, 3, 2, 4}, 5.0f, -20.0f), int8);
  ConvOptions o;
  o.padding = {{1, 1}, {1, 1}};
  o.preferred_element_type = int32;
  const Array y = conv_general_dilated(x, k, o);
  EXPECT_EQ(y.dtype(), int32);
  // The same convolution on operands converted to int32 is exact too.
  o.preferred_element_type.reset();
  EXPECT_EQ(y.to_vector<int32_t>(),
            conv_general_dilated(astype(x, int32), astype(k, int32), o).to_vector<int32_t>());
}

}  // namespace
}  // namespace kiln
