// Absorbed operands in the CPU backend: full and trailing broadcast_in_dim operands of binary ops,
// compares and select are read as scalars or cyclic sources, not materialized. Results are checked
// against plain loops, and the compiled schedule text against the steps that should (not) exist.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "backend/backend_fixture.hpp"
#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/schedule.hpp"
#include "backend/graph_builder.hpp"
#include "kiln/error.hpp"
#include "passes/constant_fills.hpp"
#include "passes/pipeline.hpp"

namespace kiln {
namespace {

using ir::Prim;
using ir::ValueId;
using ir::ValueType;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using testing::GraphBuilder;

class OperandBroadcastTest : public testing::BackendFixture {
 protected:
  // Compiles and runs g; *text gets the schedule (Executable::describe). Through the backend,
  // fills of at most 64 KiB become constants first (passes::materialize_fills); `direct` builds the
  // executable from g as is, so the small graphs here keep their full nodes.
  std::vector<std::shared_ptr<Buffer>> run(const ir::Graph& g,
                                           const std::vector<std::shared_ptr<Buffer>>& inputs,
                                           std::string* text = nullptr, bool direct = true) {
    // Unfused either way (fusion_test.cpp covers absorbed operands inside fused groups); without
    // `direct` the graph goes through what the backend's compile() runs first.
    const cpu::ScheduleOptions unfused{.fuse = false};
    std::unique_ptr<Executable> exe =
        direct ? std::make_unique<cpu::CpuExecutable>(g, unfused)
               : std::make_unique<cpu::CpuExecutable>(
                     passes::materialize_fills(passes::optimize(g)), unfused);
    if (text != nullptr) *text = exe->describe();
    return execute(*exe, inputs);
  }
};

std::vector<float> ramp(int64_t n, float scale, float shift) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = scale * static_cast<float>(i % 13) + shift;
  return v;
}

// Bitwise equality, NaN equal to NaN: the kernels compute the same float ops as the loops here.
void expect_same(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " element " << i;
    } else {
      EXPECT_EQ(got[i], want[i]) << what << " element " << i;
    }
  }
}

float ref_max(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  return a > b ? a : b;
}

// The relu block of the CNN (bias add, max with a fill, gt against a fill, selects with fills),
// plus a two-dim trailing bias, a scalar broadcast and a broadcast predicate, over shapes whose
// element counts are and are not multiples of a vector.
TEST_F(OperandBroadcastTest, FillsAndTrailingBroadcastsMatchPlainLoops) {
  const std::vector<Shape> shapes = {Shape{2, 3, 5, 7}, Shape{4, 3, 33}, Shape{1, 17},
                                     Shape{3, 8, 8},    Shape{130, 2},   Shape{2, 2, 64}};
  for (const Shape& s : shapes) {
    const std::string what = ValueType{DType::float32, s}.str();
    const int r = s.rank();
    const int64_t n = s.numel();
    const int64_t c = s[r - 1];
    const int64_t wc = s[r - 2] * c;
    GraphBuilder b;
    const ValueId x = b.param(DType::float32, s);
    const ValueId bias = b.param(DType::float32, Shape{c});
    const ValueId plane = b.param(DType::float32, Shape{s[r - 2], c});
    const ValueId scalar = b.param(DType::float32, Shape{});
    const ValueId mask = b.param(DType::bool_, Shape{c});

    const ValueId biased = b.binary(Prim::add, x, b.trailing(bias, s));
    const ValueId relu = b.binary(Prim::max, biased, b.full(DType::float32, s, 0.0));
    const ValueId pos = b.compare(Prim::gt, biased, b.full(DType::float32, s, 0.0));
    const ValueId keep = b.select(pos, biased, b.full(DType::float32, s, -1.5));
    const ValueId grad = b.select(pos, x, b.full(DType::float32, s, 0.0));
    const ValueId planed = b.binary(Prim::sub, b.trailing(plane, s), x);
    const ValueId scaled = b.binary(Prim::mul, b.trailing(scalar, s), x);
    const ValueId masked = b.select(b.trailing(mask, s), x, b.trailing(plane, s));
    const ValueId ge = b.compare(Prim::ge, b.full(DType::float32, s, 2.0), b.trailing(bias, s));
    for (ValueId v : {relu, pos, keep, grad, planed, scaled, masked, ge}) b.output(v);

    std::vector<float> xs = ramp(n, 0.75f, -4.0f);
    xs[static_cast<size_t>(n / 2)] = kNaN;  // max propagates NaN; gt of NaN is false
    const std::vector<float> bs = ramp(c, 0.5f, -1.0f);
    const std::vector<float> ps = ramp(wc, -0.25f, 2.0f);
    const float sv = 1.25f;
    std::vector<uint8_t> ms(static_cast<size_t>(c));
    for (int64_t k = 0; k < c; ++k) ms[static_cast<size_t>(k)] = k % 3 == 0;

    auto out =
        run(b.g, {buffer(xs), buffer(bs), buffer(ps), buffer(std::vector<float>{sv}), buffer(ms)});

    std::vector<float> w_relu, w_keep, w_grad, w_planed, w_scaled, w_masked;
    std::vector<uint8_t> w_pos, w_ge;
    for (int64_t i = 0; i < n; ++i) {
      const auto u = static_cast<size_t>(i);
      const float xi = xs[u];
      const float bi = bs[static_cast<size_t>(i % c)];
      const float pi = ps[static_cast<size_t>(i % wc)];
      const float f = xi + bi;
      w_relu.push_back(ref_max(f, 0.0f));
      w_pos.push_back(f > 0.0f);
      w_keep.push_back(f > 0.0f ? f : -1.5f);
      w_grad.push_back(f > 0.0f ? xi : 0.0f);
      w_planed.push_back(pi - xi);
      w_scaled.push_back(sv * xi);
      w_masked.push_back(ms[static_cast<size_t>(i % c)] ? xi : pi);
      w_ge.push_back(2.0f >= bi);
    }
    expect_same(read<float>(*out[0]), w_relu, what + " max");
    EXPECT_EQ(read<uint8_t>(*out[1]), w_pos) << what << " gt";
    expect_same(read<float>(*out[2]), w_keep, what + " select");
    expect_same(read<float>(*out[3]), w_grad, what + " select with fill");
    expect_same(read<float>(*out[4]), w_planed, what + " sub of a [W,C] broadcast");
    expect_same(read<float>(*out[5]), w_scaled, what + " mul by a scalar broadcast");
    expect_same(read<float>(*out[6]), w_masked, what + " select on a broadcast predicate");
    EXPECT_EQ(read<uint8_t>(*out[7]), w_ge) << what << " ge";
  }
}

// Dtypes without a specialized kernel keep materialized operands; select absorbs at any width;
// a broadcast that is not trailing stays a broadcast step. All still compute the right values.
TEST_F(OperandBroadcastTest, OtherDtypesAndNonTrailingBroadcastsStayCorrect) {
  const Shape s{5, 3};
  GraphBuilder b;
  const ValueId xi = b.param(DType::int32, s);
  const ValueId xd = b.param(DType::float64, s);
  const ValueId c = b.param(DType::bool_, s);
  const ValueId col = b.param(DType::float32, Shape{5});
  const ValueId x = b.param(DType::float32, s);
  b.output(b.binary(Prim::add, xi, b.full(DType::int32, s, 7)));
  b.output(b.select(c, xi, b.full(DType::int32, s, -2)));
  b.output(b.select(c, b.full(DType::float64, s, 0.5), xd));
  b.output(b.binary(Prim::add, x, b.bcast(col, s, {0})));  // (5,) -> (5,3) over dim 0

  std::vector<int32_t> is;
  std::vector<double> ds;
  std::vector<uint8_t> cs;
  std::vector<float> xs;
  for (int i = 0; i < 15; ++i) {
    is.push_back(i * 3 - 20);
    ds.push_back(i * 0.25);
    cs.push_back(i % 2);
    xs.push_back(static_cast<float>(i) - 3.0f);
  }
  const std::vector<float> cols{1, 2, 3, 4, 5};
  auto out = run(b.g, {buffer(is), buffer(ds), buffer(cs), buffer(cols), buffer(xs)});
  const auto add_i = read<int32_t>(*out[0]);
  const auto sel_i = read<int32_t>(*out[1]);
  const auto sel_d = read<double>(*out[2]);
  const auto add_col = read<float>(*out[3]);
  for (size_t i = 0; i < 15; ++i) {
    EXPECT_EQ(add_i[i], is[i] + 7);
    EXPECT_EQ(sel_i[i], cs[i] ? is[i] : -2);
    EXPECT_EQ(sel_d[i], cs[i] ? 0.5 : ds[i]);
    EXPECT_EQ(add_col[i], xs[i] + cols[i / 3]);
  }
}

// An absorbed full or broadcast gets no step and no arena bytes; a full that is a graph output,
// or that a non-absorbing consumer reads, is still computed.
TEST_F(OperandBroadcastTest, AbsorbedProducersLeaveTheSchedule) {
  const Shape s{8, 16, 16, 32};  // 256 KiB: too big for materialize_fills to make a constant
  const int64_t n = s.numel();
  auto relu_graph = [&](bool full_is_output, bool exp_of_full) {
    GraphBuilder b;
    const ValueId x = b.param(DType::float32, s);
    const ValueId bias = b.param(DType::float32, Shape{32});
    const ValueId zero = b.full(DType::float32, s, 0.0);
    const ValueId biased = b.binary(Prim::add, x, b.trailing(bias, s));
    b.output(b.binary(Prim::max, biased, zero));
    if (full_is_output) b.output(zero);
    if (exp_of_full) b.output(b.push(Prim::exp, {zero}, {}, {DType::float32, s}));
    return b.g;
  };
  const std::vector<float> xs = ramp(n, 1.0f, -6.0f);
  const std::vector<float> bs = ramp(32, 0.5f, -2.0f);
  std::vector<float> want;
  for (int64_t i = 0; i < n; ++i)
    want.push_back(ref_max(xs[static_cast<size_t>(i)] + bs[static_cast<size_t>(i % 32)], 0.0f));

  std::string text;
  auto out = run(relu_graph(false, false), {buffer(xs), buffer(bs)}, &text, false);
  expect_same(read<float>(*out[0]), want, "absorbed");
  EXPECT_EQ(text.find("= full f32[8,16,16,32]"), std::string::npos) << text;
  EXPECT_EQ(text.find("= broadcast_in_dim f32[8,16,16,32]"), std::string::npos) << text;
  // Only add's result is in the arena (max writes the output): no fill, no broadcast buffer.
  EXPECT_NE(text.find("arena " + std::to_string(n * 4) + " bytes"), std::string::npos) << text;
  EXPECT_NE(text.find(":fill"), std::string::npos) << text;
  EXPECT_NE(text.find(":bcast"), std::string::npos) << text;

  out = run(relu_graph(true, false), {buffer(xs), buffer(bs)}, &text, false);
  expect_same(read<float>(*out[0]), want, "full as an output");
  EXPECT_NE(text.find("= full f32[8,16,16,32]"), std::string::npos) << text;
  expect_same(read<float>(*out[1]), std::vector<float>(static_cast<size_t>(n), 0.0f), "the full");

  out = run(relu_graph(false, true), {buffer(xs), buffer(bs)}, &text, false);
  expect_same(read<float>(*out[0]), want, "full also read by exp");
  EXPECT_NE(text.find("= full f32[8,16,16,32]"), std::string::npos) << text;
  expect_same(read<float>(*out[1]), std::vector<float>(static_cast<size_t>(n), 1.0f), "exp(0)");
}

}  // namespace
}  // namespace kiln
