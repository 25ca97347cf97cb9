// Optimizers (include/kiln/optim.hpp) against optax 0.2.x: the exact state trees (keys, order,
// dtypes, shapes) that Flax checkpoints carry, the update values — checked against a float32
// re-enactment of optax's formulas (same operations, same order, so equal bits) and an independent
// float64 computation (close) — and the same bits eagerly and under kiln::jit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "kiln/tree.hpp"

namespace kiln {
namespace {

using optim::GradientTransformation;

std::vector<std::string> keys(const Tree& t) {
  std::vector<std::string> k;
  for (const auto& [key, v] : t.items()) k.push_back(key);
  return k;
}

using Keys = std::vector<std::string>;

Array bool_scalar(bool v) {
  bool data[1] = {v};
  return Array::from_data(std::span<const bool>(data, 1), Shape{});
}

// Two leaves inserted w then b, so an eager result that keeps the params' order is visible.
const std::vector<float> kW0 = {0.5f, -1.25f, 2.0f, 0.0f, 3.5f, -0.75f};
const std::vector<float> kB0 = {0.1f, -0.2f, 0.3f};
Tree params0() {
  return Tree::dict({{"w", array(std::span<const float>(kW0), {2, 3})},
                     {"b", array(std::span<const float>(kB0), {3})}});
}

// Gradients for three steps (a zero, sign changes, a large and a tiny value).
const std::vector<std::vector<float>> kGW = {{0.1f, -0.2f, 0.0f, 1.5f, -3.0f, 0.25f},
                                             {-0.3f, 0.4f, 0.0f, 1.0f, 2.0f, -0.5f},
                                             {0.05f, -0.6f, 1e-4f, -2.5f, 0.5f, 0.75f}};
const std::vector<std::vector<float>> kGB = {
    {1.0f, -1.0f, 0.5f}, {0.5f, 0.25f, -0.125f}, {-2.0f, 4.0f, 0.0f}};
Tree grads(int step) {
  return Tree::dict({{"w", array(std::span<const float>(kGW[step]), {2, 3})},
                     {"b", array(std::span<const float>(kGB[step]), {3})}});
}

std::vector<float> host(const Tree& t) {
  return t.leaf().to_vector<float>();
}

void expect_f32_eq(const Tree& got, const std::vector<float>& want, const std::string& what) {
  std::vector<float> g = host(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], want[i]) << what << " element " << i;
}

void expect_near(const Tree& got, const std::vector<double>& want, double rel, double abs,
                 const std::string& what) {
  std::vector<float> g = host(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want[i], rel * std::fabs(want[i]) + abs) << what << " element " << i;
}

// Same structure (sorted-key comparison), and every leaf with the same dtype, shape and bits.
void expect_same_bits(const Tree& a, const Tree& b, const std::string& what) {
  ASSERT_TRUE(a.same_structure(b)) << what << ":\n" << a.str() << "\nvs\n" << b.str();
  auto la = leaves(a), lb = leaves(b);
  ASSERT_EQ(la.size(), lb.size()) << what;
  for (size_t i = 0; i < la.size(); ++i) {
    ASSERT_EQ(la[i].dtype(), lb[i].dtype()) << what << " leaf " << i;
    ASSERT_EQ(la[i].shape(), lb[i].shape()) << what << " leaf " << i;
    EXPECT_TRUE(Tree(la[i]).equals(Tree(lb[i])))
        << what << " leaf " << i << ": " << la[i] << " vs " << lb[i];
  }
}

void expect_zeros_like(const Tree& t, const Tree& like, const std::string& what) {
  ASSERT_TRUE(t.is_dict()) << what;
  EXPECT_EQ(keys(t), keys(like)) << what << ": a tree of zeros like params keeps their key order";
  for (const auto& [k, v] : like.items()) {
    EXPECT_EQ(t[k].leaf().dtype(), v.leaf().dtype()) << what << "/" << k;
    EXPECT_EQ(t[k].leaf().shape(), v.leaf().shape()) << what << "/" << k;
    for (float x : host(t[k])) EXPECT_EQ(x, 0.0f) << what << "/" << k;
  }
}

void expect_count(const Tree& t, int32_t want, const std::string& what) {
  ASSERT_TRUE(t.is_leaf()) << what;
  EXPECT_EQ(t.leaf().dtype(), int32) << what;
  EXPECT_EQ(t.leaf().shape(), Shape{}) << what;
  EXPECT_EQ(t.leaf().item<int32_t>(), want) << what;
}

void expect_empty_dict(const Tree& t, const std::string& what) {
  EXPECT_TRUE(t.is_dict()) << what;
  EXPECT_EQ(t.size(), 0u) << what;
}

// ---- optax's adam, re-enacted in float32 (bits) and float64 (reference) ----

struct AdamRef {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, lr = 1e-3;
  // float32, in optax's order of operations.
  std::vector<float> mu32, nu32;
  std::vector<double> mu64, nu64;
  explicit AdamRef(size_t n) : mu32(n, 0.0f), nu32(n, 0.0f), mu64(n, 0.0), nu64(n, 0.0) {}

  // Returns the updates (already scaled by -lr) for this step (count after the increment).
  std::pair<std::vector<float>, std::vector<double>> step(const std::vector<float>& g, int count) {
    std::vector<float> u32(g.size());
    std::vector<double> u64(g.size());
    const float c1 = 1.0f - std::pow(static_cast<float>(b1), static_cast<float>(count));
    const float c2 = 1.0f - std::pow(static_cast<float>(b2), static_cast<float>(count));
    for (size_t i = 0; i < g.size(); ++i) {
      mu32[i] = static_cast<float>(1.0 - b1) * g[i] + static_cast<float>(b1) * mu32[i];
      nu32[i] = static_cast<float>(1.0 - b2) * (g[i] * g[i]) + static_cast<float>(b2) * nu32[i];
      float m_hat = mu32[i] / c1, v_hat = nu32[i] / c2;
      u32[i] =
          static_cast<float>(-lr) * (m_hat / (std::sqrt(v_hat + 0.0f) + static_cast<float>(eps)));

      double gd = g[i];
      mu64[i] = (1 - b1) * gd + b1 * mu64[i];
      nu64[i] = (1 - b2) * gd * gd + b2 * nu64[i];
      double mh = mu64[i] / (1 - std::pow(b1, count)), vh = nu64[i] / (1 - std::pow(b2, count));
      u64[i] = -lr * mh / (std::sqrt(vh) + eps);
    }
    return {u32, u64};
  }
};

TEST(OptimAdam, StateTreeIsOptaxs) {
  auto tx = optim::adam(1e-3);
  Tree p = params0();
  Tree s = tx.init(p);
  EXPECT_EQ(keys(s), (Keys{"0", "1"}));
  EXPECT_EQ(keys(s["0"]), (Keys{"count", "mu", "nu"}));
  expect_count(s["0"]["count"], 0, "count");
  expect_zeros_like(s["0"]["mu"], p, "mu");
  expect_zeros_like(s["0"]["nu"], p, "nu");
  expect_empty_dict(s["1"], "scale_by_learning_rate(constant)");

  auto [u, s1] = tx.update(grads(0), s, p);
  EXPECT_EQ(keys(u), (Keys{"w", "b"}));  // eager updates keep the gradients' order
  EXPECT_EQ(keys(s1), (Keys{"0", "1"}));
  EXPECT_EQ(keys(s1["0"]), (Keys{"count", "mu", "nu"}));
  expect_count(s1["0"]["count"], 1, "count after one step");
  expect_empty_dict(s1["1"], "lr state after a step");
}

TEST(OptimAdam, ThreeStepsFollowOptaxsFormula) {
  auto tx = optim::adam(1e-3);
  Tree p = params0();
  Tree s = tx.init(p);
  AdamRef rw(kW0.size()), rb(kB0.size());
  std::vector<float> w32 = kW0, b32 = kB0;
  std::vector<double> w64(kW0.begin(), kW0.end()), b64(kB0.begin(), kB0.end());
  for (int step = 0; step < 3; ++step) {
    auto [u, next] = tx.update(grads(step), s, p);
    p = optim::apply_updates(p, u);
    s = next;
    auto [uw32, uw64] = rw.step(kGW[step], step + 1);
    auto [ub32, ub64] = rb.step(kGB[step], step + 1);
    std::string at = "step " + std::to_string(step);
    expect_f32_eq(u["w"], uw32, at + " updates w");
    expect_f32_eq(u["b"], ub32, at + " updates b");
    expect_f32_eq(s["0"]["mu"]["w"], rw.mu32, at + " mu w");
    expect_f32_eq(s["0"]["nu"]["b"], rb.nu32, at + " nu b");
    // float32 rounds 1 - b2**count with cancellation (0.999f**2 is 1.998e-3 to about 4 digits), so
    // the float64 answer is only close; the bits are pinned by the float32 re-enactment above.
    expect_near(u["w"], uw64, 1e-4, 0, at + " updates w vs float64");
    expect_near(u["b"], ub64, 1e-4, 0, at + " updates b vs float64");
    for (size_t i = 0; i < w32.size(); ++i) w32[i] = w32[i] + uw32[i], w64[i] += uw64[i];
    for (size_t i = 0; i < b32.size(); ++i) b32[i] = b32[i] + ub32[i], b64[i] += ub64[i];
    expect_f32_eq(p["w"], w32, at + " params w");
    expect_f32_eq(p["b"], b32, at + " params b");
    expect_count(s["0"]["count"], step + 1, at + " count");
    // A zero gradient on a zero moment moves nothing: 0 / (sqrt(0) + eps) is 0.
    if (step < 2) {
      EXPECT_EQ(host(p["w"])[2], 2.0f) << at;
    }
  }
  expect_near(p["w"], w64, 1e-6, 1e-7, "params w vs float64");
  expect_near(p["b"], b64, 1e-6, 1e-7, "params b vs float64");
}

TEST(OptimAdam, FirstStepIsMinusLrTimesSignForLargeGradients) {
  // With bias correction, step 1 gives mu_hat = g, nu_hat = g^2, so u = -lr * g / (|g| + eps).
  auto tx = optim::adam(0.5);
  Tree p = Tree::dict({{"x", array({1.0f, 1.0f}, {2})}});
  auto [u, s] = tx.update(Tree::dict({{"x", array({4.0f, -2.0f}, {2})}}), tx.init(p), p);
  std::vector<float> got = host(u["x"]);
  // (Within float32's rounding of 1 - 0.9 and of the bias correction: a few parts in 1e6.)
  EXPECT_NEAR(got[0], -0.5, 1e-5);
  EXPECT_NEAR(got[1], 0.5, 1e-5);
}

TEST(OptimAdam, CountSaturatesAtInt32Max) {
  auto tx = optim::scale_by_adam();
  Tree p = Tree::dict({{"x", array({1.0f}, {1})}});
  Tree s = tx.init(p);
  s["count"] = scalar(std::numeric_limits<int32_t>::max(), int32);
  auto [u, s1] = tx.update(Tree::dict({{"x", array({2.0f}, {1})}}), s, p);
  expect_count(s1["count"], std::numeric_limits<int32_t>::max(), "saturated count");
  // 1 - b**huge is 1: no bias correction. mu = 0.2, nu = 0.004, u = 0.2 / sqrt(0.004).
  EXPECT_NEAR(host(u["x"])[0], 0.2 / std::sqrt(0.004), 1e-5);
}

TEST(OptimAdam, ScheduleLearningRateKeepsItsOwnCount) {
  // lr(count) = 0.1 * (count + 1): the schedule sees the count before the step.
  optim::Schedule lr = [](const Array& count) { return mul(0.1, astype(add(count, 1), float32)); };
  auto tx = optim::adam(lr);
  Tree p = Tree::dict({{"x", array({1.0f}, {1})}});
  Tree s = tx.init(p);
  EXPECT_EQ(keys(s["1"]), (Keys{"count"}));
  expect_count(s["1"]["count"], 0, "schedule count");
  Tree g = Tree::dict({{"x", array({3.0f}, {1})}});
  auto [u1, s1] = tx.update(g, s, p);
  auto [u2, s2] = tx.update(g, s1, p);
  expect_count(s2["1"]["count"], 2, "schedule count after two steps");
  expect_count(s2["0"]["count"], 2, "adam count after two steps");
  // A constant gradient makes Adam's direction exactly ±1 (up to eps), so u = -lr(count).
  EXPECT_NEAR(host(u1["x"])[0], -0.1, 1e-5);
  EXPECT_NEAR(host(u2["x"])[0], -0.2, 2e-5);
}

// ---- adamw ----

TEST(OptimAdamW, StateTreeUnmaskedAndMasked) {
  Tree p = params0();
  Tree s = optim::adamw(1e-3).init(p);
  EXPECT_EQ(keys(s), (Keys{"0", "1", "2"}));
  EXPECT_EQ(keys(s["0"]), (Keys{"count", "mu", "nu"}));
  expect_empty_dict(s["1"], "add_decayed_weights");
  expect_empty_dict(s["2"], "lr");

  auto mask = [](const Tree&) {
    return Tree::dict({{"w", bool_scalar(true)}, {"b", bool_scalar(false)}});
  };
  Tree sm = optim::adamw(1e-3, 0.9, 0.999, 1e-8, 0.0, 1e-2, mask).init(p);
  EXPECT_EQ(keys(sm), (Keys{"0", "1", "2"}));
  EXPECT_EQ(keys(sm["1"]), (Keys{"inner_state"}));  // optax.masked's MaskedState
  expect_empty_dict(sm["1"]["inner_state"], "masked inner state");
}

TEST(OptimAdamW, DecayIsAddedAfterAdamAndBeforeTheLearningRate) {
  const double lr = 1e-2, wd = 0.1;
  Tree p = params0();
  auto mask = [](const Tree&) {
    return Tree::dict({{"w", bool_scalar(true)}, {"b", bool_scalar(false)}});
  };
  for (bool masked : {false, true}) {
    auto tx = masked ? optim::adamw(lr, 0.9, 0.999, 1e-8, 0.0, wd, mask)
                     : optim::adamw(lr, 0.9, 0.999, 1e-8, 0.0, wd);
    auto [u, s] = tx.update(grads(0), tx.init(p), p);
    auto adam_only = optim::scale_by_adam();
    auto [ua, sa] = adam_only.update(grads(0), adam_only.init(p), p);
    for (const char* k : {"w", "b"}) {
      bool decayed = !masked || std::string(k) == "w";
      std::vector<float> a = host(ua[k]), pk = host(p[k]), want(a.size());
      for (size_t i = 0; i < a.size(); ++i)
        want[i] =
            static_cast<float>(-lr) * (decayed ? a[i] + static_cast<float>(wd) * pk[i] : a[i]);
      expect_f32_eq(u[k], want, std::string(masked ? "masked " : "") + k);
    }
    EXPECT_EQ(keys(s["1"]), masked ? Keys{"inner_state"} : Keys{});
  }
}

TEST(OptimAdamW, MaskMayBeAPrefixOfTheParams) {
  Tree p = Tree::dict({{"Dense_0", Tree::dict({{"kernel", array({1.0f, 2.0f}, {2})},
                                               {"bias", array({3.0f}, {1})}})},
                       {"Dense_1", Tree::dict({{"kernel", array({4.0f}, {1})}})}});
  auto tx = optim::add_decayed_weights(0.5, [](const Tree&) {
    return Tree::dict({{"Dense_0", bool_scalar(false)}, {"Dense_1", bool_scalar(true)}});
  });
  Tree zero = tree_map([](const Array& x) { return zeros_like(x); }, p);
  auto [u, s] = tx.update(zero, tx.init(p), p);
  expect_f32_eq(u["Dense_0"]["kernel"], {0.0f, 0.0f}, "Dense_0 kernel not decayed");
  expect_f32_eq(u["Dense_0"]["bias"], {0.0f}, "Dense_0 bias not decayed");
  expect_f32_eq(u["Dense_1"]["kernel"], {2.0f}, "Dense_1 kernel decayed");
}

TEST(OptimAdamW, NeedsParams) {
  auto tx = optim::add_decayed_weights(0.1);
  Tree p = params0();
  EXPECT_THROW(tx.update(grads(0), tx.init(p), Tree()), ValueError);
}

// ---- sgd ----

TEST(OptimSgd, StateTrees) {
  Tree p = params0();
  Tree plain = optim::sgd(0.1).init(p);
  EXPECT_EQ(keys(plain), (Keys{"0", "1"}));
  expect_empty_dict(plain["0"], "identity");
  expect_empty_dict(plain["1"], "lr");
  Tree mom = optim::sgd(0.1, 0.9).init(p);
  EXPECT_EQ(keys(mom), (Keys{"0", "1"}));
  EXPECT_EQ(keys(mom["0"]), (Keys{"trace"}));
  expect_zeros_like(mom["0"]["trace"], p, "trace");
  expect_empty_dict(mom["1"], "lr");
}

TEST(OptimSgd, PlainMomentumAndNesterov) {
  const float lr = 0.1f, m = 0.9f;
  Tree p = params0();
  for (int variant = 0; variant < 3; ++variant) {
    auto tx = variant == 0 ? optim::sgd(0.1) : optim::sgd(0.1, 0.9, variant == 2);
    Tree s = tx.init(p);
    std::vector<float> trace(kW0.size(), 0.0f);
    for (int step = 0; step < 3; ++step) {
      auto [u, next] = tx.update(grads(step), s, p);
      s = next;
      std::vector<float> want(kW0.size());
      for (size_t i = 0; i < want.size(); ++i) {
        float g = kGW[step][i];
        // optax.trace: t = g + decay * t; nesterov: g + decay * t_new; then scale(-lr).
        trace[i] = g + m * trace[i];
        float d = variant == 0 ? g : variant == 1 ? trace[i] : g + m * trace[i];
        want[i] = -lr * d;
      }
      expect_f32_eq(u["w"], want,
                    "variant " + std::to_string(variant) + " step " + std::to_string(step));
      if (variant > 0) expect_f32_eq(s["0"]["trace"]["w"], trace, "trace");
    }
  }
}

// ---- rmsprop ----

TEST(OptimRmsprop, StateTreeAndValues) {
  Tree p = params0();
  auto tx = optim::rmsprop(0.01, 0.9, 1e-8, 0.5);
  Tree s = tx.init(p);
  EXPECT_EQ(keys(s), (Keys{"0", "1", "2"}));
  EXPECT_EQ(keys(s["0"]), (Keys{"nu"}));
  for (float x : host(s["0"]["nu"]["w"])) EXPECT_EQ(x, 0.5f);  // initial_scale
  expect_empty_dict(s["1"], "lr");
  expect_empty_dict(s["2"], "identity (no momentum)");
  Tree sm = optim::rmsprop(0.01, 0.9, 1e-8, 0.0, 0.8).init(p);
  EXPECT_EQ(keys(sm["2"]), (Keys{"trace"}));

  std::vector<float> nu(kW0.size(), 0.5f), tr(kW0.size(), 0.0f);
  auto txm = optim::rmsprop(0.01, 0.9, 1e-8, 0.5, 0.8);
  Tree st = txm.init(p);
  for (int step = 0; step < 2; ++step) {
    auto [u, next] = txm.update(grads(step), st, p);
    st = next;
    std::vector<float> want(kW0.size());
    for (size_t i = 0; i < want.size(); ++i) {
      float g = kGW[step][i];
      nu[i] = static_cast<float>(1.0 - 0.9) * (g * g) + 0.9f * nu[i];
      float scaled = -0.01f * ((1.0f / std::sqrt(nu[i] + 1e-8f)) * g);
      tr[i] = scaled + 0.8f * tr[i];  // the momentum trace comes after the learning rate
      want[i] = tr[i];
    }
    std::vector<float> got = host(u["w"]);
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-6 * std::fabs(want[i]) + 1e-9);
    expect_f32_eq(st["0"]["nu"]["w"], nu, "nu");
  }
}

// ---- clipping, global norm, apply_updates ----

TEST(OptimClip, ClipsOnlyAboveTheMaxNorm) {
  Tree g = Tree::dict({{"a", array({3.0f, 0.0f}, {2})}, {"b", array({4.0f}, {1})}});  // norm 5
  auto big = optim::clip_by_global_norm(10.0);
  expect_empty_dict(big.init(g), "clip state");
  auto [same, s] = big.update(g, big.init(g), Tree());
  EXPECT_TRUE(same.equals(g));
  auto small = optim::clip_by_global_norm(2.5);
  auto [clipped, s2] = small.update(g, small.init(g), Tree());
  expect_f32_eq(clipped["a"], {(3.0f / 5.0f) * 2.5f, 0.0f}, "a");
  expect_f32_eq(clipped["b"], {(4.0f / 5.0f) * 2.5f}, "b");
  expect_empty_dict(s2, "clip state after update");

  Tree cs = optim::chain({optim::clip_by_global_norm(1.0), optim::adam(1e-3)}).init(g);
  EXPECT_EQ(keys(cs), (Keys{"0", "1"}));
  expect_empty_dict(cs["0"], "clip");
  EXPECT_EQ(keys(cs["1"]), (Keys{"0", "1"}));  // a chain inside a chain nests
  EXPECT_EQ(keys(cs["1"]["0"]), (Keys{"count", "mu", "nu"}));
}

TEST(OptimGlobalNorm, SqrtOfSumOfSquares) {
  Array n = optim::global_norm(params0());
  EXPECT_EQ(n.dtype(), float32);
  EXPECT_EQ(n.shape(), Shape{});
  double ss = 0;
  for (float x : kW0) ss += double(x) * x;
  for (float x : kB0) ss += double(x) * x;
  EXPECT_NEAR(n.item<float>(), std::sqrt(ss), 1e-5);
  EXPECT_EQ(optim::global_norm(Tree::dict()).item<float>(), 0.0f);
}

TEST(OptimApplyUpdates, AddsAndCastsToTheParamsDtype) {
  Tree p =
      Tree::dict({{"h", astype(array({1.0f, 2.0f}, {2}), bfloat16)}, {"f", array({1.0f}, {1})}});
  Tree u = Tree::dict({{"h", array({0.5f, 0.25f}, {2})}, {"f", array({-0.5f}, {1})}});
  Tree out = optim::apply_updates(p, u);
  EXPECT_EQ(out["h"].leaf().dtype(), bfloat16);
  EXPECT_EQ(out["h"].leaf().to_vector<float>(), (std::vector<float>{1.5f, 2.25f}));
  expect_f32_eq(out["f"], {0.5f}, "f");
}

TEST(OptimChain, StateSizeMustMatch) {
  auto tx = optim::chain({optim::scale(2.0), optim::scale(3.0)});
  Tree p = params0();
  Tree s = tx.init(p);
  EXPECT_EQ(keys(s), (Keys{"0", "1"}));
  auto [u, s1] = tx.update(grads(0), s, p);
  std::vector<float> want;
  for (float g : kGW[0]) want.push_back(3.0f * (2.0f * g));
  expect_f32_eq(u["w"], want, "scaled twice");
  EXPECT_THROW(tx.update(grads(0), Tree::dict({{"0", Tree::dict()}}), p), ValueError);
}

// ---- eager and jit agree, bit for bit ----

struct Case {
  std::string name;
  GradientTransformation tx;
};

std::vector<Case> all_optimizers() {
  auto concrete_mask = [](const Tree&) {
    return Tree::dict({{"w", bool_scalar(true)}, {"b", bool_scalar(false)}});
  };
  // A mask computed with ops: a tracer inside jit, so the masked path selects with where().
  auto op_mask = [](const Tree& u) {
    return Tree::dict({{"w", greater(scalar(u["w"].leaf().ndim()), 1.0)},
                       {"b", greater(scalar(u["b"].leaf().ndim()), 1.0)}});
  };
  optim::Schedule lr = optim::warmup_cosine_decay_schedule(0.0, 0.1, 2, 10);
  return {
      {"adam", optim::adam(1e-3)},
      {"adam(schedule)", optim::adam(lr)},
      {"adamw", optim::adamw(1e-3, 0.9, 0.999, 1e-8, 0.0, 0.05)},
      {"adamw(concrete mask)", optim::adamw(1e-3, 0.9, 0.999, 1e-8, 0.0, 0.05, concrete_mask)},
      {"adamw(op mask)", optim::adamw(1e-3, 0.9, 0.999, 1e-8, 0.0, 0.05, op_mask)},
      {"sgd", optim::sgd(0.1)},
      {"sgd(momentum)", optim::sgd(0.1, 0.9)},
      {"sgd(nesterov)", optim::sgd(lr, 0.9, true)},
      {"rmsprop", optim::rmsprop(0.01)},
      {"rmsprop(momentum)", optim::rmsprop(0.01, 0.9, 1e-8, 0.1, 0.5, true)},
      {"clip+adam", optim::chain({optim::clip_by_global_norm(1.0), optim::adam(1e-2)})},
      {"scale_by_schedule", optim::scale_by_schedule(optim::exponential_decay(1.0, 2, 0.5))},
  };
}

TEST(OptimJit, EveryOptimizerGivesTheSameBitsEagerlyAndJitted) {
  for (const Case& c : all_optimizers()) {
    GradientTransformation tx = c.tx;
    auto step = jit([tx](const Tree& g, const Tree& s, const Tree& p) {
      auto [u, next] = tx.update(g, s, p);
      return std::make_pair(optim::apply_updates(p, u), next);
    });
    Tree pe = params0(), pj = params0();
    Tree se = tx.init(pe), sj = tx.init(pj);
    for (int i = 0; i < 3; ++i) {
      auto [u, next] = tx.update(grads(i), se, pe);
      pe = optim::apply_updates(pe, u);
      se = next;
      std::tie(pj, sj) = step(grads(i), sj, pj);
      std::string at = c.name + " step " + std::to_string(i);
      expect_same_bits(pe, pj, at + " params");
      expect_same_bits(se, sj, at + " state");
    }
    EXPECT_EQ(step.cache_size(), 1u) << c.name << ": one trace for every step";
  }
}

TEST(OptimJit, MaskedResultsAgreeWhateverTheMaskIsMadeOf) {
  auto concrete = [](const Tree&) {
    return Tree::dict({{"w", bool_scalar(true)}, {"b", bool_scalar(false)}});
  };
  auto computed = [](const Tree& u) {
    return Tree::dict({{"w", greater(scalar(u["w"].leaf().ndim()), 1.0)},
                       {"b", greater(scalar(u["b"].leaf().ndim()), 1.0)}});
  };
  Tree p = params0();
  auto a = optim::add_decayed_weights(0.3, concrete);
  auto b = optim::add_decayed_weights(0.3, computed);
  auto [ua, sa] = a.update(grads(1), a.init(p), p);
  auto [ub, sb] = b.update(grads(1), b.init(p), p);
  expect_same_bits(ua, ub, "masked updates");
}

TEST(OptimJit, ChainStateWithTenOrMoreEntriesSurvivesSortedKeys) {
  // A jitted state comes back with sorted keys ("0", "1", "10", "2", ...); chain finds them by
  // name.
  std::vector<GradientTransformation> ts;
  for (int i = 0; i < 11; ++i) ts.push_back(i == 4 ? optim::trace(0.5) : optim::scale(1.0));
  auto tx = optim::chain(ts);
  Tree p = params0();
  auto step = jit([tx](const Tree& g, const Tree& s, const Tree& p) { return tx.update(g, s, p); });
  auto [u1, s1] = step(grads(0), tx.init(p), p);
  EXPECT_EQ(keys(s1)[2], "10");
  auto [u2, s2] = tx.update(grads(1), s1, p);
  std::vector<float> want;
  for (size_t i = 0; i < kW0.size(); ++i) want.push_back(kGW[1][i] + 0.5f * kGW[0][i]);
  expect_f32_eq(u2["w"], want, "trace through an 11-entry chain");
}

}  // namespace
}  // namespace kiln
