// kiln::random against JAX. Where a value below is "published", it was printed by JAX itself:
//  - threefry2x32 known answers: Random123's kat_vectors, also in JAX's random_test.py;
//  - split(key(0)), split(key(1)), split(key(2)): a test of JAX 0.5+ (partitionable) keys in
//    NVIDIA's mlir-tensorrt JAX tests (expected_values of test_random);
//  - uniform(key(0)) = 0.947667 and uniform(split(key(0))[1]) = 0.00729382 with their reprs: the
//    jax.random module documentation (docs.jax.dev/en/latest/jax.random.html);
//  - uniform(key(0), (4,)) and split(key(0), 3): a CUDA port's test that checks itself against JAX;
//  - jax.nn.initializers.normal(5.0)(key(42), (2, 3)): the jax.nn.initializers.normal
//    documentation, printed before JAX 0.5 with the original (non-partitionable) counter layout.
// Other checks compare kiln's op-built samplers with host re-computations of JAX's formulas
// (jax/_src/random.py) on the host threefry function, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <numbers>
#include <numeric>
#include <vector>

#include "backend/cpu/special_functions.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln {
namespace {

using random::threefry2x32;
using Pair = std::array<uint32_t, 2>;

Pair key_pair(const Array& k) {
  auto v = k.to_vector<uint32_t>();
  return {v[0], v[1]};
}

// 32-bit random bits of element i (partitionable): out0 ^ out1 at counter (0, i).
uint32_t host_bits(Pair key, uint32_t i) {
  Pair o = threefry2x32(key, {0, i});
  return o[0] ^ o[1];
}

float host_unit_f32(uint32_t bits) {
  return std::bit_cast<float>((bits >> 9) | 0x3F800000u) - 1.0f;
}

// JAX's normal for float32 on given bits: u in [nextafter(-1, 0), 1), sqrt2 * erf_inv(u).
float host_normal_f32(uint32_t bits) {
  const float lo = std::nextafter(-1.0f, 0.0f);
  const float u = std::max(lo, host_unit_f32(bits) * (1.0f - lo) + lo);
  return static_cast<float>(std::numbers::sqrt2) * cpu::erf_inv_f32(u);
}

std::vector<uint32_t> bits_of(const Array& floats) {
  return bitcast_convert(floats, uint32).to_vector<uint32_t>();
}

TEST(RandomThreefry, KnownAnswers) {
  EXPECT_EQ(threefry2x32({0, 0}, {0, 0}), (Pair{0x6b200159u, 0x99ba4efeu}));
  EXPECT_EQ(threefry2x32({0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
            (Pair{0x1cb996fcu, 0xbb002be7u}));
  EXPECT_EQ(threefry2x32({0x13198a2eu, 0x03707344u}, {0x243f6a88u, 0x85a308d3u}),
            (Pair{0xc4923a9cu, 0x483df7a0u}));
}

TEST(Random, Key) {
  EXPECT_EQ(random::key(0).to_vector<uint32_t>(), (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(random::key(1701).to_vector<uint32_t>(), (std::vector<uint32_t>{0, 1701}));
  Array k = random::key(3);
  EXPECT_EQ(k.dtype(), uint32);
  EXPECT_EQ(k.shape(), (Shape{2}));
}

TEST(Random, SplitMatchesJax) {
  Array s = random::split(random::key(0));
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.to_vector<uint32_t>(),
            (std::vector<uint32_t>{1797259609u, 2579123966u, 928981903u, 3453687069u}));
  EXPECT_EQ(random::split(random::key(1)).to_vector<uint32_t>(),
            (std::vector<uint32_t>{507451445u, 1853169794u, 1948878966u, 4237131848u}));
  EXPECT_EQ(random::split(random::key(2)).to_vector<uint32_t>(),
            (std::vector<uint32_t>{1821159224u, 3364244817u, 637334850u, 3278974502u}));
  Array three = random::split(random::key(0), 3);
  EXPECT_EQ(random::key_at(three, 2).to_vector<uint32_t>(),
            (std::vector<uint32_t>{4146024105u, 2718843009u}));
  // The same first rows whatever the count: the counter of row i is i (partitionable split).
  EXPECT_EQ(key_pair(random::key_at(three, 1)), (Pair{928981903u, 3453687069u}));
}

TEST(Random, SplitMatchesHostThreefry) {
  Array base = random::fold_in(random::key(0), 0);
  const Pair kb = key_pair(base);
  EXPECT_EQ(kb, threefry2x32({0, 0}, {0, 0}));
  Array keys = random::split(base, 5);
  EXPECT_EQ(keys.shape(), (Shape{5, 2}));
  for (uint32_t i = 0; i < 5; ++i)
    EXPECT_EQ(key_pair(random::key_at(keys, i)), threefry2x32(kb, {0, i}));
}

TEST(Random, FoldIn) {
  Array k = random::key(42);
  for (uint32_t d : {0u, 1u, 7u, 0xffffffffu})
    EXPECT_EQ(key_pair(random::fold_in(k, d)), threefry2x32({0, 42}, {0, d})) << d;
  // Deterministic, and distinct data give distinct keys.
  EXPECT_EQ(key_pair(random::fold_in(k, 5)), key_pair(random::fold_in(k, 5)));
  EXPECT_NE(key_pair(random::fold_in(k, 5)), key_pair(random::fold_in(k, 6)));
  // In partitionable mode fold_in(k, d) and split(k, n)[d] share the counter (0, d).
  EXPECT_EQ(key_pair(random::fold_in(k, 2)), key_pair(random::key_at(random::split(k, 3), 2)));
}

TEST(Random, BitsMatchHostThreefry) {
  Array k = random::key(3);
  Array b = random::bits(k, {4, 5});
  EXPECT_EQ(b.dtype(), uint32);
  EXPECT_EQ(b.shape(), (Shape{4, 5}));
  auto v = b.to_vector<uint32_t>();
  for (uint32_t i = 0; i < 20; ++i) EXPECT_EQ(v[i], host_bits({0, 3}, i)) << i;
  // A 0-d draw uses counter (0, 0), like the first element of any draw.
  EXPECT_EQ(random::bits(k, {}).item<uint32_t>(), v[0]);
}

TEST(Random, UniformMatchesJax) {
  Array u = random::uniform(random::key(0));
  EXPECT_EQ(u.dtype(), float32);
  EXPECT_EQ(u.shape(), Shape{});
  EXPECT_NEAR(u.item<float>(), 0.947667f, 1e-6f);
  EXPECT_EQ(u.repr(), "Array(0.947667, dtype=float32)");
  Array sub = random::key_at(random::split(random::key(0)), 1);
  EXPECT_NEAR(random::uniform(sub).item<float>(), 0.00729382f, 1e-8f);
  EXPECT_EQ(random::uniform(sub).repr(), "Array(0.00729382, dtype=float32)");
  std::vector<float> want{0.9476670027f, 0.9785798788f, 0.3322914839f, 0.4686684608f};
  EXPECT_EQ(random::uniform(random::key(0), {4}).to_vector<float>(), want);
}

TEST(Random, UniformScaled) {
  // JAX: max(min, floats * (max - min) + min) in float32.
  Array k = random::key(9);
  auto v = random::uniform(k, {1000}, float32, -2.0, 3.0).to_vector<float>();
  for (uint32_t i = 0; i < v.size(); ++i) {
    float want = std::max(-2.0f, host_unit_f32(host_bits({0, 9}, i)) * (3.0f - -2.0f) + -2.0f);
    ASSERT_EQ(v[i], want) << i;
    ASSERT_GE(v[i], -2.0f);
    ASSERT_LT(v[i], 3.0f);
  }
}

TEST(Random, UniformOtherDtypes) {
  Array k = random::key(11);
  const Pair kp{0, 11};
  // float64: 64-bit draws (out0 << 32 | out1), mantissa = top 52 bits.
  auto d = random::uniform(k, {64}, float64).to_vector<double>();
  for (uint32_t i = 0; i < 64; ++i) {
    Pair o = threefry2x32(kp, {0, i});
    uint64_t b64 = (uint64_t{o[0]} << 32) | o[1];
    double want = std::bit_cast<double>((b64 >> 12) | 0x3FF0000000000000ull) - 1.0;
    ASSERT_EQ(d[i], want) << i;
  }
  // bfloat16: 8-bit draws (low byte of the 32-bit bits) >> 1 fill the 7-bit mantissa.
  auto b = random::uniform(k, {64}, bfloat16).to_vector<bf16>();
  for (uint32_t i = 0; i < 64; ++i) {
    uint32_t m = (host_bits(kp, i) & 0xFFu) >> 1;
    ASSERT_EQ(to_float(b[i]), static_cast<float>(m) / 128.0f) << i;
  }
  // float16: 16-bit draws (low half) >> 6 fill the 10-bit mantissa.
  auto h = random::uniform(k, {64}, float16).to_vector<f16>();
  for (uint32_t i = 0; i < 64; ++i) {
    uint32_t m = (host_bits(kp, i) & 0xFFFFu) >> 6;
    ASSERT_EQ(to_float(h[i]), static_cast<float>(m) / 1024.0f) << i;
  }
  EXPECT_THROW(random::uniform(k, {2}, int32), DTypeError);
}

TEST(Random, NormalFormulaMatchesJaxDocs) {
  // Host check of the formula itself: jax.nn.initializers.normal(5.0)(key(42), (2, 3)) as the JAX
  // documentation prints it; those bits come from the original counter layout (six counts
  // 0..5 split into pairs (i, i + 3)). Agreement to ~1e-6 relative: the documented run used
  // XLA's own erf_inv, whose last bits may differ from these polynomials' on the host.
  const float docs[6] = {3.0613258f, 5.6129413f, 5.6866574f, -4.063663f, -4.4520254f, 0.63115686f};
  uint32_t b[6];
  for (uint32_t i = 0; i < 3; ++i) {
    Pair o = threefry2x32({0, 42}, {i, i + 3});
    b[i] = o[0];
    b[i + 3] = o[1];
  }
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(host_normal_f32(b[i]) * 5.0f, docs[i], 2e-6f * std::fabs(docs[i])) << i;
}

TEST(Random, NormalBitExactWithFormula) {
  Array n = random::normal(random::key(0), {1000});
  auto v = n.to_vector<float>();
  for (uint32_t i = 0; i < v.size(); ++i)
    ASSERT_EQ(v[i], host_normal_f32(host_bits({0, 0}, i))) << i;
}

TEST(Random, NormalStatistics) {
  auto v = random::normal(random::key(1), {100000}).to_vector<float>();
  double s = 0, s2 = 0;
  for (float x : v) {
    ASSERT_TRUE(std::isfinite(x));
    s += x;
    s2 += double(x) * x;
  }
  double mean = s / v.size(), sd = std::sqrt(s2 / v.size() - mean * mean);
  // Standard errors: 1/sqrt(1e5) = 0.0032 for the mean, about 0.0022 for the std.
  EXPECT_NEAR(mean, 0.0, 0.015);
  EXPECT_NEAR(sd, 1.0, 0.01);
  auto d = random::normal(random::key(1), {20000}, float64).to_vector<double>();
  double m64 = std::accumulate(d.begin(), d.end(), 0.0) / d.size();
  EXPECT_NEAR(m64, 0.0, 0.03);
}

TEST(Random, TruncatedNormal) {
  Array t = random::truncated_normal(random::key(2), -2.0, 2.0, {50000});
  auto v = t.to_vector<float>();
  double s = 0, s2 = 0;
  for (float x : v) {
    ASSERT_GT(x, -2.0f);
    ASSERT_LT(x, 2.0f);
    s += x;
    s2 += double(x) * x;
  }
  double mean = s / v.size(), sd = std::sqrt(s2 / v.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.015);
  // The std of a standard normal truncated to (-2, 2) is 0.87962566 (flax's lecun_normal divides
  // by it).
  EXPECT_NEAR(sd, 0.87962566, 0.01);

  // Bit for bit with JAX's formula: u uniform in [erf(lo/√2), erf(hi/√2)), √2·erf_inv(u), clipped.
  const float sqrt2 = static_cast<float>(std::numbers::sqrt2);
  const float a = cpu::erf_f32(-2.0f / sqrt2), b = cpu::erf_f32(2.0f / sqrt2);
  for (uint32_t i = 0; i < 256; ++i) {
    float u = std::max(a, host_unit_f32(host_bits({0, 2}, i)) * (b - a) + a);
    float want = std::clamp(sqrt2 * cpu::erf_inv_f32(u), std::nextafter(-2.0f, 0.0f),
                            std::nextafter(2.0f, 0.0f));
    ASSERT_EQ(v[i], want) << i;
  }
  // One-sided bounds stay inside too.
  auto w = random::truncated_normal(random::key(3), 0.5, 10.0, {1000}).to_vector<float>();
  for (float x : w) ASSERT_GT(x, 0.5f);
  EXPECT_THROW(random::truncated_normal(random::key(3), 1.0, -1.0, {2}), ValueError);
}

TEST(Random, Bernoulli) {
  Array b = random::bernoulli(random::key(4), 0.3, {100000});
  EXPECT_EQ(b.dtype(), bool_);
  auto v = astype(b, int32).to_vector<int32_t>();
  double freq = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  EXPECT_NEAR(freq, 0.3, 0.006);  // 4 standard errors
  // uniform < p, element by element.
  for (uint32_t i = 0; i < 100; ++i)
    ASSERT_EQ(v[i] != 0, host_unit_f32(host_bits({0, 4}, i)) < 0.3f) << i;
  EXPECT_EQ(astype(random::bernoulli(random::key(4), 0.0, {100}), int32).to_vector<int32_t>(),
            std::vector<int32_t>(100, 0));
}

TEST(Random, Categorical) {
  const int64_t n = 30000;
  const std::vector<float> p{0.1f, 0.2f, 0.7f};
  std::vector<float> logits;
  for (int64_t i = 0; i < n; ++i)
    for (float q : p) logits.push_back(std::log(q));
  Array l = array(std::span<const float>(logits), Shape{n, 3});
  Array c = random::categorical(random::key(5), l);
  EXPECT_EQ(c.dtype(), int32);
  EXPECT_EQ(c.shape(), (Shape{n}));
  auto v = c.to_vector<int32_t>();
  std::vector<double> count(3, 0);
  for (int32_t x : v) {
    ASSERT_GE(x, 0);
    ASSERT_LT(x, 3);
    count[x] += 1;
  }
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(count[j] / n, p[j], 0.012) << j;

  // Gumbel-max with JAX's noise: argmax(-log(-log(u)) + logits), u uniform in [tiny, 1).
  for (int64_t i = 0; i < 200; ++i) {
    int best = 0;
    float best_v = -INFINITY;
    for (int j = 0; j < 3; ++j) {
      uint32_t flat = static_cast<uint32_t>(i * 3 + j);
      float u =
          std::max(FLT_MIN, host_unit_f32(host_bits({0, 5}, flat)) * (1.0f - FLT_MIN) + FLT_MIN);
      float g = -std::log(-std::log(u)) + logits[flat];
      if (g > best_v) {
        best_v = g;
        best = j;
      }
    }
    ASSERT_EQ(v[i], best) << i;
  }
  // The axis argument: the same draw along axis 0 of the transposed logits.
  Array ct = random::categorical(random::key(5), transpose(l), 0);
  EXPECT_EQ(ct.shape(), (Shape{n}));
  EXPECT_THROW(random::categorical(random::key(5), astype(l, int32)), DTypeError);
}

// JAX's _shuffle on the host: ceil(3 ln n / ln(2^32 - 1)) rounds of (key, sub) = split(key) and a
// stable sort by bits(sub).
std::vector<int32_t> host_permutation(Pair key, int64_t n) {
  const int rounds = static_cast<int>(std::ceil(
      3.0 * std::log(static_cast<double>(std::max<int64_t>(1, n))) / std::log(4294967295.0)));
  std::vector<int32_t> x(n);
  std::iota(x.begin(), x.end(), 0);
  for (int r = 0; r < rounds; ++r) {
    Pair sub = threefry2x32(key, {0, 1});
    key = threefry2x32(key, {0, 0});
    std::vector<std::pair<uint32_t, int32_t>> kv(n);
    for (int64_t i = 0; i < n; ++i) kv[i] = {host_bits(sub, static_cast<uint32_t>(i)), x[i]};
    std::stable_sort(kv.begin(), kv.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (int64_t i = 0; i < n; ++i) x[i] = kv[i].second;
  }
  return x;
}

TEST(Random, Permutation) {
  Array p = random::permutation(random::key(6), 10);
  EXPECT_EQ(p.dtype(), int32);
  auto v = p.to_vector<int32_t>();
  auto sorted = v;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int32_t> iota10(10);
  std::iota(iota10.begin(), iota10.end(), 0);
  EXPECT_EQ(sorted, iota10);
  EXPECT_EQ(random::permutation(random::key(6), 10).to_vector<int32_t>(), v);  // reproducible
  EXPECT_NE(random::permutation(random::key(7), 10).to_vector<int32_t>(), v);
  EXPECT_EQ(v, host_permutation({0, 6}, 10));
  // 2000 > (2^32 - 1)^(1/3) ~ 1625: two rounds.
  EXPECT_EQ(random::permutation(random::key(6), 2000).to_vector<int32_t>(),
            host_permutation({0, 6}, 2000));
  EXPECT_EQ(random::permutation(random::key(6), 0).size(), 0);
  EXPECT_EQ(random::permutation(random::key(6), 1).to_vector<int32_t>(), (std::vector<int32_t>{0}));
  // Under jit it is the same sort, traced: the same permutation.
  auto f = jit([](const Array& k) { return random::permutation(k, 2000); });
  EXPECT_EQ(f(random::key(6)).to_vector<int32_t>(), host_permutation({0, 6}, 2000));
  EXPECT_THROW(random::permutation(random::key(6), -1), ValueError);
}

TEST(Random, JitMatchesEager) {
  Array k = random::key(8);
  auto same = [](const Array& a, const Array& b) {
    ASSERT_EQ(a.dtype(), b.dtype());
    ASSERT_EQ(a.shape(), b.shape());
    if (a.dtype() == bool_ || a.dtype() == int32) {
      EXPECT_EQ(astype(a, int32).to_vector<int32_t>(), astype(b, int32).to_vector<int32_t>());
    } else if (a.dtype() == uint32) {
      EXPECT_EQ(a.to_vector<uint32_t>(), b.to_vector<uint32_t>());
    } else {
      EXPECT_EQ(bits_of(a), bits_of(b));
    }
  };
  same(jit([](const Array& key) { return random::bits(key, {3, 7}); })(k), random::bits(k, {3, 7}));
  same(jit([](const Array& key) { return random::split(key, 4); })(k), random::split(k, 4));
  same(jit([](const Array& key) { return random::fold_in(key, 99); })(k), random::fold_in(k, 99));
  same(jit([](const Array& key) { return random::uniform(key, {257}); })(k),
       random::uniform(k, {257}));
  same(jit([](const Array& key) { return random::normal(key, {257}); })(k),
       random::normal(k, {257}));
  same(jit([](const Array& key) { return random::truncated_normal(key, -2, 2, {65}); })(k),
       random::truncated_normal(k, -2, 2, {65}));
  same(jit([](const Array& key) { return random::bernoulli(key, 0.25, {65}); })(k),
       random::bernoulli(k, 0.25, {65}));
  Array logits = random::normal(random::key(1), {16, 5});
  same(jit([&](const Array& key) { return random::categorical(key, logits); })(k),
       random::categorical(k, logits));
  // A key split inside the jitted function, as a training step does.
  auto step = jit([](const Array& key) {
    Array keys = random::split(key);
    return random::normal(random::key_at(keys, 1), {8});
  });
  same(step(k), random::normal(random::key_at(random::split(k), 1), {8}));
}

TEST(Random, EmptyAndLowPrecisionDraws) {
  Array k = random::key(12);
  EXPECT_EQ(random::uniform(k, {0}).shape(), (Shape{0}));
  EXPECT_EQ(random::normal(k, {3, 0}).shape(), (Shape{3, 0}));
  EXPECT_EQ(random::split(k, 0).shape(), (Shape{0, 2}));
  for (DType t : {bfloat16, float16}) {
    Array n = random::normal(k, {4000}, t);
    EXPECT_EQ(n.dtype(), t);
    auto v = astype(n, float32).to_vector<float>();
    double s = 0;
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x));
      s += x;
    }
    EXPECT_NEAR(s / v.size(), 0.0, 0.06);
  }
}

TEST(Random, BadKeys) {
  EXPECT_THROW(random::uniform(zeros({2})), ValueError);
  EXPECT_THROW(random::normal(random::split(random::key(0))), ValueError);
  EXPECT_THROW(random::key_at(random::split(random::key(0)), 2), ValueError);
  EXPECT_THROW(random::split(Array()), ValueError);
}

// jax.random.randint(jax.random.PRNGKey(42), shape, minval, maxval, dtype), printed by JAX 0.10.2
// (build/reference-venv) for each call below.
TEST(Random, RandintMatchesJax) {
  const Array k = random::key(42);
  EXPECT_EQ(random::randint(k, {10}, 0, 10).to_vector<int32_t>(),
            (std::vector<int32_t>{4, 4, 1, 9, 9, 9, 7, 7, 4, 6}));
  EXPECT_EQ(random::randint(k, {6}, -5, 1000000).to_vector<int32_t>(),
            (std::vector<int32_t>{278646, 848442, 367222, 982777, 576641, 288488}));
  EXPECT_EQ(random::randint(k, {6}, INT32_MIN, INT32_MAX).to_vector<int32_t>(),
            (std::vector<int32_t>{977810628, 1236381714, -1367112521, -1019495231, -1671904627,
                                  -1277190805}));
  EXPECT_EQ(
      random::randint(k, {6}, 0, INT32_MAX, uint32).to_vector<uint32_t>(),
      (std::vector<uint32_t>{977810629, 1236381715, 780371127, 1127988417, 475579021, 870292843}));
  // 8- and 16-bit dtypes sample as int32 with clipped bounds, then cast.
  const Array u8 = astype(random::randint(k, {6}, 0, 256, uint8), int32);
  EXPECT_EQ(u8.to_vector<int32_t>(), (std::vector<int32_t>{196, 18, 183, 193, 141, 107}));
  const Array i16 = astype(random::randint(k, {6}, -300, 300, int16), int32);
  EXPECT_EQ(i16.to_vector<int32_t>(), (std::vector<int32_t>{144, -186, 171, -131, 209, -81}));
  // maxval <= minval gives minval (after clipping: 300 -> 127 for int8).
  EXPECT_EQ(random::randint(k, {4}, 5, 5).to_vector<int32_t>(), (std::vector<int32_t>(4, 5)));
  EXPECT_EQ(astype(random::randint(k, {6}, 300, -300, int8), int32).to_vector<int32_t>(),
            (std::vector<int32_t>(6, 127)));
  EXPECT_EQ(random::randint(random::key(0), {2, 3}, 0, 7).to_vector<int32_t>(),
            (std::vector<int32_t>{1, 2, 6, 2, 6, 5}));
}

TEST(Random, RandintUnderJitGivesTheEagerBits) {
  auto f = jit([](const Array& key) { return random::randint(key, {5, 3}, -7, 1000); });
  const Array k = random::key(3);
  EXPECT_EQ(f(k).to_vector<int32_t>(), random::randint(k, {5, 3}, -7, 1000).to_vector<int32_t>());
}

TEST(Random, RandintRefusesFloatDtypes) {
  EXPECT_THROW(random::randint(random::key(0), {2}, 0, 5, float32), DTypeError);
}

}  // namespace
}  // namespace kiln
