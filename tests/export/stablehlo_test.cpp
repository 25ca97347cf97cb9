// StableHLO export (include/kiln/export.hpp): the exact text for a small MLP, one op line per
// primitive family, dtype names, the CNN's convolution and what is refused.
#include <gtest/gtest.h>

#include <complex>
#include <string>

#include "backend/graph_builder.hpp"
#include "kiln/export.hpp"
#include "kiln/kiln.hpp"
#include "kiln/models.hpp"

namespace kiln {
namespace {

using ir::Prim;
using testing::GraphBuilder;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
#define EXPECT_HAS(text, part) \
  EXPECT_TRUE(has(text, part)) << "missing: " << (part) << "\n" << (text)

Array mlp(const Array& x, const Array& w, const Array& b) {
  return relu(matmul(x, w) + b);
}

TEST(StableHLO, SmallMlpExactText) {
  auto f = jit(mlp, {.name = "mlp"});
  const std::string text = export_stablehlo(f, zeros({4, 8}), zeros({8, 16}), zeros({16}));
  EXPECT_EQ(text,
            "module @jit_mlp attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : "
            "i32} {\n"
            "  func.func public @main(%arg0: tensor<4x8xf32>, %arg1: tensor<8x16xf32>, %arg2: "
            "tensor<16xf32>) -> (tensor<4x16xf32> {jax.result_info = \"result\"}) {\n"
            "    %0 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [1] x [0], precision "
            "= [DEFAULT, DEFAULT] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>\n"
            "    %1 = stablehlo.broadcast_in_dim %arg2, dims = [1] : (tensor<16xf32>) -> "
            "tensor<4x16xf32>\n"
            "    %2 = stablehlo.add %0, %1 : tensor<4x16xf32>\n"
            // kiln's relu: max(x, 0), with a select that routes the gradient like JAX's
            "    %3 = stablehlo.constant dense<0.000000e+00> : tensor<4x16xf32>\n"
            "    %4 = stablehlo.maximum %2, %3 : tensor<4x16xf32>\n"
            "    %5 = stablehlo.constant dense<0.000000e+00> : tensor<4x16xf32>\n"
            "    %6 = stablehlo.compare  GT, %2, %5,  FLOAT : (tensor<4x16xf32>, tensor<4x16xf32>) "
            "-> tensor<4x16xi1>\n"
            "    %7 = stablehlo.select %6, %2, %4 : tensor<4x16xi1>, tensor<4x16xf32>\n"
            "    return %7 : tensor<4x16xf32>\n"
            "  }\n"
            "}\n");
}

TEST(StableHLO, OutputThatIsAParameterAndSeveralOutputs) {
  GraphBuilder b;
  auto x = b.param(DType::float32, {3});
  auto y = b.binary(Prim::add, x, x);
  b.output(y);
  b.output(x);
  const std::string text = to_stablehlo(b.g);
  EXPECT_HAS(text,
             "func.func public @main(%arg0: tensor<3xf32>) -> (tensor<3xf32> "
             "{jax.result_info = \"[0]\"}, tensor<3xf32> {jax.result_info = \"[1]\"})");
  EXPECT_HAS(text, "return %0, %arg0 : tensor<3xf32>, tensor<3xf32>");
}

TEST(StableHLO, DTypeNames) {
  const std::pair<DType, const char*> cases[] = {
      {DType::bool_, "i1"},      {DType::uint8, "ui8"},   {DType::uint16, "ui16"},
      {DType::uint32, "ui32"},   {DType::uint64, "ui64"}, {DType::int8, "i8"},
      {DType::int16, "i16"},     {DType::int32, "i32"},   {DType::int64, "i64"},
      {DType::bfloat16, "bf16"}, {DType::float16, "f16"}, {DType::float32, "f32"},
      {DType::float64, "f64"}};
  for (auto [t, name] : cases) {
    GraphBuilder b;
    b.output(b.param(t, {2, 3}));
    EXPECT_HAS(to_stablehlo(b.g), std::string("%arg0: tensor<2x3x") + name + ">");
  }
  GraphBuilder b;
  b.output(b.param(DType::float32, {}));
  EXPECT_HAS(to_stablehlo(b.g), "%arg0: tensor<f32>");
}

TEST(StableHLO, Constants) {
  GraphBuilder b;
  b.output(b.full(DType::float32, {2, 3}, 0.0));
  b.output(b.full(DType::float32, {2}, 0.01));
  b.output(b.full(DType::bfloat16, {2}, 1.5));
  b.output(b.full(DType::int32, {2}, -7));
  b.output(b.full(DType::bool_, {}, 1));
  b.output(b.full(DType::float32, {}, -INFINITY));
  const float lit[] = {1.0f, 2.5f, -3.0f, 0.1f};
  ir::Attrs a;
  a.literal = Array::from_data<float>(lit, {2, 2}).buffer();
  b.output(b.push(Prim::constant, {}, a, {DType::float32, {2, 2}}));
  const std::string text = to_stablehlo(b.g);
  EXPECT_HAS(text, "%0 = stablehlo.constant dense<0.000000e+00> : tensor<2x3xf32>");
  EXPECT_HAS(text, "%1 = stablehlo.constant dense<1.000000e-02> : tensor<2xf32>");
  EXPECT_HAS(text, "%2 = stablehlo.constant dense<1.500000e+00> : tensor<2xbf16>");
  EXPECT_HAS(text, "%3 = stablehlo.constant dense<-7> : tensor<2xi32>");
  EXPECT_HAS(text, "%4 = stablehlo.constant dense<true> : tensor<i1>");
  EXPECT_HAS(text, "%5 = stablehlo.constant dense<0xFF800000> : tensor<f32>");
  EXPECT_HAS(text,
             "%6 = stablehlo.constant dense<[[1.000000e+00, 2.500000e+00], [-3.000000e+00, "
             "1.000000e-01]]> : tensor<2x2xf32>");
}

TEST(StableHLO, ElementwiseUnaryAndBinary) {
  const std::pair<Prim, const char*> unary[] = {{Prim::neg, "stablehlo.negate"},
                                                {Prim::abs, "stablehlo.abs"},
                                                {Prim::sign, "stablehlo.sign"},
                                                {Prim::exp, "stablehlo.exponential"},
                                                {Prim::log, "stablehlo.log"},
                                                {Prim::log1p, "stablehlo.log_plus_one"},
                                                {Prim::expm1, "stablehlo.exponential_minus_one"},
                                                {Prim::sqrt, "stablehlo.sqrt"},
                                                {Prim::rsqrt, "stablehlo.rsqrt"},
                                                {Prim::tanh, "stablehlo.tanh"},
                                                {Prim::logistic, "stablehlo.logistic"},
                                                {Prim::sin, "stablehlo.sine"},
                                                {Prim::cos, "stablehlo.cosine"},
                                                {Prim::floor, "stablehlo.floor"},
                                                {Prim::ceil, "stablehlo.ceil"},
                                                {Prim::round, "stablehlo.round_nearest_afz"}};
  for (auto [p, op] : unary) {
    GraphBuilder b;
    b.output(b.unary(p, b.param(DType::float32, {4})));
    EXPECT_HAS(to_stablehlo(b.g), std::string("%0 = ") + op + " %arg0 : tensor<4xf32>");
  }
  for (auto [p, op] :
       {std::pair{Prim::erf, "chlo.erf"}, std::pair{Prim::erf_inv, "chlo.erf_inv"}}) {
    GraphBuilder b;
    b.output(b.unary(p, b.param(DType::float32, {4})));
    EXPECT_HAS(to_stablehlo(b.g),
               std::string("%0 = ") + op + " %arg0 : tensor<4xf32> -> tensor<4xf32>");
  }
  {
    GraphBuilder b;
    b.output(b.unary(Prim::not_, b.param(DType::bool_, {4})));
    EXPECT_HAS(to_stablehlo(b.g), "%0 = stablehlo.not %arg0 : tensor<4xi1>");
  }
  {  // stop_gradient is the identity: no op
    GraphBuilder b;
    b.output(b.unary(Prim::stop_gradient, b.param(DType::float32, {4})));
    EXPECT_HAS(to_stablehlo(b.g), "return %arg0 : tensor<4xf32>");
  }
  const std::pair<Prim, const char*> binary[] = {
      {Prim::add, "stablehlo.add"},
      {Prim::sub, "stablehlo.subtract"},
      {Prim::mul, "stablehlo.multiply"},
      {Prim::div, "stablehlo.divide"},
      {Prim::rem, "stablehlo.remainder"},
      {Prim::pow, "stablehlo.power"},
      {Prim::max, "stablehlo.maximum"},
      {Prim::min, "stablehlo.minimum"},
      {Prim::and_, "stablehlo.and"},
      {Prim::or_, "stablehlo.or"},
      {Prim::xor_, "stablehlo.xor"},
      {Prim::shift_left, "stablehlo.shift_left"},
      {Prim::shift_right_logical, "stablehlo.shift_right_logical"}};
  for (auto [p, op] : binary) {
    const bool floats = (ir::info(p).dtypes & ir::kIntDTypes) == 0;  // pow
    GraphBuilder b;
    auto x = b.param(floats ? DType::float32 : DType::int32, {2, 3});
    b.output(b.binary(p, x, b.param(floats ? DType::float32 : DType::int32, {2, 3})));
    EXPECT_HAS(to_stablehlo(b.g), std::string("%0 = ") + op + " %arg0, %arg1 : tensor<2x3x" +
                                      (floats ? "f32" : "i32") + ">");
  }
}

TEST(StableHLO, CompareSelectConvert) {
  GraphBuilder b;
  auto x = b.param(DType::float32, {4});
  auto y = b.param(DType::float32, {4});
  auto u = b.param(DType::uint8, {4});
  auto i = b.param(DType::int64, {4});
  auto c = b.compare(Prim::lt, x, y);
  b.output(b.compare(Prim::ge, u, u));
  b.output(b.compare(Prim::ne, i, i));
  b.output(b.compare(Prim::eq, c, c));
  b.output(b.select(c, x, y));
  ir::Attrs a;
  a.dtype = DType::int32;
  b.output(b.push(Prim::convert, {x}, a, {DType::int32, {4}}));
  a.dtype = DType::uint32;
  b.output(b.push(Prim::bitcast_convert, {x}, a, {DType::uint32, {4}}));
  const std::string text = to_stablehlo(b.g);
  EXPECT_HAS(text,
             "%0 = stablehlo.compare  LT, %arg0, %arg1,  FLOAT : (tensor<4xf32>, "
             "tensor<4xf32>) -> tensor<4xi1>");
  EXPECT_HAS(text,
             "%1 = stablehlo.compare  GE, %arg2, %arg2,  UNSIGNED : (tensor<4xui8>, "
             "tensor<4xui8>) -> tensor<4xi1>");
  EXPECT_HAS(text, "%2 = stablehlo.compare  NE, %arg3, %arg3,  SIGNED");
  EXPECT_HAS(text, "%3 = stablehlo.compare  EQ, %0, %0,  UNSIGNED : (tensor<4xi1>, tensor<4xi1>)");
  EXPECT_HAS(text, "%4 = stablehlo.select %0, %arg0, %arg1 : tensor<4xi1>, tensor<4xf32>");
  EXPECT_HAS(text, "%5 = stablehlo.convert %arg0 : (tensor<4xf32>) -> tensor<4xi32>");
  EXPECT_HAS(text, "%6 = stablehlo.bitcast_convert %arg0 : (tensor<4xf32>) -> tensor<4xui32>");
}

TEST(StableHLO, ShapeOps) {
  auto f = jit([](const Array& x) {
    Array t = transpose(x, {1, 0});         // [3, 2]
    Array r = reshape(t, {6});              // [6]
    Array s = slice(r, {1}, {5}, {2});      // [2]
    Array c = concatenate({s, s}, 0);       // [4]
    Array p = pad(c, 0.0f, {1}, {2}, {1});  // [10]
    Array i = astype(iota(DType::int32, {10}), DType::float32);
    return p + i;
  });
  const std::string text = export_stablehlo(f, zeros({2, 3}));
  EXPECT_HAS(text,
             "stablehlo.transpose %arg0, dims = [1, 0] : (tensor<2x3xf32>) -> tensor<3x2xf32>");
  EXPECT_HAS(text, "stablehlo.reshape %0 : (tensor<3x2xf32>) -> tensor<6xf32>");
  EXPECT_HAS(text, "stablehlo.slice %1 [1:5:2] : (tensor<6xf32>) -> tensor<2xf32>");
  EXPECT_HAS(text,
             "stablehlo.concatenate %2, %2, dim = 0 : (tensor<2xf32>, tensor<2xf32>) -> "
             "tensor<4xf32>");
  EXPECT_HAS(text,
             "low = [1], high = [2], interior = [1] : (tensor<4xf32>, tensor<f32>) -> "
             "tensor<10xf32>");
  EXPECT_HAS(text, "stablehlo.iota dim = 0 : tensor<10xi32>");
  EXPECT_HAS(text, "stablehlo.convert %6 : (tensor<10xi32>) -> tensor<10xf32>");

  GraphBuilder b;
  ir::Attrs a;
  a.dims = {1};
  b.output(b.push(Prim::rev, {b.param(DType::float32, {2, 3})}, a, {DType::float32, {2, 3}}));
  EXPECT_HAS(to_stablehlo(b.g), "%0 = stablehlo.reverse %arg0, dims = [1] : tensor<2x3xf32>");
}

TEST(StableHLO, Reductions) {
  const std::string text =
      export_stablehlo(jit([](const Array& x) { return sum(x, {1}); }), zeros({4, 8}));
  EXPECT_HAS(text, "%0 = stablehlo.constant dense<0.000000e+00> : tensor<f32>");
  EXPECT_HAS(text,
             "%1 = stablehlo.reduce(%arg0 init: %0) applies stablehlo.add across dimensions "
             "= [1] : (tensor<4x8xf32>, tensor<f32>) -> tensor<4xf32>");
  const std::string t1 =
      export_stablehlo(jit([](const Array& x) { return max(x, {1}); }), zeros({4, 8}));
  EXPECT_HAS(t1, "%0 = stablehlo.constant dense<0xFF800000> : tensor<f32>");
  EXPECT_HAS(t1,
             "%1 = stablehlo.reduce(%arg0 init: %0) applies stablehlo.maximum across "
             "dimensions = [1]");

  GraphBuilder b;
  ir::Attrs a;
  a.dims = {0};
  b.output(b.push(Prim::reduce_min, {b.param(DType::int32, {5})}, a, {DType::int32, {}}));
  const std::string t2 = to_stablehlo(b.g);
  EXPECT_HAS(t2, "%0 = stablehlo.constant dense<2147483647> : tensor<i32>");
  EXPECT_HAS(t2,
             "applies stablehlo.minimum across dimensions = [0] : (tensor<5xi32>, "
             "tensor<i32>) -> tensor<i32>");
}

TEST(StableHLO, ArgmaxIsAVariadicReduce) {
  auto f = jit([](const Array& x) { return argmax(x, 1); });
  const std::string text = export_stablehlo(f, zeros({4, 8}));
  EXPECT_HAS(text, "%0 = stablehlo.iota dim = 1 : tensor<4x8xi32>");
  EXPECT_HAS(text, "%1 = stablehlo.constant dense<0xFF800000> : tensor<f32>");
  EXPECT_HAS(text, "%2 = stablehlo.constant dense<0> : tensor<i32>");
  EXPECT_HAS(text,
             "%3:2 = stablehlo.reduce(%arg0 init: %1), (%0 init: %2) across dimensions = "
             "[1] : (tensor<4x8xf32>, tensor<4x8xi32>, tensor<f32>, tensor<i32>) -> "
             "(tensor<4xf32>, tensor<4xi32>)");
  EXPECT_HAS(text, " reducer(%4: tensor<f32>, %6: tensor<f32>) (%5: tensor<i32>, %7: tensor<i32>)");
  EXPECT_HAS(text, "stablehlo.compare  GT, %4, %6,  FLOAT");
  EXPECT_HAS(text, "stablehlo.compare  LT, %5, %7,  SIGNED");
  EXPECT_HAS(text, "stablehlo.return %15, %16 : tensor<f32>, tensor<i32>");
  EXPECT_HAS(text, "return %3#1 : tensor<4xi32>");
}

TEST(StableHLO, DotGeneral) {
  GraphBuilder b;
  ir::Attrs a;
  a.dot = {.lhs_contract = {2}, .rhs_contract = {1}, .lhs_batch = {0}, .rhs_batch = {0}};
  b.output(b.push(Prim::dot_general,
                  {b.param(DType::float32, {5, 2, 3}), b.param(DType::float32, {5, 3, 4})}, a,
                  {DType::float32, {5, 2, 4}}));
  EXPECT_HAS(to_stablehlo(b.g),
             "%0 = stablehlo.dot_general %arg0, %arg1, batching_dims = [0] x [0], "
             "contracting_dims = [2] x [1], precision = [DEFAULT, DEFAULT] : (tensor<5x2x3xf32>, "
             "tensor<5x3x4xf32>) -> tensor<5x2x4xf32>");
}

TEST(StableHLO, CnnConvolutionAndPooling) {
  const models::ImageClassifier m = models::image_classifier("cnn");
  const Array x = zeros({2, 28, 28, 1});
  const Tree vars = m.init(random::key(0), x);
  auto f = jit([m](const Tree& v, const Array& in) { return m.apply(v, in, false, Array()); },
               {.name = "cnn"});
  const std::string text = export_stablehlo(f, vars, x);
  EXPECT_EQ(text.rfind("module @jit_cnn attributes", 0), 0u) << text;
  EXPECT_HAS(text, "stablehlo.convolution(%arg");
  EXPECT_HAS(text,
             "dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, "
             "1], pad = [[1, 1], [1, 1]], lhs_dilate = [1, 1], rhs_dilate = [1, 1]} "
             "{batch_group_count = 1 : i64, feature_group_count = 1 : i64, precision_config "
             "= [#stablehlo<precision DEFAULT>, #stablehlo<precision DEFAULT>]} : "
             "(tensor<2x28x28x1xf32>, tensor<3x3x1x32xf32>) -> tensor<2x28x28x32xf32>");
  EXPECT_HAS(text, "\"stablehlo.reduce_window\"(");
  EXPECT_HAS(text,
             "<{padding = dense<0> : tensor<4x2xi64>, window_dimensions = array<i64: 1, 2, "
             "2, 1>, window_strides = array<i64: 1, 2, 2, 1>}> ({");
  EXPECT_HAS(text, "stablehlo.dot_general");
  EXPECT_HAS(text, "-> (tensor<2x10xf32> {jax.result_info = \"result\"})");
}

TEST(StableHLO, SelectAndScatterAdd) {
  GraphBuilder b;
  auto src = b.param(DType::float32, {1, 2});
  auto op = b.param(DType::float32, {2, 4});
  ir::Attrs a;
  a.window = {2, 2};
  a.stride = {2, 2};
  a.low = {0, 0};
  a.high = {0, 0};
  b.output(b.push(Prim::select_and_scatter_add, {src, op}, a, {DType::float32, {2, 4}}));
  const std::string text = to_stablehlo(b.g);
  EXPECT_HAS(text,
             "%1 = \"stablehlo.select_and_scatter\"(%arg1, %arg0, %0) <{padding = dense<0> "
             ": tensor<2x2xi64>, window_dimensions = array<i64: 2, 2>, window_strides = "
             "array<i64: 2, 2>}> ({");
  EXPECT_HAS(text,
             "stablehlo.compare  GE, %2, %3,  FLOAT : (tensor<f32>, tensor<f32>) -> "
             "tensor<i1>");
  EXPECT_HAS(text, "%7 = stablehlo.add %5, %6 : tensor<f32>");
  EXPECT_HAS(text, "}) : (tensor<2x4xf32>, tensor<1x2xf32>, tensor<f32>) -> tensor<2x4xf32>");
}

// complex types and operations are written as JAX writes them (the harness runs every complex row
// through export and import: tests/primitives/complex_harness_test.cpp).
TEST(StableHLO, ComplexIsWrittenAsJaxWritesIt) {
  auto f = jit([](const Array& z) { return abs(z) + real(z * z) + imag(z) + astype(z, float32); });
  const Array z =
      Array::from_data<std::complex<float>>(std::vector<std::complex<float>>{{1, 2}, {3, 4}}, {2});
  const std::string text = to_stablehlo(f.lower(z).graph());
  EXPECT_HAS(text, "%arg0: tensor<2xcomplex<f32>>");
  EXPECT_HAS(text, "stablehlo.abs %arg0 : (tensor<2xcomplex<f32>>) -> tensor<2xf32>");
  EXPECT_HAS(text, "stablehlo.multiply %arg0, %arg0 : tensor<2xcomplex<f32>>");
  EXPECT_HAS(text, "stablehlo.imag %arg0 : (tensor<2xcomplex<f32>>) -> tensor<2xf32>");
  // convert complex -> real: the real part, then the convert (JAX's form).
  EXPECT_HAS(text, "stablehlo.convert %");
  EXPECT_HAS(text, " : (tensor<2xf32>) -> tensor<2xf32>");
}

TEST(StableHLO, ThreefryIsRefusedWithTheRemedy) {
  auto f = jit([](const Array& k) { return random::normal(k, {4}); });
  try {
    export_stablehlo(f, random::key(0));
    FAIL() << "exported threefry2x32";
  } catch (const Unsupported& e) {
    const std::string what = e.what();
    EXPECT_HAS(what, "threefry2x32");
    EXPECT_HAS(what, "Initialise on the cpu and device_put");
    EXPECT_HAS(what, "stablehlo_test.cpp");
  }
}

}  // namespace
}  // namespace kiln
