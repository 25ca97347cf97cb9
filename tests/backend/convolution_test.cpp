// The CPU kernels of convolution, reduce_window_sum/max, select_and_scatter_add and rev against
// float64 loops written here from lax's definitions. float32 convolutions run on oneDNN
// (convolution_onednn.cpp), every other dtype on the reference loop, so each form is checked in
// both.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"

namespace kiln {
namespace {

using Pads = std::vector<std::pair<int64_t, int64_t>>;

// Distinct small values; multiples of 1/8 in [-2, 2), exact in every float dtype kiln has (and
// integral when scaled, for the integer cases).
std::vector<double> values(int64_t n, int salt, bool integral = false) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = (i * 37 + salt * 11 + 5) % 29 - 14;
    v.push_back(integral ? static_cast<double>(k % 7) : static_cast<double>(k) / 8.0);
  }
  return v;
}

struct ConvCase {
  int64_t n, c, h, w, o, kh, kw;  // lhs (n, c, h, w), rhs (o, c / groups, kh, kw)
  std::vector<int64_t> strides = {1, 1};
  Pads padding = {{0, 0}, {0, 0}};
  std::vector<int64_t> lhs_dilation = {1, 1}, rhs_dilation = {1, 1};
  int64_t groups = 1;
};

int64_t dilated(int64_t n, int64_t d) {
  return n == 0 ? 0 : (n - 1) * d + 1;
}

// lax.conv_general_dilated in NCHW / OIHW / NCHW, straight from its definition.
std::vector<double> conv_loop(const ConvCase& t, const std::vector<double>& x,
                              const std::vector<double>& k, int64_t& oh, int64_t& ow) {
  const int64_t ig = t.c / t.groups, og = t.o / t.groups;
  auto out_size = [](int64_t n, int64_t lo, int64_t hi, int64_t kd, int64_t s) {
    const int64_t padded = n + lo + hi;
    return padded < kd ? 0 : (padded - kd) / s + 1;
  };
  oh = out_size(dilated(t.h, t.lhs_dilation[0]), t.padding[0].first, t.padding[0].second,
                dilated(t.kh, t.rhs_dilation[0]), t.strides[0]);
  ow = out_size(dilated(t.w, t.lhs_dilation[1]), t.padding[1].first, t.padding[1].second,
                dilated(t.kw, t.rhs_dilation[1]), t.strides[1]);
  std::vector<double> y(static_cast<size_t>(t.n * t.o * oh * ow), 0.0);
  for (int64_t b = 0; b < t.n; ++b)
    for (int64_t o = 0; o < t.o; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = 0;
          for (int64_t ci = 0; ci < ig; ++ci)
            for (int64_t a = 0; a < t.kh; ++a)
              for (int64_t bb = 0; bb < t.kw; ++bb) {
                // Position in the padded, dilated lhs; holes and padding read zero.
                int64_t py = i * t.strides[0] + a * t.rhs_dilation[0] - t.padding[0].first;
                int64_t px = j * t.strides[1] + bb * t.rhs_dilation[1] - t.padding[1].first;
                if (py < 0 || px < 0 || py % t.lhs_dilation[0] || px % t.lhs_dilation[1]) continue;
                py /= t.lhs_dilation[0];
                px /= t.lhs_dilation[1];
                if (py >= t.h || px >= t.w) continue;
                const int64_t c = (o / og) * ig + ci;
                acc += x[static_cast<size_t>(((b * t.c + c) * t.h + py) * t.w + px)] *
                       k[static_cast<size_t>(((o * ig + ci) * t.kh + a) * t.kw + bb)];
              }
          y[static_cast<size_t>(((b * t.o + o) * oh + i) * ow + j)] = acc;
        }
  return y;
}

// The permutation taking a canonical (N, C, H, W) or (O, I, H, W) array to the layout `spec`.
std::vector<int64_t> to_layout(const std::string& spec, const std::string& canonical) {
  std::vector<int64_t> perm;
  for (char ch : spec) perm.push_back(static_cast<int64_t>(canonical.find(ch)));
  return perm;
}
std::vector<int64_t> from_layout(const std::string& spec, const std::string& canonical) {
  std::vector<int64_t> perm;
  for (char ch : canonical) perm.push_back(static_cast<int64_t>(spec.find(ch)));
  return perm;
}

Array canonical_array(const std::vector<double>& v, const Shape& s, DType t) {
  return astype(array(std::span<const double>(v), s), t);
}

// Runs the case in dtype `t` with the given layouts and compares with the float64 loop.
void expect_conv_matches_loop(const ConvCase& t, DType dt, const std::string& lhs_spec,
                              const std::string& rhs_spec, const std::string& out_spec,
                              double tol) {
  SCOPED_TRACE(std::string(name(dt)) + " " + lhs_spec + "/" + rhs_spec + "/" + out_spec);
  const bool integral = !is_floating(dt);
  std::vector<double> x = values(t.n * t.c * t.h * t.w, 1, integral);
  std::vector<double> k = values(t.o * (t.c / t.groups) * t.kh * t.kw, 2, integral);
  int64_t oh = 0, ow = 0;
  std::vector<double> want = conv_loop(t, x, k, oh, ow);
  Array xa = transpose(canonical_array(x, {t.n, t.c, t.h, t.w}, dt), to_layout(lhs_spec, "NCHW"));
  Array ka = transpose(canonical_array(k, {t.o, t.c / t.groups, t.kh, t.kw}, dt),
                       to_layout(rhs_spec, "OIHW"));
  Array y = conv_general_dilated(xa, ka,
                                 {.window_strides = t.strides,
                                  .padding = t.padding,
                                  .lhs_dilation = t.lhs_dilation,
                                  .rhs_dilation = t.rhs_dilation,
                                  .feature_group_count = t.groups,
                                  .lhs_spec = lhs_spec,
                                  .rhs_spec = rhs_spec,
                                  .out_spec = out_spec});
  EXPECT_EQ(y.dtype(), dt);
  Array yc = transpose(y, from_layout(out_spec, "NCHW"));
  ASSERT_EQ(yc.shape(), (Shape{t.n, t.o, oh, ow}));
  std::vector<double> got = astype(yc, float64).to_vector<double>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (integral) {
      EXPECT_EQ(got[i], want[i]) << i;
    } else {
      EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << i;
    }
  }
}

const std::vector<ConvCase>& cases() {
  static const std::vector<ConvCase> c = {
      // The CNN's layers, small: 3x3 SAME.
      {.n = 2, .c = 1, .h = 6, .w = 5, .o = 4, .kh = 3, .kw = 3, .padding = {{1, 1}, {1, 1}}},
      {.n = 3, .c = 5, .h = 4, .w = 4, .o = 6, .kh = 3, .kw = 3, .padding = {{1, 1}, {1, 1}}},
      // Stride 2, VALID, non-square kernel.
      {.n = 1, .c = 3, .h = 7, .w = 6, .o = 2, .kh = 3, .kw = 2, .strides = {2, 2}},
      // Asymmetric padding, rhs dilation.
      {.n = 2,
       .c = 2,
       .h = 6,
       .w = 7,
       .o = 3,
       .kh = 2,
       .kw = 3,
       .strides = {1, 2},
       .padding = {{2, 0}, {1, 3}},
       .rhs_dilation = {2, 2}},
      // Negative padding (cropping).
      {.n = 1,
       .c = 2,
       .h = 7,
       .w = 6,
       .o = 2,
       .kh = 2,
       .kw = 2,
       .strides = {2, 1},
       .padding = {{-1, 1}, {1, -2}}},
      // lhs dilation (a transposed convolution).
      {.n = 1,
       .c = 2,
       .h = 4,
       .w = 3,
       .o = 3,
       .kh = 3,
       .kw = 2,
       .strides = {2, 1},
       .padding = {{1, 2}, {0, 1}},
       .lhs_dilation = {2, 3}},
      // Feature groups.
      {.n = 2,
       .c = 6,
       .h = 4,
       .w = 4,
       .o = 6,
       .kh = 3,
       .kw = 2,
       .strides = {2, 1},
       .padding = {{1, 1}, {0, 1}},
       .groups = 3},
  };
  return c;
}

TEST(ConvolutionKernel, Float32NhwcHwioMatchesTheLoop) {
  for (const ConvCase& c : cases())
    expect_conv_matches_loop(c, float32, "NHWC", "HWIO", "NHWC", 1e-5);
}

TEST(ConvolutionKernel, Float32NchwOihwMatchesTheLoop) {
  for (const ConvCase& c : cases())
    expect_conv_matches_loop(c, float32, "NCHW", "OIHW", "NCHW", 1e-5);
}

TEST(ConvolutionKernel, Float64MatchesTheLoopInMixedLayouts) {
  for (const ConvCase& c : cases()) {
    expect_conv_matches_loop(c, float64, "NHWC", "HWIO", "NHWC", 1e-12);
    expect_conv_matches_loop(c, float64, "CWNH", "IHOW", "HNCW", 1e-12);
  }
}

TEST(ConvolutionKernel, SixteenBitFloatsAccumulateInFloat32) {
  // Inputs are exact; each result is one float32 sum rounded once, so within half an ulp of the
  // 16-bit format (bf16: 2^-8 relative, f16: 2^-11).
  for (const ConvCase& c : cases()) {
    expect_conv_matches_loop(c, bfloat16, "NHWC", "HWIO", "NHWC", 1.0 / 256);
    expect_conv_matches_loop(c, float16, "NCHW", "OIHW", "NCHW", 1.0 / 2048);
  }
}

TEST(ConvolutionKernel, IntegersAreExact) {
  for (const ConvCase& c : cases()) {
    expect_conv_matches_loop(c, int32, "NHWC", "HWIO", "NHWC", 0);
    expect_conv_matches_loop(c, int64, "NCHW", "OIHW", "NCHW", 0);
  }
}

// The CNN's gradients in float32 take the oneDNN mappings (forward for the lhs cotangent of a
// stride-1 conv, backward_weights for the rhs cotangent); float64 takes the reference loop.
TEST(ConvolutionKernel, Float32GradientsOfTheCnnLayersMatchFloat64) {
  struct Layer {
    Shape x, k;
  };
  for (const Layer& layer :
       {Layer{{4, 8, 8, 1}, {3, 3, 1, 4}}, Layer{{4, 6, 6, 3}, {3, 3, 3, 5}}}) {
    std::vector<double> xv = values(layer.x.numel(), 3), kv = values(layer.k.numel(), 4);
    auto loss = [](const std::vector<Array>& a) {
      Array y = conv_general_dilated(a[0], a[1], {.padding = {{1, 1}, {1, 1}}});
      return sum(mul(y, y));
    };
    auto g64 = grad(loss)(std::vector<Array>{canonical_array(xv, layer.x, float64),
                                             canonical_array(kv, layer.k, float64)});
    auto g32 = jit([&](const std::vector<Array>& a) { return grad(loss)(a); })(std::vector<Array>{
        canonical_array(xv, layer.x, float32), canonical_array(kv, layer.k, float32)});
    for (size_t i = 0; i < 2; ++i) {
      auto want = g64[i].to_vector<double>();
      auto got = astype(g32[i], float64).to_vector<double>();
      ASSERT_EQ(got.size(), want.size());
      for (size_t j = 0; j < got.size(); ++j)
        EXPECT_NEAR(got[j], want[j], 1e-4 * (1 + std::abs(want[j]))) << "operand " << i << " " << j;
    }
  }
}

TEST(ConvolutionKernel, ShapeErrorsNameBothShapesAndTheLine) {
  Array x = zeros({1, 5, 5, 3}), k = zeros({3, 3, 2, 4});
  try {
    (void)conv_general_dilated(x, k);
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("(1, 5, 5, 3)"), std::string::npos) << m;
    EXPECT_NE(m.find("(3, 3, 2, 4)"), std::string::npos) << m;
    EXPECT_NE(m.find("convolution_test.cpp"), std::string::npos) << m;
  }
  EXPECT_THROW((void)conv_general_dilated(x, zeros({3, 3, 3, 4}), {.padding = {{-3, -3}, {0, 0}}}),
               ShapeError);
  EXPECT_THROW((void)conv_general_dilated(x, zeros({3, 3, 3, 4}), {.lhs_spec = "NHWD"}),
               ValueError);
  EXPECT_THROW((void)conv_general_dilated(x, zeros({3, 3, 3, 4}), {.window_strides = {1}}),
               ShapeError);
}

// ---- reduce_window, select_and_scatter_add, rev ----

struct Window {
  std::vector<int64_t> window, strides;
  Pads padding;
};

// lax.reduce_window over a rank-3 operand, from its definition.
std::vector<double> window_loop(const std::vector<double>& x, const Shape& s, const Window& w,
                                bool is_max, Shape& out) {
  out = Shape{};
  for (int d = 0; d < 3; ++d) {
    int64_t padded = s[d] + w.padding[d].first + w.padding[d].second;
    out.push_back(padded < w.window[d] ? 0 : (padded - w.window[d]) / w.strides[d] + 1);
  }
  std::vector<double> y;
  for (int64_t i = 0; i < out[0]; ++i)
    for (int64_t j = 0; j < out[1]; ++j)
      for (int64_t l = 0; l < out[2]; ++l) {
        double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
        for (int64_t a = 0; a < w.window[0]; ++a)
          for (int64_t b = 0; b < w.window[1]; ++b)
            for (int64_t c = 0; c < w.window[2]; ++c) {
              int64_t p[3] = {i * w.strides[0] + a - w.padding[0].first,
                              j * w.strides[1] + b - w.padding[1].first,
                              l * w.strides[2] + c - w.padding[2].first};
              bool inside = true;
              for (int d = 0; d < 3; ++d) inside = inside && p[d] >= 0 && p[d] < s[d];
              if (!inside) continue;
              double v = x[static_cast<size_t>((p[0] * s[1] + p[1]) * s[2] + p[2])];
              acc = is_max ? std::max(acc, v) : acc + v;
            }
        y.push_back(acc);
      }
  return y;
}

const std::vector<Window>& windows() {
  static const std::vector<Window> w = {
      {{2, 2, 1}, {2, 2, 1}, {{0, 0}, {0, 0}, {0, 0}}},   // the NHWC pool, on (H, W, C)
      {{3, 3, 1}, {2, 1, 1}, {{1, 1}, {1, 0}, {0, 0}}},   // overlapping, padded
      {{2, 1, 2}, {1, 2, 1}, {{3, 2}, {0, 1}, {-1, 0}}},  // padding wider than the window, cropping
  };
  return w;
}

TEST(ReduceWindowKernel, MaxAndSumMatchTheLoopInEveryDtypeFamily) {
  const Shape s{5, 6, 3};
  for (DType dt : {float32, float64, bfloat16, float16, int32, int8, uint8}) {
    const bool integral = !is_floating(dt);
    std::vector<double> x = values(s.numel(), 5, integral);
    if (dt == uint8)
      for (double& v : x) v = std::abs(v);
    Array xa = canonical_array(x, s, dt);
    for (const Window& w : windows()) {
      for (bool is_max : {true, false}) {
        SCOPED_TRACE(std::string(name(dt)) + (is_max ? " max" : " sum"));
        Shape out;
        std::vector<double> want = window_loop(x, s, w, is_max, out);
        Array y = is_max ? reduce_window_max(xa, w.window, w.strides, w.padding)
                         : reduce_window_sum(xa, w.window, w.strides, w.padding);
        EXPECT_EQ(y.dtype(), dt);
        ASSERT_EQ(y.shape(), out);
        std::vector<double> got = astype(y, float64).to_vector<double>();
        for (size_t i = 0; i < got.size(); ++i) {
          // Windows entirely in padding give max's init: -inf, or the lowest integer.
          double expect = want[i];
          if (integral && std::isinf(expect))
            expect = dt == int32 ? -2147483648.0 : dt == int8 ? -128.0 : 0.0;
          EXPECT_EQ(got[i], expect) << i;  // small exact values: every dtype sums them exactly
        }
      }
    }
  }
}

TEST(ReduceWindowKernel, MaxOfBoolIsAnyAndSumOfBoolCounts) {
  Array b = array({0, 1, 0, 0, 0, 0}, {6}) > 0.5;
  EXPECT_EQ(astype(reduce_window_max(b, {2}, {2}, {}), int32).to_vector<int32_t>(),
            (std::vector<int32_t>{1, 0, 0}));
  Array n = reduce_window_sum(b, {3}, {1}, {});
  EXPECT_EQ(n.dtype(), int32);
  EXPECT_EQ(n.to_vector<int32_t>(), (std::vector<int32_t>{1, 1, 0, 0}));
}

TEST(ReduceWindowKernel, MaxPropagatesNan) {
  float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> v = {1, nan, 3, 4};
  Array y = reduce_window_max(array(std::span<const float>(v), {4}), {2}, {2}, {});
  auto got = y.to_vector<float>();
  EXPECT_TRUE(std::isnan(got[0]));
  EXPECT_EQ(got[1], 4.0f);
}

TEST(SelectAndScatterAddKernel, ScattersEachWindowToItsFirstMaximumInEveryDtype) {
  const Shape s{5, 6, 3};
  for (DType dt : {float32, float64, bfloat16, float16, int32}) {
    SCOPED_TRACE(name(dt));
    // Few distinct values, so windows have ties and the first maximum matters.
    std::vector<double> x = values(s.numel(), 6, true);
    for (const Window& w : windows()) {
      Shape out;
      (void)window_loop(x, s, w, true, out);
      std::vector<double> src = values(out.numel(), 7, true);
      // The loop: per window, the first (in window order) element equal to the maximum.
      std::vector<double> want(static_cast<size_t>(s.numel()), 0.0);
      int64_t o = 0;
      for (int64_t i = 0; i < out[0]; ++i)
        for (int64_t j = 0; j < out[1]; ++j)
          for (int64_t l = 0; l < out[2]; ++l, ++o) {
            double best = -std::numeric_limits<double>::infinity();
            int64_t at = -1;
            for (int64_t a = 0; a < w.window[0]; ++a)
              for (int64_t b = 0; b < w.window[1]; ++b)
                for (int64_t c = 0; c < w.window[2]; ++c) {
                  int64_t p0 = i * w.strides[0] + a - w.padding[0].first;
                  int64_t p1 = j * w.strides[1] + b - w.padding[1].first;
                  int64_t p2 = l * w.strides[2] + c - w.padding[2].first;
                  if (p0 < 0 || p1 < 0 || p2 < 0 || p0 >= s[0] || p1 >= s[1] || p2 >= s[2])
                    continue;
                  int64_t idx = (p0 * s[1] + p1) * s[2] + p2;
                  if (at < 0 || x[static_cast<size_t>(idx)] > best) {
                    best = x[static_cast<size_t>(idx)];
                    at = idx;
                  }
                }
            if (at >= 0) want[static_cast<size_t>(at)] += src[static_cast<size_t>(o)];
          }
      ir::Attrs a;
      a.window = w.window;
      a.stride = w.strides;
      for (const auto& [lo, hi] : w.padding) {
        a.low.push_back(lo);
        a.high.push_back(hi);
      }
      Array ops[2] = {canonical_array(src, out, dt), canonical_array(x, s, dt)};
      Array y = bind(ir::Prim::select_and_scatter_add, ops, a, Loc::current());
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_EQ(astype(y, float64).to_vector<double>(), want);
    }
  }
}

// A 2x2 stride-2 pool over 5x5x2 (the last row and column are in no window): the disjoint-window
// path gives uncovered elements +0, each window's first maximum 0 + g (so a -0 cotangent arrives
// as +0, as in the scatter-add), NaN wins where it comes first or later, and a tie keeps the first.
TEST(SelectAndScatterAddKernel, DisjointWindowsKeepTheScatterAddBits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x(5 * 5 * 2, 1.0f);
  auto at = [](int i, int j, int c) { return static_cast<size_t>((i * 5 + j) * 2 + c); };
  x[at(0, 1, 0)] = 3.0f;  // window (0,0), channel 0: the maximum, second in window order
  x[at(1, 1, 1)] = nan;   // window (0,0), channel 1: NaN comes last and wins
  x[at(0, 2, 0)] = 2.0f;  // window (0,1), channel 0: a tie at 2: the first one wins
  x[at(1, 3, 0)] = 2.0f;
  std::vector<float> g(2 * 2 * 2);
  for (size_t k = 0; k < g.size(); ++k) g[k] = static_cast<float>(k + 1);
  g[3] = -0.0f;  // window (0,1), channel 1: all ones, the first gets 0 + -0 = +0
  ir::Attrs a;
  a.window = {2, 2, 1};
  a.stride = {2, 2, 1};
  a.low = {0, 0, 0};
  a.high = {0, 0, 0};
  Array ops[2] = {array(std::span<const float>(g), {2, 2, 2}),
                  array(std::span<const float>(x), {5, 5, 2})};
  const std::vector<float> y =
      bind(ir::Prim::select_and_scatter_add, ops, a, Loc::current()).to_vector<float>();
  std::vector<float> want(x.size(), 0.0f);
  want[at(0, 1, 0)] = 1.0f;
  want[at(1, 1, 1)] = 2.0f;
  want[at(0, 2, 0)] = 3.0f;
  want[at(0, 2, 1)] = 0.0f;  // +0 from 0 + -0
  want[at(2, 0, 0)] = 5.0f;
  want[at(2, 0, 1)] = 6.0f;
  want[at(2, 2, 0)] = 7.0f;
  want[at(2, 2, 1)] = 8.0f;
  ASSERT_EQ(y.size(), want.size());
  for (size_t k = 0; k < y.size(); ++k) {
    EXPECT_EQ(y[k], want[k]) << k;
    EXPECT_FALSE(std::signbit(y[k])) << k;
  }
}

TEST(RevKernel, ReversesTheNamedDims) {
  Array x = reshape(arange(24, float32), {2, 3, 4});
  std::vector<float> got = rev(x, {0, 2}).to_vector<float>();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k)
        EXPECT_EQ(got[static_cast<size_t>((i * 3 + j) * 4 + k)],
                  static_cast<float>(((1 - i) * 3 + j) * 4 + (3 - k)));
}

}  // namespace
}  // namespace kiln
