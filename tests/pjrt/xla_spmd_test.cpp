// kiln's sharded StableHLO export compiled and run by XLA's CPU plugin on several devices (the
// client created with "cpu_device_count", the module compiled with num_partitions, SPMD
// partitioning and a device assignment, executed with one argument list per device): each
// device's result shard equals the one kiln's own partitioned run gives that device, and the
// one-device result. ctest runs these as XlaSpmd.EightCpuDevices with KILN_CPU_DEVICES=8; they
// skip without the reference venv or with fewer kiln cpu devices.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"
#include "pjrt/xla_plugin.hpp"
#include "spmd/cpu_devices.hpp"
#include "spmd/simple_mlp.hpp"

namespace kiln {
namespace {

using testing::run_partitioned_on_xla;

// XLA's and kiln's kernels may sum in other orders (and XLA's tanh differs in the last bits).
void expect_close(const Array& got, const Array& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const auto g = got.to_vector<float>(), w = want.to_vector<float>();
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_NEAR(g[i], w[i], 4e-6 * (1 + std::abs(w[i]))) << what << ", element " << i;
}

// Device k's shard of each argument leaf (placed as `shardings[i]` says), per device.
std::vector<std::vector<Array>> shards(const std::vector<Array>& leaves,
                                       const std::vector<NamedSharding>& shardings) {
  const size_t n = static_cast<size_t>(shardings.at(0).mesh().size());
  std::vector<std::vector<Array>> per_device(n);
  for (size_t i = 0; i < leaves.size(); ++i) {
    const std::vector<Shard> s = device_put(leaves[i], shardings[i]).addressable_shards();
    for (size_t k = 0; k < n; ++k) per_device[k].push_back(s[k].data);
  }
  return per_device;
}

// XLA's shards of every result against kiln's partitioned results (the same devices, in mesh
// order) and against the one-device results.
void expect_same_shards(const std::vector<std::vector<Array>>& xla,
                        const std::vector<Array>& kiln_out, const std::vector<Array>& one_device) {
  ASSERT_EQ(xla.size(), kiln_out.size());
  for (size_t o = 0; o < xla.size(); ++o) {
    const std::vector<Shard> mine = kiln_out[o].addressable_shards();
    const Array whole = one_device[o];
    ASSERT_EQ(xla[o].size(), mine.size());
    for (size_t k = 0; k < mine.size(); ++k) {
      const std::string what = "result " + std::to_string(o) + " on device " + std::to_string(k);
      expect_close(xla[o][k], mine[k].data, what + " (kiln's shard)");
      std::vector<int64_t> start, limit;
      for (const auto& [a, b] : mine[k].index) {
        start.push_back(a);
        limit.push_back(b);
      }
      expect_close(xla[o][k], slice(whole, start, limit), what + " (one-device result)");
    }
  }
}

#define SKIP_WITHOUT_XLA_AND_EIGHT_DEVICES() \
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();        \
  SKIP_WITHOUT_EIGHT_DEVICES()

TEST(XlaSpmd, DataParallelTutorialOnTwoFourAndEightDevices) {
  SKIP_WITHOUT_XLA_AND_EIGHT_DEVICES();
  testing::SimpleMLP model;
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const Array x = random::normal(random::key(1), {8, 8});
  auto apply = [model](const Tree& p, const Array& b) { return model.apply(p, b); };
  const Array want = jit(apply)(params, x);
  for (size_t n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"data"});
    auto forward = jit(
        apply,
        {.name = "data_parallel", .in_shardings = {None, P("data")}, .out_shardings = P("data")});
    auto scope = use_mesh(mesh);
    const std::string mlir = export_stablehlo(forward, params, x);
    const Array mine = forward(params, device_put(x, NamedSharding(mesh, P("data"))));
    std::vector<Array> in = leaves(params);
    std::vector<NamedSharding> placed(in.size(), NamedSharding(mesh, P()));
    in.push_back(x);
    placed.emplace_back(mesh, P("data"));
    expect_same_shards(run_partitioned_on_xla(mlir, shards(in, placed)), {mine}, {want});
  }
}

TEST(XlaSpmd, TensorParallelTutorialOnTwoFourAndEightDevices) {
  SKIP_WITHOUT_XLA_AND_EIGHT_DEVICES();
  const testing::TensorParallelDense model{};
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const Array x = random::normal(random::key(2), {8, 8});
  auto apply = [model](const Tree& p, const Array& b) { return model.apply(p, b); };
  const Array want = jit(apply)(params, x);
  const Shardings kernel = Shardings::dict(
      {{"params",
        Shardings::dict({{"Dense_0", Shardings::dict({{"kernel", P(None, "model")}})}})}});
  for (size_t n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"model"});
    auto forward = jit(apply, {.name = "tensor_parallel",
                               .in_shardings = {kernel, P()},
                               .out_shardings = P(None, "model")});
    auto scope = use_mesh(mesh);
    const std::string mlir = export_stablehlo(forward, params, x);
    const Array mine = forward(params, x);
    const std::vector<Array> in = {leaves(params)[0], x};
    expect_same_shards(
        run_partitioned_on_xla(
            mlir, shards(in, {NamedSharding(mesh, P(None, "model")), NamedSharding(mesh, P())})),
        {mine}, {want});
  }
}

// A data-parallel SGD step (the batch split, the parameters replicated): the gradient's psum is
// XLA's to place here, kiln's in its own run; the new parameters agree on every device.
TEST(XlaSpmd, DataParallelTrainStepOnTwoFourAndEightDevices) {
  SKIP_WITHOUT_XLA_AND_EIGHT_DEVICES();
  testing::SimpleMLP model;
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const Array x = random::normal(random::key(7), {8, 8});
  const Array y = random::normal(random::key(8), {8, 8});
  auto step = [model](const Tree& p, const Array& b, const Array& t) {
    const Tree g = grad([&](const Tree& q) { return mean(square(model.apply(q, b) - t)); })(p);
    return tree_map([](const Array& w, const Array& d) { return w - d * 0.1f; }, p, g);
  };
  const std::vector<Array> want = leaves(jit(step)(params, x, y));
  for (size_t n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"data"});
    auto sharded = jit(
        step,
        {.name = "train_step", .in_shardings = {None, P("data"), P("data")}, .out_shardings = P()});
    auto scope = use_mesh(mesh);
    const std::string mlir = export_stablehlo(sharded, params, x, y);
    const std::vector<Array> mine = leaves(sharded(params, x, y));
    std::vector<Array> in = leaves(params);
    std::vector<NamedSharding> placed(in.size(), NamedSharding(mesh, P()));
    for (const Array& a : {x, y}) {
      in.push_back(a);
      placed.emplace_back(mesh, P("data"));
    }
    expect_same_shards(run_partitioned_on_xla(mlir, shards(in, placed)), mine, want);
  }
}

// A convolutional step over a split batch: convolution, pooling, reshape and the kernels'
// gradients, which kiln runs per shard with one psum each and XLA partitions its own way.
TEST(XlaSpmd, ConvolutionalStepOnTwoAndFourDevices) {
  SKIP_WITHOUT_XLA_AND_EIGHT_DEVICES();
  const Array x = random::normal(random::key(11), {8, 6, 6, 3});
  const Array k = random::normal(random::key(12), {3, 3, 3, 4}) * 0.3f;
  const Array w = random::normal(random::key(13), {36, 5}) * 0.2f;
  auto step = [](const Array& images, const Array& kernel, const Array& dense) {
    auto loss = [&](const Array& q) {
      Array h = relu(conv_general_dilated(images, q, {.padding = {{1, 1}, {1, 1}}}));
      h = nn::max_pool(h, {2, 2}, {2, 2});
      return mean(square(matmul(reshape(h, {8, 36}), dense)));
    };
    return std::vector<Array>{loss(kernel), kernel - grad(loss)(kernel) * 0.1f};
  };
  const std::vector<Array> want = jit(step)(x, k, w);
  for (size_t n : {2, 4}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"data"});
    const NamedSharding batch(mesh, P("data")), whole(mesh, P());
    auto sharded = jit(
        step, {.name = "conv_step", .in_shardings = {batch, whole, whole}, .out_shardings = whole});
    const std::string mlir = export_stablehlo(sharded, x, k, w);
    const std::vector<Array> mine = sharded(x, k, w);
    expect_same_shards(run_partitioned_on_xla(mlir, shards({x, k, w}, {batch, whole, whole})), mine,
                       want);
  }
}

// A 2x4 mesh: a product whose contracted dimension is split (XLA all-reduces, kiln psums), the
// result split over both axes, and a with_sharding_constraint inside.
TEST(XlaSpmd, TwoByFourMeshAndAConstraint) {
  SKIP_WITHOUT_XLA_AND_EIGHT_DEVICES();
  const Mesh mesh = make_mesh({2, 4}, {"a", "b"});
  const Array x = random::normal(random::key(3), {8, 16});
  const Array w = random::normal(random::key(4), {16, 8});
  auto f = [&](const Array& l, const Array& r) {
    const Array h = with_sharding_constraint(tanh(matmul(l, r)), NamedSharding(mesh, P("b", "a")));
    return h * 3.0f;
  };
  const Array want = jit(f)(x, w);
  const NamedSharding xs(mesh, P("a", "b")), ws(mesh, P("b", None));
  auto sharded = jit(f, {.name = "grid",
                         .in_shardings = {xs, ws},
                         .out_shardings = NamedSharding(mesh, P(None, axes("a", "b")))});
  const std::string mlir = export_stablehlo(sharded, x, w);
  ASSERT_NE(mlir.find("custom_call @Sharding"), std::string::npos) << mlir;
  const Array mine = sharded(x, w);
  expect_same_shards(run_partitioned_on_xla(mlir, shards({x, w}, {xs, ws})), {mine}, {want});
}

}  // namespace
}  // namespace kiln
