// with_sharding_constraint (jax.lax.with_sharding_constraint): inside a partitioned jit the value
// takes the layout asked — the result that is it carries that sharding, its gradient is
// constrained alike — and the numbers are the one-device ones. ctest runs these with
// KILN_CPU_DEVICES=8 (Spmd.EightCpuDevices); in a process with fewer devices they skip.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "kiln/import.hpp"
#include "kiln/kiln.hpp"
#include "spmd/cpu_devices.hpp"
#include "spmd/partition.hpp"
#include "spmd/sharded_export_references.hpp"

namespace kiln {
namespace {

void expect_close(const Array& got, const Array& want) {
  ASSERT_EQ(got.shape(), want.shape());
  const auto g = got.to_vector<float>(), w = want.to_vector<float>();
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_NEAR(g[i], w[i], 2e-6 * (1 + std::abs(w[i]))) << "element " << i;
}

std::map<std::string, int> collectives(const ir::Graph& g) {
  std::map<std::string, int> n;
  for (const ir::Node& node : g.nodes)
    if (ir::info(node.prim).kind == ir::PrimKind::collective) ++n[std::string(ir::name(node.prim))];
  return n;
}

int count(const ir::Graph& g, ir::Prim p) {
  int n = 0;
  for (const ir::Node& node : g.nodes) n += node.prim == p;
  return n;
}

TEST(ShardingConstraint, TheResultTakesTheLayoutAskedAndTheOneDeviceValue) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Array x = random::normal(random::key(3), {8, 8});
  const Array want = sin(x) * 2.0f;
  for (size_t n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"x"});
    auto f = jit(
        [&](const Array& a) {
          return with_sharding_constraint(sin(a), NamedSharding(mesh, P(None, "x"))) * 2.0f;
        },
        {.in_shardings = {NamedSharding(mesh, P("x"))}});
    const Array out = f(x);
    // The output follows the constraint (propagated through the multiply).
    EXPECT_EQ(out.sharding().str(), "NamedSharding(mesh=Mesh('x': " + std::to_string(n) +
                                        "), spec=PartitionSpec(None, 'x'))");
    EXPECT_EQ(out.addressable_shards()[1].data.shape(), (Shape{8, 8 / static_cast<int64_t>(n)}));
    expect_close(out, want);
    // An output that is the constraint itself, on a 2-D split.
    if (n != 8) continue;
    const Mesh grid(testing::first_cpu_devices(8), {2, 4}, {"a", "b"});
    auto g = jit([&](const Array& a) {
      return with_sharding_constraint(cos(a), NamedSharding(grid, P("b", "a")));
    });
    const Array constrained = g(device_put(x, NamedSharding(grid, P())));
    EXPECT_EQ(constrained.sharding().str(), NamedSharding(grid, P("b", "a")).str());
    EXPECT_EQ(constrained.addressable_shards()[1].data.shape(), (Shape{2, 4}));
    expect_close(constrained, cos(x));
  }
}

// The constraint's layout is forced where propagation would keep another: rows split, then
// constrained to columns, costs one all_gather (and the block kept by axis_index).
TEST(ShardingConstraint, ForcesTheLayoutInThePerDeviceGraph) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(4), {"i"});
  auto f = jit([&](const Array& a) {
    return with_sharding_constraint(exp(a), NamedSharding(mesh, P(None, "i")));
  });
  const ir::Graph g = f.lower(zeros({8, 8})).graph();
  EXPECT_EQ(count(g, ir::Prim::sharding_constraint), 1);
  spmd::Layout rows = spmd::Layout::replicated(2), columns = spmd::Layout::replicated(2);
  rows.dims[0] = {"i"};
  columns.dims[1] = {"i"};
  const spmd::Partitioned p = spmd::partition(g, {{"i"}, {4}}, {rows}, {std::nullopt});
  EXPECT_EQ(p.outputs[0], columns);
  EXPECT_EQ(collectives(p.local),
            (std::map<std::string, int>{{"all_gather", 1}, {"axis_index", 1}}))
      << p.local.str();
  EXPECT_EQ(count(p.local, ir::Prim::sharding_constraint), 0);  // an identity once resharded
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{8, 2}));
  // Already so laid out: nothing to do.
  const spmd::Partitioned same = spmd::partition(g, {{"i"}, {4}}, {columns}, {std::nullopt});
  EXPECT_TRUE(collectives(same.local).empty()) << same.local.str();
}

// JAX's VJP: the cotangent is constrained alike. The gradient equals the one-device one.
TEST(ShardingConstraint, TheGradientIsConstrainedAlikeAndEqualsOneDevice) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(4), {"i"});
  const NamedSharding columns(mesh, P(None, "i"));
  auto loss = [&](const Array& a) {
    return sum(square(with_sharding_constraint(tanh(a), columns)));
  };
  const Array x = random::normal(random::key(5), {8, 8});
  const Array want = jit(grad([](const Array& a) { return sum(square(tanh(a))); }))(x);
  auto g = jit(grad(loss), {.in_shardings = {NamedSharding(mesh, P("i"))}});
  EXPECT_EQ(count(g.lower(x).graph(), ir::Prim::sharding_constraint), 2);
  expect_close(g(x), want);
}

TEST(ShardingConstraint, ExportsAsJaxsCustomCall) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(4), {"x"});
  auto f = jit(
      [&](const Array& a) {
        return with_sharding_constraint(sin(a), NamedSharding(mesh, P(None, "x")));
      },
      {.name = "_lambda", .in_shardings = {NamedSharding(mesh, P("x"))}});
  const std::string text = export_stablehlo(f, ones({8, 8}));
  // JAX's text for the same function: the same custom_call line, the same arguments (kiln also
  // writes the result's layout, which JAX leaves to XLA).
  const std::string call = testing::jax_export_text("constraint.custom_call");
  EXPECT_NE(text.find(call + "\n"), std::string::npos) << text << "\nJAX: " << call;
  const std::string main = testing::jax_export_text("constraint.main");
  const std::string jax_args = main.substr(0, main.find(" -> "));
  EXPECT_EQ(text.find(jax_args + " -> "), text.find("  func.func public")) << text;
  EXPECT_EQ(text.find("stablehlo.custom_call"), text.rfind("stablehlo.custom_call"));
  // Imported back, the constraint is its operand (an imported graph runs on one device).
  const ir::Graph back = from_stablehlo(text);
  EXPECT_EQ(count(back, ir::Prim::sharding_constraint), 0);
  EXPECT_EQ(back.type(back.outputs[0]), (ir::ValueType{float32, Shape{8, 8}}));
}

// Outside jit it is device_put; in a jit on one device, the value itself.
TEST(ShardingConstraint, EagerIsDevicePutAndOneDeviceJitIsTheValue) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(2), {"d"});
  const Array x = random::normal(random::key(6), {4, 2});
  const Array placed = with_sharding_constraint(x, NamedSharding(mesh, P("d")));
  EXPECT_EQ(placed.sharding().str(), NamedSharding(mesh, P("d")).str());
  EXPECT_EQ(placed.addressable_shards()[1].data.to_vector<float>(),
            slice(x, {2, 0}, {4, 2}).to_vector<float>());
  const Array same = jit([&](const Array& a) {
    return with_sharding_constraint(a + 1.0f, NamedSharding(mesh, P("d")));
  })(x);  // no shardings and no sharded argument: not partitioned
  EXPECT_FALSE(same.sharding().is_named());
  EXPECT_EQ(same.to_vector<float>(), (x + 1.0f).to_vector<float>());
}

TEST(ShardingConstraint, BadConstraintsAreErrorsNamingTheLine) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(2), {"d"});
  const Mesh other(testing::first_cpu_devices(4), {"e"});
  const Array x = zeros({4, 4});
  try {
    (void)with_sharding_constraint(x, P("d"));
    FAIL() << "no mesh in scope";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("no mesh in scope"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sharding_constraint_test.cpp"), std::string::npos);
  }
  try {
    (void)with_sharding_constraint(x, NamedSharding(mesh, P("model")));
    FAIL() << "an axis the mesh lacks";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("names mesh axis 'model'"), std::string::npos) << e.what();
  }
  auto f =
      jit([&](const Array& a) { return with_sharding_constraint(a, NamedSharding(other, P("e"))); },
          {.in_shardings = {NamedSharding(mesh, P("d"))}});
  try {
    (void)f(x);
    FAIL() << "a constraint over another mesh";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("inside a jit partitioned over the mesh ('d': 2)"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("sharding_constraint_test.cpp"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln
