// nn::Dense as flax.linen.Dense: shapes, y = x · kernel + bias over the last axis, dtype promotion.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln/jit.hpp"
#include "kiln/nn.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln {
namespace {

using nn::Dense;
using nn::Scope;
namespace init = nn::initializers;

// A Dense layer as a one-module model, so init/apply work on it directly.
struct OneDense : nn::Module<OneDense> {
  // A constructor, not designated initializers: GCC's -Wextra warns when `Derived{.field = ...}`
  // leaves the Module base out, and a base cannot be designated.
  explicit OneDense(Dense::Options o) : options(std::move(o)) {}
  Dense::Options options;
  Array operator()(Scope& s, const Array& x) const { return Dense(options)(s, x); }
};

std::vector<float> host_dense(const std::vector<float>& x, const std::vector<float>& k,
                              const std::vector<float>& b, int64_t rows, int64_t in, int64_t out) {
  std::vector<float> y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (int64_t i = 0; i < in; ++i) acc += double(x[r * in + i]) * k[i * out + o];
      y[r * out + o] = static_cast<float>(acc + (b.empty() ? 0.0 : b[o]));
    }
  return y;
}

TEST(Dense, ComputesXTimesKernelPlusBias) {
  Array x = random::normal(random::key(1), {3, 5});
  OneDense m({.features = 4, .bias_init = init::normal(1.0)});
  Tree v = m.init(random::key(0), x);
  const Array& k = v["params"]["Dense_0"]["kernel"].leaf();
  const Array& b = v["params"]["Dense_0"]["bias"].leaf();
  EXPECT_EQ(k.shape(), (Shape{5, 4}));
  EXPECT_EQ(b.shape(), (Shape{4}));
  Array y = m.apply(v, x);
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  EXPECT_EQ(y.dtype(), float32);
  auto want = host_dense(x.to_vector<float>(), k.to_vector<float>(), b.to_vector<float>(), 3, 5, 4);
  auto got = y.to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5f * (1 + std::fabs(want[i]))) << i;
}

TEST(Dense, ContractsTheLastAxisOfAnyRank) {
  Array x = random::normal(random::key(2), {2, 3, 5});
  OneDense m({.features = 6});
  Tree v = m.init(random::key(0), x);
  Array y = m.apply(v, x);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 6}));
  // Same as flattening the leading axes.
  Array y2 = m.apply(v, reshape(x, {6, 5}));
  auto a = y.to_vector<float>(), b = y2.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f * (1 + std::fabs(a[i]))) << i;
  // A 1-d input gives a 1-d output.
  Tree v1 = m.init(random::key(0), ones({5}));
  EXPECT_EQ(m.apply(v1, ones({5})).shape(), (Shape{6}));
}

TEST(Dense, WithoutBias) {
  OneDense m({.features = 2, .use_bias = false, .kernel_init = init::ones()});
  Tree v = m.init(random::key(0), ones({1, 3}));
  ASSERT_EQ(v["params"]["Dense_0"].size(), 1u);
  EXPECT_TRUE(v["params"]["Dense_0"].contains("kernel"));
  EXPECT_EQ(m.apply(v, array({1, 2, 3}, {1, 3})).to_vector<float>(), (std::vector<float>{6, 6}));
}

TEST(Dense, DtypePromotionAsFlax) {
  // int32 input, float32 params: computed in float32.
  OneDense f32({.features = 2, .kernel_init = init::ones(), .bias_init = init::ones()});
  Tree v = f32.init(random::key(0), ones({1, 3}));
  Array yi = f32.apply(v, ones({1, 3}, int32));
  EXPECT_EQ(yi.dtype(), float32);
  EXPECT_EQ(yi.to_vector<float>(), (std::vector<float>{4, 4}));
  // bfloat16 input meets float32 params: float32.
  EXPECT_EQ(f32.apply(v, ones({1, 3}, bfloat16)).dtype(), float32);
  // param_dtype float64: parameters and the result are float64.
  OneDense f64({.features = 2, .param_dtype = float64});
  Tree v64 = f64.init(random::key(0), ones({1, 3}));
  EXPECT_EQ(v64["params"]["Dense_0"]["kernel"].leaf().dtype(), float64);
  EXPECT_EQ(v64["params"]["Dense_0"]["bias"].leaf().dtype(), float64);
  EXPECT_EQ(f64.apply(v64, ones({1, 3})).dtype(), float64);
  // dtype bfloat16: params stay float32, the computation is bfloat16.
  OneDense half({.features = 2, .kernel_init = init::ones(), .dtype = bfloat16});
  Tree vh = half.init(random::key(0), ones({1, 3}));
  EXPECT_EQ(vh["params"]["Dense_0"]["kernel"].leaf().dtype(), float32);
  Array yh = half.apply(vh, ones({1, 3}));
  EXPECT_EQ(yh.dtype(), bfloat16);
  EXPECT_EQ(astype(yh, float32).to_vector<float>(), (std::vector<float>{3, 3}));
}

TEST(Dense, ExplicitNameAndBadArguments) {
  OneDense named({.features = 2, .name = "out"});
  Tree v = named.init(random::key(0), ones({1, 3}));
  EXPECT_TRUE(v["params"].contains("out"));
  EXPECT_THROW(OneDense({.features = 0}).init(random::key(0), ones({1, 3})), ValueError);
  EXPECT_THROW(OneDense({.features = 2}).init(random::key(0), scalar(1.0)), ShapeError);
}

TEST(Dense, ApplyUnderJitEqualsEager) {
  OneDense m({.features = 3, .bias_init = init::normal(1.0)});
  Array x = random::normal(random::key(2), {4, 5});
  Tree v = m.init(random::key(0), x);
  auto f = jit([&m](const Tree& vars, const Array& xs) { return m.apply(vars, xs); });
  auto a = m.apply(v, x).to_vector<float>(), b = f(v, x).to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f * (1 + std::fabs(a[i]))) << i;
}

}  // namespace
}  // namespace kiln
