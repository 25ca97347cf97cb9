// Losses (include/kiln/losses.hpp) against optax's definitions: values worked out by hand or in
// float64 loops here, optax's documented examples, numerically stable extremes, gradients (the
// stable forms must also differentiate correctly), and the same bits under jit.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/losses.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

std::vector<float> host(const Array& a) {
  return a.to_vector<float>();
}

void expect_near(const Array& got, const std::vector<double>& want, double tol) {
  std::vector<float> g = host(got);
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], tol) << "element " << i;
}

Array labels_i32(std::vector<int32_t> v, const Shape& shape) {
  return array(std::span<const int32_t>(v), shape);
}

TEST(LossRegression, SquaredErrorL2AndMeanSquaredError) {
  Array p = array({1.0f, -2.0f, 0.5f, 3.0f}, {2, 2});
  Array t = array({0.0f, 1.0f, 0.5f, -1.0f}, {2, 2});
  expect_near(losses::squared_error(p, t), {1.0, 9.0, 0.0, 16.0}, 0);
  expect_near(losses::squared_error(p), {1.0, 4.0, 0.25, 9.0}, 0);
  expect_near(losses::l2_loss(p, t), {0.5, 4.5, 0.0, 8.0}, 0);
  expect_near(losses::l2_loss(p), {0.5, 2.0, 0.125, 4.5}, 0);
  Array mse = losses::mean_squared_error(p, t);
  EXPECT_EQ(mse.shape(), Shape{});
  EXPECT_EQ(mse.item<float>(), 6.5f);
  EXPECT_EQ(losses::squared_error(p, t).shape(), (Shape{2, 2}));
  // optax checks the shapes of squared_error's operands instead of broadcasting them.
  EXPECT_THROW(losses::squared_error(p, array({1.0f, 2.0f}, {2})), ShapeError);
  EXPECT_THROW(losses::squared_error(astype(p, int32), astype(t, int32)), DTypeError);
}

TEST(LossRegression, MeanSquaredErrorIsTheTutorialsLoss) {
  // jnp.mean((pred - y) ** 2) with pred (16, 1) and y = sum(ones(16, 4), axis=1, keepdims=True).
  Array pred = full({16, 1}, 0.25);
  Array y = sum(ones({16, 4}), 1, true);
  EXPECT_EQ(losses::mean_squared_error(pred, y).item<float>(), 3.75f * 3.75f);
}

TEST(LossRegression, Huber) {
  // |e| <= delta: 0.5 e^2; beyond: 0.5 delta^2 + delta (|e| - delta).
  Array p = array({0.5f, -1.0f, 2.0f, -3.5f, 0.0f}, {5});
  expect_near(losses::huber_loss(p), {0.125, 0.5, 1.5, 3.0, 0.0}, 1e-7);
  Array t = array({0.0f, 0.0f, 1.0f, -1.0f, 2.0f}, {5});
  // errors 0.5, -1, 1, -2.5, -2 with delta 2: 0.125, 0.5, 0.5, 2 + 1, 2.
  expect_near(losses::huber_loss(p, t, 2.0), {0.125, 0.5, 0.5, 3.0, 2.0}, 1e-7);
  // The gradient is the error clipped to [-delta, delta] (l2's gradient, clipped).
  Array g = grad([](const Array& x) { return sum(losses::huber_loss(x)); })(p);
  expect_near(g, {0.5, -1.0, 1.0, -1.0, 0.0}, 1e-7);
}

TEST(LossClassification, SoftmaxCrossEntropyMatchesOptaxsExample) {
  // optax's docstring: [0.2761 2.9518].
  Array logits = array({1.2f, -0.8f, -0.5f, 0.9f, -1.2f, 1.1f}, {2, 3});
  Array onehot = array({1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f}, {2, 3});
  Array ce = losses::softmax_cross_entropy(logits, onehot);
  EXPECT_EQ(ce.shape(), Shape{2});
  // float64: logsumexp(row) - row[label].
  auto lse = [](std::vector<double> r) {
    double m = std::max({r[0], r[1], r[2]});
    return m + std::log(std::exp(r[0] - m) + std::exp(r[1] - m) + std::exp(r[2] - m));
  };
  double l0 = lse({1.2, -0.8, -0.5}) - 1.2, l1 = lse({0.9, -1.2, 1.1}) + 1.2;
  expect_near(ce, {l0, l1}, 2e-6);
  EXPECT_NEAR(host(ce)[0], 0.2761, 5e-5);
  EXPECT_NEAR(host(ce)[1], 2.9518, 5e-5);
  Array ice = losses::softmax_cross_entropy_with_integer_labels(logits, labels_i32({0, 1}, {2}));
  expect_near(ice, {l0, l1}, 2e-6);
  // Soft labels weigh every class.
  Array soft = array({0.5f, 0.25f, 0.25f, 0.0f, 0.0f, 1.0f}, {2, 3});
  double s0 = 0.5 * (lse({1.2, -0.8, -0.5}) - 1.2) + 0.25 * (lse({1.2, -0.8, -0.5}) + 0.8) +
              0.25 * (lse({1.2, -0.8, -0.5}) + 0.5);
  expect_near(losses::softmax_cross_entropy(logits, soft), {s0, lse({0.9, -1.2, 1.1}) - 1.1}, 2e-6);
}

TEST(LossClassification, IntegerLabelsBatchShapesRangeAndErrors) {
  // Batch (2, 2) of 3 classes; large logits stay finite (logsumexp shifts by the max).
  Array logits = array(
      {1000.0f, 0.0f, -1000.0f, 1.0f, 2.0f, 3.0f, 0.0f, 0.0f, 0.0f, -5.0f, 5.0f, 0.0f}, {2, 2, 3});
  Array ce =
      losses::softmax_cross_entropy_with_integer_labels(logits, labels_i32({0, 2, 1, 1}, {2, 2}));
  EXPECT_EQ(ce.shape(), (Shape{2, 2}));
  double l1 = std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
  double l3 = std::log(std::exp(-10.0) + 1.0 + std::exp(-5.0));
  expect_near(ce, {0.0, l1, std::log(3.0), l3}, 2e-6);
  // As jnp.take_along_axis: -1 is the last class; past the end is NaN.
  Array row = array({0.0f, 1.0f, 2.0f}, {1, 3});
  Array last = losses::softmax_cross_entropy_with_integer_labels(row, labels_i32({-1}, {1}));
  Array two = losses::softmax_cross_entropy_with_integer_labels(row, labels_i32({2}, {1}));
  EXPECT_EQ(host(last)[0], host(two)[0]);
  EXPECT_TRUE(std::isnan(
      host(losses::softmax_cross_entropy_with_integer_labels(row, labels_i32({3}, {1})))[0]));
  EXPECT_THROW(losses::softmax_cross_entropy_with_integer_labels(row, array({1.0f}, {1})),
               DTypeError);
  EXPECT_THROW(losses::softmax_cross_entropy_with_integer_labels(row, labels_i32({0, 1}, {2})),
               ShapeError);
}

TEST(LossClassification, IntegerLabelGradientIsSoftmaxMinusOneHot) {
  Array logits = array({0.5f, -1.0f, 2.0f, 0.0f, 0.0f, 0.0f}, {2, 3});
  Array labels = labels_i32({2, 0}, {2});
  Array g = grad([&](const Array& x) {
    return sum(losses::softmax_cross_entropy_with_integer_labels(x, labels));
  })(logits);
  double z = std::exp(0.5) + std::exp(-1.0) + std::exp(2.0);
  expect_near(
      g,
      {std::exp(0.5) / z, std::exp(-1.0) / z, std::exp(2.0) / z - 1, 1.0 / 3 - 1, 1.0 / 3, 1.0 / 3},
      1e-6);
}

TEST(LossClassification, SigmoidBinaryCrossEntropy) {
  std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.5f, 3.0f, 100.0f, -100.0f};
  std::vector<float> y = {0.0f, 1.0f, 1.0f, 0.0f, 1.0f, 0.0f, 1.0f};
  Array loss = losses::sigmoid_binary_cross_entropy(array(std::span<const float>(x), {7}),
                                                    array(std::span<const float>(y), {7}));
  std::vector<double> want;
  for (size_t i = 0; i < x.size(); ++i) {
    // -y log sigmoid(x) - (1 - y) log(1 - sigmoid(x)), in the stable form log(1 + e^-|x|) + max(x,
    // 0) - x y.
    double xi = x[i];
    want.push_back(std::log1p(std::exp(-std::fabs(xi))) + std::max(xi, 0.0) - xi * y[i]);
  }
  expect_near(loss, want, 2e-6);
  EXPECT_EQ(host(loss)[5], 100.0f);  // no overflow at the extremes
  EXPECT_EQ(host(loss)[6], 100.0f);
  // Integer labels are cast to the logits' dtype, as optax does.
  Array li = losses::sigmoid_binary_cross_entropy(array({0.5f}, {1}), labels_i32({1}, {1}));
  EXPECT_NEAR(host(li)[0], std::log1p(std::exp(-0.5)), 1e-7);
}

TEST(LossClassification, SigmoidBinaryCrossEntropyGradientIsSigmoidMinusLabel) {
  // Including x = 0, where a max()-based softplus would split the tie and get 0 instead of 1/2.
  Array x = array({-2.0f, 0.0f, 0.0f, 1.5f}, {4});
  Array y = array({1.0f, 0.0f, 1.0f, 0.25f}, {4});
  Array g =
      grad([&](const Array& z) { return sum(losses::sigmoid_binary_cross_entropy(z, y)); })(x);
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  expect_near(g, {sig(-2) - 1, 0.5, -0.5, sig(1.5) - 0.25}, 1e-6);
}

TEST(LossJit, SameBitsUnderJit) {
  Array logits = array({1.2f, -0.8f, -0.5f, 0.9f, -1.2f, 1.1f}, {2, 3});
  Array onehot = array({1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 0.0f}, {2, 3});
  Array labels = labels_i32({0, 1}, {2});
  auto all = [](const Array& lg, const Array& oh, const Array& lb) {
    return std::vector<Array>{losses::softmax_cross_entropy(lg, oh),
                              losses::softmax_cross_entropy_with_integer_labels(lg, lb),
                              losses::sigmoid_binary_cross_entropy(lg, oh),
                              losses::huber_loss(lg, oh, 0.5),
                              losses::l2_loss(lg, oh),
                              losses::squared_error(lg),
                              losses::mean_squared_error(lg, oh)};
  };
  std::vector<Array> eager = all(logits, onehot, labels);
  std::vector<Array> jitted = jit(all)(logits, onehot, labels);
  ASSERT_EQ(eager.size(), jitted.size());
  for (size_t i = 0; i < eager.size(); ++i) {
    EXPECT_EQ(eager[i].shape(), jitted[i].shape()) << "loss " << i;
    EXPECT_EQ(host(eager[i]), host(jitted[i])) << "loss " << i;
  }
}

}  // namespace
}  // namespace kiln
