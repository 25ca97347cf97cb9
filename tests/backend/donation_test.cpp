// Donated inputs (CompileOptions::donated_inputs): which outputs the CPU schedule writes into a
// donated input's buffer, and that running with the same buffer as input and output gives the
// results of running without donation.
#include <gtest/gtest.h>

#include "backend/backend_fixture.hpp"
#include "backend/cpu/schedule.hpp"
#include "backend/graph_builder.hpp"

namespace kiln::testing {
namespace {

using ir::Prim;

// Unfused by default, as the cpu backend compiles on one thread; `fuse` for the fused groups.
class Donation : public BackendFixture {
 protected:
  static std::unique_ptr<Executable> compile(const ir::Graph& g, std::vector<bool> donated,
                                             bool fuse = false) {
    return std::make_unique<cpu::CpuExecutable>(
        g, cpu::ScheduleOptions{.fuse = fuse, .donated_inputs = std::move(donated)});
  }
};

// out0 = m * 0.9 + g (m read by the first step only; the output is written by the add): m's
// buffer takes out0. out1 = x + 1 (x read by that very step, index for index): x's buffer too.
TEST_F(Donation, AnOutputTakesTheBufferOfADonatedInputNoLaterStepReads) {
  GraphBuilder b;
  const auto m = b.param(DType::float32, {5});
  const auto g = b.param(DType::float32, {5});
  const auto x = b.param(DType::float32, {5});
  b.output(b.binary(Prim::add, b.binary(Prim::mul, m, b.full(DType::float32, {5}, 0.9)), g));
  b.output(b.binary(Prim::add, x, b.full(DType::float32, {5}, 1.0)));
  auto exe = compile(b.g, {true, false, true});
  EXPECT_EQ(exe->output_aliases(), (std::vector<int>{0, 2})) << exe->describe();
  EXPECT_NE(exe->describe().find("(into donated input[0])"), std::string::npos) << exe->describe();

  auto plain = compile(b.g, {});
  EXPECT_TRUE(plain->output_aliases().empty());
  const std::vector<float> mv = {1, 2, 3, 4, 5}, gv = {0.5f, 0.25f, -1, 0, 2},
                           xv = {-3, -2, -1, 0, 1};
  auto expected = execute(*plain, {buffer(mv), buffer(gv), buffer(xv)});

  // In place: output 0 is input 0's buffer, output 1 input 2's.
  auto mb = buffer(mv), gb = buffer(gv), xb = buffer(xv);
  std::vector<Buffer*> in = {mb.get(), gb.get(), xb.get()}, out = {mb.get(), xb.get()};
  exe->run(in, out);
  EXPECT_EQ(read<float>(*mb), read<float>(*expected[0]));
  EXPECT_EQ(read<float>(*xb), read<float>(*expected[1]));
  EXPECT_EQ(read<float>(*xb), (std::vector<float>{-2, -1, 0, 1, 2}));
}

// Not aliased: an input a later step still reads, an input returned unchanged, an input of
// another size, and one not donated.
TEST_F(Donation, InputsReadLaterReturnedOrOfAnotherSizeKeepTheirBuffers) {
  GraphBuilder b;
  const auto a = b.param(DType::float32, {4});  // read after out0 is written
  const auto c = b.param(DType::float32, {4});  // returned unchanged
  const auto d = b.param(DType::float32, {3});  // another size
  const auto out0 = b.binary(Prim::mul, c, c);
  b.output(out0);
  b.output(b.binary(Prim::add, out0, a));
  b.output(c);
  b.output(b.binary(Prim::add, d, d));
  // out0 = c*c cannot take a (read by out1's step, later) nor c (returned); out1 = out0 + a reads
  // a index for index as its last reader: a's buffer. d is {3}: out3 takes it.
  auto exe = compile(b.g, {true, true, true});
  EXPECT_EQ(exe->output_aliases(), (std::vector<int>{-1, 0, -1, 2})) << exe->describe();
}

// A dot_general (not elementwise) may take a donated input only when it does not read it.
TEST_F(Donation, ANonElementwiseStepNeverWritesAnInputItReads) {
  GraphBuilder b;
  const auto x = b.param(DType::float32, {2, 2});
  ir::Attrs a;
  a.dot.lhs_contract = {1};
  a.dot.rhs_contract = {0};
  b.output(b.push(Prim::dot_general, {x, x}, a, {DType::float32, Shape{2, 2}}));
  auto exe = compile(b.g, {true});
  EXPECT_EQ(exe->output_aliases(), (std::vector<int>{-1})) << exe->describe();
}

// In a fused group the members run in order on each tile: an output may take a donated input when
// no member after the one writing it reads that input. t = m + 1 cannot take m (u reads m after
// it); u = t * m can.
TEST_F(Donation, AFusedGroupWritesADonatedInputAfterItsLastMemberReadsIt) {
  GraphBuilder b;
  const auto m = b.param(DType::float32, {3000});  // over two tiles, with a partial one
  const auto t = b.binary(Prim::add, m, b.full(DType::float32, {3000}, 1.0));
  const auto u = b.binary(Prim::mul, t, m);
  b.output(t);
  b.output(u);
  auto exe = compile(b.g, {true}, /*fuse=*/true);
  const std::string text = exe->describe();
  ASSERT_NE(text.find("fused[add,mul]"), std::string::npos) << text;
  EXPECT_EQ(exe->output_aliases(), (std::vector<int>{-1, 0})) << text;
  EXPECT_NE(text.find("%3@output[1], %3 into donated input[0]"), std::string::npos) << text;

  std::vector<float> mv(3000);
  for (size_t k = 0; k < mv.size(); ++k) mv[k] = static_cast<float>(k % 17) * 0.25f - 2.0f;
  auto expected = execute(*compile(b.g, {}), {buffer(mv)});
  auto mb = buffer(mv);
  auto tb = backend_->allocate(mv.size() * sizeof(float), device_);
  std::vector<Buffer*> in = {mb.get()}, out = {tb.get(), mb.get()};
  exe->run(in, out);
  EXPECT_EQ(read<float>(*tb), read<float>(*expected[0]));
  EXPECT_EQ(read<float>(*mb), read<float>(*expected[1]));
}

// A GEMM heading its epilogue (fusion.hpp) reads its operands chunk by chunk while the group
// writes its results: an output never takes a donated input the head reads. relu(x·w) with x
// [1024,256] donated (1 MiB, four chunks of 256 rows) keeps x's buffer; the output is the
// undonated run's.
TEST_F(Donation, AnEpilogueNeverWritesAnInputItsHeadReads) {
  GraphBuilder b;
  const Shape s{1024, 256};
  const auto x = b.param(DType::float32, s);
  const auto w = b.param(DType::float32, {256, 256});
  const auto y = b.matmul(x, w);
  b.output(b.binary(Prim::max, y, b.full(DType::float32, s, 0.0)));
  auto exe = compile(b.g, {true, false}, /*fuse=*/true);
  const std::string text = exe->describe();
  ASSERT_NE(text.find("{dot_general %2 in chunks of 256 rows; %4}"), std::string::npos) << text;
  EXPECT_EQ(exe->output_aliases(), (std::vector<int>{-1})) << text;

  std::vector<float> xv(1024 * 256), wv(256 * 256);
  for (size_t k = 0; k < xv.size(); ++k) xv[k] = static_cast<float>(k % 13) * 0.125f - 0.75f;
  for (size_t k = 0; k < wv.size(); ++k) wv[k] = static_cast<float>(k % 7) * 0.25f - 0.5f;
  auto expected = execute(*compile(b.g, {}), {buffer(xv), buffer(wv)});
  auto got = execute(*exe, {buffer(xv), buffer(wv)});
  EXPECT_EQ(read<float>(*got[0]), read<float>(*expected[0]));
}

}  // namespace
}  // namespace kiln::testing
