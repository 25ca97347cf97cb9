// Every optimizer takes an options struct with designated initializers (optax's keywords); the
// positional forms stay, and give the same updates.
#include <gtest/gtest.h>

#include "kiln/ops.hpp"
#include "kiln/optim.hpp"

namespace kiln {
namespace {

std::vector<float> two_steps(const optim::GradientTransformation& tx) {
  Tree p = Tree::dict({{"w", array({1.f, -2.f, 3.f}, {3})}});
  Tree s = tx.init(p);
  for (int i = 0; i < 2; ++i) {
    Tree g = Tree::dict({{"w", array({0.5f, 0.25f, -1.f}, {3})}});
    auto [u, next] = tx.update(g, s, p);
    p = optim::apply_updates(p, u);
    s = next;
  }
  return p["w"].leaf().to_vector<float>();
}

TEST(OptimizerOptions, DesignatedInitializersEqualThePositionalForms) {
  EXPECT_EQ(two_steps(optim::adamw({.learning_rate = 0.1, .weight_decay = 0.5})),
            two_steps(optim::adamw(0.1, 0.9, 0.999, 1e-8, 0.0, 0.5)));
  EXPECT_EQ(two_steps(optim::adam({.learning_rate = 0.1, .b2 = 0.9})),
            two_steps(optim::adam(0.1, 0.9, 0.9)));
  EXPECT_EQ(two_steps(optim::sgd({.learning_rate = 0.1, .momentum = 0.9, .nesterov = true})),
            two_steps(optim::sgd(0.1, 0.9, true)));
  EXPECT_EQ(two_steps(optim::rmsprop({.learning_rate = 0.1, .momentum = 0.5})),
            two_steps(optim::rmsprop(0.1, 0.9, 1e-8, 0.0, 0.5)));
  // ... and differ when an option differs, so the comparison above can fail.
  EXPECT_NE(two_steps(optim::adamw({.learning_rate = 0.1, .weight_decay = 0.5})),
            two_steps(optim::adamw({.learning_rate = 0.1})));
}

TEST(OptimizerOptions, ALearningRateIsRequired) {
  EXPECT_THROW((void)optim::adam({.b1 = 0.8}), ValueError);
  EXPECT_THROW((void)optim::lion({}), ValueError);
  // adafactor's learning rate is optional, as optax's (None).
  EXPECT_NO_THROW((void)optim::adafactor({}));
}

}  // namespace
}  // namespace kiln
