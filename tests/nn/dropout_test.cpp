// nn::Dropout as flax.linen.Dropout: the mask is bernoulli(make_rng("dropout"), 1 - rate) on the
// scope Dropout_<n>, so for the same key it is the mask Flax draws (kiln's bernoulli is bit-exact
// with JAX's, tests/random; the scope's key derivation is pinned in tests/nn/scope_test.cpp).
// The SHA-1 data were computed with Python's hashlib, as flax.core.scope._fold_in_static does.
#include "kiln/nn/dropout.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln {
namespace {

using nn::Dropout;
using nn::Scope;

constexpr uint32_t kDropout0 = 2711844646u;       // sha1("Dropout_0\x01")[:4]
constexpr uint32_t kDropout1 = 3866099105u;       // sha1("Dropout_1\x01")[:4]
constexpr uint32_t kBlockDropout0 = 2836409690u;  // sha1("Block_0Dropout_0\x01")[:4]

Scope training_scope(const Array& key) {
  return Scope::for_apply(Tree::dict(), {.rngs = {{"dropout", key}}});
}

// The expected output: x / keep where the mask is true, else 0, computed on the host.
std::vector<float> expected(const std::vector<float>& x, const std::vector<bool>& mask,
                            double keep) {
  std::vector<float> out(x.size());
  const float k = static_cast<float>(keep);
  for (size_t i = 0; i < x.size(); ++i) out[i] = mask[i] ? x[i] / k : 0.0f;
  return out;
}

TEST(Dropout, MaskIsBernoulliOnTheFlaxKeyOfItsScope) {
  const Array key = random::key(0);
  const Array x = random::normal(random::key(1), {4, 8});
  Scope s = training_scope(key);
  Array y = Dropout({.rate = 0.5})(s, x, false);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_EQ(y.dtype(), float32);
  const auto mask =
      random::bernoulli(random::fold_in(key, kDropout0), 0.5, {4, 8}).to_vector<bool>();
  EXPECT_EQ(y.to_vector<float>(), expected(x.to_vector<float>(), mask, 0.5));
  // Some of each, for this key.
  int kept = 0;
  for (bool m : mask) kept += m;
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 32);

  // A second Dropout is Dropout_1, with its own key; rate 0.1 keeps with p = 0.9.
  Array y1 = Dropout({.rate = 0.1})(s, x, false);
  const auto mask1 =
      random::bernoulli(random::fold_in(key, kDropout1), 0.9, {4, 8}).to_vector<bool>();
  EXPECT_EQ(y1.to_vector<float>(), expected(x.to_vector<float>(), mask1, 0.9));
  // Inside a submodule: ("Block_0", "Dropout_0", 1).
  Scope s2 = training_scope(key);
  Array y2 = Dropout({.rate = 0.5})(s2.child("Block"), x, false);
  const auto mask2 =
      random::bernoulli(random::fold_in(key, kBlockDropout0), 0.5, {4, 8}).to_vector<bool>();
  EXPECT_EQ(y2.to_vector<float>(), expected(x.to_vector<float>(), mask2, 0.5));
}

// A batch split over processes (nn::BatchRows): each share's output is its rows of the whole
// batch's, so the shares put together are the whole batch's result, unevenly split too.
TEST(Dropout, BatchRowsAreThoseRowsOfTheWholeBatch) {
  const Array key = random::key(4);
  const Array x = random::normal(random::key(5), {7, 6});
  Scope whole_scope = training_scope(key);
  const std::vector<float> whole = Dropout({.rate = 0.5})(whole_scope, x, false).to_vector<float>();
  std::vector<float> joined;
  for (auto [start, count] : {std::pair<int64_t, int64_t>{0, 3}, {3, 2}, {5, 2}}) {
    Scope share = Scope::for_apply(
        Tree::dict(), {.rngs = {{"dropout", key}}, .batch_rows = {.start = start, .total = 7}});
    const Array rows = slice(x, {start, 0}, {start + count, 6});
    const std::vector<float> y = Dropout({.rate = 0.5})(share, rows, false).to_vector<float>();
    joined.insert(joined.end(), y.begin(), y.end());
  }
  EXPECT_EQ(joined, whole);
  // Without batch_rows a share draws a mask of its own shape: not the whole batch's rows.
  Scope alone = training_scope(key);
  const std::vector<float> own =
      Dropout({.rate = 0.5})(alone, slice(x, {3, 0}, {5, 6}), false).to_vector<float>();
  EXPECT_NE(own, std::vector<float>(whole.begin() + 18, whole.begin() + 30));
  // Rows outside the batch are an error naming them.
  Scope bad = Scope::for_apply(
      Tree::dict(), {.rngs = {{"dropout", key}}, .batch_rows = {.start = 6, .total = 7}});
  try {
    (void)Dropout({.rate = 0.5})(bad, slice(x, {0, 0}, {2, 6}), false);
    FAIL() << "no error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("batch_rows [6, 8) lie outside a batch of 7 rows"),
              std::string::npos)
        << e.what();
  }
}

TEST(Dropout, KeepsAboutOneMinusRate) {
  Scope s = training_scope(random::key(5));
  Array y = Dropout({.rate = 0.3})(s, ones({200, 500}), false);
  const auto v = y.to_vector<float>();
  size_t kept = 0;
  for (float e : v) {
    if (e != 0.0f) {
      ++kept;
      EXPECT_EQ(e, 1.0f / 0.7f);
    }
  }
  // 100000 Bernoulli(0.7) draws: sd 145; 5 sd either way.
  EXPECT_NEAR(static_cast<double>(kept), 70000.0, 725.0);
}

TEST(Dropout, DeterministicRateZeroAndRateOne) {
  const Array x = random::normal(random::key(1), {3, 4});
  // No rng needed when nothing is drawn.
  Scope s = Scope::for_apply(Tree::dict());
  EXPECT_EQ(Dropout({.rate = 0.5})(s, x, true).to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(Dropout({.rate = 0.5, .deterministic = true})(s, x).to_vector<float>(),
            x.to_vector<float>());
  EXPECT_EQ(Dropout({.rate = 0.0})(s, x, false).to_vector<float>(), x.to_vector<float>());
  Array z = Dropout({.rate = 1.0})(s, x, false);
  EXPECT_EQ(z.to_vector<float>(), std::vector<float>(12, 0.0f));
  EXPECT_EQ(z.shape(), x.shape());
  // ... but a missing rng when something is drawn.
  EXPECT_THROW(Dropout({.rate = 0.5})(s, x, false), ValueError);
}

TEST(Dropout, BroadcastDimsShareTheMask) {
  const Array key = random::key(3);
  const Array x = random::normal(random::key(1), {4, 6});
  Scope s = training_scope(key);
  Array y = Dropout({.rate = 0.5, .broadcast_dims = {-1}})(s, x, false);
  // The mask is drawn with shape (4, 1) and broadcast along the last axis.
  const auto rows =
      random::bernoulli(random::fold_in(key, kDropout0), 0.5, {4, 1}).to_vector<bool>();
  std::vector<bool> mask;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 6; ++c) mask.push_back(rows[r]);
  EXPECT_EQ(y.to_vector<float>(), expected(x.to_vector<float>(), mask, 0.5));
}

TEST(Dropout, ExplicitRngIsUsedInsteadOfTheStream) {
  const Array x = ones({2, 8});
  const Array k = random::key(9);
  Scope s = Scope::for_apply(Tree::dict());  // no streams at all
  Array y = Dropout({.rate = 0.5})(s, x, false, k);
  const auto mask = random::bernoulli(k, 0.5, {2, 8}).to_vector<bool>();
  EXPECT_EQ(y.to_vector<float>(), expected(x.to_vector<float>(), mask, 0.5));
}

TEST(Dropout, GradientIsTheMaskOverKeep) {
  const Array key = random::key(4);
  const Array x = random::normal(random::key(1), {3, 5});
  auto f = [&](const Array& xs) {
    Scope s = training_scope(key);
    return sum(Dropout({.rate = 0.4})(s, xs, false));
  };
  Array g = grad(f)(x);
  const auto mask =
      random::bernoulli(random::fold_in(key, kDropout0), 0.6, {3, 5}).to_vector<bool>();
  const auto gv = g.to_vector<float>();
  for (size_t i = 0; i < gv.size(); ++i) EXPECT_FLOAT_EQ(gv[i], mask[i] ? 1.0f / 0.6f : 0.0f) << i;
}

TEST(Dropout, UnderJitEqualsEagerWithTheKeyAsAnArgument) {
  const Array x = random::normal(random::key(1), {8, 8});
  auto f = [](const Array& xs, const Array& key) {
    Scope s = training_scope(key);
    return Dropout({.rate = 0.5})(s, xs, false);
  };
  auto jf = jit(f);
  for (uint32_t step = 0; step < 3; ++step) {
    const Array k = random::fold_in(random::key(0), step);
    EXPECT_EQ(jf(x, k).to_vector<float>(), f(x, k).to_vector<float>()) << step;
  }
  EXPECT_EQ(jf.cache_size(), 1u);
  // Different keys, different masks.
  EXPECT_NE(jf(x, random::key(1)).to_vector<float>(), jf(x, random::key(2)).to_vector<float>());
}

TEST(Dropout, BadArguments) {
  const Array x = ones({2, 3});
  Scope s = training_scope(random::key(0));
  EXPECT_THROW(Dropout({.rate = 0.5})(s, x), ValueError);  // deterministic nowhere
  EXPECT_THROW(Dropout({.rate = 0.5, .deterministic = false})(s, x, false), ValueError);
  EXPECT_THROW(Dropout({.rate = 1.5})(s, x, false), ValueError);
  EXPECT_THROW(Dropout({.rate = -0.1})(s, x, false), ValueError);
  EXPECT_THROW(Dropout({.rate = 0.5, .broadcast_dims = {2}})(s, x, false), ValueError);
  EXPECT_THROW(Dropout({.rate = 0.5})(s, ones({2, 3}, int32), false), DTypeError);
  try {
    Dropout({.rate = 0.5})(s, x);
    FAIL() << "no error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("dropout_test.cpp:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
