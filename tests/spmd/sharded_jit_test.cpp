// jit with in_shardings / out_shardings (SPMD partitioning, src/spmd/partition.cpp): every
// partitioned result equals the one-device result. ctest runs these with KILN_CPU_DEVICES=8
// (Spmd.EightCpuDevices); in a process with fewer devices they skip.
#include <gtest/gtest.h>

#include <cmath>

#include "kiln/indexing.hpp"
#include "kiln/kiln.hpp"
#include "spmd/cpu_devices.hpp"
#include "spmd/simple_mlp.hpp"

namespace kiln {
namespace {

// Products may be summed in another order per shard (a GEMM of 4 rows instead of 8): equal to
// float32 rounding.
void expect_close(const Array& got, const Array& want) {
  ASSERT_EQ(got.shape(), want.shape());
  const auto g = got.to_vector<float>(), w = want.to_vector<float>();
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_NEAR(g[i], w[i], 2e-6 * (1 + std::abs(w[i]))) << "element " << i;
}

TEST(ShardedJit, DataParallelMlpEqualsTheOneDeviceResult) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  testing::SimpleMLP model;
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const Array x = random::normal(random::key(1), {8, 8});
  auto forward = [model](const Tree& p, const Array& b) { return model.apply(p, b); };
  const Array want = jit(forward)(params, x);
  for (size_t n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"data"});
    auto sharded = jit(forward, {.in_shardings = {None, P("data")}, .out_shardings = P("data")});
    Array out;
    {
      auto scope = use_mesh(mesh);
      out = sharded(params, device_put(x, NamedSharding(mesh, P("data"))));
    }
    EXPECT_EQ(out.sharding().str(), "NamedSharding(mesh=Mesh('data': " + std::to_string(n) +
                                        "), spec=PartitionSpec('data',))");
    EXPECT_EQ(out.addressable_shards()[0].data.shape(), (Shape{8 / static_cast<int64_t>(n), 8}));
    expect_close(out, want);
  }
}

TEST(ShardedJit, TensorParallelDenseEqualsTheOneDeviceResult) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const testing::TensorParallelDense model{};
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const Array x = random::normal(random::key(2), {8, 8});
  auto forward = [model](const Tree& p, const Array& b) { return model.apply(p, b); };
  const Array want = jit(forward)(params, x);
  const Mesh mesh(testing::first_cpu_devices(2), {"model"});
  // The input split by feature (one copy of the tutorial) and replicated (the other).
  for (const PartitionSpec& input : {P(None, "model"), P()}) {
    SCOPED_TRACE(input.str());
    auto sharded =
        jit(forward,
            {.in_shardings = {Shardings::dict(
                                  {{"params",
                                    Shardings::dict(
                                        {{"Dense_0",
                                          Shardings::dict({{"kernel", P(None, "model")}})}})}}),
                              input},
             .out_shardings = P(None, "model")});
    auto scope = use_mesh(mesh);
    const Array out = sharded(params, x);
    EXPECT_EQ(out.sharding().named().spec(), P(None, "model"));
    expect_close(out, want);
  }
}

// x @ w for every way of splitting the two over one or two mesh axes: contracting a split
// dimension leaves partial sums (a psum), mismatched splits are gathered or cut.
TEST(ShardedJit, DotGeneralUnderEverySplitEqualsTheOneDeviceResult) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Array x = random::normal(random::key(3), {8, 16});
  const Array w = random::normal(random::key(4), {16, 8});
  auto f = [](const Array& a, const Array& b) { return tanh(matmul(a, b)) * 2.0; };
  const Array want = jit(f)(x, w);
  const Mesh line(testing::first_cpu_devices(4), {"i"});
  const Mesh grid(testing::first_cpu_devices(8), {2, 4}, {"x", "y"});
  struct Case {
    const Mesh* mesh;
    PartitionSpec x, w, out;
  };
  const std::vector<Case> cases = {
      {&line, P("i"), P(), P("i")},              // rows
      {&line, P(None, "i"), P("i"), P()},        // contracted: psum
      {&line, P(), P(None, "i"), P(None, "i")},  // columns
      {&line, P(None, "i"), P(None, "i"), P()},  // conflict: x gathered
      {&line, P("i"), P("i"), P("i")},           // one axis on both free and contracted
      {&grid, P("x", "y"), P("y"), P("x")},      // rows over x, contraction over y
      {&grid, P(axes("x", "y")), P(), P(axes("x", "y"))},
      {&grid, P("x", "y"), P("y", "x"), P(None, "y")},  // reshard the result
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.x.str() + " @ " + c.w.str() + " -> " + c.out.str());
    auto sharded =
        jit(f, {.in_shardings = {NamedSharding(*c.mesh, c.x), NamedSharding(*c.mesh, c.w)},
                .out_shardings = NamedSharding(*c.mesh, c.out)});
    const Array out = sharded(x, w);
    EXPECT_EQ(out.sharding().named().spec(), c.out);
    expect_close(out, want);
  }
}

// The gradient of a mean loss over a batch split over the devices: each device's products over
// its rows, summed over the devices (the all-reduce of data-parallel training) by the psum that
// partitioning puts where the batch dimension is contracted.
TEST(ShardedJit, DataParallelGradientEqualsTheOneDeviceGradient) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  testing::SimpleMLP model;
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const Array x = random::normal(random::key(7), {8, 8});
  const Array y = random::normal(random::key(8), {8, 8});
  auto step = [model](const Tree& p, const Array& b, const Array& t) {
    return grad([&](const Tree& q) { return mean(square(model.apply(q, b) - t)); })(p);
  };
  const Tree want = jit(step)(params, x, y);
  for (size_t n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"data"});
    auto sharded = jit(step, {.in_shardings = {None, P("data"), P("data")}, .out_shardings = P()});
    auto scope = use_mesh(mesh);
    const Tree got = sharded(params, x, y);
    const std::vector<Array> g = leaves(got), w = leaves(want);
    ASSERT_EQ(g.size(), w.size());
    for (size_t i = 0; i < w.size(); ++i) expect_close(g[i], w[i]);
  }
}

// The shape primitives' rule: moved dimensions keep their splits, changed ones are made whole.
TEST(ShardedJit, ShapePrimitivesUnderSplitsEqualTheOneDeviceResult) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Array x = random::normal(random::key(9), {8, 4});
  const Array y = random::normal(random::key(10), {4, 8});
  auto f = [](const Array& a, const Array& b) {
    Array t = transpose(a, {1, 0});  // (4, 8)
    Array s = slice(b, {0, 0}, {4, 8}) + sum(slice(b, {1, 0}, {4, 8}, {1, 1})) * 0.5;
    Array p = pad(rev(t, {0}), 0.0, {0, 0}, {0, 0}, {0, 0}) * s;                        // (4, 8)
    Array c = concatenate({p, pad(slice(t, {0, 0}, {2, 8}), 1.5, {1, 0}, {1, 0})}, 0);  // (8, 8)
    return c + sum(reshape(transpose(t, {1, 0}), {8, 4}));
  };
  const Array want = jit(f)(x, y);
  const Mesh line(testing::first_cpu_devices(4), {"i"});
  const Mesh grid(testing::first_cpu_devices(8), {2, 4}, {"x", "y"});
  for (const auto& [mesh, xs, ys, out] :
       std::vector<std::tuple<const Mesh*, PartitionSpec, PartitionSpec, PartitionSpec>>{
           {&line, P("i"), P(None, "i"), P(None, "i")},
           {&line, P(None, "i"), P("i"), P("i")},
           {&grid, P("y", "x"), P("x", "y"), P("x", "y")},
       }) {
    SCOPED_TRACE(xs.str() + ", " + ys.str() + " -> " + out.str());
    auto sharded = jit(f, {.in_shardings = {NamedSharding(*mesh, xs), NamedSharding(*mesh, ys)},
                           .out_shardings = NamedSharding(*mesh, out)});
    expect_close(sharded(x, y), want);
  }
}

// Primitives without a sharding rule (here sort) are computed whole.
TEST(ShardedJit, PrimitivesWithoutARuleAreComputedWhole) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Array x = random::normal(random::key(5), {8, 4});
  const Array y = random::normal(random::key(6), {8, 4});
  auto f = [](const Array& a, const Array& b) {
    return sum(exp(a) * b, Axes{0}) + sum(sort(a, 0), Axes{0});
  };
  const Array want = jit(f)(x, y);
  const Mesh mesh(testing::first_cpu_devices(4), {"i"});
  auto sharded = jit(f, {.in_shardings = {P("i"), P(None, "i")}, .out_shardings = P("i")});
  auto scope = use_mesh(mesh);
  expect_close(sharded(x, y), want);
  // Arguments already placed over the mesh need no in_shardings.
  auto plain = jit(f);
  const Array xs = device_put(x, NamedSharding(mesh, P("i")));
  const Array out = plain(xs, y);
  EXPECT_TRUE(out.sharding().is_named());
  expect_close(out, want);
}

// reshape, convolution, pooling and cumulative sums under splits of the batch (kept: no
// collective), of the output features and of a spatial dimension (gathered): the one-device
// values, forward and gradient (whose convolutions contract the batch: there it is gathered).
TEST(ShardedJit, ConvolutionalNetworkUnderSplitsEqualsTheOneDeviceResult) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Array x = random::normal(random::key(11), {8, 6, 6, 3});
  const Array k = random::normal(random::key(12), {3, 3, 3, 4}) * 0.3f;
  const Array w = random::normal(random::key(13), {36, 5}) * 0.2f;
  auto net = [](const Array& images, const Array& kernel, const Array& dense) {
    const Array c = relu(conv_general_dilated(images, kernel, {.padding = {{1, 1}, {1, 1}}}));
    const Array pooled = nn::max_pool(c, {2, 2}, {2, 2}) + nn::avg_pool(c, {2, 2}, {2, 2});
    const Array h = cumsum(pooled, 2);          // (8, 3, 3, 4)
    return matmul(reshape(h, {8, 36}), dense);  // (8, 5)
  };
  auto loss = [net](const Array& images, const Array& kernel, const Array& dense) {
    return mean(square(net(images, kernel, dense)));
  };
  auto both = [&](const Array& images, const Array& kernel, const Array& dense) {
    const Array dk = grad([&](const Array& q) { return loss(images, q, dense); })(kernel);
    return std::vector<Array>{net(images, kernel, dense), dk};
  };
  const std::vector<Array> want = jit(both)(x, k, w);
  const Mesh mesh(testing::first_cpu_devices(2), {"i"});
  for (const auto& [xs, ks] : std::vector<std::pair<PartitionSpec, PartitionSpec>>{
           {P("i"), P()}, {P(), P(None, None, None, "i")}, {P(None, "i"), P()}}) {
    SCOPED_TRACE(xs.str() + ", " + ks.str());
    auto sharded = jit(both, {.in_shardings = {NamedSharding(mesh, xs), NamedSharding(mesh, ks),
                                               NamedSharding(mesh, P())}});
    const std::vector<Array> got = sharded(x, k, w);
    expect_close(got[0], want[0]);
    expect_close(got[1], want[1]);
  }
}

// Embedding lookups of split token ids (gather's rule), forward and the table's gradient (a
// scatter-add of split cotangents into zeros: partial sums), and a scatter-add of split updates
// into a table that is not zeros.
TEST(ShardedJit, EmbeddingLookupOfSplitIdsEqualsTheOneDeviceResult) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Array table = random::normal(random::key(14), {10, 4});
  const Array ids =
      array(std::vector<int32_t>{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3}, {8, 2});
  auto f = [](const Array& t, const Array& i) {
    const Array dt = grad([&](const Array& q) { return sum(square(take(q, i, 0))); })(t);
    ir::GatherDims rows;  // t.at[i].add(...) over the flattened ids
    rows.offset_dims = {1};
    rows.collapsed_slice_dims = {0};
    rows.start_index_map = {0};
    rows.index_vector_dim = 1;
    const Array added = scatter_add(t, reshape(i, {16, 1}), reshape(take(t, i, 0), {16, 4}), rows);
    return std::vector<Array>{take(t, i, 0) * 2.0f, dt, added};
  };
  const std::vector<Array> want = jit(f)(table, ids);
  for (size_t n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"i"});
    auto sharded =
        jit(f, {.in_shardings = {NamedSharding(mesh, P()), NamedSharding(mesh, P("i"))}});
    const std::vector<Array> got = sharded(table, ids);
    EXPECT_EQ(got[0].sharding().str(), NamedSharding(mesh, P("i")).str());
    expect_close(got[0], want[0]);
    expect_close(got[1], want[1]);
    expect_close(got[2], want[2]);
  }
}

// Dynamic slices and updates along the whole dimensions of a split value, with negative and
// out-of-range starts (wrapped and clamped as on one device).
TEST(ShardedJit, DynamicSlicesEqualTheOneDeviceResult) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Array x = random::normal(random::key(15), {8, 6});
  auto f = [](const Array& a, const Array& i) {
    const Array window = dynamic_slice_in_dim(a, i, 2, 1);
    return dynamic_update_slice_in_dim(a, exp(window), i - 1, 1);
  };
  const Mesh mesh(testing::first_cpu_devices(2), {"i"});
  for (int32_t start : {0, 3, -2, 9}) {
    SCOPED_TRACE("start " + std::to_string(start));
    const Array i = array(std::vector<int32_t>{start}, {});
    const Array want = jit(f)(x, i);
    for (const PartitionSpec& spec : {P("i"), P(None, "i")}) {
      auto sharded =
          jit(f, {.in_shardings = {NamedSharding(mesh, spec), NamedSharding(mesh, P())}});
      expect_close(sharded(x, i), want);
    }
  }
}

TEST(ShardedJit, BadShardingsAreErrorsNamingTheCall) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(2), {"data"});
  const Array x = ones({6, 3});
  auto f = jit([](const Array& a) { return a * 2.0; },
               {.in_shardings = {P("model")}, .out_shardings = P()});
  {
    auto scope = use_mesh(mesh);
    const Loc loc = Loc::current();
    try {
      (void)f(x, loc);
      FAIL();
    } catch (const ValueError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("names mesh axis 'model', which Mesh('data': 2) does not have"),
                std::string::npos)
          << m;
      EXPECT_NE(m.find("sharded_jit_test.cpp:" + std::to_string(loc.line())), std::string::npos)
          << m;
    }
  }
  auto g = jit([](const Array& a) { return a * 2.0; }, {.in_shardings = {P("data")}});
  try {
    (void)g(x);  // no mesh in scope
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("use_mesh"), std::string::npos) << e.what();
  }
  auto scope = use_mesh(Mesh(testing::first_cpu_devices(4), {"data"}));
  EXPECT_THROW((void)g(x), ShapeError);  // 6 rows over 4 devices
}

}  // namespace
}  // namespace kiln
