// StableHLO export of partitioned jit (docs/export.md, "Many devices"): the global program with
// JAX's mhlo.sharding attributes (GSPMD form), mhlo.num_partitions, and custom_call @Sharding for
// with_sharding_constraint. The expected texts are JAX's own (jax 0.10.2, GSPMD, 8 host devices:
// tests/spmd/data/sharded_export.txt). ctest runs these with KILN_CPU_DEVICES=8
// (Spmd.EightCpuDevices); in a process with fewer devices they skip.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/kiln.hpp"
#include "spmd/cpu_devices.hpp"
#include "spmd/sharded_export_references.hpp"
#include "spmd/simple_mlp.hpp"

namespace kiln {
namespace {

using testing::jax_export_text;

// Line `k` of the text (0: the module, 1: @main's signature).
std::string line(const std::string& text, int k) {
  size_t start = 0;
  for (int i = 0; i < k; ++i) start = text.find('\n', start) + 1;
  return text.substr(start, text.find('\n', start) - start);
}

TEST(ShardedExport, DataParallelTutorialHasJaxsModuleAndSignature) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  testing::SimpleMLP model;
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const Mesh mesh(testing::first_cpu_devices(2), {"data"});
  auto forward =
      jit([model](const Tree& p, const Array& x) { return model.apply(p, x); },
          {.name = "_lambda", .in_shardings = {None, P("data")}, .out_shardings = P("data")});
  auto scope = use_mesh(mesh);
  const std::string text = export_stablehlo(forward, params, ones({8, 8}));
  // JAX: in_shardings=(P(), P('data')) — kiln's None is replicated, and written so.
  EXPECT_EQ(line(text, 0), jax_export_text("data_parallel.module"));
  EXPECT_EQ(line(text, 1), jax_export_text("data_parallel.main"));
  // The body is the global program: no collective, global shapes.
  EXPECT_EQ(text.find("all_reduce"), std::string::npos) << text;
  EXPECT_NE(text.find("(tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>"), std::string::npos);
}

TEST(ShardedExport, TensorParallelTutorialHasJaxsSignature) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const testing::TensorParallelDense model{};
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const Mesh mesh(testing::first_cpu_devices(2), {"model"});
  const Shardings kernel = Shardings::dict(
      {{"params",
        Shardings::dict({{"Dense_0", Shardings::dict({{"kernel", P(None, "model")}})}})}});
  auto forward =
      jit([model](const Tree& p, const Array& x) { return model.apply(p, x); },
          {.name = "_lambda", .in_shardings = {kernel, P()}, .out_shardings = P(None, "model")});
  auto scope = use_mesh(mesh);
  const std::string text = export_stablehlo(forward, params, ones({8, 8}));
  EXPECT_EQ(line(text, 0), jax_export_text("tensor_parallel.module"));
  EXPECT_EQ(line(text, 1), jax_export_text("tensor_parallel.main"));
}

// Every layout as XLA's HloSharding prints it, for JAX's NamedSharding(mesh, spec).
TEST(ShardedExport, LayoutsAreWrittenAsXlaPrintsThem) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  struct Case {
    std::vector<int64_t> mesh;
    std::vector<std::string> names;
    PartitionSpec spec;
    int rank;
  };
  const Case cases[] = {
      {{2}, {"d"}, P("d"), 2},
      {{2}, {"d"}, P(None, "d"), 2},
      {{2}, {"d"}, P(), 2},
      {{2, 4}, {"a", "b"}, P("a"), 2},
      {{2, 4}, {"a", "b"}, P("b"), 2},
      {{2, 4}, {"a", "b"}, P(None, "a"), 2},
      {{2, 4}, {"a", "b"}, P(None, "b"), 2},
      {{2, 4}, {"a", "b"}, P("a", "b"), 2},
      {{2, 4}, {"a", "b"}, P("b", "a"), 2},
      {{2, 4}, {"a", "b"}, P(axes("a", "b")), 2},
      {{2, 4}, {"a", "b"}, P(axes("b", "a")), 2},
      {{2, 2, 2}, {"x", "y", "z"}, P("z", axes("x", "y")), 2},
      {{2, 2, 2}, {"x", "y", "z"}, P("y"), 2},
      {{2, 2, 2}, {"x", "y", "z"}, P(axes("z", "x")), 2},
      {{2, 2, 2}, {"x", "y", "z"}, P("x", None, "z"), 3},
      {{1, 8}, {"p", "q"}, P("q"), 2},
      {{1, 8}, {"p", "q"}, P("p"), 2},
      {{8, 1}, {"p", "q"}, P(None, "q"), 2},
      {{4, 1, 2}, {"x", "y", "z"}, P(axes("z", "x")), 2},
      {{2, 4}, {"a", "b"}, P(), 0},
  };
  for (const Case& c : cases) {
    // JAX's key: "layout 2x4 a,b P('b',) 2"
    std::string key = "layout ";
    for (size_t i = 0; i < c.mesh.size(); ++i) key += (i ? "x" : "") + std::to_string(c.mesh[i]);
    for (size_t i = 0; i < c.names.size(); ++i) key += (i ? "," : " ") + c.names[i];
    key += " P" + c.spec.str().substr(std::string("PartitionSpec").size()) + " " +
           std::to_string(c.rank);
    SCOPED_TRACE(key);
    const std::string want = jax_export_text(key);
    const Mesh mesh = make_mesh(c.mesh, c.names);
    const NamedSharding s(mesh, c.spec);
    auto twice =
        jit([](const Array& x) { return x * 2.0f; }, {.in_shardings = {s}, .out_shardings = s});
    const Array x = zeros(Shape(std::vector<int64_t>(static_cast<size_t>(c.rank), 8)));
    const std::string text = export_stablehlo(twice, x);
    const std::string type = c.rank == 0   ? "tensor<f32>"
                             : c.rank == 2 ? "tensor<8x8xf32>"
                                           : "tensor<8x8x8xf32>";
    EXPECT_NE(line(text, 1).find("%arg0: " + type + " {mhlo.sharding = \"" + want + "\"}"),
              std::string::npos)
        << line(text, 1);
    EXPECT_NE(line(text, 1).find("mhlo.sharding = \"" + want + "\"})"), std::string::npos)
        << line(text, 1);
    EXPECT_NE(line(text, 0).find("mhlo.num_partitions = " + std::to_string(mesh.size()) + " : i32"),
              std::string::npos);
  }
}

// A jit whose arguments are sharded arrays is partitioned without shardings given: its export
// says so too, and results without out_shardings carry the layout kiln's partitioner chose.
TEST(ShardedExport, ShardedArgumentsAndPropagatedResults) {
  SKIP_WITHOUT_EIGHT_DEVICES();
  const Mesh mesh(testing::first_cpu_devices(4), {"i"});
  const Array x = device_put(random::normal(random::key(1), {8, 4}), NamedSharding(mesh, P("i")));
  auto f = jit([](const Array& a) { return std::vector<Array>{exp(a), sum(a, {0})}; });
  const std::string text = export_stablehlo(f, x);
  EXPECT_NE(line(text, 1).find("%arg0: tensor<8x4xf32> {mhlo.sharding = \"{devices=[4,1]<=[4]}\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(line(text, 1).find("tensor<8x4xf32> {jax.result_info = \"[0]\", mhlo.sharding = "
                               "\"{devices=[4,1]<=[4]}\"}, tensor<4xf32> {jax.result_info = "
                               "\"[1]\", mhlo.sharding = \"{replicated}\"}"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace kiln
