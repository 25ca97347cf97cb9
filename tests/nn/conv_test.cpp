// nn::Conv as flax.linen.Conv: parameter names, shapes and initial values (the initializer on the
// key Flax derives), outputs against a float64 loop, batch-dim handling, padding modes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"
#include "nn/fold_in_static.hpp"

namespace kiln {
namespace {

using nn::Conv;
using nn::Scope;
namespace init = nn::initializers;
using Pads = std::vector<std::pair<int64_t, int64_t>>;

struct OneConv : nn::Module<OneConv> {
  explicit OneConv(Conv::Options o) : options(std::move(o)) {}
  Conv::Options options;
  Array operator()(Scope& s, const Array& x) const { return Conv(options)(s, x); }
};

// A channels-last 2-d convolution plus bias, from lax's definition, in float64.
std::vector<double> conv2d_loop(const std::vector<double>& x, int64_t n, int64_t h, int64_t w,
                                int64_t c, const std::vector<double>& k, int64_t kh, int64_t kw,
                                int64_t o, const std::vector<double>& b, std::vector<int64_t> st,
                                Pads pad, std::vector<int64_t> dil, int64_t groups, int64_t& oh,
                                int64_t& ow) {
  const int64_t dkh = (kh - 1) * dil[0] + 1, dkw = (kw - 1) * dil[1] + 1;
  oh = (h + pad[0].first + pad[0].second - dkh) / st[0] + 1;
  ow = (w + pad[1].first + pad[1].second - dkw) / st[1] + 1;
  const int64_t ig = c / groups, og = o / groups;
  std::vector<double> y;
  for (int64_t bi = 0; bi < n; ++bi)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t f = 0; f < o; ++f) {
          double acc = b.empty() ? 0.0 : b[static_cast<size_t>(f)];
          for (int64_t a = 0; a < kh; ++a)
            for (int64_t bb = 0; bb < kw; ++bb)
              for (int64_t ci = 0; ci < ig; ++ci) {
                int64_t py = i * st[0] + a * dil[0] - pad[0].first;
                int64_t px = j * st[1] + bb * dil[1] - pad[1].first;
                if (py < 0 || px < 0 || py >= h || px >= w) continue;
                int64_t ch = (f / og) * ig + ci;
                acc += x[static_cast<size_t>(((bi * h + py) * w + px) * c + ch)] *
                       k[static_cast<size_t>(((a * kw + bb) * ig + ci) * o + f)];
              }
          y.push_back(acc);
        }
  return y;
}

std::vector<double> f64(const Array& a) {
  return astype(a, float64).to_vector<double>();
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << i;
}

TEST(Conv, ParamsAreKernelThenBiasWithFlaxShapesAndKeys) {
  const Array key = random::key(0);
  OneConv m({.features = 4, .kernel_size = {3, 3}});
  Tree v = m.init(key, ones({2, 5, 5, 3}));
  const Tree& p = v["params"]["Conv_0"];
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p["kernel"].leaf().shape(), (Shape{3, 3, 3, 4}));
  EXPECT_EQ(p["bias"].leaf().shape(), (Shape{4}));
  EXPECT_EQ(p["kernel"].leaf().dtype(), float32);
  // Flax draws the kernel from fold_in(key, data) with suffix ("Conv_0", 1), the bias with 2;
  // lecun_normal's fans read the HWIO kernel's receptive field (3 * 3 * in).
  const std::vector<std::string> path = {"Conv_0"};
  const Array kkey = random::fold_in(key, nn::detail::static_fold_data(path, 1));
  EXPECT_EQ(p["kernel"].leaf().to_vector<float>(),
            init::lecun_normal()(kkey, {3, 3, 3, 4}, float32).to_vector<float>());
  for (float b : p["bias"].leaf().to_vector<float>()) EXPECT_EQ(b, 0.0f);
  // Grouped: the kernel's in-feature dim is in / groups.
  Tree g = OneConv({.features = 6, .kernel_size = {2}, .feature_group_count = 3})
               .init(key, ones({1, 7, 6}));
  EXPECT_EQ(g["params"]["Conv_0"]["kernel"].leaf().shape(), (Shape{2, 2, 6}));
}

TEST(Conv, OutputsMatchTheLoopWithBias) {
  struct Case {
    Conv::Options o;
    Pads pads;  // what the padding resolves to for a 6x5 input
  };
  std::vector<Case> cases = {
      {{.features = 4, .kernel_size = {3, 3}}, {{1, 1}, {1, 1}}},
      {{.features = 4, .kernel_size = {3, 2}, .strides = {2}}, {{0, 1}, {0, 1}}},
      {{.features = 3, .kernel_size = {2, 2}, .padding = "VALID", .kernel_dilation = {2}},
       {{0, 0}, {0, 0}}},
      {{.features = 4, .kernel_size = {3, 3}, .explicit_padding = {{2, 0}, {0, 1}}},
       {{2, 0}, {0, 1}}},
      {{.features = 4, .kernel_size = {3, 1}, .feature_group_count = 2}, {{1, 1}, {0, 0}}},
  };
  for (Case& t : cases) {
    t.o.bias_init = init::normal(1.0);
    OneConv m(t.o);
    Array x = random::normal(random::key(1), {2, 6, 5, 4});
    Tree v = m.init(random::key(0), x);
    Array y = m.apply(v, x);
    const Array& k = v["params"]["Conv_0"]["kernel"].leaf();
    const int64_t kh = k.shape()[0], kw = k.shape()[1];
    std::vector<int64_t> st = t.o.strides.empty()
                                  ? std::vector<int64_t>{1, 1}
                                  : std::vector<int64_t>{t.o.strides[0], t.o.strides[0]};
    std::vector<int64_t> dil =
        t.o.kernel_dilation.empty()
            ? std::vector<int64_t>{1, 1}
            : std::vector<int64_t>{t.o.kernel_dilation[0], t.o.kernel_dilation[0]};
    int64_t oh = 0, ow = 0;
    auto want = conv2d_loop(f64(x), 2, 6, 5, 4, f64(k), kh, kw, t.o.features,
                            f64(v["params"]["Conv_0"]["bias"].leaf()), st, t.pads, dil,
                            t.o.feature_group_count, oh, ow);
    EXPECT_EQ(y.shape(), (Shape{2, oh, ow, t.o.features}));
    expect_near_all(f64(y), want, 1e-5);
  }
}

TEST(Conv, FlaxDocExampleValidOneDimensional) {
  // flax.linen.Conv's docstring: features 4, kernel (3,), VALID on (1, 8, 3) -> (1, 6, 4),
  // params {'bias': (4,), 'kernel': (3, 3, 4)}.
  OneConv m({.features = 4, .kernel_size = {3}, .padding = "VALID"});
  Tree v = m.init(random::key(0), ones({1, 8, 3}));
  EXPECT_EQ(v["params"]["Conv_0"]["kernel"].leaf().shape(), (Shape{3, 3, 4}));
  EXPECT_EQ(m.apply(v, ones({1, 8, 3})).shape(), (Shape{1, 6, 4}));
  // CIRCULAR with stride 2: (1, 8, 3) -> (1, 4, 4); CAUSAL keeps the length.
  OneConv c({.features = 4, .kernel_size = {3}, .strides = {2}, .padding = "CIRCULAR"});
  EXPECT_EQ(c.apply(c.init(random::key(0), ones({1, 8, 3})), ones({1, 8, 3})).shape(),
            (Shape{1, 4, 4}));
  OneConv causal({.features = 2, .kernel_size = {3}, .padding = "CAUSAL"});
  EXPECT_EQ(causal.apply(causal.init(random::key(0), ones({1, 8, 3})), ones({1, 8, 3})).shape(),
            (Shape{1, 8, 2}));
}

TEST(Conv, CircularPaddingWrapsAround) {
  // 1-d, kernel 3 of ones, no bias: y[i] = x[i-1] + x[i] + x[i+1] with indices mod 5.
  OneConv m({.features = 1,
             .kernel_size = {3},
             .padding = "CIRCULAR",
             .use_bias = false,
             .kernel_init = init::ones()});
  Array x = array({1, 2, 3, 4, 5}, {1, 5, 1});
  Array y = m.apply(m.init(random::key(0), x), x);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{8, 6, 9, 12, 10}));
}

TEST(Conv, UnbatchedAndMultiBatchInputsAsFlax) {
  OneConv m({.features = 3, .kernel_size = {2, 2}, .bias_init = init::normal(1.0)});
  Array x = random::normal(random::key(2), {2, 3, 4, 4, 2});
  Tree v = m.init(random::key(0), x);
  Array y = m.apply(v, x);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4, 4, 3}));
  expect_near_all(f64(y), f64(reshape(m.apply(v, reshape(x, {6, 4, 4, 2})), {2, 3, 4, 4, 3})),
                  1e-6);
  // One (H, W, C) image: the same as a batch of one, without the batch dim.
  Array img = slice(reshape(x, {6, 4, 4, 2}), {0, 0, 0, 0}, {1, 4, 4, 2});
  Array yi = m.apply(v, reshape(img, {4, 4, 2}));
  EXPECT_EQ(yi.shape(), (Shape{4, 4, 3}));
  expect_near_all(f64(yi), f64(reshape(m.apply(v, img), {4, 4, 3})), 1e-6);
}

TEST(Conv, DtypePromotionAndBadArguments) {
  OneConv m({.features = 2, .kernel_size = {1, 1}, .param_dtype = float64});
  Tree v = m.init(random::key(0), ones({1, 2, 2, 1}));
  EXPECT_EQ(m.apply(v, ones({1, 2, 2, 1})).dtype(), float64);
  OneConv half({.features = 2, .kernel_size = {1, 1}, .dtype = bfloat16});
  EXPECT_EQ(half.apply(half.init(random::key(0), ones({1, 2, 2, 1})), ones({1, 2, 2, 1})).dtype(),
            bfloat16);
  EXPECT_THROW(
      OneConv({.features = 0, .kernel_size = {3, 3}}).init(random::key(0), ones({1, 4, 4, 1})),
      ValueError);
  EXPECT_THROW(OneConv({.features = 2, .kernel_size = {3, 3}}).init(random::key(0), ones({4, 1})),
               ShapeError);
  EXPECT_THROW(OneConv({.features = 3, .kernel_size = {3}, .feature_group_count = 2})
                   .init(random::key(0), ones({1, 4, 4})),
               ShapeError);
  EXPECT_THROW(OneConv({.features = 2, .kernel_size = {3}, .padding = "FULL"})
                   .init(random::key(0), ones({1, 4, 4})),
               ValueError);
}

TEST(Conv, JittedGradientEqualsEager) {
  OneConv m({.features = 3, .kernel_size = {3, 3}, .strides = {2}});
  Array x = random::normal(random::key(3), {2, 7, 6, 2});
  Tree v = m.init(random::key(0), x);
  auto loss = [&](const Tree& vars) { return sum(square(m.apply(vars, x))); };
  Tree ge = grad(loss)(v);
  Tree gj = jit([&](const Tree& vars) { return grad(loss)(vars); })(v);
  for (const char* name : {"kernel", "bias"})
    expect_near_all(f64(gj["params"]["Conv_0"][name].leaf()),
                    f64(ge["params"]["Conv_0"][name].leaf()), 1e-5);
}

}  // namespace
}  // namespace kiln
