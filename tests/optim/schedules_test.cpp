// Schedules (optax.schedules) at steps before, at and after their boundaries, with values worked
// out by hand from optax's formulas (and optax's own documented examples), float32 results from an
// int32 count, the same bits under jit, and a schedule driving an optimizer's learning rate.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"

namespace kiln {
namespace {

using optim::Schedule;

Array count_of(int c) {
  return scalar(c, int32);
}

float at(const Schedule& s, int c) {
  Array v = s(count_of(c));
  EXPECT_EQ(v.dtype(), float32) << "count " << c;
  EXPECT_EQ(v.shape(), Shape{}) << "count " << c;
  return v.item<float>();
}

void expect_values(const Schedule& s, const std::vector<std::pair<int, double>>& want, double tol,
                   const std::string& what) {
  for (auto [c, v] : want) EXPECT_NEAR(at(s, c), v, tol) << what << " at count " << c;
}

TEST(Schedule, Constant) {
  Schedule s = optim::constant_schedule(0.25);
  EXPECT_EQ(at(s, 0), 0.25f);
  EXPECT_EQ(at(s, 1000), 0.25f);
}

TEST(Schedule, PolynomialMatchesOptaxsDocumentedValues) {
  // optax's docstring: init 1.0, end 0.01, 100 transition steps beginning at 5, power 2.
  Schedule s = optim::polynomial_schedule(1.0, 0.01, 2.0, 100, 5);
  expect_values(s, {{0, 1.0}, {5, 1.0}, {6, 0.980299}, {104, 0.010099}, {105, 0.01}, {110, 0.01}},
                1e-6, "polynomial");
  // The float32 arithmetic optax performs: (init - end) * frac**2 + end with frac = 1 - c / steps.
  for (int c : {0, 6, 37, 104}) {
    float frac = 1.0f - static_cast<float>(c - 5 < 0 ? 0 : c - 5) / 100.0f;
    float want = (1.0f - 0.01f) * (frac * frac) + 0.01f;
    EXPECT_EQ(at(s, c), want) << "count " << c;
  }
}

TEST(Schedule, PolynomialNonIntegerPower) {
  Schedule s = optim::polynomial_schedule(2.0, 0.0, 0.5, 16);
  expect_values(s, {{0, 2.0}, {12, 2.0 * std::sqrt(0.25)}, {16, 0.0}, {40, 0.0}}, 1e-6,
                "sqrt power");
}

TEST(Schedule, Linear) {
  Schedule s = optim::linear_schedule(1.0, 0.0, 10);
  expect_values(s, {{0, 1.0}, {3, 0.7}, {9, 0.1}, {10, 0.0}, {20, 0.0}}, 1e-7, "linear");
  Schedule late = optim::linear_schedule(0.0, 4.0, 4, 10);
  expect_values(late, {{0, 0.0}, {10, 0.0}, {11, 1.0}, {14, 4.0}, {99, 4.0}}, 1e-7,
                "linear, begin 10");
  // Non-positive transition_steps: the initial value for ever (optax).
  expect_values(optim::linear_schedule(3.0, 1.0, 0), {{0, 3.0}, {50, 3.0}}, 0, "no transition");
}

TEST(Schedule, ExponentialDecay) {
  Schedule s = optim::exponential_decay(1.0, 10, 0.5);
  expect_values(
      s, {{0, 1.0}, {5, std::pow(0.5, 0.5)}, {10, 0.5}, {15, std::pow(0.5, 1.5)}, {20, 0.25}}, 1e-6,
      "continuous");
  Schedule stairs = optim::exponential_decay(1.0, 10, 0.5, 0, true);
  expect_values(stairs, {{9, 1.0}, {10, 0.5}, {15, 0.5}, {29, 0.25}, {30, 0.125}}, 1e-7,
                "staircase");
  Schedule begin = optim::exponential_decay(2.0, 10, 0.5, 5);
  expect_values(begin, {{0, 2.0}, {5, 2.0}, {15, 1.0}, {25, 0.5}}, 1e-6, "transition_begin 5");
  Schedule floor = optim::exponential_decay(1.0, 10, 0.5, 0, false, 0.3);
  expect_values(floor, {{10, 0.5}, {20, 0.3}, {100, 0.3}}, 1e-7,
                "end_value is a lower bound when decaying");
  Schedule ceil = optim::exponential_decay(1.0, 10, 2.0, 0, false, 3.0);
  expect_values(ceil, {{10, 2.0}, {20, 3.0}}, 1e-6, "end_value is an upper bound when growing");
  expect_values(optim::exponential_decay(0.7, 10, 0.0), {{0, 0.7}, {100, 0.7}}, 1e-7,
                "zero rate: constant");
}

TEST(Schedule, CosineDecay) {
  Schedule s = optim::cosine_decay_schedule(2.0, 100, 0.1);
  // init * ((1 - alpha) * 0.5 * (1 + cos(pi * min(c, D) / D)) + alpha)
  auto want = [](int c, double exponent) {
    double cosine = 0.5 * (1 + std::cos(std::numbers::pi * std::min(c, 100) / 100.0));
    return 2.0 * (0.9 * std::pow(cosine, exponent) + 0.1);
  };
  expect_values(s, {{0, 2.0}, {25, want(25, 1)}, {50, 1.1}, {100, 0.2}, {150, 0.2}}, 1e-6,
                "cosine");
  Schedule squared = optim::cosine_decay_schedule(2.0, 100, 0.1, 2.0);
  expect_values(squared, {{0, 2.0}, {50, 0.65}, {75, want(75, 2)}, {100, 0.2}}, 1e-6, "exponent 2");
  EXPECT_THROW(optim::cosine_decay_schedule(1.0, 0), ValueError);
}

TEST(Schedule, WarmupCosineDecay) {
  // Linear 0 -> 1 over 10 steps, then cosine from 1 down to 0.1 over the remaining 100.
  Schedule s = optim::warmup_cosine_decay_schedule(0.0, 1.0, 10, 110, 0.1);
  expect_values(s, {{0, 0.0}, {5, 0.5}, {9, 0.9}, {10, 1.0}, {60, 0.55}, {110, 0.1}, {500, 0.1}},
                1e-6, "warmup cosine");
  // The second schedule sees the count minus the warmup: one step past the boundary is its step 1.
  Schedule cosine = optim::cosine_decay_schedule(1.0, 100, 0.1);
  EXPECT_EQ(at(s, 11), at(cosine, 1));
  EXPECT_EQ(at(s, 73), at(cosine, 63));
}

TEST(Schedule, JoinSchedulesBoundaryBelongsToTheNextSchedule) {
  Schedule s =
      optim::join_schedules({optim::constant_schedule(1.0), optim::linear_schedule(2.0, 0.0, 4),
                             optim::constant_schedule(7.0)},
                            {3, 10});
  expect_values(
      s, {{0, 1.0}, {2, 1.0}, {3, 2.0}, {4, 1.5}, {5, 1.0}, {9, 0.0}, {10, 7.0}, {1000, 7.0}}, 0,
      "joined");
  EXPECT_THROW(optim::join_schedules({optim::constant_schedule(1.0)}, {3}), ValueError);
}

TEST(Schedule, SameBitsUnderJit) {
  std::vector<std::pair<std::string, Schedule>> all = {
      {"constant", optim::constant_schedule(0.5)},
      {"polynomial", optim::polynomial_schedule(1.0, 0.01, 2.0, 100, 5)},
      {"linear", optim::linear_schedule(1.0, 0.0, 10)},
      {"exponential", optim::exponential_decay(1.0, 10, 0.5, 3, false, 0.2)},
      {"staircase", optim::exponential_decay(1.0, 10, 0.5, 0, true)},
      {"cosine", optim::cosine_decay_schedule(2.0, 100, 0.1, 1.5)},
      {"warmup cosine", optim::warmup_cosine_decay_schedule(0.0, 1.0, 10, 110, 0.1)},
  };
  for (const auto& [name, s] : all) {
    auto f = jit([s = s](const Array& c) { return s(c); });
    for (int c : {0, 1, 5, 10, 11, 60, 110, 1000}) {
      Array j = f(count_of(c));
      EXPECT_EQ(j.dtype(), float32) << name;
      EXPECT_EQ(j.item<float>(), at(s, c)) << name << " at count " << c;
    }
  }
}

TEST(Schedule, DrivesTheLearningRateWithItsOwnCount) {
  // sgd with a schedule: state {'0': {}, '1': {'count'}}; step i uses lr(i), then count = i + 1.
  Schedule lr = optim::linear_schedule(1.0, 0.0, 4);
  auto tx = optim::sgd(lr);
  Tree p = Tree::dict({{"x", array({0.0f}, {1})}});
  Tree s = tx.init(p);
  ASSERT_TRUE(s["0"].is_dict());
  EXPECT_EQ(s["0"].size(), 0u);
  ASSERT_TRUE(s["1"].contains("count"));
  EXPECT_EQ(s["1"]["count"].leaf().dtype(), int32);
  Tree g = Tree::dict({{"x", array({2.0f}, {1})}});
  for (int i = 0; i < 6; ++i) {
    auto [u, next] = tx.update(g, s, p);
    s = next;
    EXPECT_EQ(u["x"].leaf().item<float>(), -at(lr, i) * 2.0f) << "step " << i;
    EXPECT_EQ(s["1"]["count"].leaf().item<int32_t>(), i + 1);
  }
}

}  // namespace
}  // namespace kiln
