// gather, scatter and the dynamic slices in the forms JAX 0.10.2 writes (generic gather/scatter
// with #stablehlo.gather / #stablehlo.scatter attributes and an update region; pretty
// dynamic_slice), their generic spellings, what kiln writes back, and the refusals.
#include <gtest/gtest.h>

#include <string>

#include "kiln/error.hpp"
#include "kiln/export.hpp"
#include "kiln/import.hpp"
#include "kiln/ir.hpp"

namespace kiln {
namespace {

// jax.jit(lambda x, i: x.at[i].set(2.0) + x[i].sum()).lower(f32[4,3], i32[2,1]), trimmed.
const char* kJaxScatterGather =
    R"mlir(module @jit_f attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4x3xf32>, %arg1: tensor<2x1xi32>) -> (tensor<4x3xf32> {jax.result_info = "result"}, tensor<2x3xf32>) {
    %cst = stablehlo.constant dense<2.000000e+00> : tensor<f32>
    %0 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<2x3xf32>
    %1 = "stablehlo.scatter"(%arg0, %arg1, %0) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false}> ({
    ^bb0(%arg2: tensor<f32>, %arg3: tensor<f32>):
      stablehlo.return %arg3 : tensor<f32>
    }) : (tensor<4x3xf32>, tensor<2x1xi32>, tensor<2x3xf32>) -> tensor<4x3xf32>
    %2 = "stablehlo.gather"(%arg0, %arg1) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 3>}> : (tensor<4x3xf32>, tensor<2x1xi32>) -> tensor<2x3xf32>
    return %1, %2 : tensor<4x3xf32>, tensor<2x3xf32>
  }
}
)mlir";

TEST(GatherImport, JaxsTextImportsToGatherAndScatterAndExportsTheSameOps) {
  const ir::Graph g = from_stablehlo(kJaxScatterGather, "f.mlir");
  int gathers = 0, scatters = 0;
  for (const ir::Node& n : g.nodes) {
    gathers += n.prim == ir::Prim::gather;
    scatters += n.prim == ir::Prim::scatter;
    if (n.prim == ir::Prim::gather) {
      EXPECT_EQ(n.attrs.gather.offset_dims, std::vector<int64_t>{1});
      EXPECT_EQ(n.attrs.gather.collapsed_slice_dims, std::vector<int64_t>{0});
      EXPECT_EQ(n.attrs.gather.slice_sizes, (std::vector<int64_t>{1, 3}));
      EXPECT_EQ(n.attrs.gather.index_vector_dim, 1);
    }
  }
  EXPECT_EQ(gathers, 1);
  EXPECT_EQ(scatters, 1);
  const std::string text = to_stablehlo(g);
  EXPECT_NE(text.find("<{dimension_numbers = #stablehlo.gather<offset_dims = [1], "
                      "collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, "
                      "indices_are_sorted = false, slice_sizes = array<i64: 1, 3>}> : "
                      "(tensor<4x3xf32>, tensor<2x1xi32>) -> tensor<2x3xf32>"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("<{indices_are_sorted = false, scatter_dimension_numbers = "
                      "#stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], "
                      "scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices "
                      "= false}> ({"),
            std::string::npos)
      << text;
  // The text kiln writes reads back to the same text.
  EXPECT_EQ(to_stablehlo(from_stablehlo(text, "again.mlir")), text);
}

TEST(GatherImport, UpdateRegionsPickTheCombinerAndFlagsAreKept) {
  for (const auto& [op, prim] : {std::pair{"stablehlo.add", ir::Prim::scatter_add},
                                 {"stablehlo.multiply", ir::Prim::scatter_mul},
                                 {"stablehlo.minimum", ir::Prim::scatter_min},
                                 {"stablehlo.maximum", ir::Prim::scatter_max}}) {
    const std::string text =
        std::string(
            R"mlir(func.func @main(%x: tensor<5xi32>, %i: tensor<2xi32>, %u: tensor<2xi32>) -> tensor<5xi32> {
  %0 = "stablehlo.scatter"(%x, %i, %u) <{indices_are_sorted = true, scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = true}> ({
  ^bb0(%a: tensor<i32>, %b: tensor<i32>):
    %s = )mlir") +
        op + R"mlir( %a, %b : tensor<i32>
    stablehlo.return %s : tensor<i32>
  }) : (tensor<5xi32>, tensor<2xi32>, tensor<2xi32>) -> tensor<5xi32>
  return %0 : tensor<5xi32>
}
)mlir";
    const ir::Graph g = from_stablehlo(text, "s.mlir");
    ASSERT_EQ(g.nodes.back().prim, prim) << op;
    EXPECT_TRUE(g.nodes.back().attrs.gather.indices_are_sorted);
    EXPECT_TRUE(g.nodes.back().attrs.gather.unique_indices);
    EXPECT_EQ(g.nodes.back().attrs.gather.index_vector_dim, 1);
  }
}

// jnp's x.at[1:3, 2].set(0.0): StableHLO's printer leaves out index_vector_dim = 0.
TEST(GatherImport, AnAbsentIndexVectorDimIsZero) {
  const char* text =
      R"mlir(func.func @main(%x: tensor<5x4xf32>, %i: tensor<2xi32>, %u: tensor<2xf32>) -> tensor<5x4xf32> {
  %0 = "stablehlo.scatter"(%x, %i, %u) <{indices_are_sorted = true, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [0], inserted_window_dims = [1], scatter_dims_to_operand_dims = [0, 1]>, unique_indices = true}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }) : (tensor<5x4xf32>, tensor<2xi32>, tensor<2xf32>) -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}
)mlir";
  const ir::Graph g = from_stablehlo(text, "s.mlir");
  ASSERT_EQ(g.nodes.back().prim, ir::Prim::scatter);
  EXPECT_EQ(g.nodes.back().attrs.gather.index_vector_dim, 0);
  const std::string out = to_stablehlo(g);
  EXPECT_NE(out.find("#stablehlo.scatter<update_window_dims = [0], inserted_window_dims = [1], "
                     "scatter_dims_to_operand_dims = [0, 1]>, unique_indices = true}>"),
            std::string::npos)
      << out;
}

TEST(GatherImport, DynamicSlicesInPrettyAndGenericForms) {
  const char* pretty =
      R"mlir(func.func @main(%x: tensor<4x3xf32>, %i: tensor<i32>, %u: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<4x3xf32>) {
  %c = stablehlo.constant dense<1> : tensor<i32>
  %0 = stablehlo.dynamic_slice %x, %i, %c, sizes = [2, 2] : (tensor<4x3xf32>, tensor<i32>, tensor<i32>) -> tensor<2x2xf32>
  %1 = stablehlo.dynamic_update_slice %x, %u, %i, %c : (tensor<4x3xf32>, tensor<2x2xf32>, tensor<i32>, tensor<i32>) -> tensor<4x3xf32>
  return %0, %1 : tensor<2x2xf32>, tensor<4x3xf32>
}
)mlir";
  const char* generic =
      R"mlir(func.func @main(%x: tensor<4x3xf32>, %i: tensor<i32>, %u: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<4x3xf32>) {
  %c = "stablehlo.constant"() <{value = dense<1> : tensor<i32>}> : () -> tensor<i32>
  %0 = "stablehlo.dynamic_slice"(%x, %i, %c) <{slice_sizes = array<i64: 2, 2>}> : (tensor<4x3xf32>, tensor<i32>, tensor<i32>) -> tensor<2x2xf32>
  %1 = "stablehlo.dynamic_update_slice"(%x, %u, %i, %c) : (tensor<4x3xf32>, tensor<2x2xf32>, tensor<i32>, tensor<i32>) -> tensor<4x3xf32>
  "func.return"(%0, %1) : (tensor<2x2xf32>, tensor<4x3xf32>) -> ()
}
)mlir";
  const std::string a = to_stablehlo(from_stablehlo(pretty, "p.mlir"));
  EXPECT_EQ(a, to_stablehlo(from_stablehlo(generic, "g.mlir")));
  EXPECT_NE(a.find("stablehlo.dynamic_slice %arg0, %arg1, %0, sizes = [2, 2] : (tensor<4x3xf32>, "
                   "tensor<i32>, tensor<i32>) -> tensor<2x2xf32>"),
            std::string::npos)
      << a;
}

template <class E>
std::string error_of(const std::string& text) {
  try {
    (void)from_stablehlo(text, "bad.mlir");
  } catch (const E& e) {
    return e.what();
  }
  return "no error";
}

TEST(GatherImport, UnknownRegionsAndBadIndicesAreErrorsAtTheirLine) {
  const std::string sub =
      R"mlir(func.func @main(%x: tensor<5xf32>, %i: tensor<2xi32>, %u: tensor<2xf32>) -> tensor<5xf32> {
  %0 = "stablehlo.scatter"(%x, %i, %u) <{scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.subtract %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<5xf32>, tensor<2xi32>, tensor<2xf32>) -> tensor<5xf32>
  return %0 : tensor<5xf32>
}
)mlir";
  std::string e = error_of<Unsupported>(sub);
  EXPECT_NE(e.find("bad.mlir:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("stablehlo.subtract update region"), std::string::npos) << e;
  const std::string float_indices =
      R"mlir(func.func @main(%x: tensor<4x3xf32>, %i: tensor<2x1xf32>) -> tensor<2x3xf32> {
  %0 = "stablehlo.gather"(%x, %i) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, slice_sizes = array<i64: 1, 3>}> : (tensor<4x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}
)mlir";
  e = error_of<ValueError>(float_indices);
  EXPECT_NE(e.find("bad.mlir:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("indices must be of an integer dtype, got f32[2,1]"), std::string::npos) << e;
}

}  // namespace
}  // namespace kiln
