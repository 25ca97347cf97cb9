#include <gtest/gtest.h>

#include <cmath>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/serialization.hpp"
#include "kiln/train_state.hpp"

namespace kiln {
namespace {

std::vector<std::string> keys(const Tree& t) {
  std::vector<std::string> k;
  for (const auto& [key, v] : t.items()) k.push_back(key);
  return k;
}

Tree variables() {
  return Tree::dict({{"params", Tree::dict({{"w", array({1.0f, -2.0f})}, {"b", array({0.5f})}})}});
}

Array linear(const Tree& v, const Array& x) {
  return x * v["params"]["w"].leaf() + v["params"]["b"].leaf();
}

TEST(TrainState, CreateStartsAtStepZeroWithTheOptimizersState) {
  TrainState s = TrainState::create(linear, variables(), optim::adam(1e-3));
  EXPECT_EQ(s.step.dtype(), int32);
  EXPECT_EQ(s.step.item<int32_t>(), 0);
  EXPECT_EQ(keys(s.opt_state), (std::vector<std::string>{"0", "1"}));
  EXPECT_EQ(keys(s.opt_state["0"]), (std::vector<std::string>{"count", "mu", "nu"}));
  EXPECT_TRUE(s.opt_state["0"]["mu"].same_structure(s.params));
  EXPECT_EQ(s.apply(s.params, array({1.0f, 1.0f})).to_vector<float>(),
            (std::vector<float>{1.5f, -1.5f}));
}

TEST(TrainState, ApplyGradientsIsOneAdamStep) {
  TrainState s = TrainState::create(linear, variables(), optim::adam(0.1));
  Tree g =
      Tree::dict({{"params", Tree::dict({{"w", array({0.5f, -4.0f})}, {"b", array({2.0f})}})}});
  TrainState next = s.apply_gradients(g);
  EXPECT_EQ(next.step.item<int32_t>(), 1);
  // First adam step, optax's formula in float64: mu_hat = g, nu_hat = g², u = -lr·g / (|g| + eps).
  auto step = [](double p, double grad) {
    return p - 0.1 * grad / (std::sqrt(grad * grad) + 1e-8);
  };
  auto w = next.params["params"]["w"].leaf().to_vector<float>();
  EXPECT_NEAR(w[0], step(1.0, 0.5), 1e-6);
  EXPECT_NEAR(w[1], step(-2.0, -4.0), 1e-6);
  EXPECT_NEAR(next.params["params"]["b"].leaf().item<float>(), step(0.5, 2.0), 1e-6);
  EXPECT_EQ(next.opt_state["0"]["count"].leaf().item<int32_t>(), 1);
  EXPECT_EQ(next.apply_fn, s.apply_fn);  // static fields ride along
}

TEST(TrainState, JittedTrainStepMatchesEagerAndTracesOnce) {
  TrainState s = TrainState::create(linear, variables(), optim::adam(1e-2));
  Array x = array({1.0f, 2.0f}), y = array({3.0f, -1.0f});
  auto step_fn = [](const TrainState& st, const Array& xb, const Array& yb) {
    Tree g = grad([&](const Tree& p) { return mean(square(st.apply(p, xb) - yb)); })(st.params);
    return st.apply_gradients(g);
  };
  auto train_step = jit(step_fn, {.backend = "cpu"});
  TrainState eager = s, jitted = s;
  for (int i = 0; i < 5; ++i) {
    eager = step_fn(eager, x, y);
    jitted = train_step(jitted, x, y);
  }
  EXPECT_EQ(train_step.cache_size(), 1u);
  EXPECT_EQ(jitted.step.item<int32_t>(), 5);
  auto a = eager.params["params"]["w"].leaf().to_vector<float>();
  auto b = jitted.params["params"]["w"].leaf().to_vector<float>();
  EXPECT_NEAR(a[0], b[0], 1e-6);
  EXPECT_NEAR(a[1], b[1], 1e-6);
}

TEST(TrainState, DifferentOptimizersAreDifferentJitSignatures) {
  auto step = jit([](const TrainState& st) { return st.apply_gradients(st.params); });
  TrainState a = TrainState::create(linear, variables(), optim::sgd(0.1));
  TrainState b = TrainState::create(linear, variables(), optim::sgd(0.5));
  float wa = step(a).params["params"]["w"].leaf().to_vector<float>()[0];
  float wb = step(b).params["params"]["w"].leaf().to_vector<float>()[0];
  EXPECT_FLOAT_EQ(wa, 1.0f - 0.1f);
  EXPECT_FLOAT_EQ(wb, 1.0f - 0.5f);  // not the cached sgd(0.1) step
  EXPECT_EQ(step.cache_size(), 2u);
}

TEST(TrainState, SerializesAsFlaxDoesStepParamsOptState) {
  TrainState s = TrainState::create(linear, variables(), optim::sgd(0.1, 0.9));
  s = s.apply_gradients(s.params);
  Tree t = tree_traits<TrainState>::to_tree(s);
  EXPECT_EQ(keys(t), (std::vector<std::string>{"step", "params", "opt_state"}));
  EXPECT_EQ(keys(t["opt_state"]["0"]), (std::vector<std::string>{"trace"}));
  auto bytes = serialization::to_bytes(t);
  Tree back = serialization::from_bytes(t, bytes);
  EXPECT_TRUE(back.equals(t));
}

}  // namespace
}  // namespace kiln
