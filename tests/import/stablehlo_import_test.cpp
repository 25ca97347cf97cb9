// StableHLO import of text as JAX writes it — an MLP with private helpers and a small CNN, in the
// pretty, region and generic forms, with locations — checked against float64 loops written here;
// and the errors for malformed text and ops kiln has no primitive for.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "backend/backend_fixture.hpp"
#include "kiln/export.hpp"
#include "kiln/import.hpp"
#include "kiln/kiln.hpp"

namespace kiln {
namespace {

std::vector<float> values(int64_t n, int salt) {
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(static_cast<float>((i * 37 + salt * 11 + 5) % 29 - 14) / 8.0f);
  return v;
}

class StableHloImport : public testing::BackendFixture {
 protected:
  std::vector<std::vector<float>> run(const ir::Graph& g,
                                      const std::vector<std::vector<float>>& in) {
    auto exe = backend_->compile(g, device_);
    std::vector<std::shared_ptr<Buffer>> bufs;
    for (const auto& v : in) bufs.push_back(buffer(v));
    std::vector<std::vector<float>> out;
    for (const auto& b : execute(*exe, bufs)) out.push_back(read<float>(*b));
    return out;
  }
};

void expect_near(const std::vector<float>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "at " << i;
}

// jax.jit(mlp).lower(x, w1, b1, w2, b2).as_text() for dense -> relu -> dense -> (log_softmax,
// softmax), with relu and the softmaxes as private functions: log_softmax uses the pretty reduce
// forms (`applies` and `reducer`), softmax the generic one with both spellings of `dimensions`.
constexpr const char* kMlp = R"mlir(#loc = loc(unknown)
#loc1 = loc("x")
module @jit_mlp attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<2x3xf32> {mhlo.layout_mode = "default"} loc("x"), %arg1: tensor<3x4xf32> {mhlo.layout_mode = "default"}, %arg2: tensor<4xf32>, %arg3: tensor<4x2xf32>, %arg4: tensor<2xf32>) -> (tensor<2x2xf32> {jax.result_info = "[0]", mhlo.layout_mode = "default"}, tensor<2x2xf32> {jax.result_info = "[1]"}) {
    %0 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32> loc(#loc3)
    %1 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<4xf32>) -> tensor<2x4xf32> loc(#loc4)
    %2 = stablehlo.add %0, %1 : tensor<2x4xf32> loc(#loc4)
    %3 = call @relu(%2) : (tensor<2x4xf32>) -> tensor<2x4xf32> loc(#loc5)
    %4 = stablehlo.dot_general %3, %arg3, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<2x4xf32>, tensor<4x2xf32>) -> tensor<2x2xf32>
    %5 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<2xf32>) -> tensor<2x2xf32>
    %6 = stablehlo.add %4, %5 : tensor<2x2xf32>
    %7 = call @log_softmax(%6) : (tensor<2x2xf32>) -> tensor<2x2xf32>
    %8 = func.call @softmax(%6) : (tensor<2x2xf32>) -> tensor<2x2xf32>
    return %7, %8 : tensor<2x2xf32>, tensor<2x2xf32> loc(#loc)
  } loc(#loc)
  func.func private @relu(%arg0: tensor<2x4xf32> loc(unknown)) -> tensor<2x4xf32> {
    %cst = stablehlo.constant dense<0.000000e+00> : tensor<f32> loc(#loc5)
    %0 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<2x4xf32> loc(#loc5)
    %1 = stablehlo.maximum %arg0, %0 : tensor<2x4xf32> loc(#loc5)
    return %1 : tensor<2x4xf32> loc(#loc)
  } loc(#loc)
  func.func private @log_softmax(%arg0: tensor<2x2xf32>) -> tensor<2x2xf32> {
    %cst = stablehlo.constant dense<0xFF800000> : tensor<f32>
    %0 = stablehlo.reduce(%arg0 init: %cst) applies stablehlo.maximum across dimensions = [1] : (tensor<2x2xf32>, tensor<f32>) -> tensor<2xf32>
    %1 = stablehlo.broadcast_in_dim %0, dims = [0] : (tensor<2xf32>) -> tensor<2x2xf32>
    %2 = stablehlo.subtract %arg0, %1 : tensor<2x2xf32>
    %3 = stablehlo.exponential %2 : tensor<2x2xf32>
    %cst_0 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %4 = stablehlo.reduce(%3 init: %cst_0) across dimensions = [1] : (tensor<2x2xf32>, tensor<f32>) -> tensor<2xf32>
     reducer(%arg1: tensor<f32>, %arg2: tensor<f32>)  {
      %8 = stablehlo.add %arg1, %arg2 : tensor<f32>
      stablehlo.return %8 : tensor<f32>
    }
    %5 = stablehlo.log %4 : tensor<2xf32>
    %6 = stablehlo.broadcast_in_dim %5, dims = [0] : (tensor<2xf32>) -> tensor<2x2xf32>
    %7 = stablehlo.subtract %2, %6 : tensor<2x2xf32>
    return %7 : tensor<2x2xf32>
  }
  func.func private @softmax(%arg0: tensor<2x2xf32>) -> tensor<2x2xf32> {
    %cst = stablehlo.constant dense<0xFF800000> : tensor<f32>
    %0 = "stablehlo.reduce"(%arg0, %cst) ({
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):
      %r = "stablehlo.maximum"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
      "stablehlo.return"(%r) : (tensor<f32>) -> ()
    }) {dimensions = array<i64: 1>} : (tensor<2x2xf32>, tensor<f32>) -> tensor<2xf32>
    %1 = stablehlo.broadcast_in_dim %0, dims = [0] : (tensor<2xf32>) -> tensor<2x2xf32>
    %2 = "stablehlo.subtract"(%arg0, %1) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %3 = stablehlo.exponential %2 : tensor<2x2xf32>
    %cst_0 = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %4 = "stablehlo.reduce"(%3, %cst_0) ( {
    ^bb0(%a: tensor<f32>, %b: tensor<f32>):  // no predecessors
      %s = stablehlo.add %a, %b : tensor<f32>
      "stablehlo.return"(%s) : (tensor<f32>) -> ()
    }) {dimensions = dense<1> : tensor<1xi64>} : (tensor<2x2xf32>, tensor<f32>) -> tensor<2xf32>
    %5 = stablehlo.broadcast_in_dim %4, dims = [0] : (tensor<2xf32>) -> tensor<2x2xf32>
    %6 = stablehlo.divide %3, %5 : tensor<2x2xf32>
    return %6 : tensor<2x2xf32>
  }
} loc(#loc)
#loc3 = loc("jit(mlp)/jit(main)/dot_general"(#loc1))
#loc4 = loc("jit(mlp)/jit(main)/add"(#loc1))
#loc5 = loc("jit(mlp)/jit(main)/jit(relu)/max"(#loc1))
)mlir";

TEST_F(StableHloImport, JaxMlpWithPrivateHelpersMatchesFloat64) {
  const ir::Graph g = from_stablehlo(kMlp, "mlp.mlir");
  ASSERT_EQ(g.inputs.size(), 5u);
  ASSERT_EQ(g.outputs.size(), 2u);
  EXPECT_EQ(g.name, "mlp");
  const auto x = values(6, 1), w1 = values(12, 2), b1 = values(4, 3), w2 = values(8, 4),
             b2 = values(2, 5);
  const auto out = run(g, {x, w1, b1, w2, b2});
  std::vector<double> logp(4), p(4);
  for (int r = 0; r < 2; ++r) {
    double h[4], z[2];
    for (int j = 0; j < 4; ++j) {
      double s = b1[j];
      for (int k = 0; k < 3; ++k) s += static_cast<double>(x[r * 3 + k]) * w1[k * 4 + j];
      h[j] = std::max(s, 0.0);
    }
    for (int j = 0; j < 2; ++j) {
      double s = b2[j];
      for (int k = 0; k < 4; ++k) s += h[k] * w2[k * 2 + j];
      z[j] = s;
    }
    const double m = std::max(z[0], z[1]);
    const double sum = std::exp(z[0] - m) + std::exp(z[1] - m);
    for (int j = 0; j < 2; ++j) {
      logp[r * 2 + j] = z[j] - m - std::log(sum);
      p[r * 2 + j] = std::exp(z[j] - m) / sum;
    }
  }
  expect_near(out[0], logp);
  expect_near(out[1], p);
}

// A CNN as JAX writes it: NHWC convolution (SAME padding), bias through broadcast_in_dim, relu,
// max pooling (properties form), average pooling (older attribute form with dense<>
// windows, then a divide), flatten by reshape, dense.
constexpr const char* kCnn =
    R"mlir(module @jit_cnn attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<1x4x4x1xf32>, %arg1: tensor<3x3x1x2xf32>, %arg2: tensor<2xf32>, %arg3: tensor<8x3xf32>, %arg4: tensor<3xf32>) -> (tensor<1x3xf32> {jax.result_info = "[0]"}, tensor<1x2x2x2xf32> {jax.result_info = "[1]"}) {
    %0 = stablehlo.convolution(%arg0, %arg1) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]], lhs_dilate = [1, 1], rhs_dilate = [1, 1]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : (tensor<1x4x4x1xf32>, tensor<3x3x1x2xf32>) -> tensor<1x4x4x2xf32>
    %1 = stablehlo.broadcast_in_dim %arg2, dims = [3] : (tensor<2xf32>) -> tensor<1x4x4x2xf32>
    %2 = stablehlo.add %0, %1 : tensor<1x4x4x2xf32>
    %cst = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %3 = stablehlo.broadcast_in_dim %cst, dims = [] : (tensor<f32>) -> tensor<1x4x4x2xf32>
    %4 = stablehlo.maximum %2, %3 : tensor<1x4x4x2xf32>
    %cst_0 = stablehlo.constant dense<0xFF800000> : tensor<f32>
    %5 = "stablehlo.reduce_window"(%4, %cst_0) <{padding = dense<0> : tensor<4x2xi64>, window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>}> ({
    ^bb0(%arg5: tensor<f32>, %arg6: tensor<f32>):
      %12 = stablehlo.maximum %arg5, %arg6 : tensor<f32>
      stablehlo.return %12 : tensor<f32>
    }) : (tensor<1x4x4x2xf32>, tensor<f32>) -> tensor<1x2x2x2xf32>
    %6 = stablehlo.reshape %5 : (tensor<1x2x2x2xf32>) -> tensor<1x8xf32>
    %7 = stablehlo.dot_general %6, %arg3, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<1x8xf32>, tensor<8x3xf32>) -> tensor<1x3xf32>
    %8 = stablehlo.broadcast_in_dim %arg4, dims = [1] : (tensor<3xf32>) -> tensor<1x3xf32>
    %9 = stablehlo.add %7, %8 : tensor<1x3xf32>
    %10 = "stablehlo.reduce_window"(%4, %cst) ({
    ^bb0(%arg5: tensor<f32>, %arg6: tensor<f32>):
      %12 = stablehlo.add %arg5, %arg6 : tensor<f32>
      stablehlo.return %12 : tensor<f32>
    }) {base_dilations = dense<1> : tensor<4xi64>, padding = dense<0> : tensor<4x2xi64>, window_dilations = dense<1> : tensor<4xi64>, window_dimensions = dense<[1, 2, 2, 1]> : tensor<4xi64>, window_strides = dense<[1, 2, 2, 1]> : tensor<4xi64>} : (tensor<1x4x4x2xf32>, tensor<f32>) -> tensor<1x2x2x2xf32>
    %cst_1 = stablehlo.constant dense<4.000000e+00> : tensor<1x2x2x2xf32>
    %11 = stablehlo.divide %10, %cst_1 : tensor<1x2x2x2xf32>
    return %9, %11 : tensor<1x3xf32>, tensor<1x2x2x2xf32>
  }
}
)mlir";

TEST_F(StableHloImport, JaxCnnMatchesFloat64) {
  const ir::Graph g = from_stablehlo(kCnn, "cnn.mlir");
  const auto x = values(16, 1), k = values(18, 2), b = values(2, 3), w = values(24, 4),
             c = values(3, 5);
  const auto out = run(g, {x, k, b, w, c});
  // relu(conv + b), NHWC / HWIO, SAME padding of 1
  double act[4][4][2];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      for (int o = 0; o < 2; ++o) {
        double s = b[o];
        for (int di = 0; di < 3; ++di)
          for (int dj = 0; dj < 3; ++dj) {
            const int yi = i + di - 1, yj = j + dj - 1;
            if (yi < 0 || yi >= 4 || yj < 0 || yj >= 4) continue;
            s += static_cast<double>(x[yi * 4 + yj]) * k[(di * 3 + dj) * 2 + o];
          }
        act[i][j][o] = std::max(s, 0.0);
      }
  std::vector<double> pooled, avg;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      for (int o = 0; o < 2; ++o) {
        double m = -INFINITY, s = 0;
        for (int di = 0; di < 2; ++di)
          for (int dj = 0; dj < 2; ++dj) {
            m = std::max(m, act[2 * i + di][2 * j + dj][o]);
            s += act[2 * i + di][2 * j + dj][o];
          }
        pooled.push_back(m);
        avg.push_back(s / 4);
      }
  std::vector<double> logits;
  for (int j = 0; j < 3; ++j) {
    double s = c[j];
    for (int q = 0; q < 8; ++q) s += pooled[q] * w[q * 3 + j];
    logits.push_back(s);
  }
  expect_near(out[0], logits);
  expect_near(out[1], avg);
}

// The generic form of every op reads as its pretty form does: a module written generically and
// its pretty twin give the same graph text when exported.
TEST_F(StableHloImport, GenericFormsEqualPrettyForms) {
  const std::string generic = R"mlir(module @jit_g {
  func.func public @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3x2xf32>) -> tensor<2x4xf32> {
    %0 = "stablehlo.dot_general"(%arg0, %arg1) <{dot_dimension_numbers = #stablehlo.dot<lhs_contracting_dimensions = [1], rhs_contracting_dimensions = [0]>, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]}> : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
    %1 = "stablehlo.transpose"(%0) <{permutation = array<i64: 1, 0>}> : (tensor<2x2xf32>) -> tensor<2x2xf32>
    %2 = "stablehlo.compare"(%0, %1) <{comparison_direction = #stablehlo<comparison_direction GT>, compare_type = #stablehlo<comparison_type FLOAT>}> : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xi1>
    %3 = "stablehlo.select"(%2, %0, %1) : (tensor<2x2xi1>, tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %4 = "stablehlo.concatenate"(%3, %0) <{dimension = 1 : i64}> : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4xf32>
    %5 = "stablehlo.slice"(%4) <{start_indices = array<i64: 0, 0>, limit_indices = array<i64: 2, 4>, strides = array<i64: 1, 1>}> : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %6 = "stablehlo.constant"() <{value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>}> : () -> tensor<4xf32>
    %7 = "stablehlo.broadcast_in_dim"(%6) <{broadcast_dimensions = array<i64: 1>}> : (tensor<4xf32>) -> tensor<2x4xf32>
    %8 = "stablehlo.add"(%5, %7) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    "func.return"(%8) : (tensor<2x4xf32>) -> ()
  }
}
)mlir";
  const std::string pretty = R"mlir(module @jit_g {
  func.func public @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3x2xf32>) -> tensor<2x4xf32> {
    %0 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [1] x [0] : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
    %1 = stablehlo.transpose %0, dims = [1, 0] : (tensor<2x2xf32>) -> tensor<2x2xf32>
    %2 = stablehlo.compare  GT, %0, %1,  FLOAT : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xi1>
    %3 = stablehlo.select %2, %0, %1 : tensor<2x2xi1>, tensor<2x2xf32>
    %4 = stablehlo.concatenate %3, %0, dim = 1 : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4xf32>
    %5 = stablehlo.slice %4 [0:2, 0:4] : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %6 = stablehlo.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>
    %7 = stablehlo.broadcast_in_dim %6, dims = [1] : (tensor<4xf32>) -> tensor<2x4xf32>
    %8 = stablehlo.add %5, %7 : tensor<2x4xf32>
    return %8 : tensor<2x4xf32>
  }
}
)mlir";
  const std::string a = to_stablehlo(from_stablehlo(generic));
  EXPECT_EQ(a, to_stablehlo(from_stablehlo(pretty)));
  EXPECT_NE(a.find("stablehlo.compare  GT, %0, %1,  FLOAT"), std::string::npos) << a;
}

TEST_F(StableHloImport, DenseLiteralForms) {
  auto constant = [](const std::string& dense, const std::string& type) {
    const ir::Graph g =
        from_stablehlo("func.func @main() -> " + type + " {\n  %0 = stablehlo.constant " + dense +
                       " : " + type + "\n  return %0 : " + type + "\n}\n");
    return g.nodes[g.outputs[0]];
  };
  // splat -> full
  ir::Node n = constant("dense<-1.500000e+00>", "tensor<2x2xf32>");
  EXPECT_EQ(n.prim, ir::Prim::full);
  EXPECT_EQ(n.attrs.value.to_double(), -1.5);
  EXPECT_EQ(constant("dense<0x7F800000>", "tensor<f32>").attrs.value.bits, 0x7F800000u);
  EXPECT_EQ(constant("dense<0xFF800000>", "tensor<f32>").attrs.value.to_double(), -INFINITY);
  EXPECT_EQ(constant("dense<true>", "tensor<3xi1>").attrs.value.bits, 1u);
  EXPECT_EQ(constant("dense<-7>", "tensor<i8>").attrs.value.to_int(), -7);
  EXPECT_EQ(constant("dense<255>", "tensor<ui8>").attrs.value.to_int(), 255);
  // nested lists and the raw hex form -> constant with the same bytes
  n = constant("dense<[[1, 2], [3, -4]]>", "tensor<2x2xi32>");
  ASSERT_EQ(n.prim, ir::Prim::constant);
  const int32_t want[] = {1, 2, 3, -4};
  EXPECT_EQ(std::memcmp(n.attrs.literal->host_data(), want, sizeof want), 0);
  n = constant("dense<\"0x0000803F000000C0\">", "tensor<2xf32>");  // 1.0f, -2.0f little-endian
  const float fw[] = {1.0f, -2.0f};
  ASSERT_EQ(n.prim, ir::Prim::constant);
  EXPECT_EQ(std::memcmp(n.attrs.literal->host_data(), fw, sizeof fw), 0);
  n = constant("dense<[true, false]>", "tensor<2xi1>");
  EXPECT_EQ(static_cast<const uint8_t*>(n.attrs.literal->host_data())[0], 1);
}

// Forms kiln has no single primitive for, lowered to several: an init value other than the
// reduction's identity, clamp (scalar bounds), dot; and a two-operand reduce (argmax) whose first
// result is used too; is_finite.
TEST_F(StableHloImport, CompositeLowerings) {
  const ir::Graph g = from_stablehlo(R"mlir(
func.func @main(%x: tensor<2x3xf32>, %v: tensor<3xf32>) -> (tensor<2xf32>, tensor<2x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<3xi1>) {
  %one = stablehlo.constant dense<1.0> : tensor<f32>
  %s = stablehlo.reduce(%x init: %one) applies stablehlo.add across dimensions = [1] : (tensor<2x3xf32>, tensor<f32>) -> tensor<2xf32>
  %lo = stablehlo.constant dense<-0.5> : tensor<f32>
  %hi = stablehlo.constant dense<0.5> : tensor<f32>
  %c = stablehlo.clamp %lo, %x, %hi : (tensor<f32>, tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  %d = stablehlo.dot %x, %v : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2xf32>
  %r = stablehlo.divide %v, %v : tensor<3xf32>
  %fin = stablehlo.is_finite %r : (tensor<3xf32>) -> tensor<3xi1>
  %i = stablehlo.iota dim = 1 : tensor<2x3xi32>
  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
  %zero = stablehlo.constant dense<0> : tensor<i32>
  %m:2 = stablehlo.reduce(%x init: %ninf), (%i init: %zero) across dimensions = [1] : (tensor<2x3xf32>, tensor<2x3xi32>, tensor<f32>, tensor<i32>) -> (tensor<2xf32>, tensor<2xi32>)
   reducer(%a: tensor<f32>, %b: tensor<f32>) (%ai: tensor<i32>, %bi: tensor<i32>)  {
    %gt = stablehlo.compare  GT, %a, %b,  FLOAT : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %v2 = stablehlo.select %gt, %a, %b : tensor<i1>, tensor<f32>
    %i2 = stablehlo.select %gt, %ai, %bi : tensor<i1>, tensor<i32>
    stablehlo.return %v2, %i2 : tensor<f32>, tensor<i32>
  }
  return %s, %c, %d, %m#0, %fin : tensor<2xf32>, tensor<2x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<3xi1>
}
)mlir");
  const std::vector<float> x = {0.25f, -1.0f, 2.0f, 0.75f, 0.5f, -0.125f}, v = {1.0f, 0.0f, -1.0f};
  auto exe = backend_->compile(g, device_);
  const auto bufs = execute(*exe, {buffer(x), buffer(v)});
  EXPECT_EQ(read<uint8_t>(*bufs[4]), (std::vector<uint8_t>{1, 0, 1}));  // 0/0 is NaN
  const auto out = run(g, {x, v});
  expect_near(out[0], {1.25 + 1, 1.125 + 1});
  expect_near(out[1], {0.25, -0.5, 0.5, 0.5, 0.5, -0.125});
  expect_near(out[2], {0.25 - 2.0, 0.75 + 0.125});
  expect_near(out[3], {2.0, 0.75});
  int reduce_maxes = 0, argmaxes = 0;
  for (const ir::Node& n : g.nodes) {
    reduce_maxes += n.prim == ir::Prim::reduce_max;
    argmaxes += n.prim == ir::Prim::argmax;
  }
  EXPECT_EQ(argmaxes, 0);
  EXPECT_EQ(reduce_maxes, 1);  // the index result is unused: argmax and its iota are dropped
}

// What JAX writes for bool arithmetic, a scalar-predicate select, negative padding and a
// mixed-precision product (the forms jax.jit(...).lower(...).as_text() prints), read as kiln's
// primitives.
TEST_F(StableHloImport, BoolArithmeticScalarSelectNegativePadAndWidenedDot) {
  const ir::Graph g = from_stablehlo(R"mlir(
func.func @main(%a: tensor<4xi1>, %b: tensor<4xi1>, %p: tensor<i1>, %x: tensor<3xf32>, %l: tensor<2x3xi8>, %r: tensor<3x2xi8>) -> (tensor<4xi1>, tensor<4xi1>, tensor<4xi1>, tensor<4xi1>, tensor<3xf32>, tensor<4xf32>, tensor<2x2xi32>) {
  %0 = stablehlo.maximum %a, %b : tensor<4xi1>
  %1 = stablehlo.minimum %a, %b : tensor<4xi1>
  %2 = stablehlo.add %a, %b : tensor<4xi1>
  %3 = stablehlo.multiply %a, %b : tensor<4xi1>
  %n = stablehlo.negate %x : tensor<3xf32>
  %4 = stablehlo.select %p, %x, %n : tensor<i1>, tensor<3xf32>
  %cst = stablehlo.constant dense<9.0> : tensor<f32>
  %5 = stablehlo.pad %x, %cst, low = [-1], high = [2], interior = [0] : (tensor<3xf32>, tensor<f32>) -> tensor<4xf32>
  %6 = stablehlo.dot_general %l, %r, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<2x3xi8>, tensor<3x2xi8>) -> tensor<2x2xi32>
  return %0, %1, %2, %3, %4, %5, %6 : tensor<4xi1>, tensor<4xi1>, tensor<4xi1>, tensor<4xi1>, tensor<3xf32>, tensor<4xf32>, tensor<2x2xi32>
}
)mlir");
  int ors = 0, ands = 0;
  for (const ir::Node& n : g.nodes) {
    ors += n.prim == ir::Prim::or_;
    ands += n.prim == ir::Prim::and_;
  }
  EXPECT_EQ(ors, 2);
  EXPECT_EQ(ands, 2);
  auto exe = backend_->compile(g, device_);
  const std::vector<uint8_t> a = {1, 0, 1, 0}, b = {1, 1, 0, 0};
  const std::vector<int8_t> l = {-128, -128, -128, 127, 127, 127}, r = {-128, 1, -128, 1, -128, 1};
  const auto out = execute(*exe, {buffer(a), buffer(b), buffer(std::vector<uint8_t>{0}),
                                  buffer(std::vector<float>{1, 2, 3}), buffer(l), buffer(r)});
  EXPECT_EQ(read<uint8_t>(*out[0]), (std::vector<uint8_t>{1, 1, 1, 0}));
  EXPECT_EQ(read<uint8_t>(*out[1]), (std::vector<uint8_t>{1, 0, 0, 0}));
  EXPECT_EQ(read<uint8_t>(*out[2]), (std::vector<uint8_t>{1, 1, 1, 0}));
  EXPECT_EQ(read<uint8_t>(*out[3]), (std::vector<uint8_t>{1, 0, 0, 0}));
  EXPECT_EQ(read<float>(*out[4]), (std::vector<float>{-1, -2, -3}));  // the predicate is false
  EXPECT_EQ(read<float>(*out[5]), (std::vector<float>{2, 3, 9, 9}));
  EXPECT_EQ(read<int32_t>(*out[6]), (std::vector<int32_t>{3 * 16384, -384, -3 * 16256, 381}));
}

// --- errors ---------------------------------------------------------------------------------

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

std::string body(const std::string& ops, const std::string& ret = "%0") {
  return "module @jit_f {\n  func.func public @main(%arg0: tensor<2xf32>) -> tensor<2xf32> {\n" +
         ops + "    return " + ret + " : tensor<2xf32>\n  }\n}\n";
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}
#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE((text).find(part), std::string::npos) << "missing: " << (part) << "\n" << (text)

TEST(StableHloImportErrors, UnbalancedBraces) {
  const std::string e = error_of<ValueError>(
      "module @jit_f {\n  func.func public @main(%arg0: tensor<2xf32>) -> tensor<2xf32> {\n"
      "    return %arg0 : tensor<2xf32>\n  }\n");
  EXPECT_TRUE(starts_with(e, "bad.mlir:5:1: ")) << e;
  EXPECT_CONTAINS(e, "never closed");
}

TEST(StableHloImportErrors, UnknownValueNamesLineColumnAndOp) {
  const std::string e =
      error_of<ValueError>(body("    %0 = stablehlo.add %arg0, %9 : tensor<2xf32>\n"));
  EXPECT_TRUE(starts_with(e, "bad.mlir:3:31: ")) << e;
  EXPECT_CONTAINS(e, "stablehlo.add uses %9, which is not defined");
  EXPECT_CONTAINS(e, "Define a value before its use");
}

TEST(StableHloImportErrors, DeclaredTypeDiffersFromInferred) {
  const std::string e =
      error_of<ValueError>(body("    %0 = stablehlo.add %arg0, %arg0 : tensor<3xf32>\n", "%arg0"));
  EXPECT_TRUE(starts_with(e, "bad.mlir:3:10: ")) << e;
  EXPECT_CONTAINS(e,
                  "stablehlo.add: the text says the result is tensor<3xf32> but kiln infers "
                  "tensor<2xf32>");
  const std::string f = error_of<ValueError>(
      body("    %0 = stablehlo.negate %arg0 : (tensor<2xi32>) -> tensor<2xf32>\n"));
  EXPECT_CONTAINS(f, "operand %arg0 is tensor<2xf32> but the type says tensor<2xi32>");
}

TEST(StableHloImportErrors, BadDenseLiterals) {
  EXPECT_CONTAINS(error_of<ValueError>(
                      body("    %0 = stablehlo.constant dense<[1.0, 2.0, 3.0]> : tensor<2xf32>\n")),
                  "bad.mlir:3:29: dense literal has 3 elements for tensor<2xf32>");
  EXPECT_CONTAINS(
      error_of<ValueError>(body("    %0 = stablehlo.constant dense<300> : tensor<2xi8>\n"
                                "    %1 = stablehlo.convert %0 : (tensor<2xi8>) -> "
                                "tensor<2xf32>\n",
                                "%1")),
      "bad dense element '300' for tensor<2xi8>: out of range");
  EXPECT_CONTAINS(
      error_of<ValueError>(body("    %0 = stablehlo.constant dense<abc> : tensor<2xf32>\n")),
      "expected a dense literal element");
  EXPECT_CONTAINS(
      error_of<ValueError>(body("    %0 = stablehlo.constant dense<\"0x00\"> : tensor<2xf32>\n")),
      "hex dense literal has 1 bytes for tensor<2xf32>");
}

TEST(StableHloImportErrors, WrongOperandCount) {
  const std::string e =
      error_of<ValueError>(body("    %0 = stablehlo.add %arg0 : tensor<2xf32>\n"));
  EXPECT_TRUE(starts_with(e, "bad.mlir:3:10: ")) << e;
  EXPECT_CONTAINS(e, "stablehlo.add takes 2 operands, found 1");
}

TEST(StableHloImportErrors, MissingMain) {
  const std::string e = error_of<ValueError>(
      "func.func private @f(%arg0: tensor<2xf32>) -> tensor<2xf32> {\n"
      "  return %arg0 : tensor<2xf32>\n}\n");
  EXPECT_TRUE(starts_with(e, "bad.mlir:1:1: no @main function")) << e;
  EXPECT_CONTAINS(e, "func.func public @main");
}

TEST(StableHloImportErrors, OpsWithoutAPrimitiveAreUnsupported) {
  const std::pair<std::string, std::string> cases[] = {
      {"    %0 = stablehlo.case(%arg0) : tensor<2xf32>\n", "bad.mlir:3:10: stablehlo.case"},
      {"    %0 = stablehlo.custom_call @foo(%arg0) : (tensor<2xf32>) -> tensor<2xf32>\n",
       "bad.mlir:3:10: stablehlo.custom_call"}};
  for (const auto& [ops, prefix] : cases) {
    const std::string e = error_of<Unsupported>(body(ops));
    EXPECT_TRUE(starts_with(e, prefix)) << e;
    EXPECT_CONTAINS(e, "kiln has no primitive for it");
    EXPECT_CONTAINS(e, "docs/import.md");
  }
  // a reduction kiln has no primitive for: a bitwise xor
  EXPECT_CONTAINS(
      error_of<Unsupported>("func.func @main(%arg0: tensor<2xi32>) -> tensor<i32> {\n"
                            "  %c = stablehlo.constant dense<0> : tensor<i32>\n"
                            "  %0 = stablehlo.reduce(%arg0 init: %c) applies stablehlo.xor across "
                            "dimensions = [0] : (tensor<2xi32>, tensor<i32>) -> tensor<i32>\n"
                            "  return %0 : tensor<i32>\n}\n"),
      "bad.mlir:3:8: stablehlo.reduce with a stablehlo.xor body (of int32)");
  // a sort whose comparator is not JAX's order: a plain float LT puts NaNs anywhere
  const std::string sort = error_of<Unsupported>(
      body("    %0 = \"stablehlo.sort\"(%arg0) <{dimension = 0 : i64}> ({\n"
           "    ^bb0(%a: tensor<f32>, %b: tensor<f32>):\n"
           "      %c = stablehlo.compare LT, %a, %b : (tensor<f32>, tensor<f32>) -> tensor<i1>\n"
           "      stablehlo.return %c : tensor<i1>\n"
           "    }) : (tensor<2xf32>) -> tensor<2xf32>\n"));
  EXPECT_TRUE(starts_with(sort,
                          "bad.mlir:3:10: stablehlo.sort with a comparator kiln does not "
                          "recognise"))
      << sort;
  EXPECT_CONTAINS(sort, "NaNs last");
}

// Calls are inlined: recursion and call trees that double at every level stop with an error
// instead of exhausting the stack or memory.
TEST(StableHloImportErrors, RecursionAndExponentialInliningStop) {
  EXPECT_CONTAINS(error_of<ValueError>("func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
                                       "  %0 = call @main(%x) : (tensor<2xf32>) -> tensor<2xf32>\n"
                                       "  return %0 : tensor<2xf32>\n}\n"),
                  "calls nested more than 64 deep (is @main recursive?)");
  std::string text;
  for (int i = 0; i < 40; ++i) {
    const std::string f = i == 0 ? "main" : "f" + std::to_string(i);
    const std::string g = "f" + std::to_string(i + 1);
    text += "func.func @" + f + "(%x: tensor<2xf32>) -> tensor<2xf32> {\n";
    if (i < 39) {
      text += "  %a = call @" + g + "(%x) : (tensor<2xf32>) -> tensor<2xf32>\n";
      text += "  %b = call @" + g + "(%a) : (tensor<2xf32>) -> tensor<2xf32>\n";
    } else {
      text += "  %b = stablehlo.add %x, %x : tensor<2xf32>\n";
    }
    text += "  return %b : tensor<2xf32>\n}\n";
  }
  // Refused once the count passes the bound, long before 2^40 nodes would be built (ctest's
  // timeout catches a hang; no wall-clock bound here, which would depend on the machine).
  EXPECT_CONTAINS(error_of<Unsupported>(text), "inlines to more than 262144 nodes");
}

TEST(StableHloImportErrors, BytecodeIsRefusedWithTheRemedy) {
  const std::string e = error_of<Unsupported>(std::string("ML\xEFR\x00\x01", 6));
  EXPECT_TRUE(starts_with(e, "bad.mlir:1:1: MLIR bytecode is not supported")) << e;
  EXPECT_CONTAINS(e, "as_text()");
}

TEST(StableHloImportErrors, SyntaxErrorsNameWhatWasExpected) {
  const std::string e =
      error_of<ValueError>(body("    %0 = stablehlo.add %arg0, %arg0 tensor<2xf32>\n"));
  EXPECT_TRUE(
      starts_with(e, "bad.mlir:3:37: expected ':' and the op's type, found 'tensor<2xf32>'"))
      << e;
  EXPECT_CONTAINS(e, "in stablehlo.add");
  EXPECT_CONTAINS(
      error_of<Unsupported>(body("    %0 = stablehlo.add %arg0, %arg0 : tensor<?xf32>\n")),
      "dynamic dimension");
  EXPECT_CONTAINS(
      error_of<ValueError>(body("    %0 = stablehlo.constant dense<" + std::string(400, '['))),
      "nesting deeper");
}

// A 10k-line module (a chain of elementwise ops and constants) imports to the expected graph; the
// time is printed, not asserted (tests pin behaviour, bench/ measures; it takes milliseconds).
TEST(StableHloImportPerf, TenThousandLines) {
  std::string text =
      "module @jit_long {\n  func.func public @main(%arg0: tensor<4xf32>) -> tensor<4xf32> {\n";
  std::string prev = "%arg0";
  for (int i = 0; i < 10000; ++i) {
    const std::string v = "%" + std::to_string(i);
    if (i % 3 == 0) {
      text += "    " + v +
              " = stablehlo.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, " +
              std::to_string(i) + ".0]> : tensor<4xf32>\n";
      text += "    %m" + std::to_string(i) + " = stablehlo.multiply " + prev + ", " + v +
              " : tensor<4xf32> loc(#loc)\n";
      prev = "%m" + std::to_string(i);
    } else {
      text += "    " + v + " = stablehlo.add " + prev + ", %arg0 : tensor<4xf32>\n";
      prev = v;
    }
  }
  text += "    return " + prev + " : tensor<4xf32>\n  }\n}\n";
  const auto t0 = std::chrono::steady_clock::now();
  const ir::Graph g = from_stablehlo(text);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ perf     ] imported %zu lines (%zu nodes) in %.1f ms\n",
              static_cast<size_t>(std::count(text.begin(), text.end(), '\n')), g.nodes.size(), ms);
  EXPECT_EQ(g.nodes.size(), 1u + 10000u + 3334u);
}

// JAX's width-changing bitcast (f32[2] -> u8[2,4], the narrower side one dim longer) has no kiln
// primitive: the importer refuses it with the type rule's error, naming the op's line.
TEST(StableHloImportErrors, WidthChangingBitcastIsRefused) {
  const std::string e = error_of<DTypeError>(
      body("    %0 = stablehlo.bitcast_convert %arg0 : (tensor<2xf32>) -> tensor<2x4xui8>\n"));
  EXPECT_CONTAINS(e, "needs dtypes of the same size, got float32 -> uint8");
  EXPECT_CONTAINS(e, "bad.mlir:3");
}

TEST(StableHloImportErrors, ReducePrecisionFormat) {
  const std::string ok =
      body("    %0 = stablehlo.reduce_precision %arg0, format = e5m2 : tensor<2xf32>\n");
  const ir::Graph g = from_stablehlo(ok, "ok.mlir");
  EXPECT_EQ(g.nodes[g.outputs[0]].attrs.exponent_bits, 5);
  EXPECT_EQ(g.nodes[g.outputs[0]].attrs.mantissa_bits, 2);
  const std::string e = error_of<ValueError>(
      body("    %0 = stablehlo.reduce_precision %arg0, format = e5x2 : tensor<2xf32>\n"));
  EXPECT_CONTAINS(e, "bad.mlir:3:");
  EXPECT_CONTAINS(e, "format must be e<exponent bits>m<mantissa bits>");
}

}  // namespace
}  // namespace kiln
