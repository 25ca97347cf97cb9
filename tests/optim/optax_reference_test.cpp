// lion, lamb, adafactor, multi_steps (optax.MultiSteps), multi_transform and inject_hyperparams
// against optax's own numbers: tests/optim/reference/optax_reference.json, written by
// make_optax_reference.py with the reference environment (jax, optax, flax). Every step's updates
// and the final state — its layout as Flax writes it, path by path, and its values — agree to
// float32 rounding (a few ulps: XLA and kiln may sum a reduction in another order).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "kiln/tree.hpp"

namespace kiln {
namespace {

using Json = nlohmann::json;

const Json& reference() {
  static const Json j = [] {
    std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/optim/reference/optax_reference.json");
    return Json::parse(in);
  }();
  return j;
}

Array array_of(const Json& leaf) {
  Shape shape;
  for (int64_t d : leaf["shape"]) shape.push_back(d);
  if (leaf["dtype"] == "int32") {
    std::vector<int32_t> v;
    for (double x : leaf["data"]) v.push_back(static_cast<int32_t>(x));
    return array(std::span<const int32_t>(v), shape);
  }
  EXPECT_EQ(leaf["dtype"], "float32");
  std::vector<float> v;
  for (double x : leaf["data"]) v.push_back(static_cast<float>(x));
  return array(std::span<const float>(v), shape);
}

Tree tree_of(const Json& leaves) {
  Tree t = Tree::dict();
  for (const auto& [k, v] : leaves.items()) t.entry(k) = array_of(v);
  return t;
}

// "a/b" -> leaf, for every leaf of `t`.
void paths(const Tree& t, const std::string& prefix, std::map<std::string, Array>& out) {
  if (t.is_leaf()) {
    out[prefix] = t.leaf();
  } else if (t.is_dict()) {
    for (const auto& [k, v] : t.items()) paths(v, prefix.empty() ? k : prefix + "/" + k, out);
  }
}

void expect_close(const Array& got, const Json& want, const std::string& what) {
  ASSERT_EQ(std::string(name(got.dtype())), want["dtype"].get<std::string>()) << what;
  Shape shape;
  for (int64_t d : want["shape"]) shape.push_back(d);
  ASSERT_EQ(got.shape(), shape) << what;
  if (got.dtype() == int32) {
    std::vector<int32_t> g = got.to_vector<int32_t>();
    for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], want["data"][i].get<int64_t>()) << what;
    return;
  }
  std::vector<float> g = got.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) {
    const double w = want["data"][i].get<double>();
    EXPECT_NEAR(g[i], w, 1e-7 + 2e-6 * std::fabs(w)) << what << " [" << i << "]";
  }
}

// Runs `tx` as make_optax_reference.py ran optax (jitted or eagerly) and compares.
void check(const std::string& name, const optim::GradientTransformation& tx, bool jitted) {
  SCOPED_TRACE(name + (jitted ? " (jit)" : " (eager)"));
  const Json& c = reference()["cases"][name];
  Tree params = tree_of(c["params"]);
  Tree state = tx.init(params);
  auto update = jit(
      [tx](const Tree& g, const Tree& s, const Tree& p) {
        auto [u, n] = tx.update(g, s, p);
        return std::make_pair(u, n);
      },
      {.backend = "cpu"});
  for (size_t step = 0; step < c["grads"].size(); ++step) {
    Tree g = tree_of(c["grads"][step]);
    auto [u, next] = jitted ? update(g, state, params) : tx.update(g, state, params);
    for (const auto& [k, want] : c["updates"][step].items())
      expect_close(u[k].leaf(), want, "step " + std::to_string(step) + " update " + k);
    params = optim::apply_updates(params, u);
    state = next;
  }
  std::map<std::string, Array> got;
  paths(state, "", got);
  for (const auto& [path, want] : c["state"].items()) {
    ASSERT_TRUE(got.contains(path)) << "state lacks " << path;
    expect_close(got[path], want, "state " + path);
  }
  for (const auto& [path, a] : got) EXPECT_TRUE(c["state"].contains(path)) << "extra " << path;
}

class OptaxReference : public ::testing::TestWithParam<bool> {};

TEST_P(OptaxReference, Lion) {
  check("lion", optim::lion({.learning_rate = 0.01, .weight_decay = 0.1}), GetParam());
}

TEST_P(OptaxReference, Lamb) {
  check("lamb", optim::lamb({.learning_rate = 0.01, .weight_decay = 0.01}), GetParam());
}

TEST_P(OptaxReference, AdafactorFactorsTheMatrixNotTheVector) {
  check("adafactor", optim::adafactor({.learning_rate = 0.1, .min_dim_size_to_factor = 2}),
        GetParam());
  check("adafactor_defaults_factored", optim::adafactor({.min_dim_size_to_factor = 2}), GetParam());
}

TEST_P(OptaxReference, AdafactorWithMomentumAndWeightDecay) {
  check("adafactor_momentum_decay",
        optim::adafactor({.learning_rate = 0.05,
                          .min_dim_size_to_factor = 2,
                          .clipping_threshold = std::nullopt,
                          .momentum = 0.9,
                          .weight_decay_rate = 0.01}),
        GetParam());
}

TEST_P(OptaxReference, MultiStepsAccumulatesTheMeanOrTheSum) {
  check("multi_steps_mean", optim::multi_steps(optim::adam(0.1), 2), GetParam());
  check("multi_steps_sum", optim::multi_steps(optim::sgd(0.1, 0.9), 3, /*use_grad_mean=*/false),
        GetParam());
}

TEST_P(OptaxReference, MultiTransformByPath) {
  check(
      "multi_transform",
      optim::multi_transform({{"adam", optim::adam(0.1)}, {"sgd", optim::sgd(0.01)}},
                             [](const std::string& path) { return path == "b" ? "sgd" : "adam"; }),
      GetParam());
}

TEST_P(OptaxReference, InjectHyperparams) {
  // optax: inject_hyperparams(lambda learning_rate: adam(learning_rate)) — kiln injects what is
  // named, where optax.inject_hyperparams(optax.adam) would inject adam's b1, b2, eps too.
  check("inject_hyperparams",
        optim::inject_hyperparams(
            [](const optim::Hyperparams& h) { return optim::adam(h.at("learning_rate")); },
            {{"learning_rate", 0.05}}),
        GetParam());
  check("inject_hyperparams_schedule",
        optim::inject_hyperparams(
            [](const optim::Hyperparams& h) { return optim::sgd(h.at("learning_rate")); },
            {{"learning_rate", optim::linear_schedule(0.1, 0.01, 3)}}),
        GetParam());
}

INSTANTIATE_TEST_SUITE_P(EagerAndJit, OptaxReference, ::testing::Bool());

TEST(OptaxReference, InjectedHyperparameterCanBeChangedBetweenSteps) {
  auto tx = optim::inject_hyperparams(
      [](const optim::Hyperparams& h) { return optim::sgd(h.at("learning_rate")); },
      {{"learning_rate", 0.1}});
  Tree params = Tree::dict({{"w", array({1.f, 2.f}, {2})}});
  Tree state = tx.init(params);
  state["hyperparams"]["learning_rate"] = scalar(0.5);
  auto [u, next] = tx.update(Tree::dict({{"w", array({1.f, 1.f}, {2})}}), state, params);
  EXPECT_EQ(u["w"].leaf().to_vector<float>(), (std::vector<float>{-0.5f, -0.5f}));
  EXPECT_EQ(next["hyperparams"]["learning_rate"].leaf().item<float>(), 0.5f);
}

TEST(OptaxReference, MultiTransformNamesUnlabelledParameters) {
  auto tx = optim::multi_transform({{"adam", optim::adam(0.1)}}, [](const std::string& path) {
    return path == "b" ? "sgd" : "adam";
  });
  Tree params = Tree::dict({{"b", zeros({2})}, {"w", zeros({2})}});
  try {
    (void)tx.init(params);
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("b -> sgd"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
