// Mutable collections and apply-time rngs, as Flax's model.init / model.apply(rngs=, mutable=):
// variables of other collections than "params", their names and order, who may write them,
// make_rng streams in init and apply, and a jitted train step with BatchNorm and Dropout checked
// against the same step run eagerly and against a float64 re-computation.
//
// The SHA-1 data below (the uint32 folded into a stream key for a scope path and count) was
// computed with Python's hashlib, as flax.core.scope._fold_in_static computes it.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/nn.hpp"
#include "kiln/nn/dropout.hpp"
#include "kiln/nn/normalization.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln {
namespace {

using nn::BatchNorm;
using nn::Dense;
using nn::Dropout;
using nn::Scope;
namespace init = nn::initializers;

constexpr uint32_t kDropout0Count1 = 2711844646u;  // sha1("Dropout_0\x01")[:4]
constexpr uint32_t kDropout0Count2 = 2178656991u;  // sha1("Dropout_0\x02")[:4]

std::vector<std::string> keys(const Tree& t) {
  std::vector<std::string> out;
  for (const auto& [k, v] : t.items()) out.push_back(k);
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool has(const std::string& msg, const std::string& part) {
  return msg.find(part) != std::string::npos;
}

// Dense -> BatchNorm -> relu -> Dropout -> Dense, Flax's usual `train` flag.
struct Net : nn::Module<Net> {
  Array operator()(Scope& s, Array x, bool train) const {
    x = Dense({.features = 4})(s, x);
    x = BatchNorm({})(s, x, !train);
    x = relu(x);
    x = Dropout({.rate = 0.25})(s, x, !train);
    return Dense({.features = 1})(s, x);
  }
};

// A module with a counter in a collection of its own: reads it, and bumps it when it may.
struct Counter : nn::Module<Counter> {
  Array operator()(Scope& s, const Array& x) const {
    nn::Variable count = s.variable(
        "counter", "count", [](const Shape& sh, DType dt) { return zeros(sh, dt); }, {}, int32);
    if (!s.is_initializing() && s.is_mutable_collection("counter"))
      count.set_value(count.value() + 1);
    return x + astype(count.value(), float32);
  }
};

int g_set_value_line = 0;

// Writes its variable whatever the collection's mutability.
struct AlwaysWrites : nn::Module<AlwaysWrites> {
  Array operator()(Scope& s, const Array& x) const {
    Scope& c = s.child("Stats");
    nn::Variable v =
        c.variable("stats", "sum", [](const Shape& sh, DType dt) { return zeros(sh, dt); }, {2});
    g_set_value_line = __LINE__ + 1;
    v.set_value(v.value() + x);
    return v.value();
  }
};

// ---- names, shapes, order ----

TEST(NnCollections, InitReturnsEveryCollectionWithFlaxNamesAndOrder) {
  Tree v = Net{}.init(random::key(0), ones({3, 5}), false);
  // Dense_0's kernel is the first variable made, BatchNorm_0's mean the first of batch_stats.
  ASSERT_EQ(keys(v), (std::vector<std::string>{"params", "batch_stats"}));
  const Tree& p = v["params"];
  ASSERT_EQ(keys(p), (std::vector<std::string>{"Dense_0", "BatchNorm_0", "Dense_1"}));
  EXPECT_EQ(keys(p["BatchNorm_0"]), (std::vector<std::string>{"scale", "bias"}));
  EXPECT_EQ(keys(v["batch_stats"]), (std::vector<std::string>{"BatchNorm_0"}));
  EXPECT_EQ(keys(v["batch_stats"]["BatchNorm_0"]), (std::vector<std::string>{"mean", "var"}));
  EXPECT_EQ(p["Dense_0"]["kernel"].leaf().shape(), (Shape{5, 4}));
  EXPECT_EQ(p["Dense_1"]["kernel"].leaf().shape(), (Shape{4, 1}));
  for (const char* n : {"scale", "bias"}) EXPECT_EQ(p["BatchNorm_0"][n].leaf().shape(), (Shape{4}));
  const Tree& bs = v["batch_stats"]["BatchNorm_0"];
  EXPECT_EQ(bs["mean"].leaf().to_vector<float>(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(bs["var"].leaf().to_vector<float>(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(p["BatchNorm_0"]["scale"].leaf().to_vector<float>(), std::vector<float>(4, 1.0f));
  EXPECT_EQ(p["BatchNorm_0"]["bias"].leaf().to_vector<float>(), std::vector<float>(4, 0.0f));
  // init in training mode draws a dropout mask from the 'params' fallback and does not touch
  // the running averages (Flax: "not updated during init").
  Tree vt = Net{}.init(random::key(0), ones({3, 5}), true);
  EXPECT_EQ(vt["batch_stats"]["BatchNorm_0"]["mean"].leaf().to_vector<float>(),
            std::vector<float>(4, 0.0f));
  EXPECT_EQ(vt["batch_stats"]["BatchNorm_0"]["var"].leaf().to_vector<float>(),
            std::vector<float>(4, 1.0f));
}

struct BatchNormFirst : nn::Module<BatchNormFirst> {
  Array operator()(Scope& s, Array x) const {
    x = BatchNorm({.use_running_average = true})(s, x);
    return Dense({.features = 2})(s, x);
  }
};

TEST(NnCollections, CollectionsAppearInCreationOrder) {
  // BatchNorm declares its running averages before its scale and bias, as Flax's does.
  Tree v = BatchNormFirst{}.init(random::key(0), ones({2, 3}));
  ASSERT_EQ(keys(v), (std::vector<std::string>{"batch_stats", "params"}));
  EXPECT_EQ(keys(v["params"]), (std::vector<std::string>{"BatchNorm_0", "Dense_0"}));
}

// ---- variables: read, write, mutability ----

TEST(NnCollections, ApplyWithReturnsOnlyTheMutableCollections) {
  Tree v = Counter{}.init(random::key(0), scalar(1.0));
  ASSERT_EQ(keys(v), (std::vector<std::string>{"counter"}));
  EXPECT_EQ(v["counter"]["count"].leaf().item<int32_t>(), 0);
  // Not mutable: read only, and apply gives the output alone.
  EXPECT_EQ(Counter{}.apply(v, scalar(1.0)).item<float>(), 1.0f);
  // Mutable: written, and returned beside the output.
  auto [y, updates] = Counter{}.apply_with({.mutable_collections = {"counter"}}, v, scalar(1.0));
  EXPECT_EQ(y.item<float>(), 2.0f);
  ASSERT_EQ(keys(updates), (std::vector<std::string>{"counter"}));
  EXPECT_EQ(updates["counter"]["count"].leaf().item<int32_t>(), 1);
  // The given tree is not changed.
  EXPECT_EQ(v["counter"]["count"].leaf().item<int32_t>(), 0);
  // Threading the update through: 1, 2, 3.
  Tree state = v;
  for (int i = 1; i <= 3; ++i) {
    auto [out, upd] =
        Counter{}.apply_with({.mutable_collections = {"counter"}}, state, scalar(0.0));
    state = upd;
    EXPECT_EQ(out.item<float>(), float(i));
  }
  // A mutable collection the module does not have is not returned; nothing mutable: {}.
  Tree nv = Net{}.init(random::key(0), ones({2, 5}), false);
  auto [o1, u1] =
      Net{}.apply_with({.mutable_collections = {"intermediates"}}, nv, ones({2, 5}), false);
  EXPECT_EQ(u1.size(), 0u);
  auto [o2, u2] = Net{}.apply_with({}, nv, ones({2, 5}), false);
  EXPECT_EQ(u2.size(), 0u);
  EXPECT_EQ(o1.to_vector<float>(), o2.to_vector<float>());
}

TEST(NnCollections, WritingAnImmutableCollectionNamesItThePathAndTheLine) {
  Tree v = AlwaysWrites{}.init(random::key(0), ones({2}));
  EXPECT_EQ(v["stats"]["Stats_0"]["sum"].leaf().to_vector<float>(), (std::vector<float>{1, 1}));
  EXPECT_THROW(AlwaysWrites{}.apply(v, ones({2})), ValueError);
  std::string msg = error_of([&] { AlwaysWrites{}.apply(v, ones({2})); });
  EXPECT_TRUE(has(msg, "cannot update variable stats/Stats_0/sum")) << msg;
  EXPECT_TRUE(has(msg, "collection \"stats\" is immutable")) << msg;
  EXPECT_TRUE(has(msg, "collections_test.cpp:" + std::to_string(g_set_value_line))) << msg;
  EXPECT_TRUE(has(msg, "mutable_collections = {\"stats\"}")) << msg;
  // Another collection being mutable does not help.
  EXPECT_THROW(AlwaysWrites{}.apply_with({.mutable_collections = {"batch_stats"}}, v, ones({2})),
               ValueError);
  auto [y, u] = AlwaysWrites{}.apply_with({.mutable_collections = {"stats"}}, v, ones({2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_EQ(u["stats"]["Stats_0"]["sum"].leaf().to_vector<float>(), (std::vector<float>{2, 2}));

  // BatchNorm training without "batch_stats" mutable: Flax's error, with BatchNorm's own hint.
  Tree nv = Net{}.init(random::key(0), ones({2, 5}), false);
  msg = error_of([&] {
    Net{}.apply_with({.rngs = {{"dropout", random::key(1)}}}, nv, ones({2, 5}), true);
  });
  EXPECT_TRUE(has(msg, "batch_stats/BatchNorm_0/mean")) << msg;
  EXPECT_TRUE(has(msg, "use_running_average")) << msg;
}

TEST(NnCollections, MissingVariablesAreCreatedOnlyInMutableCollections) {
  // A variables tree without the collection: an error naming it, unless it is mutable, in which
  // case the variable is created (Flax's scope.variable).
  Tree params_only = Tree::dict({{"params", Tree::dict()}});
  std::string msg = error_of([&] { Counter{}.apply(params_only, scalar(1.0)); });
  EXPECT_TRUE(has(msg, "variable counter/count not found")) << msg;
  EXPECT_TRUE(has(msg, "no \"counter\" entry")) << msg;
  auto [y, u] =
      Counter{}.apply_with({.mutable_collections = {"counter"}}, params_only, scalar(1.0));
  EXPECT_EQ(y.item<float>(), 2.0f);  // created at 0, bumped to 1, added to x = 1
  EXPECT_EQ(u["counter"]["count"].leaf().item<int32_t>(), 1);
  // Missing batch_stats for one BatchNorm: the path and the keys that are there.
  Tree nv = Net{}.init(random::key(0), ones({2, 5}), false);
  Tree broken = nv;
  broken["batch_stats"]["BatchNorm_0"].items().pop_back();  // drop "var"
  msg = error_of([&] { Net{}.apply(broken, ones({2, 5}), false); });
  EXPECT_TRUE(has(msg, "batch_stats/BatchNorm_0/var")) << msg;
  EXPECT_TRUE(has(msg, "[mean]")) << msg;
}

TEST(NnCollections, ApplyWithMutableParamsCreatesThemAsInit) {
  // Flax's init is apply on empty variables with every collection mutable: an apply with
  // "params" mutable and a "params" rng creates the same parameters.
  const Array k = random::key(4);
  Tree v = Net{}.init(k, ones({2, 5}), false);
  auto [y, made] =
      Net{}.apply_with({.rngs = {{"params", k}}, .mutable_collections = {"params", "batch_stats"}},
                       Tree::dict(), ones({2, 5}), false);
  ASSERT_EQ(keys(made), (std::vector<std::string>{"params", "batch_stats"}));
  EXPECT_TRUE(made.equals(v)) << made.str();
  // Without the rng: the missing-stream error, naming "params".
  std::string msg = error_of([&] {
    Net{}.apply_with({.mutable_collections = {"params", "batch_stats"}}, Tree::dict(), ones({2, 5}),
                     false);
  });
  EXPECT_TRUE(has(msg, "\"params\" stream")) << msg;
  // In init, everything is mutable and mutable_variables() is everything.
  Scope s = Scope::for_init(k);
  EXPECT_TRUE(s.is_mutable_collection("anything"));
  (void)s.param("w", init::ones(), {1});
  EXPECT_TRUE(s.mutable_variables().equals(s.variables()));
}

TEST(NnCollections, StoredVariablesAreCheckedAgainstTheModule) {
  Tree v = Net{}.init(random::key(0), ones({2, 5}), false);
  Tree wrong = v;
  wrong["batch_stats"]["BatchNorm_0"]["mean"] = Tree(zeros({5}));
  EXPECT_THROW(Net{}.apply(wrong, ones({2, 5}), false), ShapeError);
  std::string msg = error_of([&] { Net{}.apply(wrong, ones({2, 5}), false); });
  EXPECT_TRUE(has(msg, "batch_stats/BatchNorm_0/mean")) << msg;
  EXPECT_TRUE(has(msg, "f32[4]")) << msg;
  EXPECT_TRUE(has(msg, "f32[5]")) << msg;
  wrong["batch_stats"]["BatchNorm_0"]["mean"] = Tree(zeros({4}, float64));
  EXPECT_THROW(Net{}.apply(wrong, ones({2, 5}), false), DTypeError);

  // set_value keeps the declared shape and dtype.
  Scope s = Scope::for_init(random::key(0));
  nn::Variable var =
      s.variable("stats", "x", [](const Shape& sh, DType dt) { return ones(sh, dt); }, {3});
  EXPECT_EQ(var.path(), "stats/x");
  EXPECT_THROW(var.set_value(zeros({2})), ShapeError);
  EXPECT_THROW(var.set_value(zeros({3}, int32)), ShapeError);
  var.set_value(full({3}, 7.0));
  EXPECT_EQ(var.value().to_vector<float>(), (std::vector<float>{7, 7, 7}));
  EXPECT_EQ(s.variables()["stats"]["x"].leaf().to_vector<float>(), (std::vector<float>{7, 7, 7}));
  // An init function must return what it is asked; no init function means "must exist".
  EXPECT_THROW(s.variable("stats", "y", [](const Shape&, DType) { return zeros({1}); }, {3}),
               ShapeError);
  EXPECT_THROW(s.variable("stats", "z", nullptr, {3}), ValueError);
  EXPECT_THROW(s.variable("", "z", nullptr, {3}), ValueError);
  EXPECT_TRUE(s.has_variable("stats", "x"));
  EXPECT_FALSE(s.has_variable("stats", "z"));
  EXPECT_FALSE(s.has_variable("params", "x"));
}

TEST(NnCollections, NamesAreSharedAcrossCollectionsAsFlaxRelaxedNaming) {
  Scope s = Scope::for_init(random::key(0));
  auto z = [](const Shape& sh, DType dt) { return zeros(sh, dt); };
  // A param and a variable of another collection may share a name...
  (void)s.param("x", init::zeros(), {1});
  (void)s.variable("stats", "x", z, {1});
  // ...two of one collection may not, and a submodule may share none.
  EXPECT_THROW(s.variable("stats", "x", z, {1}), ValueError);
  EXPECT_THROW(s.param("x", init::zeros(), {1}), ValueError);
  EXPECT_THROW(s.child("M", "x"), ValueError);
  (void)s.child("M", "m");
  EXPECT_THROW(s.variable("stats", "m", z, {1}), ValueError);
}

// ---- rngs ----

// Draws once from "dropout" at the root and once in a child.
struct TwoDraws : nn::Module<TwoDraws> {
  std::vector<Array>* out = nullptr;
  Array operator()(Scope& s, const Array& x) const {
    out->push_back(s.child("Dropout").make_rng("dropout"));
    out->push_back(s.child("Dropout").make_rng("dropout"));
    return x;
  }
};

TEST(NnCollections, ApplyTimeRngsFollowFlaxDerivation) {
  std::vector<Array> draws;
  TwoDraws m;
  m.out = &draws;
  const Array dkey = random::key(42);
  (void)m.apply_with({.rngs = {{"dropout", dkey}}}, Tree::dict(), scalar(0.0));
  ASSERT_EQ(draws.size(), 2u);
  // Dropout_0's first draw: ("Dropout_0", 1); Dropout_1's: ("Dropout_1", 1).
  EXPECT_EQ(draws[0].to_vector<uint32_t>(),
            random::fold_in(dkey, kDropout0Count1).to_vector<uint32_t>());
  EXPECT_EQ(draws[1].to_vector<uint32_t>(),
            random::fold_in(dkey, 3866099105u).to_vector<uint32_t>());
  // A second draw in one scope counts on.
  Scope s = Scope::for_apply(Tree::dict(), {.rngs = {{"dropout", dkey}}});
  Scope& d = s.child("Dropout");
  (void)d.make_rng("dropout");
  EXPECT_EQ(d.make_rng("dropout").to_vector<uint32_t>(),
            random::fold_in(dkey, kDropout0Count2).to_vector<uint32_t>());
  EXPECT_TRUE(s.has_rng("dropout"));
  EXPECT_FALSE(s.has_rng("params"));
}

TEST(NnCollections, MissingStreamNamesItAndHowToPassIt) {
  Scope s = Scope::for_apply(Tree::dict());
  Scope& d = s.child("Dropout");
  EXPECT_THROW(d.make_rng("dropout"), ValueError);
  std::string msg = error_of([&] { d.make_rng("dropout"); });
  EXPECT_TRUE(has(msg, "scope \"Dropout_0\" needs an rng for the \"dropout\" stream")) << msg;
  EXPECT_TRUE(has(msg, "rngs given: none")) << msg;
  EXPECT_TRUE(has(msg, "apply_with({.rngs = {{\"dropout\", key}}}")) << msg;
  EXPECT_TRUE(has(msg, "collections_test.cpp:")) << msg;
  // Another stream given: still missing, and the message lists it.
  Scope s2 = Scope::for_apply(Tree::dict(), {.rngs = {{"noise", random::key(0)}}});
  msg = error_of([&] { s2.make_rng("dropout"); });
  EXPECT_TRUE(has(msg, "rngs given: \"noise\"")) << msg;
  // Net in training mode without a dropout rng.
  Tree v = Net{}.init(random::key(0), ones({2, 5}), false);
  msg = error_of([&] {
    Net{}.apply_with({.mutable_collections = {"batch_stats"}}, v, ones({2, 5}), true);
  });
  EXPECT_TRUE(has(msg, "\"dropout\" stream")) << msg;
  // In apply, a "params" rng is the fallback for any stream, as in Flax.
  Scope s3 = Scope::for_apply(Tree::dict(), {.rngs = {{"params", random::key(3)}}});
  EXPECT_EQ(s3.child("Dropout").make_rng("dropout").to_vector<uint32_t>(),
            random::fold_in(random::key(3), kDropout0Count1).to_vector<uint32_t>());
  // Keys must be keys.
  EXPECT_THROW(Scope::for_apply(Tree::dict(), {.rngs = {{"dropout", ones({2})}}}), ValueError);
  EXPECT_THROW(Scope::for_init(nn::Rngs{{"params", random::split(random::key(0), 2)}}), ValueError);
}

TEST(NnCollections, InitWithSeveralRngs) {
  const Array k1 = random::key(1), k2 = random::key(2);
  // Params come from "params" alone: the same as init(k1).
  Tree a = Net{}.init_with({{"params", k1}, {"dropout", k2}}, ones({2, 5}), true);
  Tree b = Net{}.init(k1, ones({2, 5}), true);
  auto la = leaves(a), lb = leaves(b);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i)
    EXPECT_EQ(la[i].to_vector<float>(), lb[i].to_vector<float>()) << i;
  // make_rng("dropout") in init draws from the "dropout" key when one is given.
  Scope s = Scope::for_init(nn::Rngs{{"params", k1}, {"dropout", k2}});
  EXPECT_EQ(s.child("Dropout").make_rng("dropout").to_vector<uint32_t>(),
            random::fold_in(k2, kDropout0Count1).to_vector<uint32_t>());
  // Without "params", creating a parameter is the missing-stream error.
  std::string msg = error_of([&] { Net{}.init_with({{"dropout", k2}}, ones({2, 5}), false); });
  EXPECT_TRUE(has(msg, "\"params\" stream")) << msg;
  EXPECT_TRUE(has(msg, "init_with")) << msg;
}

// ---- a jitted train step with BatchNorm and Dropout ----

constexpr int64_t kB = 6, kIn = 3, kH = 4;
constexpr double kLr = 0.1, kMomentum = 0.99, kEps = 1e-5, kKeep = 0.75;

using StepOut = std::tuple<Tree, Tree, Array>;  // params, batch_stats, loss

StepOut train_step(const Tree& params, const Tree& batch_stats, const Array& x, const Array& y,
                   const Array& dropout_key) {
  auto loss_fn = [&](const Tree& p) {
    Tree vars = Tree::dict({{"params", p}, {"batch_stats", batch_stats}});
    auto [out, updates] = Net{}.apply_with(
        {.rngs = {{"dropout", dropout_key}}, .mutable_collections = {"batch_stats"}}, vars, x,
        true);
    return std::make_pair(mean(square(out - y)), updates);
  };
  auto [value, grads] = value_and_grad(loss_fn, {.has_aux = true})(params);
  Tree new_params =
      tree_map([](const Array& p, const Array& g) { return p - g * kLr; }, params, grads);
  return {new_params, value.second["batch_stats"], value.first};
}

// The same step in float64 loops: forward, loss, and the gradient by central differences.
struct Ref {
  std::vector<double> w1, b1, scale, bias, w2, b2, ra_mean, ra_var;
};

std::vector<double> f64(const Array& a) {
  auto v = a.to_vector<float>();
  return {v.begin(), v.end()};
}

Ref ref_of(const Tree& params, const Tree& bs) {
  return {f64(params["Dense_0"]["kernel"].leaf()),    f64(params["Dense_0"]["bias"].leaf()),
          f64(params["BatchNorm_0"]["scale"].leaf()), f64(params["BatchNorm_0"]["bias"].leaf()),
          f64(params["Dense_1"]["kernel"].leaf()),    f64(params["Dense_1"]["bias"].leaf()),
          f64(bs["BatchNorm_0"]["mean"].leaf()),      f64(bs["BatchNorm_0"]["var"].leaf())};
}

// Loss of the training forward pass; fills the batch statistics.
double ref_loss(const Ref& r, const std::vector<double>& x, const std::vector<double>& t,
                const std::vector<bool>& keep, std::vector<double>* mu_out = nullptr,
                std::vector<double>* var_out = nullptr) {
  std::vector<double> h(kB * kH);
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t j = 0; j < kH; ++j) {
      double acc = r.b1[j];
      for (int64_t i = 0; i < kIn; ++i) acc += x[b * kIn + i] * r.w1[i * kH + j];
      h[b * kH + j] = acc;
    }
  std::vector<double> mu(kH, 0), var(kH, 0);
  for (int64_t j = 0; j < kH; ++j) {
    double s = 0, s2 = 0;
    for (int64_t b = 0; b < kB; ++b) s += h[b * kH + j], s2 += h[b * kH + j] * h[b * kH + j];
    mu[j] = s / kB;
    var[j] = std::max(0.0, s2 / kB - mu[j] * mu[j]);
  }
  double loss = 0;
  for (int64_t b = 0; b < kB; ++b) {
    double out = r.b2[0];
    for (int64_t j = 0; j < kH; ++j) {
      double n = (h[b * kH + j] - mu[j]) / std::sqrt(var[j] + kEps) * r.scale[j] + r.bias[j];
      n = std::max(n, 0.0);
      n = keep[b * kH + j] ? n / kKeep : 0.0;
      out += n * r.w2[j];
    }
    loss += (out - t[b]) * (out - t[b]);
  }
  if (mu_out) *mu_out = mu;
  if (var_out) *var_out = var;
  return loss / kB;
}

void expect_near_all(const Array& got, const std::vector<double>& want, double tol,
                     const std::string& what) {
  auto g = got.to_vector<float>();
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want[i], tol * (1 + std::fabs(want[i]))) << what << "[" << i << "]";
}

void expect_trees_close(const Tree& a, const Tree& b, float tol, const std::string& what) {
  ASSERT_TRUE(a.same_structure(b)) << what;
  auto la = leaves(a), lb = leaves(b);
  for (size_t i = 0; i < la.size(); ++i) {
    auto x = la[i].to_vector<float>(), y = lb[i].to_vector<float>();
    ASSERT_EQ(x.size(), y.size());
    for (size_t k = 0; k < x.size(); ++k)
      EXPECT_NEAR(x[k], y[k], tol * (1 + std::fabs(x[k])))
          << what << " leaf " << i << "[" << k << "]";
  }
}

TEST(NnCollections, JittedTrainStepWithBatchNormAndDropout) {
  const Array x = random::normal(random::key(10), {kB, kIn});
  const Array t = random::normal(random::key(11), {kB, 1});
  Tree v = Net{}.init(random::key(0), x, false);
  Tree params = v["params"], batch_stats = v["batch_stats"];
  Tree eager_params = params, eager_stats = batch_stats;
  const Array base = random::key(7);
  auto step = jit(train_step);

  for (uint32_t i = 0; i < 3; ++i) {
    const Array dkey = random::fold_in(base, i);  // a fresh dropout key per step
    // The float64 step from the same state.
    Ref r = ref_of(params, batch_stats);
    const auto xs = f64(x), ts = f64(t);
    const std::vector<bool> keep =
        random::bernoulli(random::fold_in(dkey, kDropout0Count1), kKeep, {kB, kH})
            .to_vector<bool>();
    std::vector<double> mu, var;
    const double loss = ref_loss(r, xs, ts, keep, &mu, &var);
    auto grad_of = [&](std::vector<double> Ref::*field) {
      std::vector<double> g((r.*field).size());
      for (size_t k = 0; k < g.size(); ++k) {
        Ref p = r, m = r;
        const double h = 1e-6;
        (p.*field)[k] += h;
        (m.*field)[k] -= h;
        g[k] = (ref_loss(p, xs, ts, keep) - ref_loss(m, xs, ts, keep)) / (2 * h);
      }
      std::vector<double> updated = r.*field;
      for (size_t k = 0; k < g.size(); ++k) updated[k] -= kLr * g[k];
      return updated;
    };

    auto [p_jit, s_jit, loss_jit] = step(params, batch_stats, x, t, dkey);
    auto [p_eager, s_eager, loss_eager] = train_step(eager_params, eager_stats, x, t, dkey);

    // jit against eager: the same computation, compiled whole or op by op.
    EXPECT_NEAR(loss_jit.item<float>(), loss_eager.item<float>(), 1e-6f) << "step " << i;
    expect_trees_close(p_jit, p_eager, 1e-5f, "params");
    expect_trees_close(s_jit, s_eager, 1e-6f, "batch_stats");

    // Against float64.
    const std::string at = " step " + std::to_string(i);
    EXPECT_NEAR(loss_jit.item<float>(), loss, 1e-5 * (1 + loss)) << at;
    expect_near_all(p_jit["Dense_0"]["kernel"].leaf(), grad_of(&Ref::w1), 2e-4, "w1" + at);
    expect_near_all(p_jit["Dense_0"]["bias"].leaf(), grad_of(&Ref::b1), 2e-4, "b1" + at);
    expect_near_all(p_jit["BatchNorm_0"]["scale"].leaf(), grad_of(&Ref::scale), 2e-4, "scale" + at);
    expect_near_all(p_jit["BatchNorm_0"]["bias"].leaf(), grad_of(&Ref::bias), 2e-4, "bias" + at);
    expect_near_all(p_jit["Dense_1"]["kernel"].leaf(), grad_of(&Ref::w2), 2e-4, "w2" + at);
    expect_near_all(p_jit["Dense_1"]["bias"].leaf(), grad_of(&Ref::b2), 2e-4, "b2" + at);
    std::vector<double> ra_mean(kH), ra_var(kH);
    for (int64_t j = 0; j < kH; ++j) {
      ra_mean[j] = kMomentum * r.ra_mean[j] + (1 - kMomentum) * mu[j];
      ra_var[j] = kMomentum * r.ra_var[j] + (1 - kMomentum) * var[j];
    }
    ASSERT_EQ(keys(s_jit), (std::vector<std::string>{"BatchNorm_0"}));
    expect_near_all(s_jit["BatchNorm_0"]["mean"].leaf(), ra_mean, 1e-6, "ra_mean" + at);
    expect_near_all(s_jit["BatchNorm_0"]["var"].leaf(), ra_var, 1e-6, "ra_var" + at);

    params = p_jit;
    batch_stats = s_jit;
    eager_params = p_eager;
    eager_stats = s_eager;
  }
  EXPECT_EQ(step.cache_size(), 1u);  // one trace: the keys are arguments, not constants
  // The running averages moved away from their initial values.
  EXPECT_NE(batch_stats["BatchNorm_0"]["mean"].leaf().to_vector<float>(),
            std::vector<float>(kH, 0.0f));
}

}  // namespace
}  // namespace kiln
