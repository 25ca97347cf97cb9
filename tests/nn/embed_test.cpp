// nn::Embed as flax.linen.Embed: param name and shape, Flax's default initializer on the Flax key,
// exact lookups, jnp.take's "fill" behaviour for out-of-range ids, and the table's gradient.
// The SHA-1 datum was computed with Python's hashlib, as flax.core.scope._fold_in_static does.
#include "kiln/nn/embed.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln {
namespace {

using nn::Embed;
using nn::Scope;

constexpr uint32_t kEmbed0 = 1350435477u;  // sha1("Embed_0\x01")[:4]

struct Emb : nn::Module<Emb> {
  explicit Emb(Embed::Options o) : options(std::move(o)) {}
  Embed::Options options;
  Array operator()(Scope& s, const Array& ids) const { return Embed(options)(s, ids); }
};

Array ids_of(std::vector<int32_t> v, const Shape& shape) {
  return array(std::span<const int32_t>(v), shape);
}

TEST(Embed, ParamNameShapeAndFlaxDefaultInit) {
  const Array key = random::key(0);
  Emb m({.num_embeddings = 10, .features = 4});
  Tree v = m.init(key, ids_of({0, 1}, {2}));
  ASSERT_EQ(v.size(), 1u);
  ASSERT_EQ(v["params"].size(), 1u);
  ASSERT_EQ(v["params"]["Embed_0"].size(), 1u);
  const Array& table = v["params"]["Embed_0"]["embedding"].leaf();
  EXPECT_EQ(table.shape(), (Shape{10, 4}));
  EXPECT_EQ(table.dtype(), float32);
  // variance_scaling(1.0, 'fan_in', 'normal', out_axis=0): fan_in = features, on the key of
  // ("Embed_0", 1). in_axis=1 gives the same fans (4 · 1) as Flax's in_axis=-2 (10 · 0.4).
  const Array k = random::fold_in(key, kEmbed0);
  EXPECT_EQ(table.to_vector<float>(),
            nn::initializers::variance_scaling(1.0, "fan_in", "normal", 1, 0)(k, {10, 4}, float32)
                .to_vector<float>());
  const auto n = random::normal(k, {10, 4}).to_vector<float>();
  const auto t = table.to_vector<float>();
  for (size_t i = 0; i < t.size(); ++i) EXPECT_NEAR(t[i], n[i] * 0.5f, 1e-6f) << i;
}

TEST(Embed, LookupIsExact) {
  Emb m({.num_embeddings = 7, .features = 3, .embedding_init = nn::initializers::normal(10.0)});
  Tree v = m.init(random::key(1), ids_of({0}, {1}));
  const auto table = v["params"]["Embed_0"]["embedding"].leaf().to_vector<float>();
  const std::vector<int32_t> ids = {3, 0, 6, 3, 1, 5};
  Array y = m.apply(v, ids_of(ids, {2, 3}));
  EXPECT_EQ(y.shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(y.dtype(), float32);
  std::vector<float> want;
  for (int32_t id : ids)
    for (int f = 0; f < 3; ++f) want.push_back(table[id * 3 + f]);
  EXPECT_EQ(y.to_vector<float>(), want);  // bit for bit
  // A 0-d id gives one vector; unsigned and 8-bit ids work too.
  EXPECT_EQ(m.apply(v, scalar(5, int32)).to_vector<float>(),
            (std::vector<float>(table.begin() + 15, table.begin() + 18)));
  EXPECT_EQ(m.apply(v, astype(ids_of(ids, {6}), uint32)).to_vector<float>(), want);
  EXPECT_EQ(m.apply(v, astype(ids_of(ids, {6}), int8)).to_vector<float>(), want);
}

// A gather copies rows: -0.0, inf and NaN entries come out as they are and touch no other row
// (the one-hot product Embed was before turned -0.0 into +0.0 and spread inf as NaN).
TEST(Embed, LookupCopiesSpecialValuesOfItsRowOnly) {
  Emb m({.num_embeddings = 3, .features = 2});
  Tree v = m.init(random::key(1), ids_of({0}, {1}));
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> table = {-0.0f, 1.0f, inf, std::nanf(""), 2.0f, -3.0f};
  v["params"]["Embed_0"]["embedding"] = Array::from_data<float>(table, Shape{3, 2});
  const auto y = m.apply(v, ids_of({0, 2, 1}, {3})).to_vector<float>();
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_TRUE(std::signbit(y[0]));
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], 2.0f);
  EXPECT_EQ(y[3], -3.0f);
  EXPECT_EQ(y[4], inf);
  EXPECT_TRUE(std::isnan(y[5]));
}

TEST(Embed, OutOfRangeIdsAsJnpTakeFill) {
  Emb m({.num_embeddings = 4, .features = 2, .embedding_init = nn::initializers::normal(1.0)});
  Tree v = m.init(random::key(1), ids_of({0}, {1}));
  const auto table = v["params"]["Embed_0"]["embedding"].leaf().to_vector<float>();
  const auto y = m.apply(v, ids_of({-1, -4, 4, -5, 100}, {5})).to_vector<float>();
  // -1 and -4 wrap to rows 3 and 0; 4, -5 and 100 are NaN rows.
  EXPECT_EQ(y[0], table[6]);
  EXPECT_EQ(y[1], table[7]);
  EXPECT_EQ(y[2], table[0]);
  EXPECT_EQ(y[3], table[1]);
  for (int i = 4; i < 10; ++i) EXPECT_TRUE(std::isnan(y[i])) << i;
  // num_embeddings == 1: Flax compares with 0, so -1 is NaN too.
  Emb one({.num_embeddings = 1, .features = 2, .embedding_init = nn::initializers::ones()});
  Tree v1 = one.init(random::key(1), ids_of({0}, {1}));
  const auto y1 = one.apply(v1, ids_of({0, -1, 1}, {3})).to_vector<float>();
  EXPECT_EQ(y1[0], 1.0f);
  EXPECT_EQ(y1[1], 1.0f);
  for (int i = 2; i < 6; ++i) EXPECT_TRUE(std::isnan(y1[i])) << i;
}

TEST(Embed, GradientSumsTheCotangentsOfEachRow) {
  Emb m({.num_embeddings = 5, .features = 2});
  const std::vector<int32_t> ids = {1, 3, 1, 4, 1, 0};
  const Array id = ids_of(ids, {2, 3});
  Tree v = m.init(random::key(0), id);
  const Array w = random::normal(random::key(2), {2, 3, 2});
  Tree g = grad([&](const Tree& p) { return sum(m.apply(p, id) * w); })(v);
  const auto ws = w.to_vector<float>();
  std::vector<double> want(10, 0.0);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int f = 0; f < 2; ++f) want[ids[i] * 2 + f] += ws[i * 2 + f];
  const auto got = g["params"]["Embed_0"]["embedding"].leaf().to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
  EXPECT_EQ(got[4], 0.0f);  // row 2 is never looked up
}

TEST(Embed, DtypeAndJit) {
  Emb m({.num_embeddings = 6, .features = 4});
  const Array id = ids_of({5, 2, 0}, {3});
  Tree v = m.init(random::key(0), id);
  Emb half({.num_embeddings = 6, .features = 4, .dtype = bfloat16});
  EXPECT_EQ(half.apply(v, id).dtype(), bfloat16);
  Emb f64({.num_embeddings = 6, .features = 4, .param_dtype = float64});
  Tree v64 = f64.init(random::key(0), id);
  EXPECT_EQ(f64.apply(v64, id).dtype(), float64);
  auto jf = jit([&m](const Tree& vars, const Array& ids) { return m.apply(vars, ids); });
  EXPECT_EQ(jf(v, id).to_vector<float>(), m.apply(v, id).to_vector<float>());
}

TEST(Embed, Errors) {
  Emb m({.num_embeddings = 6, .features = 4});
  Tree v = m.init(random::key(0), ids_of({0}, {1}));
  EXPECT_THROW(m.apply(v, ones({3})), DTypeError);  // float ids
  EXPECT_THROW(Emb({.num_embeddings = 0, .features = 4}).init(random::key(0), ids_of({0}, {1})),
               ValueError);
  EXPECT_THROW(Emb({.num_embeddings = 6, .features = 0}).init(random::key(0), ids_of({0}, {1})),
               ValueError);
  // Another table size than at init.
  EXPECT_THROW(Emb({.num_embeddings = 7, .features = 4}).apply(v, ids_of({0}, {1})), ShapeError);
}

}  // namespace
}  // namespace kiln
