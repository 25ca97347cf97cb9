// nn::max_pool / nn::avg_pool as flax.linen.pooling: windows over the spatial dims between batch
// and features, against float64 loops; padding, count_include_pad, unbatched inputs, gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kiln/kiln.hpp"

namespace kiln {
namespace {

using Pads = std::vector<std::pair<int64_t, int64_t>>;

struct Pooled {
  std::vector<double> max, sum, count;  // count: real (non-padding) elements per window
  int64_t oh = 0, ow = 0;
};

// Pools over (H, W) of an NHWC array, from lax.reduce_window's definition.
Pooled pool_loop(const std::vector<double>& x, int64_t n, int64_t h, int64_t w, int64_t c,
                 std::vector<int64_t> win, std::vector<int64_t> st, Pads pad) {
  Pooled p;
  p.oh = (h + pad[0].first + pad[0].second - win[0]) / st[0] + 1;
  p.ow = (w + pad[1].first + pad[1].second - win[1]) / st[1] + 1;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < p.oh; ++i)
      for (int64_t j = 0; j < p.ow; ++j)
        for (int64_t f = 0; f < c; ++f) {
          double mx = -std::numeric_limits<double>::infinity(), s = 0, cnt = 0;
          for (int64_t a = 0; a < win[0]; ++a)
            for (int64_t bb = 0; bb < win[1]; ++bb) {
              int64_t y = i * st[0] + a - pad[0].first, xx = j * st[1] + bb - pad[1].first;
              if (y < 0 || xx < 0 || y >= h || xx >= w) continue;
              double v = x[static_cast<size_t>(((b * h + y) * w + xx) * c + f)];
              mx = std::max(mx, v);
              s += v;
              cnt += 1;
            }
          p.max.push_back(mx);
          p.sum.push_back(s);
          p.count.push_back(cnt);
        }
  return p;
}

std::vector<double> f64(const Array& a) {
  return astype(a, float64).to_vector<double>();
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-6 * (1 + std::abs(want[i]))) << i;
}

TEST(Pooling, MaxPool2x2Stride2MatchesTheLoop) {
  Array x = random::normal(random::key(1), {2, 6, 5, 3});
  Array y = nn::max_pool(x, {2, 2}, {2, 2});
  Pooled p = pool_loop(f64(x), 2, 6, 5, 3, {2, 2}, {2, 2}, {{0, 0}, {0, 0}});
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2, 3}));
  expect_near_all(f64(y), p.max);
}

TEST(Pooling, SamePaddingNeverLetsPaddingWinAMax) {
  // All inputs negative: a padded zero would win if padding took part.
  Array x = sub(random::uniform(random::key(2), {1, 5, 4, 2}), 2.0);
  Array y = nn::max_pool(x, {3, 3}, {2, 2}, "SAME");
  // SAME for 5 and 4 at stride 2, window 3: outputs 3 and 2, padding (1, 1) and (0, 1).
  Pooled p = pool_loop(f64(x), 1, 5, 4, 2, {3, 3}, {2, 2}, {{1, 1}, {0, 1}});
  EXPECT_EQ(y.shape(), (Shape{1, 3, 2, 2}));
  expect_near_all(f64(y), p.max);
}

TEST(Pooling, AvgPoolCountsPaddingOnlyWhenAsked) {
  Array x = random::normal(random::key(3), {2, 5, 4, 3});
  Pads pads = {{1, 1}, {1, 0}};
  Pooled p = pool_loop(f64(x), 2, 5, 4, 3, {3, 2}, {1, 2}, pads);
  std::vector<double> with_pad, without_pad;
  for (size_t i = 0; i < p.sum.size(); ++i) {
    with_pad.push_back(p.sum[i] / 6.0);
    without_pad.push_back(p.sum[i] / p.count[i]);
  }
  Array a = nn::avg_pool(x, {3, 2}, {1, 2}, pads);
  EXPECT_EQ(a.shape(), (Shape{2, p.oh, p.ow, 3}));
  expect_near_all(f64(a), with_pad);
  expect_near_all(f64(nn::avg_pool(x, {3, 2}, {1, 2}, pads, false)), without_pad);
  // "SAME" for window (3, 2) at strides (1, 2) on 5 x 4 resolves to (1, 1), (0, 0).
  Pooled s = pool_loop(f64(x), 2, 5, 4, 3, {3, 2}, {1, 2}, {{1, 1}, {0, 0}});
  std::vector<double> same;
  for (size_t i = 0; i < s.sum.size(); ++i) same.push_back(s.sum[i] / s.count[i]);
  expect_near_all(f64(nn::avg_pool(x, {3, 2}, {1, 2}, "SAME", false)), same);
}

TEST(Pooling, UnbatchedOneDimensionalAndIntegerInputs) {
  Array x = random::normal(random::key(4), {6, 5, 3});
  Array y = nn::max_pool(x, {2, 2}, {2, 2});
  EXPECT_EQ(y.shape(), (Shape{3, 2, 3}));
  expect_near_all(f64(y),
                  f64(reshape(nn::max_pool(reshape(x, {1, 6, 5, 3}), {2, 2}, {2, 2}), {3, 2, 3})));
  // 1-d windows over (N, L, C); strides default to 1.
  Array seq = array({1, 5, 2, 4, 3, 0}, {1, 6, 1});
  EXPECT_EQ(nn::max_pool(seq, {2}).to_vector<float>(), (std::vector<float>{5, 5, 4, 4, 3}));
  // An integer average is float32 (jnp's true division).
  Array ints = astype(array({1, 2, 3, 4}, {1, 4, 1}), int32);
  Array avg = nn::avg_pool(ints, {2}, {2});
  EXPECT_EQ(avg.dtype(), float32);
  EXPECT_EQ(avg.to_vector<float>(), (std::vector<float>{1.5f, 3.5f}));
  EXPECT_THROW(nn::max_pool(ones({4, 4}), {2, 2}), ShapeError);
  EXPECT_THROW(nn::max_pool(ones({1, 4, 4, 1}), {2, 2}, {2}), ShapeError);
}

TEST(Pooling, MaxPoolGradientGoesToEachWindowsMaximum) {
  Array x = random::normal(random::key(5), {2, 4, 6, 3});
  auto loss = [](const Array& a) { return sum(nn::max_pool(a, {2, 2}, {2, 2})); };
  std::vector<double> g = f64(grad(loss)(x));
  std::vector<double> gj = f64(jit([&](const Array& a) { return grad(loss)(a); })(x));
  std::vector<double> xv = f64(x), want(xv.size(), 0.0);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t f = 0; f < 3; ++f) {
          size_t best = 0;
          double mx = -std::numeric_limits<double>::infinity();
          for (int64_t a = 0; a < 2; ++a)
            for (int64_t c = 0; c < 2; ++c) {
              auto idx = static_cast<size_t>(((b * 4 + 2 * i + a) * 6 + 2 * j + c) * 3 + f);
              if (xv[idx] > mx) {
                mx = xv[idx];
                best = idx;
              }
            }
          want[best] = 1.0;
        }
  EXPECT_EQ(g, want);
  EXPECT_EQ(gj, want);
}

}  // namespace
}  // namespace kiln
