// nn::Scope against Flax: names, creation order, rng derivation, apply-time checks, jit.
//
// Published values pinned here were printed by Flax itself, in the "Randomness and PRNGs in Flax"
// guide (google/flax docs/guides/flax_fundamentals/rng_guide.ipynb, run with
// jax_threefry_partitionable=True, the JAX default since 0.5):
//  - the keys of make_rng at the root and in RNGSubModule_0, RNGSubModule_0/RNGSubSubModule_0 and
//    RNGSubModule_1 (key(0)), and at the root with key(1): integers, pinned exactly;
//  - its `Model` init: Dense_0's and Dense_1's kernels and Dense_1's bias (kernel_init and
//  bias_init
//    jax.random.normal), a root param and a root make_rng, with {'params': key(0)}; and the first
//    key of an 'other' stream seeded with key(1). The keys behind them are exact (the tests above);
//    the floats were drawn with XLA's own erf_inv, so they are pinned to 2e-6 relative: 16 of the
//    18 equal the printed values exactly, Dense_1's kernel[0, 0] differs by 7.6e-7 relative (20 ulp
//    at 0.003) and model_variable2[1, 0] by 2.4e-7 — the last bits of kiln's erf_inv polynomial
//    against XLA's (kiln's normal is bit-exact with JAX's formula on its own erf_inv,
//    tests/random).
// The SHA-1 data for each suffix below was computed independently with Python's hashlib, the way
// flax.core.scope._fold_in_static computes it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kiln/jit.hpp"
#include "kiln/nn.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"
#include "nn/fold_in_static.hpp"

namespace kiln {
namespace {

using nn::Dense;
using nn::Scope;
namespace init = nn::initializers;

std::vector<std::string> keys(const Tree& t) {
  std::vector<std::string> out;
  for (const auto& [k, v] : t.items()) out.push_back(k);
  return out;
}

std::vector<uint32_t> key_of(const Array& k) {
  return k.to_vector<uint32_t>();
}

std::string hex(const std::array<uint8_t, 20>& d) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

void expect_close(const Array& got, const std::vector<float>& want, const char* what) {
  auto v = got.to_vector<float>();
  ASSERT_EQ(v.size(), want.size()) << what;
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_NEAR(v[i], want[i], 2e-6f * std::fabs(want[i])) << what << " " << i;
}

// ---- the modules of the tests ----

// The tutorial's model: 4 -> 8 -> relu -> 1, every parameter 0.01.
struct SimpleMLP : nn::Module<SimpleMLP> {
  int features = 8;
  Array operator()(Scope& s, Array x) const {
    auto c = init::constant(0.01f);
    x = Dense({.features = features, .kernel_init = c, .bias_init = c})(s, x);
    x = relu(x);
    return Dense({.features = 1, .kernel_init = c, .bias_init = c})(s, x);
  }
};

// Default initializers (lecun_normal kernels, zero biases).
struct TwoDense : nn::Module<TwoDense> {
  Array operator()(Scope& s, Array x) const {
    x = Dense({.features = 8})(s, x);
    return Dense({.features = 1})(s, relu(x));
  }
};

struct MLPBlock : nn::Module<MLPBlock> {
  int features = 8;
  Array operator()(Scope& s, Array x) const {
    x = Dense({.features = features})(s, x);
    return Dense({.features = features})(s, relu(x));
  }
};

// Submodules of two classes, an explicit name, and a parameter of the root's own after them.
struct Net : nn::Module<Net> {
  Array operator()(Scope& s, Array x) const {
    x = Dense({.features = 8})(s, x);
    x = MLPBlock{}(s.child("MLPBlock"), x);
    x = MLPBlock{}(s.child("MLPBlock"), x);
    x = Dense({.features = 3, .name = "head"})(s, x);
    x = Dense({.features = 2})(s, x);
    return x * s.param("scale", init::ones(), {2});
  }
};

// ---- (a) names, shapes, order ----

TEST(NnScope, TwoDenseMlpInitNamesShapesAndOrder) {
  Tree v = TwoDense{}.init(random::key(0), ones({1, 4}));
  ASSERT_EQ(keys(v), (std::vector<std::string>{"params"}));
  const Tree& p = v["params"];
  ASSERT_EQ(keys(p), (std::vector<std::string>{"Dense_0", "Dense_1"}));
  EXPECT_EQ(keys(p["Dense_0"]), (std::vector<std::string>{"kernel", "bias"}));
  EXPECT_EQ(keys(p["Dense_1"]), (std::vector<std::string>{"kernel", "bias"}));
  EXPECT_EQ(p["Dense_0"]["kernel"].leaf().shape(), (Shape{4, 8}));
  EXPECT_EQ(p["Dense_0"]["bias"].leaf().shape(), (Shape{8}));
  EXPECT_EQ(p["Dense_1"]["kernel"].leaf().shape(), (Shape{8, 1}));
  EXPECT_EQ(p["Dense_1"]["bias"].leaf().shape(), (Shape{1}));
  for (const Array& a : leaves(v)) EXPECT_EQ(a.dtype(), float32);
  EXPECT_EQ(
      v.str(),
      TwoDense{}.init(random::key(1), ones({1, 4})).str());  // structure does not depend on the key
}

TEST(NnScope, NestedModulesNestAndCountPerClass) {
  Tree v = Net{}.init(random::key(0), ones({2, 4}));
  const Tree& p = v["params"];
  ASSERT_EQ(keys(p), (std::vector<std::string>{"Dense_0", "MLPBlock_0", "MLPBlock_1", "head",
                                               "Dense_1", "scale"}));
  EXPECT_EQ(keys(p["MLPBlock_0"]), (std::vector<std::string>{"Dense_0", "Dense_1"}));
  EXPECT_EQ(keys(p["MLPBlock_1"]), (std::vector<std::string>{"Dense_0", "Dense_1"}));
  EXPECT_EQ(keys(p["MLPBlock_0"]["Dense_1"]), (std::vector<std::string>{"kernel", "bias"}));
  EXPECT_EQ(p["MLPBlock_0"]["Dense_0"]["kernel"].leaf().shape(), (Shape{8, 8}));
  EXPECT_EQ(p["head"]["kernel"].leaf().shape(), (Shape{8, 3}));
  EXPECT_EQ(p["Dense_1"]["kernel"].leaf().shape(), (Shape{3, 2}));  // "head" did not use up Dense_1
  EXPECT_EQ(p["scale"].leaf().shape(), (Shape{2}));
  // Apply reads back what init made.
  Array y = Net{}.apply(v, ones({2, 4}));
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
}

TEST(ScopeNames, PathsAutoNamesAndExplicitNames) {
  Scope s = Scope::for_init(random::key(0));
  EXPECT_TRUE(s.is_initializing());
  EXPECT_EQ(s.path(), "");
  Scope& a = s.child("Dense");
  Scope& b = s.child("Conv");
  Scope& c = s.child("Dense", "encoder");
  Scope& d = s.child("Dense");
  EXPECT_EQ(a.path(), "Dense_0");
  EXPECT_EQ(b.path(), "Conv_0");
  EXPECT_EQ(c.path(), "encoder");
  EXPECT_EQ(d.path(), "Dense_1");
  EXPECT_EQ(c.child("Dense").path(), "encoder/Dense_0");
  EXPECT_THROW(s.child("Dense", "encoder"), ValueError);  // Flax: duplicate use of a scope name
  EXPECT_THROW(s.child("X", "a/b"), ValueError);
  EXPECT_THROW(s.child("X", ""), ValueError);
  // An explicit name taking an auto name's place is a clash too, as in Flax.
  (void)s.child("Pool", "Pool_0");
  EXPECT_THROW(s.child("Pool"), ValueError);
  // A parameter and a submodule share the scope's names.
  (void)s.param("w", init::zeros(), {1});
  EXPECT_THROW(s.param("w", init::zeros(), {1}), ValueError);
  EXPECT_THROW(s.child("X", "w"), ValueError);
  EXPECT_EQ(Scope::for_apply(Tree::dict()).is_initializing(), false);
}

TEST(ScopeNames, SubmodulesWithoutParametersLeaveNoEntry) {
  Scope s = Scope::for_init(random::key(0));
  (void)s.child("Empty");
  Scope& c = s.child("Dense");
  (void)c.child("Inner");
  (void)c.param("kernel", init::ones(), {2, 2});
  EXPECT_EQ(keys(s.variables()["params"]), (std::vector<std::string>{"Dense_0"}));
  EXPECT_EQ(keys(s.variables()["params"]["Dense_0"]), (std::vector<std::string>{"kernel"}));
  // Nothing created at all: {} as Flax returns.
  EXPECT_EQ(Scope::for_init(random::key(0)).variables().size(), 0u);
}

TEST(ScopeNames, InitRejectsANonKey) {
  EXPECT_THROW(Scope::for_init(ones({2})), ValueError);
  EXPECT_THROW(Scope::for_init(random::split(random::key(0), 2)), ValueError);
  EXPECT_THROW(Scope::for_init(Array()), ValueError);
}

// ---- (b) constant initialisation and the tutorial model's output ----

TEST(NnScope, TutorialSimpleMlpConstantInitAndApply) {
  Tree v = SimpleMLP{}.init(random::key(0), ones({1, 4}));
  for (const Array& a : leaves(v))
    for (float e : a.to_vector<float>()) EXPECT_EQ(e, 0.01f);
  // Hidden unit: 4 · 0.01 + 0.01 = 0.05 (relu keeps it); output: 8 · 0.05 · 0.01 + 0.01 = 0.014.
  Array y = SimpleMLP{}.apply(v, ones({1, 4}));
  EXPECT_EQ(y.shape(), (Shape{1, 1}));
  EXPECT_FLOAT_EQ(y.item<float>(), 0.014f);
  // A batch: every row the same.
  Array yb = SimpleMLP{}.apply(v, ones({3, 4}));
  EXPECT_EQ(yb.shape(), (Shape{3, 1}));
  for (float e : yb.to_vector<float>()) EXPECT_FLOAT_EQ(e, 0.014f);
  // x = [[1, 2, 3, 4]]: hidden 0.01 · 10 + 0.01 = 0.11; output 8 · 0.11 · 0.01 + 0.01 = 0.0188.
  EXPECT_FLOAT_EQ(SimpleMLP{}.apply(v, array({1, 2, 3, 4}, {1, 4})).item<float>(), 0.0188f);
}

// ---- (c) rng derivation ----

TEST(ScopeRng, Sha1KnownAnswers) {
  EXPECT_EQ(hex(nn::detail::sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(nn::detail::sha1("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex(nn::detail::sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

TEST(ScopeRng, SuffixBytesAsFlaxEncodesThem) {
  std::vector<std::string> d0{"Dense_0"};
  EXPECT_EQ(nn::detail::static_fold_bytes(d0, 1), std::string("Dense_0\x01", 8));
  EXPECT_EQ(nn::detail::static_fold_bytes(d0, 255), std::string("Dense_0\xff", 8));
  EXPECT_EQ(nn::detail::static_fold_bytes(d0, 256), std::string("Dense_0\x01\x00", 9));
  EXPECT_EQ(nn::detail::static_fold_bytes(d0, 0), "Dense_0");  // (0).to_bytes(0, 'big') == b''
  std::vector<std::string> nested{"MLPBlock_0", "Dense_0"};
  EXPECT_EQ(nn::detail::static_fold_bytes(nested, 2), std::string("MLPBlock_0Dense_0\x02", 18));
  EXPECT_EQ(hex(nn::detail::sha1(std::string("Dense_0\x01", 8))),
            "b2b713153c0c59ea0aa21ceffac1084ea6438d1f");
  // int.from_bytes(sha1(data).digest()[:4], 'big'), from Python's hashlib:
  EXPECT_EQ(nn::detail::static_fold_data(d0, 1), 2998342421u);
  EXPECT_EQ(nn::detail::static_fold_data(d0, 2), 2299943050u);
  EXPECT_EQ(nn::detail::static_fold_data(std::vector<std::string>{"Dense_1"}, 1), 111800540u);
  EXPECT_EQ(nn::detail::static_fold_data(std::vector<std::string>{"Dense_1"}, 2), 3340417016u);
  EXPECT_EQ(nn::detail::static_fold_data(nested, 1), 2833497676u);
  EXPECT_EQ(nn::detail::static_fold_data(std::vector<std::string>{}, 1), 3213575472u);
  EXPECT_EQ(nn::detail::static_fold_data(d0, 256), 4109995545u);
}

TEST(ScopeRng, DefaultDenseKernelIsLecunNormalOnTheFlaxKey) {
  const Array key = random::key(0);
  Tree v = TwoDense{}.init(key, ones({1, 4}));
  // lecun_normal: truncated_normal(fold_in(key, data), -2, 2) · sqrt(1 / fan_in) / 0.8796…, in
  // float32.
  auto expected_kernel = [&](uint32_t data, int64_t in, int64_t out) {
    const float stddev =
        std::sqrt(static_cast<float>(1.0 / static_cast<double>(in))) / 0.87962566103423978f;
    return (random::truncated_normal(random::fold_in(key, data), -2.0, 2.0, {in, out}) *
            double{stddev})
        .to_vector<float>();
  };
  EXPECT_EQ(v["params"]["Dense_0"]["kernel"].leaf().to_vector<float>(),
            expected_kernel(2998342421u, 4, 8));
  EXPECT_EQ(v["params"]["Dense_1"]["kernel"].leaf().to_vector<float>(),
            expected_kernel(111800540u, 8, 1));
  for (const char* d : {"Dense_0", "Dense_1"})
    for (float b : v["params"][d]["bias"].leaf().to_vector<float>()) EXPECT_EQ(b, 0.0f);
  // Inside a block: suffix ("MLPBlock_0", "Dense_0", 1).
  Tree n = Net{}.init(key, ones({2, 4}));
  EXPECT_EQ(n["params"]["MLPBlock_0"]["Dense_0"]["kernel"].leaf().to_vector<float>(),
            expected_kernel(2833497676u, 8, 8));
  // The bias is drawn with count 2: ("Dense_0", 2).
  auto normal_init = [](const Array& k, const Shape& shape, DType dtype) {
    return random::normal(k, shape, dtype);
  };
  Scope s = Scope::for_init(key);
  (void)Dense({.features = 3, .kernel_init = normal_init, .bias_init = normal_init})(s,
                                                                                     ones({1, 2}));
  EXPECT_EQ(s.variables()["params"]["Dense_0"]["bias"].leaf().to_vector<float>(),
            random::normal(random::fold_in(key, 2299943050u), {3}).to_vector<float>());
}

TEST(ScopeRng, MakeRngMatchesFlaxRngGuide) {
  // RNGModule with {'rng_stream': key(0)}: an rng stream that is not given falls back to the
  // 'params' key and its counter, so the same keys come out of a 'params'-only scope.
  Scope s = Scope::for_init(random::key(0));
  EXPECT_EQ(key_of(s.make_rng("rng_stream")), (std::vector<uint32_t>{1428664606u, 3351135085u}));
  EXPECT_EQ(key_of(s.make_rng("rng_stream")), (std::vector<uint32_t>{3456700291u, 3873160899u}));
  EXPECT_EQ(key_of(s.make_rng()), (std::vector<uint32_t>{2411773124u, 4124888837u}));
  Scope& sub0 = s.child("RNGSubModule");
  EXPECT_EQ(key_of(sub0.make_rng("rng_stream")), (std::vector<uint32_t>{3858825717u, 2323087578u}));
  EXPECT_EQ(key_of(sub0.make_rng("rng_stream")), (std::vector<uint32_t>{601859108u, 3782857444u}));
  Scope& subsub = sub0.child("RNGSubSubModule");
  EXPECT_EQ(key_of(subsub.make_rng("rng_stream")),
            (std::vector<uint32_t>{234240654u, 1028548813u}));
  EXPECT_EQ(key_of(subsub.make_rng("rng_stream")),
            (std::vector<uint32_t>{3650462303u, 2124609379u}));
  Scope& sub1 = s.child("RNGSubModule");
  EXPECT_EQ(key_of(sub1.make_rng("rng_stream")), (std::vector<uint32_t>{426957352u, 2006350344u}));
  EXPECT_EQ(key_of(sub1.make_rng("rng_stream")), (std::vector<uint32_t>{4006253729u, 4205356731u}));

  Scope s1 = Scope::for_init(random::key(1));
  EXPECT_EQ(key_of(s1.make_rng("rng_stream")), (std::vector<uint32_t>{3077990774u, 2166202870u}));
  EXPECT_EQ(key_of(s1.make_rng("rng_stream")), (std::vector<uint32_t>{3825832496u, 2886313970u}));
  EXPECT_EQ(key_of(s1.make_rng("rng_stream")), (std::vector<uint32_t>{791337683u, 1373966058u}));
}

// The rng guide's `Model`: Dense(2, kernel_init=normal, use_bias=False), a root param, a root
// make_rng('params'), then Dense(2, kernel_init=normal, bias_init=normal), on ones((2, 2)).
struct RngGuideModel : nn::Module<RngGuideModel> {
  Array* root_draw = nullptr;  // model_variable1's value (kiln's Scope has no other collections)
  Array operator()(Scope& s, Array x) const {
    auto normal_init = [](const Array& k, const Shape& shape, DType dtype) {
      return random::normal(k, shape, dtype);
    };
    x = Dense({.features = 2, .use_bias = false, .kernel_init = normal_init})(s, x);
    Array model_param = s.param("model_param", normal_init, x.shape());
    if (s.is_initializing() && root_draw)
      *root_draw = random::normal(s.make_rng("params"), x.shape());
    return Dense({.features = 2, .kernel_init = normal_init, .bias_init = normal_init})(
        s, x + model_param);
  }
};

TEST(ScopeRng, FlaxRngGuideModelInitValues) {
  Array draw;
  RngGuideModel model;
  model.root_draw = &draw;
  Tree v = model.init(random::key(0), ones({2, 2}));
  const Tree& p = v["params"];
  ASSERT_EQ(keys(p), (std::vector<std::string>{"Dense_0", "model_param", "Dense_1"}));
  EXPECT_EQ(keys(p["Dense_0"]), (std::vector<std::string>{"kernel"}));
  expect_close(p["Dense_0"]["kernel"].leaf(), {-1.6185919f, 0.700908f, -1.3146383f, -0.79342234f},
               "Dense_0/kernel");
  expect_close(p["model_param"].leaf(), {0.0761425f, -1.6157459f, -1.6857724f, 0.7126891f},
               "model_param");
  expect_close(draw, {0.60175574f, 0.2553228f, 0.27367848f, -2.1975214f}, "model_variable1");
  expect_close(p["Dense_1"]["kernel"].leaf(), {0.0030665f, 0.29551846f, 0.16670242f, -0.78252524f},
               "Dense_1/kernel");
  expect_close(p["Dense_1"]["bias"].leaf(), {1.582462f, 0.15216611f}, "Dense_1/bias");
  // model_variable2: make_rng('other') with 'other' seeded by key(1), the root's first 'other'
  // draw.
  Scope other = Scope::for_init(random::key(1));
  expect_close(random::normal(other.make_rng("other"), {2, 2}),
               {1.6249592f, 0.30813068f, 1.6613585f, 1.0404155f}, "model_variable2");
}

TEST(ScopeRng, CountersArePerScope) {
  // A parent's draws do not move a child's counter, and the other way round.
  Scope a = Scope::for_init(random::key(7));
  Scope b = Scope::for_init(random::key(7));
  (void)a.make_rng();
  (void)a.make_rng();
  Array ca = a.child("M").make_rng();
  Array cb = b.child("M").make_rng();
  EXPECT_EQ(key_of(ca), key_of(cb));
  EXPECT_EQ(key_of(ca),
            key_of(random::fold_in(
                random::key(7), nn::detail::static_fold_data(std::vector<std::string>{"M_0"}, 1))));
  EXPECT_THROW(Scope::for_apply(Tree::dict()).make_rng("dropout"), ValueError);
}

// ---- (e) apply-time errors name the parameter and the user's line ----

int g_dense1_line = 0;

struct TwoDenseMarked : nn::Module<TwoDenseMarked> {
  int64_t hidden = 8;
  Array operator()(Scope& s, Array x) const {
    x = Dense({.features = hidden})(s, x);
    g_dense1_line = __LINE__ + 1;
    return Dense({.features = 1})(s, relu(x));
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ScopeApply, MissingParameterNamesThePathAndTheLine) {
  Tree v = TwoDenseMarked{}.init(random::key(0), ones({1, 4}));
  Tree broken = v;
  std::erase_if(broken["params"].items(), [](const auto& kv) { return kv.first == "Dense_1"; });
  EXPECT_THROW(TwoDenseMarked{}.apply(broken, ones({1, 4})), ValueError);
  std::string msg = error_of([&] { TwoDenseMarked{}.apply(broken, ones({1, 4})); });
  EXPECT_NE(msg.find("params/Dense_1/kernel"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scope_test.cpp:" + std::to_string(g_dense1_line)), std::string::npos) << msg;
  EXPECT_NE(msg.find("Dense_0"), std::string::npos) << msg;  // the keys that are there

  Tree no_bias = v;
  std::erase_if(no_bias["params"]["Dense_0"].items(),
                [](const auto& kv) { return kv.first == "bias"; });
  msg = error_of([&] { TwoDenseMarked{}.apply(no_bias, ones({1, 4})); });
  EXPECT_NE(msg.find("params/Dense_0/bias"), std::string::npos) << msg;
}

TEST(ScopeApply, WrongShapeOrDtypeNamesExpectedAndFound) {
  Tree v = TwoDenseMarked{}.init(random::key(0), ones({1, 4}));
  // A model built with another hidden size: Dense_1's kernel is (9, 1), the variables hold (8, 1).
  // Dense_0 is checked first: its kernel is (4, 9) in the module.
  TwoDenseMarked wider;
  wider.hidden = 9;
  EXPECT_THROW(wider.apply(v, ones({1, 4})), ShapeError);
  std::string msg = error_of([&] { wider.apply(v, ones({1, 4})); });
  EXPECT_NE(msg.find("params/Dense_0/kernel"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[4,9]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[4,8]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scope_test.cpp:"), std::string::npos) << msg;
  // An input of another width: the same kernel check.
  msg = error_of([&] { TwoDenseMarked{}.apply(v, ones({1, 5})); });
  EXPECT_NE(msg.find("f32[5,8]"), std::string::npos) << msg;

  Tree wrong_dtype = v;
  wrong_dtype["params"]["Dense_1"]["kernel"] = Tree(zeros({8, 1}, float64));
  EXPECT_THROW(TwoDenseMarked{}.apply(wrong_dtype, ones({1, 4})), DTypeError);
  msg = error_of([&] { TwoDenseMarked{}.apply(wrong_dtype, ones({1, 4})); });
  EXPECT_NE(msg.find("params/Dense_1/kernel"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f64[8,1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scope_test.cpp:" + std::to_string(g_dense1_line)), std::string::npos) << msg;
}

TEST(ScopeApply, BadlyWrappedVariablesGetAHint) {
  Tree v = TwoDenseMarked{}.init(random::key(0), ones({1, 4}));
  // The params alone, without {"params": ...}.
  std::string msg = error_of([&] { TwoDenseMarked{}.apply(v["params"], ones({1, 4})); });
  EXPECT_NE(msg.find("whole variables tree"), std::string::npos) << msg;
  // Wrapped twice.
  msg = error_of([&] { TwoDenseMarked{}.apply(Tree::dict({{"params", v}}), ones({1, 4})); });
  EXPECT_NE(msg.find("{\"params\": {\"params\""), std::string::npos) << msg;
}

TEST(ScopeApply, InitializerMustReturnWhatItIsAsked) {
  auto bad = [](const Array&, const Shape&, DType) { return zeros({3}); };
  Scope s = Scope::for_init(random::key(0));
  EXPECT_THROW(s.param("w", bad, {2, 2}), ShapeError);
}

// ---- (f) under jit ----

TEST(NnScope, ApplyUnderJitEqualsEager) {
  Tree v = Net{}.init(random::key(3), ones({2, 4}));
  Array x = random::normal(random::key(4), {5, 4});
  auto f = jit([](const Tree& vars, const Array& xs) { return Net{}.apply(vars, xs); });
  Array eager = Net{}.apply(v, x);
  Array jitted = f(v, x);
  ASSERT_EQ(jitted.shape(), eager.shape());
  auto a = eager.to_vector<float>(), b = jitted.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5f * (1 + std::fabs(a[i]))) << i;
  EXPECT_EQ(f(v, x).to_vector<float>(), b);  // the cached executable
  EXPECT_EQ(f.cache_size(), 1u);

  // The tutorial model: exactly 0.014 either way.
  Tree t = SimpleMLP{}.init(random::key(0), ones({1, 4}));
  auto g = jit([](const Tree& vars, const Array& xs) { return SimpleMLP{}.apply(vars, xs); });
  EXPECT_FLOAT_EQ(g(t, ones({1, 4})).item<float>(), 0.014f);
}

TEST(NnScope, InitUnderJitEqualsEager) {
  auto f = jit([](const Array& key, const Array& x) { return Net{}.init(key, x); });
  Tree eager = Net{}.init(random::key(5), ones({2, 4}));
  Tree jitted = f(random::key(5), ones({2, 4}));
  // jit rebuilds dicts sorted, as JAX does; leaves() visits both in sorted order.
  EXPECT_TRUE(eager.same_structure(jitted));
  auto le = leaves(eager), lj = leaves(jitted);
  ASSERT_EQ(le.size(), lj.size());
  for (size_t i = 0; i < le.size(); ++i) {
    ASSERT_EQ(le[i].shape(), lj[i].shape()) << i;
    EXPECT_EQ(le[i].to_vector<float>(), lj[i].to_vector<float>()) << i;
  }
}

}  // namespace
}  // namespace kiln
