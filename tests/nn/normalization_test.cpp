// nn::BatchNorm and nn::LayerNorm as flax.linen's: variable names, shapes and defaults; outputs
// against float64 loops written here; running-average updates; gradients against central
// differences of the float64 loops.
#include "kiln/nn/normalization.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln {
namespace {

using nn::BatchNorm;
using nn::LayerNorm;
using nn::Scope;

std::vector<std::string> keys(const Tree& t) {
  std::vector<std::string> out;
  for (const auto& [k, v] : t.items()) out.push_back(k);
  return out;
}

std::vector<double> f64(const Array& a) {
  return a.to_vector<double>();
}

void expect_near_all(const Array& got, const std::vector<double>& want, double tol,
                     const std::string& what) {
  auto g = got.to_vector<double>();
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want[i], tol * (1 + std::fabs(want[i]))) << what << "[" << i << "]";
}

// Normalizes x viewed as (outer, n, inner) over axis 1 when `over_middle`, i.e. statistics per
// (outer, inner) — or per feature f of x viewed as (rows, f) for BatchNorm. Written once for the
// two layouts the tests use:
//   batch_norm_ref: x (rows, F), stats over rows per feature.
//   layer_norm_ref: x (rows, F), stats over F per row.
struct Stats {
  std::vector<double> mean, var;
};

Stats column_stats(const std::vector<double>& x, int64_t rows, int64_t f, bool fast) {
  Stats s{std::vector<double>(f, 0), std::vector<double>(f, 0)};
  for (int64_t j = 0; j < f; ++j) {
    double sum = 0, sum2 = 0;
    for (int64_t r = 0; r < rows; ++r) sum += x[r * f + j], sum2 += x[r * f + j] * x[r * f + j];
    s.mean[j] = sum / rows;
    if (fast) {
      s.var[j] = std::max(0.0, sum2 / rows - s.mean[j] * s.mean[j]);
    } else {
      double c = 0;
      for (int64_t r = 0; r < rows; ++r) c += std::pow(x[r * f + j] - s.mean[j], 2);
      s.var[j] = c / rows;
    }
  }
  return s;
}

std::vector<double> batch_norm_ref(const std::vector<double>& x, int64_t rows, int64_t f,
                                   const std::vector<double>& scale,
                                   const std::vector<double>& bias, double eps,
                                   const Stats* given = nullptr) {
  Stats s = given ? *given : column_stats(x, rows, f, true);
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < f; ++j)
      y[r * f + j] = (x[r * f + j] - s.mean[j]) / std::sqrt(s.var[j] + eps) * scale[j] + bias[j];
  return y;
}

std::vector<double> layer_norm_ref(const std::vector<double>& x, int64_t rows, int64_t f,
                                   const std::vector<double>& scale,
                                   const std::vector<double>& bias, double eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, m2 = 0;
    for (int64_t j = 0; j < f; ++j) m += x[r * f + j], m2 += x[r * f + j] * x[r * f + j];
    m /= f;
    const double v = std::max(0.0, m2 / f - m * m);
    for (int64_t j = 0; j < f; ++j)
      y[r * f + j] = (x[r * f + j] - m) / std::sqrt(v + eps) * scale[j] + bias[j];
  }
  return y;
}

// A parameter tree with random scale and bias, so they take part in the checks.
Tree with_random_affine(Tree v, const std::string& module, int64_t f, DType dt = float32) {
  v["params"][module]["scale"] =
      Tree(astype(random::uniform(random::key(21), {f}, float32, 0.5, 2.0), dt));
  v["params"][module]["bias"] = Tree(astype(random::normal(random::key(22), {f}), dt));
  return v;
}

struct BN : nn::Module<BN> {
  explicit BN(BatchNorm::Options o = {}) : options(std::move(o)) {}
  BatchNorm::Options options;
  // `train` unless the options fix use_running_average (it may be given once only).
  Array operator()(Scope& s, const Array& x, bool train) const {
    std::optional<bool> use_ra;
    if (!options.use_running_average) use_ra = !train;
    return BatchNorm(options)(s, x, use_ra);
  }
};

struct LN : nn::Module<LN> {
  explicit LN(LayerNorm::Options o = {}) : options(std::move(o)) {}
  LayerNorm::Options options;
  Array operator()(Scope& s, const Array& x) const { return LayerNorm(options)(s, x); }
};

TEST(BatchNorm, FlaxDefaultsNamesAndShapes) {
  BatchNorm::Options o;
  EXPECT_EQ(o.axis, -1);
  EXPECT_EQ(o.momentum, 0.99);
  EXPECT_EQ(o.epsilon, 1e-5);
  EXPECT_TRUE(o.use_bias);
  EXPECT_TRUE(o.use_scale);
  EXPECT_TRUE(o.use_fast_variance);
  EXPECT_EQ(o.param_dtype, float32);
  EXPECT_FALSE(o.use_running_average.has_value());

  Tree v = BN{}.init(random::key(0), ones({2, 3, 5}), true);
  ASSERT_EQ(keys(v), (std::vector<std::string>{"batch_stats", "params"}));
  EXPECT_EQ(keys(v["params"]["BatchNorm_0"]), (std::vector<std::string>{"scale", "bias"}));
  EXPECT_EQ(keys(v["batch_stats"]["BatchNorm_0"]), (std::vector<std::string>{"mean", "var"}));
  for (const char* n : {"scale", "bias"}) {
    EXPECT_EQ(v["params"]["BatchNorm_0"][n].leaf().shape(), (Shape{5}));
    EXPECT_EQ(
        v["batch_stats"]["BatchNorm_0"][n == std::string("scale") ? "mean" : "var"].leaf().shape(),
        (Shape{5}));
  }
  // Without scale and bias: no params at all.
  Tree bare = BN({.use_bias = false, .use_scale = false}).init(random::key(0), ones({2, 3}), true);
  EXPECT_EQ(keys(bare), (std::vector<std::string>{"batch_stats"}));
}

TEST(BatchNorm, TrainingNormalizesWithBatchStatistics) {
  // (2, 3, 4, 5) NHWC: statistics over N, H, W per channel; an offset and scale make the
  // statistics matter.
  const Array x = random::normal(random::key(1), {2, 3, 4, 5}) * 3.0 + 2.0;
  Tree v = with_random_affine(BN{}.init(random::key(0), x, true), "BatchNorm_0", 5);
  auto [y, updates] = BN{}.apply_with({.mutable_collections = {"batch_stats"}}, v, x, true);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(y.dtype(), float32);
  const auto want = batch_norm_ref(f64(x), 24, 5, f64(v["params"]["BatchNorm_0"]["scale"].leaf()),
                                   f64(v["params"]["BatchNorm_0"]["bias"].leaf()), 1e-5);
  expect_near_all(y, want, 2e-5, "y");

  // Running averages: ra = 0.99 ra + 0.01 stat, from zeros and ones.
  const Stats s = column_stats(f64(x), 24, 5, true);
  std::vector<double> ra_mean(5), ra_var(5);
  for (int j = 0; j < 5; ++j) {
    ra_mean[j] = 0.99 * 0.0 + (1 - 0.99) * s.mean[j];
    ra_var[j] = 0.99 * 1.0 + (1 - 0.99) * s.var[j];
  }
  ASSERT_EQ(keys(updates), (std::vector<std::string>{"batch_stats"}));
  expect_near_all(updates["batch_stats"]["BatchNorm_0"]["mean"].leaf(), ra_mean, 1e-6, "mean");
  expect_near_all(updates["batch_stats"]["BatchNorm_0"]["var"].leaf(), ra_var, 1e-6, "var");
  EXPECT_EQ(updates["batch_stats"]["BatchNorm_0"]["mean"].leaf().dtype(), float32);

  // A second step from the updated averages, momentum 0.9.
  Tree v2 = v;
  v2["batch_stats"] = updates["batch_stats"];
  auto [y2, u2] =
      BN({.momentum = 0.9}).apply_with({.mutable_collections = {"batch_stats"}}, v2, x, true);
  for (int j = 0; j < 5; ++j) {
    ra_mean[j] = 0.9 * ra_mean[j] + (1 - 0.9) * s.mean[j];
    ra_var[j] = 0.9 * ra_var[j] + (1 - 0.9) * s.var[j];
  }
  expect_near_all(u2["batch_stats"]["BatchNorm_0"]["mean"].leaf(), ra_mean, 1e-6, "mean 2");
  expect_near_all(u2["batch_stats"]["BatchNorm_0"]["var"].leaf(), ra_var, 1e-6, "var 2");
  expect_near_all(y2, want, 2e-5, "y 2");  // training output ignores the running averages
}

TEST(BatchNorm, EvaluationUsesTheRunningAverages) {
  const Array x = random::normal(random::key(1), {6, 3});
  Tree v = with_random_affine(BN{}.init(random::key(0), x, false), "BatchNorm_0", 3);
  Stats given{{0.5, -1.0, 2.0}, {4.0, 0.25, 1.0}};
  v["batch_stats"]["BatchNorm_0"]["mean"] = Tree(array({0.5f, -1.0f, 2.0f}));
  v["batch_stats"]["BatchNorm_0"]["var"] = Tree(array({4.0f, 0.25f, 1.0f}));
  // Not mutable, and nothing to update.
  Array y = BN{}.apply(v, x, false);
  const auto want = batch_norm_ref(f64(x), 6, 3, f64(v["params"]["BatchNorm_0"]["scale"].leaf()),
                                   f64(v["params"]["BatchNorm_0"]["bias"].leaf()), 1e-5, &given);
  expect_near_all(y, want, 1e-6, "y");
  // Mutable but evaluating: returned unchanged.
  auto [y2, u] = BN{}.apply_with({.mutable_collections = {"batch_stats"}}, v, x, false);
  EXPECT_EQ(u["batch_stats"]["BatchNorm_0"]["var"].leaf().to_vector<float>(),
            (std::vector<float>{4.0f, 0.25f, 1.0f}));
  // Fixed in the options instead of at the call.
  expect_near_all(BN({.use_running_average = true}).apply(v, x, false), want, 1e-6, "options");
}

TEST(BatchNorm, FeatureAxisOneForChannelsFirst) {
  // NCHW: axis 1 holds the features; statistics over N, H, W.
  const Array x = random::normal(random::key(2), {2, 3, 4, 4}) + 1.0;
  Tree v = with_random_affine(BN({.axis = 1}).init(random::key(0), x, true), "BatchNorm_0", 3);
  EXPECT_EQ(v["params"]["BatchNorm_0"]["scale"].leaf().shape(), (Shape{3}));
  auto [y, u] = BN({.axis = 1}).apply_with({.mutable_collections = {"batch_stats"}}, v, x, true);
  // The same as moving the channels last and normalizing there.
  const Array xt = reshape(transpose(x, {0, 2, 3, 1}), {32, 3});
  const auto want_t =
      batch_norm_ref(f64(xt), 32, 3, f64(v["params"]["BatchNorm_0"]["scale"].leaf()),
                     f64(v["params"]["BatchNorm_0"]["bias"].leaf()), 1e-5);
  const Array yt = reshape(transpose(y, {0, 2, 3, 1}), {32, 3});
  expect_near_all(yt, want_t, 2e-5, "y");
}

TEST(BatchNorm, SlowVarianceAndTheClipAtZero) {
  const Array x = random::normal(random::key(3), {7, 4}) * 0.1 + 100.0;
  Tree v = BN({.use_fast_variance = false}).init(random::key(0), x, true);
  auto [y, u] = BN({.use_fast_variance = false})
                    .apply_with({.mutable_collections = {"batch_stats"}}, v, x, true);
  const Stats s = column_stats(f64(x), 7, 4, false);
  std::vector<double> ra_var(4);
  for (int j = 0; j < 4; ++j) ra_var[j] = 0.99 + 0.01 * s.var[j];
  expect_near_all(u["batch_stats"]["BatchNorm_0"]["var"].leaf(), ra_var, 1e-7, "slow var");
  // Constant inputs: mean(x²) − mean(x)² rounds to either side of 0 in float32; the clip keeps
  // the batch variance at 0, so the running variance is at least 0.99 and the output finite.
  for (double c : {0.1, 0.3, 1.7, 1000.1, 12345.678}) {
    const Array xc = full({9, 2}, c);
    auto [yc, uc] = BN{}.apply_with({.mutable_collections = {"batch_stats"}},
                                    BN{}.init(random::key(0), xc, true), xc, true);
    for (float e : uc["batch_stats"]["BatchNorm_0"]["var"].leaf().to_vector<float>())
      EXPECT_GE(e, 0.99f) << c;
    for (float e : yc.to_vector<float>()) EXPECT_TRUE(std::isfinite(e)) << c;
  }
}

TEST(BatchNorm, DtypesFollowFlax) {
  const Array x = astype(random::normal(random::key(1), {4, 3}), bfloat16);
  // bfloat16 input, float32 params: the result is float32 (canonicalize_dtype of x, scale,
  // bias); the statistics are float32.
  Tree v = BN{}.init(random::key(0), x, true);
  EXPECT_EQ(v["batch_stats"]["BatchNorm_0"]["mean"].leaf().dtype(), float32);
  auto [y, u] = BN{}.apply_with({.mutable_collections = {"batch_stats"}}, v, x, true);
  EXPECT_EQ(y.dtype(), float32);
  EXPECT_EQ(u["batch_stats"]["BatchNorm_0"]["mean"].leaf().dtype(), float32);
  auto [yb, ub] =
      BN({.dtype = bfloat16}).apply_with({.mutable_collections = {"batch_stats"}}, v, x, true);
  EXPECT_EQ(yb.dtype(), bfloat16);
  // float64 input and params: float64 all through (the running averages stay float32).
  const Array x64 = astype(random::normal(random::key(1), {4, 3}), float64);
  Tree v64 = BN({.param_dtype = float64}).init(random::key(0), x64, true);
  EXPECT_EQ(v64["params"]["BatchNorm_0"]["scale"].leaf().dtype(), float64);
  auto [y64, u64] = BN({.param_dtype = float64})
                        .apply_with({.mutable_collections = {"batch_stats"}}, v64, x64, true);
  EXPECT_EQ(y64.dtype(), float64);
  EXPECT_EQ(u64["batch_stats"]["BatchNorm_0"]["var"].leaf().dtype(), float32);
}

TEST(BatchNorm, Errors) {
  const Array x = ones({4, 3});
  Tree v = BN{}.init(random::key(0), x, true);
  Scope s = Scope::for_init(random::key(0));
  EXPECT_THROW(BatchNorm({})(s, x), ValueError);  // use_running_average nowhere
  EXPECT_THROW(BatchNorm({.use_running_average = true})(s, x, true), ValueError);  // twice
  EXPECT_THROW(BatchNorm({.axis = 2})(s, x, true), ValueError);
  EXPECT_THROW(BatchNorm({})(s, scalar(1.0), true), ShapeError);
  // Another feature count than at init: the running mean's shape names it.
  try {
    BN{}.apply(v, ones({4, 5}), false);
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("batch_stats/BatchNorm_0/mean"), std::string::npos) << msg;
    EXPECT_NE(msg.find("normalization_test.cpp:"), std::string::npos) << msg;
  }
  // Training without "batch_stats" mutable.
  EXPECT_THROW(BN{}.apply(v, x, true), ValueError);
}

TEST(LayerNorm, FlaxDefaultsNamesAndValues) {
  LayerNorm::Options o;
  EXPECT_EQ(o.epsilon, 1e-6);
  EXPECT_EQ(o.reduction_axes, (std::vector<int64_t>{-1}));
  EXPECT_EQ(o.feature_axes, (std::vector<int64_t>{-1}));
  const Array x = random::normal(random::key(1), {2, 3, 6}) * 2.0 - 1.0;
  Tree v = LN{}.init(random::key(0), x);
  ASSERT_EQ(keys(v), (std::vector<std::string>{"params"}));
  EXPECT_EQ(keys(v["params"]["LayerNorm_0"]), (std::vector<std::string>{"scale", "bias"}));
  EXPECT_EQ(v["params"]["LayerNorm_0"]["scale"].leaf().to_vector<float>(),
            std::vector<float>(6, 1.0f));
  EXPECT_EQ(v["params"]["LayerNorm_0"]["bias"].leaf().to_vector<float>(),
            std::vector<float>(6, 0.0f));
  v = with_random_affine(v, "LayerNorm_0", 6);
  Array y = LN{}.apply(v, x);
  EXPECT_EQ(y.shape(), x.shape());
  expect_near_all(y,
                  layer_norm_ref(f64(x), 6, 6, f64(v["params"]["LayerNorm_0"]["scale"].leaf()),
                                 f64(v["params"]["LayerNorm_0"]["bias"].leaf()), 1e-6),
                  2e-5, "y");
  // Same parameters, statistics over (1, 2): each example as a whole, scaled per feature.
  Array y2 = LN({.reduction_axes = {1, 2}}).apply(v, x);
  const auto xs = f64(x);
  const auto scale = f64(v["params"]["LayerNorm_0"]["scale"].leaf());
  const auto bias = f64(v["params"]["LayerNorm_0"]["bias"].leaf());
  std::vector<double> want(xs.size());
  for (int n = 0; n < 2; ++n) {
    double m = 0, m2 = 0;
    for (int i = 0; i < 18; ++i) m += xs[n * 18 + i], m2 += xs[n * 18 + i] * xs[n * 18 + i];
    m /= 18;
    const double var = m2 / 18 - m * m;
    for (int i = 0; i < 18; ++i)
      want[n * 18 + i] = (xs[n * 18 + i] - m) / std::sqrt(var + 1e-6) * scale[i % 6] + bias[i % 6];
  }
  expect_near_all(y2, want, 2e-5, "y over (1, 2)");
  EXPECT_THROW(LN({.reduction_axes = {3}}).apply(v, x), ValueError);
  EXPECT_THROW(LN{}.apply(v, ones({2, 5})), ShapeError);  // 5 features, the params hold 6
}

// d/d(x, scale, bias) of sum(w · norm(x)) in float64, against central differences of the
// float64 loops above.
void check_gradients(bool batch) {
  const int64_t rows = 5, f = 3;
  const Array x = astype(random::normal(random::key(31), {rows, f}) * 2.0 + 0.5, float64);
  const Array w = astype(random::normal(random::key(32), {rows, f}), float64);
  Tree params;
  Tree batch_stats;
  if (batch) {
    Tree v = BN({.param_dtype = float64}).init(random::key(0), x, true);
    params = with_random_affine(v, "BatchNorm_0", f, float64)["params"]["BatchNorm_0"];
    batch_stats = v["batch_stats"];
  } else {
    Tree v = LN({.param_dtype = float64}).init(random::key(0), x);
    params = with_random_affine(v, "LayerNorm_0", f, float64)["params"]["LayerNorm_0"];
  }
  const std::string module = batch ? "BatchNorm_0" : "LayerNorm_0";
  auto loss = [&](const Tree& t) {
    Tree vars = Tree::dict({{"params", Tree::dict({{module, t["p"]}})}});
    Array y;
    if (batch) {
      vars.entry("batch_stats") = batch_stats;
      y = BN({.param_dtype = float64})
              .apply_with({.mutable_collections = {"batch_stats"}}, vars, t["x"].leaf(), true)
              .first;
    } else {
      y = LN({.param_dtype = float64}).apply(vars, t["x"].leaf());
    }
    return sum(y * w);
  };
  Tree arg = Tree::dict({{"p", params}, {"x", x}});
  Tree g = grad(loss)(arg);

  const auto ws = f64(w);
  auto ref = [&](std::vector<double> xs, std::vector<double> sc, std::vector<double> bi) {
    auto y = batch ? batch_norm_ref(xs, rows, f, sc, bi, 1e-5)
                   : layer_norm_ref(xs, rows, f, sc, bi, 1e-6);
    double s = 0;
    for (size_t i = 0; i < y.size(); ++i) s += y[i] * ws[i];
    return s;
  };
  const std::vector<double> x0 = f64(x), s0 = f64(params["scale"].leaf()),
                            b0 = f64(params["bias"].leaf());
  auto fd = [&](int which) {
    std::vector<double> base = which == 0 ? x0 : which == 1 ? s0 : b0;
    std::vector<double> out(base.size());
    for (size_t k = 0; k < base.size(); ++k) {
      const double h = 1e-6;
      auto p = base, m = base;
      p[k] += h;
      m[k] -= h;
      auto eval = [&](const std::vector<double>& v) {
        return ref(which == 0 ? v : x0, which == 1 ? v : s0, which == 2 ? v : b0);
      };
      out[k] = (eval(p) - eval(m)) / (2 * h);
    }
    return out;
  };
  EXPECT_EQ(g["x"].leaf().dtype(), float64);
  expect_near_all(g["x"].leaf(), fd(0), 1e-7, module + " d/dx");
  expect_near_all(g["p"]["scale"].leaf(), fd(1), 1e-7, module + " d/dscale");
  expect_near_all(g["p"]["bias"].leaf(), fd(2), 1e-7, module + " d/dbias");
}

TEST(BatchNorm, GradientsMatchFiniteDifferences) {
  check_gradients(true);
}

TEST(LayerNorm, GradientsMatchFiniteDifferences) {
  check_gradients(false);
}

TEST(LayerNorm, UnderJitEqualsEager) {
  const Array x = random::normal(random::key(1), {4, 8});
  Tree v = LN{}.init(random::key(0), x);
  auto f = jit([](const Tree& vars, const Array& xs) { return LN{}.apply(vars, xs); });
  auto a = LN{}.apply(v, x).to_vector<float>(), b = f(v, x).to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f * (1 + std::fabs(a[i])));
}

}  // namespace
}  // namespace kiln
