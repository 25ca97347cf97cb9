// stablehlo.while imported by unrolling (src/import/while_loop.cpp): the fori_loop form JAX writes
// (pretty and generic), loop-carried constants folded each iteration (a counter, a rotating table
// as threefry2x32's), outer values read inside the body, nested loops, zero trips; the results are
// checked against the loop run here in float64. Data-dependent trip counts and runaway loops are
// refused with the op's position and the reason.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/backend_fixture.hpp"
#include "kiln/error.hpp"
#include "kiln/import.hpp"
#include "kiln/ir.hpp"

namespace kiln {
namespace {

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE((text).find(part), std::string::npos) << "missing: " << (part) << "\n" << (text)

class WhileImport : public testing::BackendFixture {};

// lax.fori_loop(0, 6, step, x) with a rotating int table carried along (threefry's rotations):
// x <- x * h + float(i * t[0]); t <- roll(t, -1). h is read from outside the loop; %1 is named
// inside both regions and again after the loop (MLIR scopes region names).
constexpr const char* kForiLoop = R"mlir(module @jit_f {
  func.func public @main(%arg0: tensor<3xf32>) -> (tensor<3xf32>, tensor<i32>, tensor<4xi32>) {
    %c = stablehlo.constant dense<0> : tensor<i32>
    %t = stablehlo.constant dense<[1, 2, 3, 4]> : tensor<4xi32>
    %cst = stablehlo.constant dense<5.000000e-01> : tensor<f32>
    %0:3 = stablehlo.while(%iterArg = %c, %iterArg_0 = %arg0, %iterArg_1 = %t) : tensor<i32>, tensor<3xf32>, tensor<4xi32>
    cond {
      %c_2 = stablehlo.constant dense<6> : tensor<i32>
      %1 = stablehlo.compare LT, %iterArg, %c_2, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %1 : tensor<i1>
    } do {
      %1:2 = func.call @step(%iterArg, %iterArg_0, %iterArg_1, %cst) : (tensor<i32>, tensor<3xf32>, tensor<4xi32>, tensor<f32>) -> (tensor<3xf32>, tensor<4xi32>)
      %c_2 = stablehlo.constant dense<1> : tensor<i32>
      %2 = stablehlo.add %iterArg, %c_2 : tensor<i32>
      stablehlo.return %2, %1#0, %1#1 : tensor<i32>, tensor<3xf32>, tensor<4xi32>
    }
    %1 = stablehlo.negate %0#1 : tensor<3xf32>
    return %1, %0#0, %0#2 : tensor<3xf32>, tensor<i32>, tensor<4xi32>
  }
  func.func private @step(%i: tensor<i32>, %x: tensor<3xf32>, %t: tensor<4xi32>, %h: tensor<f32>) -> (tensor<3xf32>, tensor<4xi32>) {
    %0 = stablehlo.slice %t [0:1] : (tensor<4xi32>) -> tensor<1xi32>
    %1 = stablehlo.reshape %0 : (tensor<1xi32>) -> tensor<i32>
    %2 = stablehlo.multiply %i, %1 : tensor<i32>
    %3 = stablehlo.convert %2 : (tensor<i32>) -> tensor<f32>
    %4 = stablehlo.broadcast_in_dim %3, dims = [] : (tensor<f32>) -> tensor<3xf32>
    %5 = stablehlo.broadcast_in_dim %h, dims = [] : (tensor<f32>) -> tensor<3xf32>
    %6 = stablehlo.multiply %x, %5 : tensor<3xf32>
    %7 = stablehlo.add %6, %4 : tensor<3xf32>
    %8 = stablehlo.slice %t [1:4] : (tensor<4xi32>) -> tensor<3xi32>
    %9 = stablehlo.concatenate %8, %0, dim = 0 : (tensor<3xi32>, tensor<1xi32>) -> tensor<4xi32>
    return %7, %9 : tensor<3xf32>, tensor<4xi32>
  }
}
)mlir";

TEST_F(WhileImport, ForiLoopUnrollsAndMatchesTheLoop) {
  const ir::Graph g = from_stablehlo(kForiLoop, "fori.mlir");
  // The counter was folded at each iteration: the returned count is a literal, not an add chain.
  ASSERT_EQ(g.outputs.size(), 3u);
  EXPECT_EQ(g.nodes[g.outputs[1]].prim, ir::Prim::constant);
  auto exe = backend_->compile(g, device_);
  const std::vector<float> x0 = {1.25f, -3.0f, 0.0f};
  const auto out = execute(*exe, {buffer(x0)});
  // The loop, run here in float64.
  std::vector<double> x(x0.begin(), x0.end());
  std::vector<int> t = {1, 2, 3, 4};
  int i = 0;
  for (; i < 6; ++i) {
    for (double& v : x) v = v * 0.5 + static_cast<double>(i * t[0]);
    t = {t[1], t[2], t[3], t[0]};
  }
  const auto got = read<float>(*out[0]);
  ASSERT_EQ(got.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(static_cast<double>(got[k]), -x[k]) << k;
  EXPECT_EQ(read<int32_t>(*out[1]), std::vector<int32_t>{i});
  EXPECT_EQ(read<int32_t>(*out[2]), std::vector<int32_t>(t.begin(), t.end()));
}

// The generic form, a zero-trip loop (its results are its initial values), and a loop nested in
// another's body whose bound is the outer counter (a triangular loop: sum of 0..3 doublings).
TEST_F(WhileImport, GenericFormZeroTripsAndNestedLoops) {
  const char* text =
      R"mlir(func.func @main(%arg0: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %c = stablehlo.constant dense<0> : tensor<i32>
  %0:2 = "stablehlo.while"(%c, %arg0) ({
  ^bb0(%i: tensor<i32>, %x: tensor<3xf32>):
    %c_2 = stablehlo.constant dense<3> : tensor<i32>
    %1 = stablehlo.compare LT, %i, %c_2, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %1 : tensor<i1>
  }, {
  ^bb0(%i: tensor<i32>, %x: tensor<3xf32>):
    %1 = stablehlo.add %x, %x : tensor<3xf32>
    %c_2 = stablehlo.constant dense<1> : tensor<i32>
    %2 = stablehlo.add %i, %c_2 : tensor<i32>
    stablehlo.return %2, %1 : tensor<i32>, tensor<3xf32>
  }) : (tensor<i32>, tensor<3xf32>) -> (tensor<i32>, tensor<3xf32>)
  %1:2 = stablehlo.while(%iterArg = %c, %iterArg_0 = %arg0) : tensor<i32>, tensor<3xf32>
  cond {
    %2 = stablehlo.compare LT, %iterArg, %c, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %2 : tensor<i1>
  } do {
    %2 = stablehlo.negate %iterArg_0 : tensor<3xf32>
    stablehlo.return %iterArg, %2 : tensor<i32>, tensor<3xf32>
  }
  %2:2 = stablehlo.while(%iterArg = %c, %iterArg_0 = %arg0) : tensor<i32>, tensor<3xf32>
  cond {
    %c_1 = stablehlo.constant dense<4> : tensor<i32>
    %3 = stablehlo.compare LT, %iterArg, %c_1, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %3 : tensor<i1>
  } do {
    %3:2 = stablehlo.while(%iterArg_2 = %c, %iterArg_3 = %iterArg_0) : tensor<i32>, tensor<3xf32>
    cond {
      %4 = stablehlo.compare LT, %iterArg_2, %iterArg, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %4 : tensor<i1>
    } do {
      %4 = stablehlo.add %iterArg_3, %iterArg_3 : tensor<3xf32>
      %c_1 = stablehlo.constant dense<1> : tensor<i32>
      %5 = stablehlo.add %iterArg_2, %c_1 : tensor<i32>
      stablehlo.return %5, %4 : tensor<i32>, tensor<3xf32>
    }
    %c_1 = stablehlo.constant dense<1> : tensor<i32>
    %4 = stablehlo.add %iterArg, %c_1 : tensor<i32>
    stablehlo.return %4, %3#1 : tensor<i32>, tensor<3xf32>
  }
  return %0#1, %1#1, %2#1 : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}
)mlir";
  const ir::Graph g = from_stablehlo(text, "loops.mlir");
  auto exe = backend_->compile(g, device_);
  const std::vector<float> x0 = {1.5f, -2.0f, 0.25f};
  const auto out = execute(*exe, {buffer(x0)});
  std::vector<float> times8, same = x0, times64;
  for (float v : x0) times8.push_back(v * 8.0f);
  for (float v : x0) times64.push_back(v * 64.0f);  // 2^(0+1+2+3)
  EXPECT_EQ(read<float>(*out[0]), times8);
  EXPECT_EQ(read<float>(*out[1]), same);
  EXPECT_EQ(read<float>(*out[2]), times64);
}

template <class E>
std::string error_of(const std::string& text) {
  try {
    (void)from_stablehlo(text, "bad.mlir");
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no error";
}

// A counter that starts from an argument, or runs on without end: refused, at the op, saying why.
TEST(WhileImportErrors, DataDependentAndRunawayTripCountsAreRefused) {
  const std::string data_dependent = error_of<Unsupported>(
      R"mlir(func.func @main(%arg0: tensor<i32>, %arg1: tensor<2xf32>) -> tensor<2xf32> {
  %0:2 = stablehlo.while(%iterArg = %arg0, %iterArg_0 = %arg1) : tensor<i32>, tensor<2xf32>
  cond {
    %c = stablehlo.constant dense<5> : tensor<i32>
    %1 = stablehlo.compare LT, %iterArg, %c, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %1 : tensor<i1>
  } do {
    %c = stablehlo.constant dense<1> : tensor<i32>
    %1 = stablehlo.add %iterArg, %c : tensor<i32>
    stablehlo.return %1, %iterArg_0 : tensor<i32>, tensor<2xf32>
  }
  return %0#1 : tensor<2xf32>
}
)mlir");
  EXPECT_EQ(data_dependent.rfind("bad.mlir:2:10: stablehlo.while is not supported here", 0), 0u)
      << data_dependent;
  EXPECT_CONTAINS(data_dependent,
                  "its trip count depends on %iterArg (loop-carried value 0), which is computed "
                  "from the function's arguments; kiln imports while loops whose trip count is "
                  "static");

  // The counter stays 0: the loop would never end.
  const std::string runaway =
      error_of<Unsupported>(R"mlir(func.func @main(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %c = stablehlo.constant dense<0> : tensor<i32>
  %0:2 = stablehlo.while(%iterArg = %c, %iterArg_0 = %arg0) : tensor<i32>, tensor<2xf32>
  cond {
    %c_1 = stablehlo.constant dense<1> : tensor<i32>
    %1 = stablehlo.compare LT, %iterArg, %c_1, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %1 : tensor<i1>
  } do {
    stablehlo.return %iterArg, %iterArg_0 : tensor<i32>, tensor<2xf32>
  }
  return %0#1 : tensor<2xf32>
}
)mlir");
  EXPECT_EQ(runaway.rfind("bad.mlir:3:10: stablehlo.while runs more than 10000 iterations", 0), 0u)
      << runaway;
  EXPECT_CONTAINS(runaway, "kiln imports a while loop by unrolling it");
}

// A body that changes a loop-carried type, and a condition that is not a scalar bool.
TEST(WhileImportErrors, RegionTypesAreChecked) {
  const std::string body_type =
      error_of<ValueError>(R"mlir(func.func @main(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %c = stablehlo.constant dense<0> : tensor<i32>
  %0:2 = stablehlo.while(%iterArg = %c, %iterArg_0 = %arg0) : tensor<i32>, tensor<2xf32>
  cond {
    %c_1 = stablehlo.constant dense<1> : tensor<i32>
    %1 = stablehlo.compare LT, %iterArg, %c_1, SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %1 : tensor<i1>
  } do {
    %1 = stablehlo.convert %iterArg_0 : (tensor<2xf32>) -> tensor<2xi32>
    stablehlo.return %iterArg, %1 : tensor<i32>, tensor<2xi32>
  }
  return %0#1 : tensor<2xf32>
}
)mlir");
  EXPECT_EQ(body_type.rfind("bad.mlir:3:10: stablehlo.while's do region returns (tensor<i32>, "
                            "tensor<2xi32>) but the loop carries (tensor<i32>, tensor<2xf32>)",
                            0),
            0u)
      << body_type;
  const std::string cond_type =
      error_of<ValueError>(R"mlir(func.func @main(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = stablehlo.while(%iterArg = %arg0) : tensor<2xf32>
  cond {
    stablehlo.return %iterArg : tensor<2xf32>
  } do {
    stablehlo.return %iterArg : tensor<2xf32>
  }
  return %0 : tensor<2xf32>
}
)mlir");
  EXPECT_EQ(cond_type.rfind("bad.mlir:2:8: stablehlo.while's cond region must return one "
                            "tensor<i1>, found (tensor<2xf32>)",
                            0),
            0u)
      << cond_type;
}

}  // namespace
}  // namespace kiln
