// A built-in layer as the top-level module, as in Flax (`nn.Dense(3).init(key, x)`): its variables
// sit at the root ({"params": {"kernel", "bias"}}, no Dense_0) and its rngs come from the root's
// path — so its parameters equal Flax's, which differ from those of a Dense_0 inside a wrapper.
// And submodule numbering that C++'s unspecified argument order would reverse is refused.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln/nn.hpp"
#include "kiln/nn/convolution.hpp"
#include "kiln/nn/dropout.hpp"
#include "kiln/nn/embed.hpp"
#include "kiln/nn/normalization.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln::nn {
namespace {

std::vector<std::string> keys(const Tree& t) {
  std::vector<std::string> out;
  for (const auto& [k, v] : t.items()) out.push_back(k);
  return out;
}

// To a few float32 ulps: kiln's normal initializers may differ from JAX's in the last bits
// (docs/decisions.md, erf_inv).
void expect_floats(const Array& a, const std::vector<float>& want) {
  std::vector<float> got = a.to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-7 + 5e-7 * std::fabs(want[i])) << i;
}

TEST(TopLevelLayer, DenseInitHasFlaxsKeysAndValues) {
  // Flax: nn.Dense(3).init(jax.random.PRNGKey(0), jnp.ones((1, 4)))['params']['kernel'].
  Tree v = Dense({.features = 3}).init(random::key(0), ones({1, 4}));
  EXPECT_EQ(keys(v), (std::vector<std::string>{"params"}));
  EXPECT_EQ(keys(v["params"]), (std::vector<std::string>{"kernel", "bias"}));
  expect_floats(
      v["params"]["kernel"].leaf(),
      {0.04130830243229866f, -0.8247014880180359f, -0.8536314964294434f, 0.3835044503211975f,
       0.6081429123878479f, 0.45915502309799194f, 0.09130077064037323f, 0.462691992521286f,
       0.45960718393325806f, -0.1250421553850174f, 0.6136066913604736f, 0.346373975276947f});
  expect_floats(v["params"]["bias"].leaf(), {0, 0, 0});
}

TEST(TopLevelLayer, DenseApplyComputesXTimesKernelPlusBias) {
  Dense dense({.features = 2});
  Tree v = Tree::dict({{"params", Tree::dict({{"kernel", array({1, 2, 3, 4}, {2, 2})},
                                              {"bias", array({0.5f, -0.5f}, {2})}})}});
  expect_floats(dense.apply(v, array({1, 1}, {1, 2})), {4.5f, 5.5f});
}

TEST(TopLevelLayer, EmbedInitHasFlaxsValues) {
  // Flax: nn.Embed(5, 2).init(jax.random.PRNGKey(1), jnp.zeros((2,), jnp.int32)).
  Tree v = Embed({.num_embeddings = 5, .features = 2}).init(random::key(1), zeros({2}, int32));
  EXPECT_EQ(keys(v["params"]), (std::vector<std::string>{"embedding"}));
  expect_floats(v["params"]["embedding"].leaf(),
                {1.149019718170166f, 0.21788129210472107f, 1.1747578382492065f, 0.735684871673584f,
                 -0.9614976644515991f, 0.3303738534450531f, 0.10996197909116745f,
                 -0.008623236790299416f, -0.32575613260269165f, -0.21661505103111267f});
}

TEST(TopLevelLayer, EveryLayerKeepsItsVariablesAtTheRoot) {
  Array x = ones({2, 4, 4, 3});
  EXPECT_EQ(keys(Conv({.features = 2, .kernel_size = {3, 3}}).init(random::key(0), x)["params"]),
            (std::vector<std::string>{"kernel", "bias"}));
  EXPECT_EQ(keys(LayerNorm({}).init(random::key(0), x)["params"]),
            (std::vector<std::string>{"scale", "bias"}));
  Tree bn = BatchNorm({.use_running_average = false}).init(random::key(0), x);
  EXPECT_EQ(keys(bn), (std::vector<std::string>{"batch_stats", "params"}));
  EXPECT_EQ(keys(bn["batch_stats"]), (std::vector<std::string>{"mean", "var"}));
  // BatchNorm.apply with mutable batch_stats, at the root: the updated statistics come back.
  auto [y, updates] = BatchNorm({.use_running_average = false})
                          .apply_with({.mutable_collections = {"batch_stats"}}, bn, x);
  EXPECT_EQ(keys(updates["batch_stats"]), (std::vector<std::string>{"mean", "var"}));
  EXPECT_EQ(y.shape(), x.shape());
  // Dropout at the root draws from the root's "dropout" stream.
  Array d = Dropout({.rate = 0.5})
                .apply_with({.rngs = {{"dropout", random::key(3)}}}, Tree::dict(), ones({64}),
                            std::optional<bool>(false))
                .first;
  std::vector<float> dv = d.to_vector<float>();
  int kept = 0;
  for (float f : dv) {
    EXPECT_TRUE(f == 0.0f || f == 2.0f) << f;
    kept += f == 2.0f;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 64);
}

// Two Dense layers built as the arguments of one call: which runs first is the compiler's choice
// (GCC: the second). Flax would call the first Dense_0. kiln either agrees (a compiler that goes
// left to right) or refuses, naming both lines and the fix — never silently swaps the names.
struct TwoArgs : Module<TwoArgs> {
  Array operator()(Scope& s, const Array& x) const {
    return add(Dense({.features = 2, .kernel_init = initializers::constant(1.0)})(s, x),
               Dense({.features = 2, .kernel_init = initializers::constant(2.0)})(s, x));
  }
};

TEST(SubmoduleNaming, ArgumentsOfOneCallAreNumberedInSourceOrderOrRefused) {
  try {
    Tree v = TwoArgs{}.init(random::key(0), ones({1, 3}));
    expect_floats(v["params"]["Dense_0"]["kernel"].leaf(), std::vector<float>(6, 1.0f));
    expect_floats(v["params"]["Dense_1"]["kernel"].leaf(), std::vector<float>(6, 2.0f));
  } catch (const ValueError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("top_level_test.cpp"), std::string::npos) << what;
    EXPECT_NE(what.find("C++ leaves the order in which a call's arguments are evaluated"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("create them in separate statements"), std::string::npos) << what;
  }
}

struct Loop : Module<Loop> {
  Array operator()(Scope& s, Array x) const {
    for (int i = 0; i < 3; ++i) {
      x = Dense({.features = 4})(s, x);
      x = relu(Dense({.features = 4})(s, x));
    }
    return x;
  }
};

TEST(SubmoduleNaming, ALoopComingBackToAnEarlierLineIsFine) {
  Tree v = Loop{}.init(random::key(0), ones({1, 4}));
  EXPECT_EQ(keys(v["params"]), (std::vector<std::string>{"Dense_0", "Dense_1", "Dense_2", "Dense_3",
                                                         "Dense_4", "Dense_5"}));
}

// Named explicitly, the same two arguments are accepted whatever the order.
struct TwoArgsNamed : Module<TwoArgsNamed> {
  Array operator()(Scope& s, const Array& x) const {
    return add(Dense({.features = 2, .name = "first"})(s, x),
               Dense({.features = 2, .name = "second"})(s, x));
  }
};

TEST(SubmoduleNaming, ExplicitNamesAreNeverRefused) {
  Tree v = TwoArgsNamed{}.init(random::key(0), ones({1, 3}));
  EXPECT_TRUE(v["params"].contains("first"));
  EXPECT_TRUE(v["params"].contains("second"));
}

}  // namespace
}  // namespace kiln::nn
