// jit's donate_argnums: a donated argument's buffer becomes the output's, the donated array reads
// as an error afterwards, and the results equal those of the same function without donation.
#include <gtest/gtest.h>

#include <algorithm>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "kiln/train_state.hpp"

namespace kiln {
namespace {

Array decay(const Array& m, const Array& g) {
  return m * 0.9 + g;
}

TEST(JitDonation, TheOutputTakesTheDonatedBufferAndTheArgumentReadsAsDonated) {
  auto f = jit(decay, {.donate_argnums = {0}});
  Array m = full({6}, 1.0);
  const void* bytes = m.buffer()->host_data();
  Array held = m;  // another handle on the same array: donated with it, as in JAX
  Array out = f(m, full({6}, 0.5));
  EXPECT_EQ(out.buffer()->host_data(), bytes);
  EXPECT_EQ(out.to_vector<float>(), std::vector<float>(6, 1.4f));
  for (const Array* donated : {&m, &held}) {
    try {
      (void)donated->to_vector<float>();
      ADD_FAILURE() << "a donated array was read";
    } catch (const ValueError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("use of a f32[6] array that was donated to the jitted function called "
                          "at"),
                std::string::npos)
          << what;
      EXPECT_NE(what.find("donation_test.cpp"), std::string::npos) << what;
      EXPECT_NE(what.find("use the jitted function's outputs instead"), std::string::npos) << what;
    }
  }
  EXPECT_THROW((void)(m + 1.0), ValueError);  // eager ops refuse it too
  EXPECT_THROW((void)f(m, full({6}, 0.5)), ValueError);
}

// Another array shares the donated buffer (as a view would): the call copies instead of taking
// it, and both stay valid.
TEST(JitDonation, ABufferSharedWithAnotherArrayIsCopiedNotTaken) {
  auto f = jit(decay, {.donate_argnums = {0}});
  Array m = full({2, 3}, 1.0);
  Array view = Array::from_buffer(m.buffer(), DType::float32, Shape{6});
  Array out = f(m, full({2, 3}, 0.5));
  EXPECT_NE(out.buffer(), m.buffer());
  EXPECT_EQ(m.to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(view.to_vector<float>(), std::vector<float>(6, 1.0f));
  EXPECT_EQ(out.to_vector<float>(), std::vector<float>(6, 1.4f));
}

// The same argument passed twice, donated once: never written while it is still read.
TEST(JitDonation, AnArgumentPassedTwiceIsCopied) {
  auto f = jit(decay, {.donate_argnums = {0}});
  Array m = full({4}, 2.0);
  Array out = f(m, m);
  EXPECT_EQ(out.to_vector<float>(), std::vector<float>(4, 3.8f));
  EXPECT_EQ(m.to_vector<float>(), std::vector<float>(4, 2.0f));
}

TEST(JitDonation, AnArgumentNumberOutOfRangeIsAValueError) {
  auto f = jit(decay, {.donate_argnums = {2}});
  try {
    (void)f(ones({2}), ones({2}));
    ADD_FAILURE() << "donate_argnums = {2} accepted for two arguments";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "donate_argnums names argument 2 of a function called with 2 arguments"),
              std::string::npos)
        << e.what();
  }
}

// An Adam train loop with its state donated: the parameters and both moments are updated in
// place after the first step, and every step's numbers equal the undonated loop's, bit for bit.
TEST(JitDonation, ATrainStateUpdatedInPlaceGivesTheSameNumbers) {
  Tree params = Tree::dict({{"w", full({3, 2}, 0.5)}, {"b", zeros({2})}});
  auto apply = [](const Tree& p, const Array& x) {
    return matmul(x, p["w"].leaf()) + p["b"].leaf();
  };
  const TrainState initial = TrainState::create(apply, params, optim::adam(1e-2));
  auto step_fn = [](const TrainState& s, const Array& x) {
    auto loss = [&](const Tree& p) { return mean(square(s.apply(p, x) - 1.0)); };
    return s.apply_gradients(grad(loss)(s.params));
  };
  auto plain = jit(step_fn);
  auto donating = jit(step_fn, {.donate_argnums = {0}});
  const Array x = reshape(arange(12, float32), {4, 3}) * 0.1;

  TrainState a = initial, b = plain(initial, x);  // b: a state of the caller's own to donate
  a = plain(a, x);
  for (int i = 0; i < 5; ++i) {
    std::vector<const void*> before;
    for (const Array& leaf : tree_leaves(b)) before.push_back(leaf.buffer()->host_data());
    a = plain(a, x);
    b = donating(b, x);
    std::vector<const void*> after;
    for (const Array& leaf : tree_leaves(b)) after.push_back(leaf.buffer()->host_data());
    size_t reused = 0;
    for (const void* p : after) reused += std::count(before.begin(), before.end(), p);
    // The updated params (2), mu (2) and nu (2) at least land in the old state's buffers.
    EXPECT_GE(reused, 6u) << "step " << i;
    const auto la = tree_leaves(a), lb = tree_leaves(b);
    ASSERT_EQ(la.size(), lb.size());
    for (size_t k = 0; k < la.size(); ++k)
      EXPECT_TRUE(Tree(la[k]).equals(Tree(lb[k]))) << "step " << i << " leaf " << k;
  }
}

}  // namespace
}  // namespace kiln
