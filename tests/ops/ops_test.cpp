#include <gtest/gtest.h>

#include <cmath>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

std::vector<float> v(const Array& a) {
  return a.to_vector<float>();
}

TEST(Ops, WeakScalarsKeepTheArrayDType) {
  Array x = ones({2});
  EXPECT_EQ((x * 2.0).dtype(), float32);
  EXPECT_EQ((2 * x).dtype(), float32);
  EXPECT_EQ((ones({2}, bfloat16) * 2.0).dtype(), bfloat16);
  EXPECT_EQ((ones({2}, int32) * 2.0).dtype(), float32);
  EXPECT_EQ((ones({2}, int8) + 1).dtype(), int8);
  EXPECT_EQ((ones({2}, float32) + ones({2}, float64)).dtype(), float64);
  EXPECT_EQ((ones({2}, int32) / ones({2}, int32)).dtype(), float32);  // true division, as jnp
}

TEST(Ops, NumpyBroadcasting) {
  Array a = reshape(arange(6, float32), {2, 3});
  Array b = array({10, 20, 30});
  EXPECT_EQ(v(a + b), (std::vector<float>{10, 21, 32, 13, 24, 35}));
  Array c = reshape(array({100, 200}), {2, 1});
  EXPECT_EQ(v(a + c), (std::vector<float>{100, 101, 102, 203, 204, 205}));
  EXPECT_THROW(a + ones({2}), ShapeError);
}

TEST(Ops, ElementwiseValues) {
  Array x = array({-1.5f, 0.0f, 2.5f});
  EXPECT_EQ(v(abs(x)), (std::vector<float>{1.5f, 0, 2.5f}));
  EXPECT_EQ(v(sign(x)), (std::vector<float>{-1, 0, 1}));
  EXPECT_EQ(v(round(x)), (std::vector<float>{-2, 0, 3}));  // half away from zero
  EXPECT_EQ(v(floor(x)), (std::vector<float>{-2, 0, 2}));
  EXPECT_EQ(v(ceil(x)), (std::vector<float>{-1, 0, 3}));
  EXPECT_EQ(v(relu(x)), (std::vector<float>{0, 0, 2.5f}));
  EXPECT_NEAR(v(exp(x))[2], std::exp(2.5f), 1e-5);
  EXPECT_NEAR(v(logistic(x))[0], 1 / (1 + std::exp(1.5f)), 1e-6);
  EXPECT_NEAR(v(tanh(x))[0], std::tanh(-1.5f), 1e-6);
  EXPECT_NEAR(v(erf(x))[2], std::erf(2.5f), 1e-6);
  EXPECT_NEAR(v(erf_inv(array({0.5f})))[0], 0.4769362762044699, 1e-6);
  EXPECT_EQ(v(maximum(x, 0.5)), (std::vector<float>{0.5f, 0.5f, 2.5f}));
  EXPECT_EQ(v(pow(array({2, 3}), 2)), (std::vector<float>{4, 9}));
  EXPECT_EQ(v(where(x > 0, x, -x)), (std::vector<float>{1.5f, 0, 2.5f}));
}

TEST(Ops, ComparisonsGiveBool) {
  Array m = array({1, 2, 3}) >= 2;
  EXPECT_EQ(m.dtype(), bool_);
  EXPECT_EQ(m.to_vector<bool>(), (std::vector<bool>{false, true, true}));
}

TEST(Ops, ReluHasJaxsDerivativeAtZeroAndKeepsNaN) {
  auto g = grad([](const Array& x) { return sum(relu(x)); })(array({-1.0f, 0.0f, 2.0f}));
  EXPECT_EQ(v(g), (std::vector<float>{0, 0, 1}));  // jax.nn.relu: 0 at x = 0
  auto r = v(relu(array({NAN, -3.0f, 0.0f})));
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_EQ(r[1], 0.0f);
  EXPECT_FALSE(std::signbit(r[1]));  // +0, as max(x, 0) gives
}

TEST(Ops, ReductionsOverAxes) {
  Array x = reshape(arange(6, float32), {2, 3});
  EXPECT_EQ(v(sum(x)), (std::vector<float>{15}));
  EXPECT_EQ(v(sum(x, 0)), (std::vector<float>{3, 5, 7}));
  EXPECT_EQ(sum(x, 1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(v(mean(x, -1)), (std::vector<float>{1, 4}));
  EXPECT_EQ(v(max(x, 0)), (std::vector<float>{3, 4, 5}));
  EXPECT_EQ(v(min(x, {0, 1})), (std::vector<float>{0}));
  EXPECT_EQ(argmax(array({1, 5, 5, 2}), 0).item<int32_t>(), 1);  // first maximum
  EXPECT_EQ(argmax(x, 1).to_vector<int32_t>(), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(sum(array({1, 2}) > 0).item<int32_t>(), 2);  // bools sum as counts
}

TEST(Ops, MatmulFollowsNumpy) {
  Array a = reshape(arange(6, float32), {2, 3});
  Array b = reshape(arange(6, float32), {3, 2});
  EXPECT_EQ(v(matmul(a, b)), (std::vector<float>{10, 13, 28, 40}));
  EXPECT_EQ(matmul(array({1, 2, 3}), b).shape(), (Shape{2}));
  EXPECT_EQ(v(matmul(array({1, 2, 3}), array({1, 1, 1}))), (std::vector<float>{6}));
  Array batch = reshape(arange(12, float32), {2, 2, 3});
  Array m = matmul(batch, b);
  EXPECT_EQ(m.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(v(m)[7], 9 * 1 + 10 * 3 + 11 * 5);
  EXPECT_THROW(matmul(a, a), ShapeError);
}

TEST(Ops, LayoutOps) {
  Array x = reshape(arange(6, float32), {2, 3});
  EXPECT_EQ(v(transpose(x)), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(v(slice(x, {0, 1}, {2, 3})), (std::vector<float>{1, 2, 4, 5}));
  EXPECT_EQ(v(concatenate({x, x}, 0)).size(), 12u);
  EXPECT_EQ(concatenate({x, ones({2, 1})}, -1).shape(), (Shape{2, 4}));
  EXPECT_EQ(v(pad(array({1, 2}), 0.0, {1}, {1}, {1})), (std::vector<float>{0, 1, 0, 2, 0}));
  EXPECT_EQ(reshape(x, {-1}).shape(), (Shape{6}));
  EXPECT_EQ(expand_dims(x, 0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(squeeze(ones({1, 3, 1})).shape(), (Shape{3}));
  EXPECT_EQ(v(broadcast_to(array({1, 2}), {2, 2})), (std::vector<float>{1, 2, 1, 2}));
  EXPECT_THROW(reshape(x, {4, 2}), ShapeError);
}

TEST(Ops, SoftmaxFamilyMatchesClosedForms) {
  Array x = array({1, 2, 3});
  std::vector<double> e = {std::exp(1.0), std::exp(2.0), std::exp(3.0)};
  double z = e[0] + e[1] + e[2];
  auto s = v(softmax(x));
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(s[i], e[i] / z, 1e-6);
  auto ls = v(log_softmax(x));
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(ls[i], std::log(e[i] / z), 1e-6);
  EXPECT_NEAR(logsumexp(x).item<float>(), std::log(z), 1e-6);
  EXPECT_NEAR(logsumexp(array({1000, 1000})).item<float>(), 1000 + std::log(2.0),
              1e-3);                                                  // no overflow
  EXPECT_NEAR(v(gelu(array({1.0f})))[0], 0.8411920071, 1e-6);         // tanh form
  EXPECT_NEAR(v(gelu(array({1.0f}), false))[0], 0.8413447461, 1e-6);  // erf form
  EXPECT_NEAR(v(silu(array({1.0f})))[0], 1 / (1 + std::exp(-1.0)), 1e-6);
}

TEST(Ops, CastsConvertAndBitcast) {
  Array x = array({1.7f, -1.7f});
  EXPECT_EQ(astype(x, int32).to_vector<int32_t>(), (std::vector<int32_t>{1, -1}));  // toward zero
  Array one = bitcast_convert(full({}, 1.0), uint32);
  EXPECT_EQ(one.item<uint32_t>(), 0x3F800000u);
}

TEST(Ops, EagerAndJitAgree) {
  auto f = [](const Array& x) { return softmax(x * 3.0 - 1.0) + gelu(x); };
  Array x = array({0.1f, -0.4f, 2.0f});
  EXPECT_EQ(v(f(x)), v(jit(f)(x)));
}

TEST(Ops, EmptyArrayIsAValueError) {
  Array e;
  EXPECT_THROW(exp(e), ValueError);
  EXPECT_THROW(e + 1.0, ValueError);
}

TEST(Ops, ArraysPrintLikeNumpy) {
  EXPECT_EQ(array({1, 2, 3, 4}, {1, 4}).str(), "[[1. 2. 3. 4.]]");
}

}  // namespace
}  // namespace kiln
