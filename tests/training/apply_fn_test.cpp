// TrainState's apply_fn takes whatever the model takes after the variables (a mask, a train flag,
// rngs), as Flax's; a call with other argument types names both signatures.
#include <gtest/gtest.h>

#include <string>

#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "kiln/train_state.hpp"

namespace kiln {
namespace {

TEST(ApplyFn, TakesAMaskAndATrainFlag) {
  Tree params = Tree::dict({{"params", Tree::dict({{"w", array({2.f, 3.f}, {2})}})}});
  TrainState s = TrainState::create(
      [](const Tree& v, const Array& x, const Array& mask, bool train) {
        Array y = x * v["params"]["w"].leaf() * mask;
        return train ? y * 10.0 : y;
      },
      params, optim::sgd(0.1));
  Array x = array({1.f, 1.f}, {2});
  Array mask = array({1.f, 0.f}, {2});
  EXPECT_EQ(s.apply(s.params, x, mask, false).to_vector<float>(), (std::vector<float>{2, 0}));
  EXPECT_EQ(s.apply(s.params, x, mask, true).to_vector<float>(), (std::vector<float>{20, 0}));
}

TEST(ApplyFn, ReturnsWhatTheModelReturns) {
  TrainState s =
      TrainState::create([](const Tree& v, const Array& x) { return std::make_pair(x, v); },
                         Tree::dict({{"params", Tree::dict()}}), optim::sgd(0.1));
  auto [y, v] = s.apply<std::pair<Array, Tree>>(s.params, ones({1}));
  EXPECT_EQ(y.item<float>(), 1.0f);
  EXPECT_TRUE(v.contains("params"));
}

TEST(ApplyFn, OtherArgumentTypesNameBothSignatures) {
  TrainState s = TrainState::create([](const Tree&, const Array& x, bool) { return x; },
                                    Tree::dict({{"params", Tree::dict()}}), optim::sgd(0.1));
  try {
    (void)s.apply(s.params, ones({1}), 1);  // an int, not a bool
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("apply_fn is kiln::Array (kiln::Tree const&, kiln::Array, bool)"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("called as kiln::Array (kiln::Tree const&, kiln::Array, int)"),
              std::string::npos)
        << what;
  }
}

}  // namespace
}  // namespace kiln
