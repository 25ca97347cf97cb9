// The CPU backend against independently computed answers: graphs built by hand, one primitive at a
// time, compared with double-precision loops or literal expected values.
#include "backend/cpu/cpu_backend.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "backend/backend_fixture.hpp"
#include "backend/cpu/schedule.hpp"
#include "backend/graph_builder.hpp"
#include "kiln/error.hpp"

namespace kiln {
namespace {

using ir::Prim;
using ir::ValueId;
using ir::ValueType;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

using testing::GraphBuilder;

class CpuBackendTest : public testing::BackendFixture {
 protected:
  CpuBackendTest() : BackendFixture(2) {}

  std::vector<std::shared_ptr<Buffer>> run(const ir::Graph& g,
                                           std::vector<std::shared_ptr<Buffer>> inputs,
                                           std::unique_ptr<Executable>* keep = nullptr) {
    std::unique_ptr<Executable> exe = backend_->compile(g, device_);
    auto outputs = execute(*exe, inputs);
    if (keep != nullptr) *keep = std::move(exe);
    return outputs;
  }

  // Runs a one-primitive graph on float32 operands of shape [n] and returns the result.
  template <class R = float>
  std::vector<R> run_f32(Prim p, std::vector<std::vector<float>> operands) {
    GraphBuilder b;
    const Shape s{static_cast<int64_t>(operands[0].size())};
    std::vector<ValueId> ins;
    std::vector<std::shared_ptr<Buffer>> bufs;
    for (auto& o : operands) {
      ins.push_back(b.param(DType::float32, s));
      bufs.push_back(buffer(o));
    }
    const DType rt = std::is_same_v<R, bool> ? DType::bool_ : DType::float32;
    b.output(b.push(p, ins, {}, {rt, s}));
    auto out = run(b.g, bufs);
    if constexpr (std::is_same_v<R, bool>) {
      auto bytes = read<uint8_t>(*out[0]);
      return std::vector<R>(bytes.begin(), bytes.end());
    } else {
      return read<R>(*out[0]);
    }
  }
};

// Expects float results within a few float32 ulps of a double reference (NaN must match NaN).
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double rel = 3e-7,
                  double abs = 1e-37) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], std::max(abs, rel * std::fabs(want[i]))) << "element " << i;
    }
  }
}

// ---- backend basics ---------------------------------------------------------------------------

TEST_F(CpuBackendTest, NamesItsPlatformAndDevicesLikeJax) {
  EXPECT_EQ(backend_->platform(), "cpu");
  EXPECT_EQ(backend_->device_count(), 2);
  EXPECT_EQ(backend_->device_str(1), "CpuDevice(id=1)");
}

TEST_F(CpuBackendTest, AllocatesAlignedHostBuffersIncludingEmptyOnes) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, size_t{4096}}) {
    auto b = backend_->allocate(bytes, device_);
    EXPECT_EQ(b->bytes(), bytes);
    EXPECT_NE(b->host_data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b->host_data()) % 64, 0u);
  }
  auto b = buffer(std::vector<int32_t>{1, 2, 3});
  EXPECT_EQ(read<int32_t>(*b), (std::vector<int32_t>{1, 2, 3}));
}

// ---- elementwise ------------------------------------------------------------------------------

TEST_F(CpuBackendTest, UnaryFloat32MatchesDoubleMath) {
  const std::vector<float> x = {0.25f, 0.5f, 1.0f, 2.5f, 3.75f};
  struct Case {
    Prim prim;
    double (*ref)(double);
  };
  const Case cases[] = {
      {Prim::exp, [](double v) { return std::exp(v); }},
      {Prim::log, [](double v) { return std::log(v); }},
      {Prim::log1p, [](double v) { return std::log1p(v); }},
      {Prim::expm1, [](double v) { return std::expm1(v); }},
      {Prim::sqrt, [](double v) { return std::sqrt(v); }},
      {Prim::rsqrt, [](double v) { return 1 / std::sqrt(v); }},
      {Prim::tanh, [](double v) { return std::tanh(v); }},
      {Prim::logistic, [](double v) { return 1 / (1 + std::exp(-v)); }},
      {Prim::sin, [](double v) { return std::sin(v); }},
      {Prim::cos, [](double v) { return std::cos(v); }},
      {Prim::neg, [](double v) { return -v; }},
      {Prim::floor, [](double v) { return std::floor(v); }},
      {Prim::ceil, [](double v) { return std::ceil(v); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(ir::name(c.prim)));
    std::vector<double> want;
    for (float v : x) want.push_back(c.ref(v));
    expect_close(run_f32(c.prim, {x}), want, 4e-7);
  }
}

TEST_F(CpuBackendTest, RoundIsHalfAwayFromZeroAndSignKeepsZeroAndNaN) {
  EXPECT_EQ(run_f32(Prim::round, {{0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 2.4f}}),
            (std::vector<float>{1, 2, 3, -1, -3, 2}));
  auto s = run_f32(Prim::sign, {{-3.0f, 0.0f, -0.0f, 7.0f, kNaN}});
  EXPECT_EQ(s[0], -1.0f);
  EXPECT_EQ(s[1], 0.0f);
  EXPECT_TRUE(std::signbit(s[2]));
  EXPECT_EQ(s[3], 1.0f);
  EXPECT_TRUE(std::isnan(s[4]));
  EXPECT_EQ(run_f32(Prim::abs, {{-2.0f, 3.0f}}), (std::vector<float>{2, 3}));
}

TEST_F(CpuBackendTest, Float32ErfIsXlasRationalApproximation) {
  const std::vector<float> x = {-5.0f, -1.0f, -0.3f, 0.0f, 0.1f, 0.7f, 1.5f, 3.0f, 4.5f};
  std::vector<double> want;
  for (float v : x) want.push_back(std::erf(static_cast<double>(v)));
  auto got = run_f32(Prim::erf, {x});
  expect_close(got, want, 2e-6, 1e-7);
  // Clamped at ±4: exactly ±1 far out.
  EXPECT_EQ(got[0], -1.0f);
  EXPECT_EQ(got[8], 1.0f);
  EXPECT_EQ(got[3], 0.0f);
}

TEST_F(CpuBackendTest, Float32ErfInvInvertsErfAndMapsOneToInfinity) {
  const std::vector<float> y = {-0.999f, -0.5f, 0.0f, 0.2f, 0.9f, 0.99999f, 1.0f, -1.0f, 1.5f};
  auto got = run_f32(Prim::erf_inv, {y});
  for (size_t i = 0; i < 6; ++i) {
    // erf(erf_inv(y)) == y up to float32 rounding of erf_inv's result.
    const double x = got[i];
    const double slope = 2 / std::sqrt(M_PI) * std::exp(-x * x);
    EXPECT_NEAR(std::erf(x), y[i], 4e-7 + slope * std::fabs(x) * 3e-7) << "y=" << y[i];
  }
  EXPECT_EQ(got[2], 0.0f);
  EXPECT_EQ(got[6], kInf);
  EXPECT_EQ(got[7], -kInf);
  EXPECT_TRUE(std::isnan(got[8]));
}

TEST_F(CpuBackendTest, Float64ErfInvIsAccurateToDoublePrecision) {
  GraphBuilder b;
  const std::vector<double> y = {-0.9999999, -0.7, -1e-5, 0.3, 0.95, 0.999999999999};
  auto x = b.param(DType::float64, Shape{6});
  b.output(b.unary(Prim::erf_inv, x));
  b.output(b.unary(Prim::erf, x));
  auto out = run(b.g, {buffer(y)});
  auto inv = read<double>(*out[0]);
  auto erf = read<double>(*out[1]);
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_NEAR(std::erf(inv[i]), y[i], 2e-16) << "y=" << y[i];
    EXPECT_EQ(erf[i], std::erf(y[i]));
  }
}

TEST_F(CpuBackendTest, BinaryFloat32ArithmeticAndNaNPropagatingMaxMin) {
  const std::vector<float> x = {1.5f, -2.0f, 7.0f, kNaN, -7.5f};
  const std::vector<float> y = {0.5f, 4.0f, -3.0f, 1.0f, 2.0f};
  EXPECT_EQ(run_f32(Prim::add, {x, y})[0], 2.0f);
  EXPECT_EQ(run_f32(Prim::sub, {x, y})[1], -6.0f);
  EXPECT_EQ(run_f32(Prim::mul, {x, y})[2], -21.0f);
  EXPECT_EQ(run_f32(Prim::div, {x, y})[1], -0.5f);
  auto rem = run_f32(Prim::rem, {x, y});
  EXPECT_EQ(rem[2], 1.0f);   // fmod(7, -3): sign of x
  EXPECT_EQ(rem[4], -1.5f);  // fmod(-7.5, 2)
  EXPECT_EQ(run_f32(Prim::pow, {x, y})[1], 16.0f);
  auto mx = run_f32(Prim::max, {x, y});
  auto mn = run_f32(Prim::min, {x, y});
  EXPECT_EQ(mx[1], 4.0f);
  EXPECT_EQ(mn[1], -2.0f);
  EXPECT_TRUE(std::isnan(mx[3]));
  EXPECT_TRUE(std::isnan(mn[3]));
}

TEST_F(CpuBackendTest, ComparisonsFollowIeeeWithNaN) {
  const std::vector<float> x = {1.0f, 2.0f, kNaN};
  const std::vector<float> y = {2.0f, 2.0f, kNaN};
  EXPECT_EQ(run_f32<bool>(Prim::lt, {x, y}), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(run_f32<bool>(Prim::le, {x, y}), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(run_f32<bool>(Prim::eq, {x, y}), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(run_f32<bool>(Prim::ne, {x, y}), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(run_f32<bool>(Prim::gt, {x, y}), (std::vector<bool>{false, false, false}));
  EXPECT_EQ(run_f32<bool>(Prim::ge, {x, y}), (std::vector<bool>{false, true, false}));
}

TEST_F(CpuBackendTest, IntegerDivisionTruncatesAndNeverTraps) {
  GraphBuilder b;
  auto x = b.param(DType::int32, Shape{5});
  auto y = b.param(DType::int32, Shape{5});
  b.output(b.binary(Prim::div, x, y));
  b.output(b.binary(Prim::rem, x, y));
  b.output(b.binary(Prim::add, x, y));
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  auto out = run(b.g, {buffer(std::vector<int32_t>{7, -7, 7, 5, kMin}),
                       buffer(std::vector<int32_t>{2, 2, -2, 0, -1})});
  EXPECT_EQ(read<int32_t>(*out[0]), (std::vector<int32_t>{3, -3, -3, -1, kMin}));
  EXPECT_EQ(read<int32_t>(*out[1]), (std::vector<int32_t>{1, -1, 1, 5, 0}));
  EXPECT_EQ(read<int32_t>(*out[2]),
            (std::vector<int32_t>{9, -5, 5, 5, std::numeric_limits<int32_t>::max()}));
}

TEST_F(CpuBackendTest, IntegerUnaryAndWrapping) {
  GraphBuilder b;
  auto x = b.param(DType::int32, Shape{4});
  auto y = b.param(DType::int32, Shape{4});
  b.output(b.unary(Prim::neg, x));
  b.output(b.unary(Prim::abs, x));
  b.output(b.unary(Prim::sign, x));
  b.output(b.unary(Prim::not_, x));
  b.output(b.binary(Prim::sub, x, y));
  auto out = run(
      b.g, {buffer(std::vector<int32_t>{-3, 0, 5, -1}), buffer(std::vector<int32_t>{3, 0, 2, -3})});
  EXPECT_EQ(read<int32_t>(*out[0]), (std::vector<int32_t>{3, 0, -5, 1}));
  EXPECT_EQ(read<int32_t>(*out[1]), (std::vector<int32_t>{3, 0, 5, 1}));
  EXPECT_EQ(read<int32_t>(*out[2]), (std::vector<int32_t>{-1, 0, 1, -1}));
  EXPECT_EQ(read<int32_t>(*out[3]), (std::vector<int32_t>{2, -1, -6, 0}));
  EXPECT_EQ(read<int32_t>(*out[4]), (std::vector<int32_t>{-6, 0, 3, 2}));

  GraphBuilder u;
  auto p = u.param(DType::uint8, Shape{3});
  u.output(u.binary(Prim::add, p, p));
  u.output(u.binary(Prim::mul, p, p));
  auto uo = run(u.g, {buffer(std::vector<uint8_t>{200, 16, 3})});
  EXPECT_EQ(read<uint8_t>(*uo[0]), (std::vector<uint8_t>{144, 32, 6}));
  EXPECT_EQ(read<uint8_t>(*uo[1]), (std::vector<uint8_t>{64, 0, 9}));
}

TEST_F(CpuBackendTest, BitwiseLogicAndShifts) {
  GraphBuilder b;
  auto x = b.param(DType::uint32, Shape{4});
  auto y = b.param(DType::uint32, Shape{4});
  b.output(b.binary(Prim::and_, x, y));
  b.output(b.binary(Prim::or_, x, y));
  b.output(b.binary(Prim::xor_, x, y));
  b.output(b.binary(Prim::shift_left, x, y));
  b.output(b.binary(Prim::shift_right_logical, x, y));
  auto out = run(b.g, {buffer(std::vector<uint32_t>{0xF0F0u, 1u, 0x80000000u, 5u}),
                       buffer(std::vector<uint32_t>{0x0FF0u, 31u, 32u, 1u})});
  EXPECT_EQ(read<uint32_t>(*out[0]), (std::vector<uint32_t>{0x00F0u, 1u, 0u, 1u}));
  EXPECT_EQ(read<uint32_t>(*out[1]), (std::vector<uint32_t>{0xFFF0u, 31u, 0x80000020u, 5u}));
  EXPECT_EQ(read<uint32_t>(*out[2]), (std::vector<uint32_t>{0xFF00u, 30u, 0x80000020u, 4u}));
  // Counts ≥ 32 give 0.
  EXPECT_EQ(read<uint32_t>(*out[3]), (std::vector<uint32_t>{0u, 0x80000000u, 0u, 10u}));
  EXPECT_EQ(read<uint32_t>(*out[4]), (std::vector<uint32_t>{0u, 0u, 0u, 2u}));

  GraphBuilder s;  // logical shift of a negative int8 fills with zeros
  auto a = s.param(DType::int8, Shape{2});
  auto c = s.param(DType::int8, Shape{2});
  s.output(s.binary(Prim::shift_right_logical, a, c));
  auto so = run(s.g, {buffer(std::vector<int8_t>{-128, -1}), buffer(std::vector<int8_t>{7, 9})});
  EXPECT_EQ(read<int8_t>(*so[0]), (std::vector<int8_t>{1, 0}));

  GraphBuilder l;
  auto p = l.param(DType::bool_, Shape{4});
  auto q = l.param(DType::bool_, Shape{4});
  l.output(l.binary(Prim::and_, p, q));
  l.output(l.binary(Prim::or_, p, q));
  l.output(l.binary(Prim::xor_, p, q));
  l.output(l.unary(Prim::not_, p));
  auto lo = run(l.g, {buffer(std::vector<bool>{false, false, true, true}),
                      buffer(std::vector<bool>{false, true, false, true})});
  EXPECT_EQ(read<uint8_t>(*lo[0]), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(read<uint8_t>(*lo[1]), (std::vector<uint8_t>{0, 1, 1, 1}));
  EXPECT_EQ(read<uint8_t>(*lo[2]), (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(read<uint8_t>(*lo[3]), (std::vector<uint8_t>{1, 1, 0, 0}));
}

TEST_F(CpuBackendTest, SelectPicksByPredicate) {
  GraphBuilder b;
  auto p = b.param(DType::bool_, Shape{4});
  auto x = b.param(DType::float64, Shape{4});
  auto y = b.param(DType::float64, Shape{4});
  b.output(b.push(Prim::select, {p, x, y}, {}, {DType::float64, Shape{4}}));
  auto out = run(
      b.g, {buffer(std::vector<bool>{true, false, false, true}),
            buffer(std::vector<double>{1, 2, 3, 4}), buffer(std::vector<double>{-1, -2, -3, -4})});
  EXPECT_EQ(read<double>(*out[0]), (std::vector<double>{1, -2, -3, 4}));
}

TEST_F(CpuBackendTest, Bfloat16ArithmeticRoundsTheFloat32ResultToNearestEven) {
  GraphBuilder b;
  auto x = b.param(DType::bfloat16, Shape{3});
  auto y = b.param(DType::bfloat16, Shape{3});
  b.output(b.binary(Prim::add, x, y));
  b.output(b.unary(Prim::exp, x));
  // 1 + 2^-8 is a tie between bf16 neighbours 1 and 1 + 2^-7: even wins (1).
  std::vector<bf16> xs = {to_bf16(1.0f), to_bf16(1.0f), to_bf16(3.0f)};
  std::vector<bf16> ys = {to_bf16(0.00390625f), to_bf16(0.01171875f), to_bf16(0.5f)};
  auto out = run(b.g, {buffer(xs), buffer(ys)});
  auto sum = read<bf16>(*out[0]);
  EXPECT_EQ(to_float(sum[0]), 1.0f);
  EXPECT_EQ(to_float(sum[1]), 1.015625f);  // 1 + 3·2^-8 rounds up to 1 + 2^-6
  EXPECT_EQ(to_float(sum[2]), 3.5f);
  auto e = read<bf16>(*out[1]);
  EXPECT_EQ(e[0].bits, to_bf16(std::exp(1.0f)).bits);
  EXPECT_EQ(e[2].bits, to_bf16(std::exp(3.0f)).bits);
}

// ---- conversions ------------------------------------------------------------------------------

TEST_F(CpuBackendTest, ConvertFloatToIntTruncatesSaturatesAndZeroesNaN) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{7});
  ir::Attrs to_i32;
  to_i32.dtype = DType::int32;
  ir::Attrs to_u8;
  to_u8.dtype = DType::uint8;
  ir::Attrs to_bool;
  to_bool.dtype = DType::bool_;
  b.output(b.push(Prim::convert, {x}, to_i32, {DType::int32, Shape{7}}));
  b.output(b.push(Prim::convert, {x}, to_u8, {DType::uint8, Shape{7}}));
  b.output(b.push(Prim::convert, {x}, to_bool, {DType::bool_, Shape{7}}));
  auto out = run(b.g, {buffer(std::vector<float>{2.9f, -2.9f, 0.0f, 3e9f, -3e9f, kNaN, 300.0f})});
  EXPECT_EQ(read<int32_t>(*out[0]),
            (std::vector<int32_t>{2, -2, 0, std::numeric_limits<int32_t>::max(),
                                  std::numeric_limits<int32_t>::min(), 0, 300}));
  EXPECT_EQ(read<uint8_t>(*out[1]), (std::vector<uint8_t>{2, 0, 0, 255, 0, 0, 255}));
  EXPECT_EQ(read<uint8_t>(*out[2]), (std::vector<uint8_t>{1, 1, 0, 1, 1, 1, 1}));
}

TEST_F(CpuBackendTest, ConvertToBfloat16RoundsOnceToNearestEven) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{3});
  auto d = b.param(DType::float64, Shape{1});
  ir::Attrs to_bf;
  to_bf.dtype = DType::bfloat16;
  b.output(b.push(Prim::convert, {x}, to_bf, {DType::bfloat16, Shape{3}}));
  b.output(b.push(Prim::convert, {d}, to_bf, {DType::bfloat16, Shape{1}}));
  // 1 + 2^-8 ties to 1; 1 + 3·2^-8 ties up to 1 + 2^-6; just above the tie rounds up.
  auto out = run(
      b.g, {buffer(std::vector<float>{1.00390625f, 1.01171875f, std::nextafter(1.00390625f, 2.0f)}),
            // Just above a bf16 tie by 2^-40: float32 rounding first would land on the
            // tie and round to even (1); one correct rounding gives 1 + 2^-7.
            buffer(std::vector<double>{1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)})});
  auto f = read<bf16>(*out[0]);
  EXPECT_EQ(to_float(f[0]), 1.0f);
  EXPECT_EQ(to_float(f[1]), 1.015625f);
  EXPECT_EQ(to_float(f[2]), 1.0078125f);
  EXPECT_EQ(to_float(read<bf16>(*out[1])[0]), 1.0078125f);
}

TEST_F(CpuBackendTest, ConvertBetweenIntegersWrapsAndFromBoolGivesOne) {
  GraphBuilder b;
  auto x = b.param(DType::int32, Shape{3});
  auto p = b.param(DType::bool_, Shape{2});
  ir::Attrs to_u8, to_f32, to_f16;
  to_u8.dtype = DType::uint8;
  to_f32.dtype = DType::float32;
  to_f16.dtype = DType::float16;
  b.output(b.push(Prim::convert, {x}, to_u8, {DType::uint8, Shape{3}}));
  b.output(b.push(Prim::convert, {p}, to_f32, {DType::float32, Shape{2}}));
  b.output(b.push(Prim::convert, {x}, to_f16, {DType::float16, Shape{3}}));
  auto out = run(
      b.g, {buffer(std::vector<int32_t>{257, -1, 2049}), buffer(std::vector<bool>{true, false})});
  EXPECT_EQ(read<uint8_t>(*out[0]), (std::vector<uint8_t>{1, 255, 1}));
  EXPECT_EQ(read<float>(*out[1]), (std::vector<float>{1.0f, 0.0f}));
  auto h = read<f16>(*out[2]);
  EXPECT_EQ(to_float(h[0]), 257.0f);
  EXPECT_EQ(to_float(h[1]), -1.0f);
  EXPECT_EQ(to_float(h[2]), 2048.0f);  // 2049 ties between 2048 and 2050: even
}

TEST_F(CpuBackendTest, BitcastConvertReinterpretsBits) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2});
  ir::Attrs to_u32;
  to_u32.dtype = DType::uint32;
  b.output(b.push(Prim::bitcast_convert, {x}, to_u32, {DType::uint32, Shape{2}}));
  auto out = run(b.g, {buffer(std::vector<float>{1.0f, -2.0f})});
  EXPECT_EQ(read<uint32_t>(*out[0]), (std::vector<uint32_t>{0x3f800000u, 0xc0000000u}));
}

// ---- generators -------------------------------------------------------------------------------

TEST_F(CpuBackendTest, FullAndIotaFillTheirShapes) {
  GraphBuilder b;
  ir::Attrs full;
  full.shape = Shape{2, 2};
  full.dtype = DType::float32;
  full.value = Scalar::from_double(2.5, DType::float32);
  b.output(b.push(Prim::full, {}, full, {DType::float32, Shape{2, 2}}));
  ir::Attrs iota;
  iota.shape = Shape{2, 3};
  iota.dtype = DType::int32;
  iota.axis = 1;
  b.output(b.push(Prim::iota, {}, iota, {DType::int32, Shape{2, 3}}));
  iota.axis = 0;
  iota.dtype = DType::float16;
  b.output(b.push(Prim::iota, {}, iota, {DType::float16, Shape{2, 3}}));
  auto out = run(b.g, {});
  EXPECT_EQ(read<float>(*out[0]), (std::vector<float>{2.5f, 2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(read<int32_t>(*out[1]), (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));
  std::vector<float> h;
  for (f16 v : read<f16>(*out[2])) h.push_back(to_float(v));
  EXPECT_EQ(h, (std::vector<float>{0, 0, 0, 1, 1, 1}));
}

// ---- shape primitives -------------------------------------------------------------------------

std::vector<float> arange(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

TEST_F(CpuBackendTest, TransposeOfRank3PermutesAxes) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2, 3, 4});
  ir::Attrs a;
  a.dims = {2, 0, 1};
  b.output(b.push(Prim::transpose, {x}, a, {DType::float32, Shape{4, 2, 3}}));
  auto out = read<float>(*run(b.g, {buffer(arange(24))})[0]);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 2; ++j) {
      for (int k = 0; k < 3; ++k) {
        // result[i][j][k] = x[j][k][i]
        EXPECT_EQ(out[static_cast<size_t>((i * 2 + j) * 3 + k)],
                  static_cast<float>((j * 3 + k) * 4 + i));
      }
    }
  }
}

TEST_F(CpuBackendTest, BroadcastInDimExpandsNewAndSizeOneDims) {
  GraphBuilder b;
  auto x = b.param(DType::int32, Shape{3, 1});
  ir::Attrs a;
  a.shape = Shape{2, 3, 4};
  a.dims = {1, 2};
  b.output(b.push(Prim::broadcast_in_dim, {x}, a, {DType::int32, Shape{2, 3, 4}}));
  auto out = read<int32_t>(*run(b.g, {buffer(std::vector<int32_t>{7, 8, 9})})[0]);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k) EXPECT_EQ(out[static_cast<size_t>((i * 3 + j) * 4 + k)], 7 + j);
    }
  }
}

TEST_F(CpuBackendTest, SliceWithStrides) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{4, 10});
  ir::Attrs a;
  a.start = {1, 1};
  a.limit = {4, 9};
  a.stride = {2, 3};
  b.output(b.push(Prim::slice, {x}, a, {DType::float32, Shape{2, 3}}));
  auto out = read<float>(*run(b.g, {buffer(arange(40))})[0]);
  EXPECT_EQ(out, (std::vector<float>{11, 14, 17, 31, 34, 37}));
}

TEST_F(CpuBackendTest, PadWithLowHighAndInterior) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2, 3});
  auto v = b.param(DType::float32, Shape{});
  ir::Attrs a;
  a.low = {1, 0};
  a.high = {0, 2};
  a.interior = {1, 1};
  // rows: 1 + 2 + 1 + 0 = 4; cols: 0 + 3 + 2 + 2 = 7
  b.output(b.push(Prim::pad, {x, v}, a, {DType::float32, Shape{4, 7}}));
  auto out = read<float>(
      *run(b.g, {buffer(std::vector<float>{1, 2, 3, 4, 5, 6}), buffer(std::vector<float>{-1})})[0]);
  const std::vector<float> want = {-1, -1, -1, -1, -1, -1, -1,  //
                                   1,  -1, 2,  -1, 3,  -1, -1,  //
                                   -1, -1, -1, -1, -1, -1, -1,  //
                                   4,  -1, 5,  -1, 6,  -1, -1};
  EXPECT_EQ(out, want);
}

TEST_F(CpuBackendTest, ConcatenateJoinsAlongAnAxis) {
  GraphBuilder b;
  auto x = b.param(DType::int64, Shape{2, 1});
  auto y = b.param(DType::int64, Shape{2, 2});
  auto z = b.param(DType::int64, Shape{2, 0});
  ir::Attrs a;
  a.axis = 1;
  b.output(b.push(Prim::concatenate, {x, y, z, x}, a, {DType::int64, Shape{2, 4}}));
  auto out = run(b.g, {buffer(std::vector<int64_t>{1, 2}), buffer(std::vector<int64_t>{3, 4, 5, 6}),
                       buffer(std::vector<int64_t>{})});
  EXPECT_EQ(read<int64_t>(*out[0]), (std::vector<int64_t>{1, 3, 4, 1, 2, 5, 6, 2}));
}

TEST_F(CpuBackendTest, ReshapeIsAViewInsideAndACopyAtTheOutput) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2, 3});
  ir::Attrs a;
  a.shape = Shape{3, 2};
  auto r = b.push(Prim::reshape, {x}, a, {DType::float32, Shape{3, 2}});
  auto n = b.unary(Prim::neg, r);
  a.shape = Shape{6};
  b.output(b.push(Prim::reshape, {n}, a, {DType::float32, Shape{6}}));
  std::unique_ptr<Executable> exe;
  auto out = run(b.g, {buffer(arange(6))}, &exe);
  EXPECT_EQ(read<float>(*out[0]), (std::vector<float>{-0.0f, -1, -2, -3, -4, -5}));
  // neg and the final copy: the inner reshape costs nothing.
  EXPECT_EQ(static_cast<cpu::CpuExecutable&>(*exe).num_steps(), 2u);
}

// ---- reductions -------------------------------------------------------------------------------

TEST_F(CpuBackendTest, ReduceOverSeveralAxes) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2, 3, 4});
  ir::Attrs a;
  a.dims = {0, 2};
  b.output(b.push(Prim::reduce_sum, {x}, a, {DType::float32, Shape{3}}));
  a.dims = {1};
  b.output(b.push(Prim::reduce_max, {x}, a, {DType::float32, Shape{2, 4}}));
  a.dims = {0, 1, 2};
  b.output(b.push(Prim::reduce_min, {x}, a, {DType::float32, Shape{}}));
  std::vector<float> v = arange(24);
  v[5] = 100;  // x[0][1][1]
  auto out = run(b.g, {buffer(v)});
  std::vector<double> sum(3, 0.0);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 4; ++k)
        sum[static_cast<size_t>(j)] += v[static_cast<size_t>((i * 3 + j) * 4 + k)];
    }
  }
  expect_close(read<float>(*out[0]), sum);
  EXPECT_EQ(read<float>(*out[1]), (std::vector<float>{8, 100, 10, 11, 20, 21, 22, 23}));
  EXPECT_EQ(read<float>(*out[2]), (std::vector<float>{0}));
}

TEST_F(CpuBackendTest, ReduceOfEmptyAxesGivesIdentityAndIntegerSumsWrap) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{3, 0});
  ir::Attrs a;
  a.dims = {1};
  b.output(b.push(Prim::reduce_max, {x}, a, {DType::float32, Shape{3}}));
  b.output(b.push(Prim::reduce_sum, {x}, a, {DType::float32, Shape{3}}));
  auto y = b.param(DType::int8, Shape{3});
  a.dims = {0};
  b.output(b.push(Prim::reduce_sum, {y}, a, {DType::int8, Shape{}}));
  b.output(b.push(Prim::reduce_max, {y}, a, {DType::int8, Shape{}}));
  auto out = run(b.g, {buffer(std::vector<float>{}), buffer(std::vector<int8_t>{100, 100, -10})});
  EXPECT_EQ(read<float>(*out[0]), (std::vector<float>{-kInf, -kInf, -kInf}));
  EXPECT_EQ(read<float>(*out[1]), (std::vector<float>{0, 0, 0}));
  EXPECT_EQ(read<int8_t>(*out[2]), (std::vector<int8_t>{static_cast<int8_t>(190)}));
  EXPECT_EQ(read<int8_t>(*out[3]), (std::vector<int8_t>{100}));
}

TEST_F(CpuBackendTest, ReduceMaxPropagatesNaN) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2, 3});
  ir::Attrs a;
  a.dims = {1};
  b.output(b.push(Prim::reduce_max, {x}, a, {DType::float32, Shape{2}}));
  auto out = read<float>(*run(b.g, {buffer(std::vector<float>{1, kNaN, 3, 4, 5, 6})})[0]);
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(out[1], 6.0f);
}

TEST_F(CpuBackendTest, ArgmaxTakesTheFirstMaximumAndNaNWins) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{3, 4});
  ir::Attrs a;
  a.axis = 1;
  b.output(b.push(Prim::argmax, {x}, a, {DType::int32, Shape{3}}));
  a.axis = 0;
  b.output(b.push(Prim::argmax, {x}, a, {DType::int32, Shape{4}}));
  auto out = run(b.g, {buffer(std::vector<float>{1, 5, 5, 2,        //
                                                 7, kNaN, 9, kNaN,  //
                                                 7, 0, 9, 3})});
  EXPECT_EQ(read<int32_t>(*out[0]), (std::vector<int32_t>{1, 1, 2}));
  EXPECT_EQ(read<int32_t>(*out[1]), (std::vector<int32_t>{1, 1, 1, 1}));
}

// ---- dot_general ------------------------------------------------------------------------------

// Reference dot_general in double over explicit index maps.
struct DotCase {
  std::string name;
  Shape lhs, rhs, out;
  ir::DotDims dims;
};

std::vector<double> reference_dot(const DotCase& c, const std::vector<double>& l,
                                  const std::vector<double>& r) {
  const auto ls = strides_of(c.lhs), rs = strides_of(c.rhs);
  auto free_of = [](int rank, const std::vector<int64_t>& b, const std::vector<int64_t>& k) {
    std::vector<int64_t> f;
    for (int64_t a = 0; a < rank; ++a) {
      if (std::find(b.begin(), b.end(), a) == b.end() &&
          std::find(k.begin(), k.end(), a) == k.end())
        f.push_back(a);
    }
    return f;
  };
  const auto lf = free_of(c.lhs.rank(), c.dims.lhs_batch, c.dims.lhs_contract);
  const auto rf = free_of(c.rhs.rank(), c.dims.rhs_batch, c.dims.rhs_contract);
  std::vector<double> out(static_cast<size_t>(c.out.numel()), 0.0);
  const auto os = strides_of(c.out);
  int64_t kn = 1;
  for (int64_t a : c.dims.lhs_contract) kn *= c.lhs[static_cast<int>(a)];
  for (int64_t o = 0; o < c.out.numel(); ++o) {
    std::vector<int64_t> oi(static_cast<size_t>(c.out.rank()));
    for (int d = 0; d < c.out.rank(); ++d)
      oi[static_cast<size_t>(d)] = (o / os[static_cast<size_t>(d)]) % c.out[d];
    int64_t lbase = 0, rbase = 0;
    size_t d = 0;
    for (size_t i = 0; i < c.dims.lhs_batch.size(); ++i, ++d) {
      lbase += oi[d] * ls[static_cast<size_t>(c.dims.lhs_batch[i])];
      rbase += oi[d] * rs[static_cast<size_t>(c.dims.rhs_batch[i])];
    }
    for (int64_t a : lf) lbase += oi[d++] * ls[static_cast<size_t>(a)];
    for (int64_t a : rf) rbase += oi[d++] * rs[static_cast<size_t>(a)];
    double s = 0;
    for (int64_t k = 0; k < kn; ++k) {
      int64_t rem = k, lo = lbase, ro = rbase;
      for (size_t i = c.dims.lhs_contract.size(); i-- > 0;) {
        const int64_t n = c.lhs[static_cast<int>(c.dims.lhs_contract[i])];
        lo += (rem % n) * ls[static_cast<size_t>(c.dims.lhs_contract[i])];
        ro += (rem % n) * rs[static_cast<size_t>(c.dims.rhs_contract[i])];
        rem /= n;
      }
      s += l[static_cast<size_t>(lo)] * r[static_cast<size_t>(ro)];
    }
    out[static_cast<size_t>(o)] = s;
  }
  return out;
}

std::vector<double> pseudo_random(int64_t n, uint32_t seed) {
  std::vector<double> v(static_cast<size_t>(n));
  uint32_t s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<double>(s >> 8) / static_cast<double>(1u << 24) - 0.5;
  }
  return v;
}

class DotGeneralTest : public CpuBackendTest, public ::testing::WithParamInterface<DotCase> {};

TEST_P(DotGeneralTest, Float32AndFloat64MatchTheDoubleReference) {
  const DotCase& c = GetParam();
  const auto l = pseudo_random(c.lhs.numel(), 1);
  const auto r = pseudo_random(c.rhs.numel(), 2);
  const auto want = reference_dot(c, l, r);
  for (DType t : {DType::float32, DType::float64}) {
    GraphBuilder b;
    auto x = b.param(t, c.lhs);
    auto y = b.param(t, c.rhs);
    ir::Attrs a;
    a.dot = c.dims;
    b.output(b.push(Prim::dot_general, {x, y}, a, {t, c.out}));
    if (t == DType::float32) {
      std::vector<float> lf(l.begin(), l.end()), rf(r.begin(), r.end());
      const double k = static_cast<double>(c.lhs.numel()) / 1.0;
      expect_close(read<float>(*run(b.g, {buffer(lf), buffer(rf)})[0]), want, 0.0,
                   1e-6 * std::sqrt(k) + 1e-6);
    } else {
      auto got = read<double>(*run(b.g, {buffer(l), buffer(r)})[0]);
      for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12);
    }
  }
}

ir::DotDims dims(std::vector<int64_t> lc, std::vector<int64_t> rc, std::vector<int64_t> lb = {},
                 std::vector<int64_t> rb = {}) {
  return ir::DotDims{std::move(lc), std::move(rc), std::move(lb), std::move(rb)};
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, DotGeneralTest,
    ::testing::Values(
        // The tutorial's tiny matmul (direct loop) and a library-sized one.
        DotCase{"TutorialTiny", Shape{16, 4}, Shape{4, 8}, Shape{16, 8}, dims({1}, {0})},
        DotCase{"TinyTransposedLhs", Shape{8, 6}, Shape{8, 5}, Shape{6, 5}, dims({0}, {0})},
        DotCase{"TinyTransposedRhs", Shape{6, 8}, Shape{10, 8}, Shape{6, 10}, dims({1}, {1})},
        DotCase{"LibrarySized", Shape{33, 70}, Shape{70, 45}, Shape{33, 45}, dims({1}, {0})},
        // x^T·g (weight gradient) and g·W^T: contracting dims where the trans flags absorb them.
        DotCase{"ContractLeadingDims", Shape{40, 33}, Shape{40, 21}, Shape{33, 21}, dims({0}, {0})},
        DotCase{"ContractTrailingDims", Shape{33, 40}, Shape{21, 40}, Shape{33, 21},
                dims({1}, {1})},
        // Batch dims, leading and in the middle (the middle one needs a re-layout).
        DotCase{"LeadingBatch", Shape{3, 5, 6}, Shape{3, 6, 7}, Shape{3, 5, 7},
                dims({2}, {1}, {0}, {0})},
        DotCase{"MiddleBatchNeedsRelayout", Shape{5, 3, 6}, Shape{6, 3, 7}, Shape{3, 5, 7},
                dims({2}, {0}, {1}, {1})},
        // Two contracting dims in swapped order, and a vector·matrix product.
        DotCase{"TwoContractingDimsSwapped", Shape{4, 3, 5}, Shape{5, 6, 3}, Shape{4, 6},
                dims({1, 2}, {2, 0})},
        DotCase{"VectorTimesMatrix", Shape{9}, Shape{9, 4}, Shape{4}, dims({0}, {0})},
        // An outer product (nothing contracts) and an empty contraction.
        DotCase{"OuterProduct", Shape{3}, Shape{2}, Shape{3, 2}, dims({}, {})},
        DotCase{"EmptyContraction", Shape{2, 0}, Shape{0, 3}, Shape{2, 3}, dims({1}, {0})}),
    [](const ::testing::TestParamInfo<DotCase>& info) { return info.param.name; });

TEST_F(CpuBackendTest, DotGeneralOnIntegersAndBfloat16) {
  GraphBuilder b;
  auto x = b.param(DType::int32, Shape{2, 3});
  auto y = b.param(DType::int32, Shape{3, 2});
  ir::Attrs a;
  a.dot = dims({1}, {0});
  b.output(b.push(Prim::dot_general, {x, y}, a, {DType::int32, Shape{2, 2}}));
  auto p = b.param(DType::bfloat16, Shape{1, 2});
  auto q = b.param(DType::bfloat16, Shape{2, 1});
  b.output(b.push(Prim::dot_general, {p, q}, a, {DType::bfloat16, Shape{1, 1}}));
  auto out = run(b.g, {buffer(std::vector<int32_t>{1, 2, 3, 4, 5, 6}),
                       buffer(std::vector<int32_t>{1, -1, 2, 0, -3, 10}),
                       buffer(std::vector<bf16>{to_bf16(1.0f), to_bf16(0.0078125f)}),
                       buffer(std::vector<bf16>{to_bf16(1.0f), to_bf16(1.0f)})});
  EXPECT_EQ(read<int32_t>(*out[0]), (std::vector<int32_t>{-4, 29, -4, 56}));
  EXPECT_EQ(to_float(read<bf16>(*out[1])[0]), 1.0078125f);
}

// ---- random -----------------------------------------------------------------------------------

TEST_F(CpuBackendTest, Threefry2x32MatchesTheRandom123KnownAnswers) {
  GraphBuilder b;
  auto key = b.param(DType::uint32, Shape{2});
  auto counts = b.param(DType::uint32, Shape{2, 1});
  b.output(b.push(Prim::threefry2x32, {key, counts}, {}, {DType::uint32, Shape{2, 1}}));
  auto exe = backend_->compile(b.g, device_);
  struct Known {
    uint32_t k0, k1, x0, x1, y0, y1;
  };
  const Known known[] = {
      {0, 0, 0, 0, 0x6b200159u, 0x99ba4efeu},
      {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x1cb996fcu, 0xbb002be7u},
      {0x13198a2eu, 0x03707344u, 0x243f6a88u, 0x85a308d3u, 0xc4923a9cu, 0x483df7a0u},
  };
  for (const Known& k : known) {
    auto kb = buffer(std::vector<uint32_t>{k.k0, k.k1});
    auto cb = buffer(std::vector<uint32_t>{k.x0, k.x1});
    auto ob = backend_->allocate(8, device_);
    Buffer* ins[] = {kb.get(), cb.get()};
    Buffer* outs[] = {ob.get()};
    exe->run(ins, outs);
    EXPECT_EQ(read<uint32_t>(*ob), (std::vector<uint32_t>{k.y0, k.y1}));
  }
}

TEST_F(CpuBackendTest, Threefry2x32HashesEveryCounterPairOfABatch) {
  // JAX's split(key(0)): counters (0, 0) and (0, 1) under key (0, 0).
  GraphBuilder b;
  auto key = b.param(DType::uint32, Shape{2});
  auto counts = b.param(DType::uint32, Shape{2, 2});
  b.output(b.push(Prim::threefry2x32, {key, counts}, {}, {DType::uint32, Shape{2, 2}}));
  auto out =
      run(b.g, {buffer(std::vector<uint32_t>{0, 0}), buffer(std::vector<uint32_t>{0, 0, 0, 1})});
  // out[0] = first words, out[1] = second words, per counter pair.
  EXPECT_EQ(read<uint32_t>(*out[0]),
            (std::vector<uint32_t>{1797259609u, 928981903u, 2579123966u, 3453687069u}));
}

// ---- the schedule: arena, outputs, errors -----------------------------------------------------

TEST_F(CpuBackendTest, LongChainReusesArenaBytes) {
  GraphBuilder b;
  const int64_t n = 1024;
  auto x = b.param(DType::float32, Shape{n});
  ValueId v = x;
  const int kLength = 64;
  for (int i = 0; i < kLength; ++i) {
    // Alternate a non-elementwise op (a fresh allocation) with in-place elementwise ones.
    ir::Attrs a;
    a.dims = {0};
    v = i % 4 == 0 ? b.push(Prim::transpose, {v}, a, {DType::float32, Shape{n}})
                   : b.unary(i % 2 ? Prim::neg : Prim::abs, v);
  }
  b.output(v);
  std::unique_ptr<Executable> exe;
  auto out = read<float>(*run(b.g, {buffer(arange(n))}, &exe)[0]);
  auto& cpu_exe = static_cast<cpu::CpuExecutable&>(*exe);
  const size_t value_bytes = n * sizeof(float);
  EXPECT_LE(cpu_exe.arena_bytes(), 2 * value_bytes) << exe->describe();
  EXPECT_LT(cpu_exe.arena_bytes(), kLength * value_bytes / 16);
  EXPECT_NE(exe->describe().find("arena " + std::to_string(cpu_exe.arena_bytes()) + " bytes"),
            std::string::npos);
  // The last op is neg of abs: every element ends non-positive with |x| preserved.
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(out[static_cast<size_t>(i)], -static_cast<float>(i));
}

TEST_F(CpuBackendTest, OutputsMayBeParametersConstantsOrRepeated) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{3});
  auto lit = backend_->allocate(3 * sizeof(float), device_);
  const float lit_values[] = {10, 20, 30};
  backend_->from_host(lit_values, *lit);
  ir::Attrs ca;
  ca.literal = lit;
  auto c = b.push(Prim::constant, {}, ca, {DType::float32, Shape{3}});
  auto s = b.binary(Prim::add, x, c);
  b.output(s);
  b.output(x);
  b.output(s);
  b.output(c);
  std::unique_ptr<Executable> exe;
  auto out = run(b.g, {buffer(std::vector<float>{1, 2, 3})}, &exe);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(read<float>(*out[0]), (std::vector<float>{11, 22, 33}));
  EXPECT_EQ(read<float>(*out[1]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(read<float>(*out[2]), (std::vector<float>{11, 22, 33}));
  EXPECT_EQ(read<float>(*out[3]), (std::vector<float>{10, 20, 30}));
  EXPECT_EQ(exe->output_types().size(), 4u);
  EXPECT_EQ(exe->output_types()[0], (ValueType{DType::float32, Shape{3}}));
  // The add writes output[0] directly: no arena at all.
  EXPECT_EQ(static_cast<cpu::CpuExecutable&>(*exe).arena_bytes(), 0u);
  const std::string text = exe->describe();
  EXPECT_NE(text.find("add f32[3]"), std::string::npos) << text;
  EXPECT_NE(text.find("-> output[0]"), std::string::npos) << text;
}

TEST_F(CpuBackendTest, ReshapedParameterAsOutputIsCopied) {
  GraphBuilder b;
  auto x = b.param(DType::int32, Shape{2, 2});
  ir::Attrs a;
  a.shape = Shape{4};
  b.output(b.push(Prim::reshape, {x}, a, {DType::int32, Shape{4}}));
  auto out = run(b.g, {buffer(std::vector<int32_t>{1, 2, 3, 4})});
  EXPECT_EQ(read<int32_t>(*out[0]), (std::vector<int32_t>{1, 2, 3, 4}));
}

TEST_F(CpuBackendTest, RunRejectsWrongBufferCountsAndSizes) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{4});
  b.output(b.unary(Prim::neg, x));
  auto exe = backend_->compile(b.g, device_);
  auto small = backend_->allocate(8, device_);
  auto ok = backend_->allocate(16, device_);
  Buffer* one_small[] = {small.get()};
  Buffer* one_ok[] = {ok.get()};
  EXPECT_THROW(exe->run(one_small, one_ok), ValueError);
  EXPECT_THROW(exe->run({}, one_ok), ValueError);
}

TEST_F(CpuBackendTest, ExecutableRunsAgainOnNewBuffers) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2});
  b.output(b.binary(Prim::mul, x, x));
  auto exe = backend_->compile(b.g, device_);
  for (float v : {2.0f, 3.0f}) {
    auto in = buffer(std::vector<float>{v, -v});
    auto out = backend_->allocate(8, device_);
    Buffer* ins[] = {in.get()};
    Buffer* outs[] = {out.get()};
    exe->run(ins, outs);
    EXPECT_EQ(read<float>(*out), (std::vector<float>{v * v, v * v}));
  }
}

// The type rule refuses exp on int32 first; the backend's own check still names the line and the
// fix for a graph built around it.
TEST_F(CpuBackendTest, UnsupportedPrimitiveNamesDtypeSourceLineAndFix) {
  GraphBuilder b;
  b.verified = false;
  auto x = b.param(DType::int32, Shape{2});
  const auto loc = std::source_location::current();
  b.push(Prim::exp, {x}, {}, {DType::int32, Shape{2}}, loc);
  b.output(x);
  EXPECT_FALSE(backend_->supports(Prim::exp, DType::int32));
  EXPECT_TRUE(backend_->supports(Prim::exp, DType::bfloat16));
  try {
    backend_->compile(b.g, device_);
    FAIL() << "expected kiln::Unsupported";
  } catch (const Unsupported& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("exp"), std::string::npos) << msg;
    EXPECT_NE(msg.find("int32"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu_backend_test.cpp:" + std::to_string(loc.line())), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("astype"), std::string::npos) << msg;
  }
}

// supports() and the kernels come from one table: every (primitive, dtype) it accepts must compile
// and run (here on zeros, for the primitives that take no attributes or simple ones).
TEST_F(CpuBackendTest, EverySupportedElementwiseAndReductionDtypeHasAKernel) {
  const Shape s{2, 3};
  for (int pi = 0; pi < ir::kNumPrims; ++pi) {
    const auto p = static_cast<Prim>(pi);
    const ir::PrimKind kind = ir::info(p).kind;
    for (int ti = 0; ti < kNumDTypes; ++ti) {
      const auto t = static_cast<DType>(ti);
      if (!backend_->supports(p, t)) continue;
      SCOPED_TRACE(std::string(ir::name(p)) + " " + std::string(name(t)));
      GraphBuilder b;
      auto x = b.param(t, s);
      ValueId y = 0;
      ir::Attrs a;
      switch (kind) {
        case ir::PrimKind::unary:  // real, imag, abs of complex change the dtype: the type rule's
          if (p == Prim::convert || p == Prim::bitcast_convert) continue;
          if (p == Prim::reduce_precision) {  // the one unary row with attributes
            a.exponent_bits = 5;
            a.mantissa_bits = 2;
            y = b.push(p, {x}, a, {t, s});
            break;
          }
          y = b.push(p, {x}, a, ir::infer_type(p, std::vector<ir::ValueType>{{t, s}}, a, {}));
          break;
        case ir::PrimKind::binary:  // complex makes a complex of two real parts
          y = b.push(p, {x, x}, a, ir::infer_type(p, std::vector<ir::ValueType>(2, {t, s}), a, {}));
          break;
        case ir::PrimKind::compare:
          y = b.compare(p, x, x);
          break;
        case ir::PrimKind::reduce:
          a.dims = {0};
          a.axis = 0;
          y = b.push(p, {x}, a,
                     {p == Prim::argmax || p == Prim::argmin ? DType::int32 : t, Shape{3}});
          break;
        case ir::PrimKind::contraction:
          a.dot = ir::DotDims{{1}, {1}, {}, {}};
          y = b.push(p, {x, x}, a, {t, Shape{2, 2}});
          break;
        default:
          continue;
      }
      b.output(y);
      const size_t bytes = static_cast<size_t>(s.numel()) * itemsize(t);
      EXPECT_NO_THROW(run(b.g, {buffer(std::vector<uint8_t>(bytes, 0))}));
    }
  }
  // convert: every pair of the 13 real dtypes (complex: tests/primitives/complex_harness_test).
  int pairs = 0;
  for (int from = 0; from < kNumDTypes; ++from) {
    for (int to = 0; to < kNumDTypes; ++to) {
      if (is_complex(static_cast<DType>(from)) || is_complex(static_cast<DType>(to))) continue;
      ++pairs;
      GraphBuilder b;
      auto x = b.param(static_cast<DType>(from), Shape{3});
      ir::Attrs a;
      a.dtype = static_cast<DType>(to);
      b.output(b.push(Prim::convert, {x}, a, {a.dtype, Shape{3}}));
      EXPECT_NO_THROW(
          run(b.g, {buffer(std::vector<uint8_t>(3 * itemsize(static_cast<DType>(from)), 0))}));
    }
  }
  EXPECT_EQ(pairs, 13 * 13);
}

// ---- int16, uint16, uint64: full citizens, checked against literal two's-complement answers ----

TEST_F(CpuBackendTest, Int16ArithmeticWrapsAndDividesAsXla) {
  GraphBuilder b;
  auto x = b.param(DType::int16, Shape{5});
  auto y = b.param(DType::int16, Shape{5});
  for (Prim p : {Prim::add, Prim::sub, Prim::mul, Prim::div, Prim::rem})
    b.output(b.binary(p, x, y));
  b.output(b.unary(Prim::neg, x));
  b.output(b.unary(Prim::abs, x));
  auto out = run(b.g, {buffer(std::vector<int16_t>{32767, -32768, 300, -7, 9}),
                       buffer(std::vector<int16_t>{1, -1, 300, 2, 0})});
  EXPECT_EQ(read<int16_t>(*out[0]), (std::vector<int16_t>{-32768, 32767, 600, -5, 9}));
  EXPECT_EQ(read<int16_t>(*out[1]), (std::vector<int16_t>{32766, -32767, 0, -9, 9}));
  // 300 * 300 = 90000 = 65536 + 24464.
  EXPECT_EQ(read<int16_t>(*out[2]), (std::vector<int16_t>{32767, -32768, 24464, -14, 0}));
  // MIN / -1 is MIN and x / 0 is -1 (XLA), division truncates toward zero.
  EXPECT_EQ(read<int16_t>(*out[3]), (std::vector<int16_t>{32767, -32768, 1, -3, -1}));
  EXPECT_EQ(read<int16_t>(*out[4]), (std::vector<int16_t>{0, 0, 0, -1, 9}));
  EXPECT_EQ(read<int16_t>(*out[5]), (std::vector<int16_t>{-32767, -32768, -300, 7, -9}));
  EXPECT_EQ(read<int16_t>(*out[6]), (std::vector<int16_t>{32767, -32768, 300, 7, 9}));
}

TEST_F(CpuBackendTest, Uint16AndUint64WrapShiftAndCompare) {
  GraphBuilder b;
  auto x = b.param(DType::uint16, Shape{4});
  auto y = b.param(DType::uint16, Shape{4});
  for (Prim p : {Prim::add, Prim::sub, Prim::mul, Prim::div, Prim::shift_left,
                 Prim::shift_right_logical, Prim::max})
    b.output(b.binary(p, x, y));
  b.output(b.compare(Prim::lt, x, y));
  auto out = run(b.g, {buffer(std::vector<uint16_t>{65535, 0, 0xFFFF, 40000}),
                       buffer(std::vector<uint16_t>{1, 1, 15, 0})});
  EXPECT_EQ(read<uint16_t>(*out[0]), (std::vector<uint16_t>{0, 1, 14, 40000}));
  EXPECT_EQ(read<uint16_t>(*out[1]), (std::vector<uint16_t>{65534, 65535, 65520, 40000}));
  // 65535 * 15 = 983025 = 15 * 65536 - 15, so 65536 - 15.
  EXPECT_EQ(read<uint16_t>(*out[2]), (std::vector<uint16_t>{65535, 0, 65521, 0}));
  EXPECT_EQ(read<uint16_t>(*out[3]), (std::vector<uint16_t>{65535, 0, 4369, 65535}));
  EXPECT_EQ(read<uint16_t>(*out[4]), (std::vector<uint16_t>{65534, 0, 0x8000, 40000}));
  EXPECT_EQ(read<uint16_t>(*out[5]), (std::vector<uint16_t>{32767, 0, 1, 40000}));
  EXPECT_EQ(read<uint16_t>(*out[6]), (std::vector<uint16_t>{65535, 1, 0xFFFF, 40000}));
  EXPECT_EQ(read<uint8_t>(*out[7]), (std::vector<uint8_t>{0, 1, 0, 0}));

  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  GraphBuilder w;
  auto p = w.param(DType::uint64, Shape{3});
  auto q = w.param(DType::uint64, Shape{3});
  for (Prim pr : {Prim::add, Prim::sub, Prim::mul, Prim::div, Prim::rem, Prim::shift_left})
    w.output(w.binary(pr, p, q));
  ir::Attrs axis0;
  axis0.dims = {0};
  w.output(w.push(Prim::reduce_sum, {p}, axis0, {DType::uint64, Shape{}}));
  w.output(w.push(Prim::reduce_max, {p}, axis0, {DType::uint64, Shape{}}));
  auto wo = run(w.g, {buffer(std::vector<uint64_t>{kMax, 1ull << 63, 10}),
                      buffer(std::vector<uint64_t>{1, 2, 3})});
  EXPECT_EQ(read<uint64_t>(*wo[0]), (std::vector<uint64_t>{0, (1ull << 63) + 2, 13}));
  EXPECT_EQ(read<uint64_t>(*wo[1]), (std::vector<uint64_t>{kMax - 1, (1ull << 63) - 2, 7}));
  EXPECT_EQ(read<uint64_t>(*wo[2]), (std::vector<uint64_t>{kMax, 0, 30}));
  // Unsigned division: no sign bit, so 2**63 / 2 is 2**62.
  EXPECT_EQ(read<uint64_t>(*wo[3]), (std::vector<uint64_t>{kMax, 1ull << 62, 3}));
  EXPECT_EQ(read<uint64_t>(*wo[4]), (std::vector<uint64_t>{0, 0, 1}));
  EXPECT_EQ(read<uint64_t>(*wo[5]), (std::vector<uint64_t>{kMax - 1, 0, 80}));
  // kMax + 2**63 + 10 wraps to 2**63 + 9.
  EXPECT_EQ(read<uint64_t>(*wo[6]), (std::vector<uint64_t>{(1ull << 63) + 9}));
  EXPECT_EQ(read<uint64_t>(*wo[7]), (std::vector<uint64_t>{kMax}));
}

TEST_F(CpuBackendTest, NewIntegerDtypesConvertToAndFromFloat) {
  auto convert = [&](DType from, DType to, auto values, [[maybe_unused]] auto tag) {
    GraphBuilder b;
    auto x = b.param(from, Shape{static_cast<int64_t>(values.size())});
    ir::Attrs a;
    a.dtype = to;
    b.output(b.push(Prim::convert, {x}, a, {to, b.g.nodes[x].type.shape}));
    return read<decltype(tag)>(*run(b.g, {buffer(values)})[0]);
  };
  // float -> int16/uint16: truncation toward zero, saturation, NaN -> 0 (XLA's convert).
  std::vector<float> f{-1.5f, 2.9f, 1e9f, -1e9f, kNaN};
  EXPECT_EQ(convert(DType::float32, DType::int16, f, int16_t{}),
            (std::vector<int16_t>{-1, 2, 32767, -32768, 0}));
  EXPECT_EQ(convert(DType::float32, DType::uint16, f, uint16_t{}),
            (std::vector<uint16_t>{0, 2, 65535, 0, 0}));
  EXPECT_EQ(convert(DType::float64, DType::uint64, std::vector<double>{1e30, 3.99, -4, 0x1p63},
                    uint64_t{}),
            (std::vector<uint64_t>{std::numeric_limits<uint64_t>::max(), 3, 0, 1ull << 63}));
  // int -> float, exactly where the float holds the value, else correctly rounded.
  EXPECT_EQ(convert(DType::uint64, DType::float64,
                    std::vector<uint64_t>{std::numeric_limits<uint64_t>::max(), 12345}, double{}),
            (std::vector<double>{0x1p64, 12345.0}));
  EXPECT_EQ(convert(DType::int16, DType::float32, std::vector<int16_t>{-32768, 7}, float{}),
            (std::vector<float>{-32768.f, 7.f}));
  // int -> int wraps: uint16 65535 is int16 -1, int16 -1 is uint64 2**64 - 1.
  EXPECT_EQ(convert(DType::uint16, DType::int16, std::vector<uint16_t>{65535, 32768}, int16_t{}),
            (std::vector<int16_t>{-1, -32768}));
  EXPECT_EQ(convert(DType::int16, DType::uint64, std::vector<int16_t>{-1}, uint64_t{}),
            (std::vector<uint64_t>{std::numeric_limits<uint64_t>::max()}));
}

TEST_F(CpuBackendTest, Int16DotAccumulatesWithWraparound) {
  GraphBuilder b;
  auto x = b.param(DType::int16, Shape{1, 2});
  auto y = b.param(DType::int16, Shape{2, 1});
  ir::Attrs a;
  a.dot = ir::DotDims{{1}, {0}, {}, {}};
  b.output(b.push(Prim::dot_general, {x, y}, a, {DType::int16, Shape{1, 1}}));
  auto out =
      run(b.g, {buffer(std::vector<int16_t>{200, -3}), buffer(std::vector<int16_t>{200, 5})});
  // 40000 - 15 = 39985, which is -25551 in int16.
  EXPECT_EQ(read<int16_t>(*out[0]), (std::vector<int16_t>{-25551}));
}

// ---- complex64/complex128: the rows that admit them run (tests/primitives/complex_harness) ----

TEST_F(CpuBackendTest, ComplexRunsWhereItsRowAdmitsItAndOrderingsAreRefused) {
  for (DType t : {DType::complex64, DType::complex128}) {
    EXPECT_TRUE(backend_->supports(Prim::add, t));
    EXPECT_TRUE(backend_->supports(Prim::parameter, t));
    EXPECT_TRUE(backend_->supports(Prim::convert, t));
    EXPECT_FALSE(backend_->supports(Prim::max, t));
    EXPECT_FALSE(backend_->supports(Prim::reduce_window_sum, t));
  }
}

TEST_F(CpuBackendTest, InPlaceKernelReadsAnOperandUsedTwice) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{4});
  auto t = b.unary(Prim::neg, x);      // into the arena (a real op: the passes keep it)
  auto y = b.binary(Prim::mul, t, t);  // over t, in place
  b.output(b.unary(Prim::neg, y));
  // Unfused: fused, t would live in a tile buffer and never reach the arena.
  cpu::CpuExecutable exe(b.g, {.fuse = false});
  auto out = execute(exe, {buffer(std::vector<float>{1, 2, 3, 4})});
  EXPECT_EQ(read<float>(*out[0]), (std::vector<float>{-1, -4, -9, -16}));
  EXPECT_NE(exe.describe().find("(in place)"), std::string::npos) << exe.describe();
}

TEST_F(CpuBackendTest, SupportsTableCoversEveryPrimitive) {
  for (int p = 0; p < ir::kNumPrims; ++p) {
    // Collectives run between devices (src/spmd), never in a one-device schedule.
    if (ir::info(static_cast<Prim>(p)).kind == ir::PrimKind::collective) {
      for (int t = 0; t < kNumDTypes; ++t)
        EXPECT_FALSE(backend_->supports(static_cast<Prim>(p), static_cast<DType>(t)));
      continue;
    }
    bool any = false;
    for (int t = 0; t < kNumDTypes; ++t)
      any |= backend_->supports(static_cast<Prim>(p), static_cast<DType>(t));
    EXPECT_TRUE(any) << ir::name(static_cast<Prim>(p));
  }
  EXPECT_TRUE(backend_->supports(Prim::threefry2x32, DType::uint32));
  EXPECT_FALSE(backend_->supports(Prim::threefry2x32, DType::int32));
  EXPECT_FALSE(backend_->supports(Prim::reduce_sum, DType::bool_));
  EXPECT_TRUE(backend_->supports(Prim::dot_general, DType::float64));
}

// A freed large host buffer is handed to the next allocation of its size (no fresh pages to
// fault in): a jitted step's outputs reuse the previous step's blocks. The new buffer has its
// own size and device, 64-byte alignment, and is writable.
TEST_F(CpuBackendTest, LargeHostBlocksAreReused) {
  const size_t bytes = (1 << 20) + 4;
  void* first = nullptr;
  {
    auto a = backend_->allocate(bytes, device_);
    first = a->host_data();
  }
  auto b = backend_->allocate(bytes, device_);
  EXPECT_EQ(b->host_data(), first);
  EXPECT_EQ(b->bytes(), bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b->host_data()) % 64, 0u);
  std::vector<float> v(bytes / 4, 2.5f);
  backend_->from_host(v.data(), *b);
  EXPECT_EQ(read<float>(*b)[12345], 2.5f);
}

}  // namespace
}  // namespace kiln
