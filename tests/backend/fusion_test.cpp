// Elementwise fusion in the CPU schedule (backend/cpu/fusion.hpp): which nodes become one fused
// step (the describe() text before and after), and that the fused schedule's bytes equal the
// unfused schedule's bit for bit, over broadcasts, fills, float32/bfloat16/int32, element counts
// that leave a partial last tile, values also read outside their group, two threads, and GEMMs and
// convolutions heading their epilogues.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "backend/backend_fixture.hpp"
#include "backend/cpu/schedule.hpp"
#include "backend/graph_builder.hpp"

namespace kiln {
namespace {

using ir::Prim;
using ir::ValueId;
using testing::GraphBuilder;

// Deterministic bytes for an input of type t: floats in [-4, 4) with a NaN and infinities, ints
// in [-50, 50), bools alternating.
std::vector<uint8_t> input_bytes(const ir::ValueType& t, uint32_t seed) {
  const auto n = static_cast<size_t>(t.shape.numel());
  std::vector<uint8_t> out(n * itemsize(t.dtype));
  uint32_t state = seed * 2654435761u + 1;
  auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  for (size_t i = 0; i < n; ++i) {
    const float f = static_cast<float>(next() % 8000) / 1000.0f - 4.0f;
    const float special = i == 5 ? NAN : i == 7 ? INFINITY : i == 11 ? -INFINITY : f;
    switch (t.dtype) {
      case DType::float32:
        std::memcpy(&out[i * 4], &special, 4);
        break;
      case DType::bfloat16: {
        uint32_t bits;
        std::memcpy(&bits, &special, 4);
        const auto hi = static_cast<uint16_t>(bits >> 16);
        std::memcpy(&out[i * 2], &hi, 2);
        break;
      }
      case DType::int32: {
        const auto v = static_cast<int32_t>(next() % 100) - 50;
        std::memcpy(&out[i * 4], &v, 4);
        break;
      }
      case DType::bool_:
        out[i] = static_cast<uint8_t>(i % 3 == 0);
        break;
      default:
        ADD_FAILURE() << "no input generator for " << t.str();
    }
  }
  return out;
}

class FusionTest : public testing::BackendFixture {
 protected:
  // Runs g fused (with `threads`) and unfused on the same inputs, expects every output's bytes
  // equal, and returns the fused schedule's text.
  std::string expect_same_bits(const ir::Graph& g, int threads = 1) {
    std::vector<std::shared_ptr<Buffer>> inputs;
    for (size_t k = 0; k < g.inputs.size(); ++k)
      inputs.push_back(buffer(input_bytes(g.nodes[g.inputs[k]].type, static_cast<uint32_t>(k))));
    cpu::CpuExecutable fused(g, {.fuse = true, .threads = threads});
    cpu::CpuExecutable plain(g, {.fuse = false, .threads = 1});
    EXPECT_EQ(plain.num_fused_groups(), 0u);
    auto a = execute(fused, inputs);
    auto b = execute(plain, inputs);
    for (size_t j = 0; j < a.size(); ++j) {
      const auto x = read<uint8_t>(*a[j]);
      const auto y = read<uint8_t>(*b[j]);
      EXPECT_EQ(x, y) << "output " << j << " differs\n" << fused.describe() << plain.describe();
    }
    return fused.describe();
  }
};

// The bias-relu chain of a dense layer after its GEMM: mul, add of a trailing broadcast, max
// against a fill, exp. 37x33: the tile is 31 whole rows of 33 (1023 elements), the last one 6.
TEST_F(FusionTest, ChainWithBroadcastAndFillIsOneStep) {
  GraphBuilder b;
  const Shape s{37, 33};
  const ValueId x = b.param(DType::float32, s);
  const ValueId y = b.param(DType::float32, s);
  const ValueId bias = b.param(DType::float32, Shape{33});
  const ValueId prod = b.binary(Prim::mul, x, y);
  const ValueId biased = b.binary(Prim::add, prod, b.trailing(bias, s));
  const ValueId relu = b.binary(Prim::max, biased, b.full(DType::float32, s, 0.0));
  b.output(b.unary(Prim::exp, relu));

  cpu::CpuExecutable plain(b.g, {.fuse = false});
  const std::string before = plain.describe();
  EXPECT_NE(before.find("4 steps"), std::string::npos) << before;
  EXPECT_NE(before.find("= mul f32[37,33]"), std::string::npos) << before;

  const std::string after = expect_same_bits(b.g);
  EXPECT_NE(after.find("1 steps (1 fused)"), std::string::npos) << after;
  EXPECT_NE(after.find("= fused[mul,add,max,exp] f32[37,33]"), std::string::npos) << after;
  EXPECT_NE(after.find(":bcast@input[2]"), std::string::npos) << after;
  EXPECT_NE(after.find(":fill"), std::string::npos) << after;
  EXPECT_NE(after.find("tile 1023"), std::string::npos) << after;
  // No value in the arena: the arena is the tile buffers (2 live at once, 4 KiB each).
  EXPECT_NE(after.find("arena 8192 bytes"), std::string::npos) << after;

  // And the numbers themselves, against a plain loop (exp left out: the same libm call).
  cpu::CpuExecutable fused(b.g);
  std::vector<float> xs(37 * 33), ys(37 * 33), bs(33);
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i] = static_cast<float>(i % 17) * 0.25f - 2.0f;
    ys[i] = static_cast<float>(i % 5) * 0.5f - 1.0f;
  }
  for (size_t i = 0; i < bs.size(); ++i) bs[i] = static_cast<float>(i) * 0.125f - 2.0f;
  auto out = execute(fused, {buffer(xs), buffer(ys), buffer(bs)});
  const auto got = read<float>(*out[0]);
  for (size_t i = 0; i < xs.size(); ++i) {
    const float r = std::max(xs[i] * ys[i] + bs[i % 33], 0.0f);
    ASSERT_EQ(got[i], std::exp(r)) << i;
  }
}

// A value the group computes but a reduction outside it also reads (a max: only sums are folded
// into groups) is materialized in the arena; a graph output inside the group is written to its
// output buffer; the rest stays in tiles.
TEST_F(FusionTest, ValuesReadOutsideTheGroupAreMaterialized) {
  GraphBuilder b;
  const Shape s{3001};
  const ValueId x = b.param(DType::float32, s);
  const ValueId y = b.param(DType::float32, s);
  const ValueId a = b.binary(Prim::mul, x, y);  // read by the group and by the reduction
  const ValueId c = b.binary(Prim::add, a, x);  // an output, also read by the group
  const ValueId d = b.unary(Prim::neg, c);      // only in the group
  const ValueId e = b.binary(Prim::sub, d, y);
  ir::Attrs all;
  all.dims = {0};
  const ValueId total = b.push(Prim::reduce_max, {a}, all, {DType::float32, Shape{}});
  b.output(e);
  b.output(c);
  b.output(total);
  const std::string text = expect_same_bits(b.g);
  EXPECT_NE(text.find("= fused[mul,add,neg,sub] f32[3001]"), std::string::npos) << text;
  EXPECT_NE(text.find("-> %" + std::to_string(a) + "@arena+"), std::string::npos) << text;
  EXPECT_NE(text.find("%" + std::to_string(c) + "@output[1]"), std::string::npos) << text;
  EXPECT_NE(text.find("%" + std::to_string(e) + "@output[0]"), std::string::npos) << text;
  EXPECT_EQ(text.find("%" + std::to_string(d) + "@"), std::string::npos) << text;
}

// A reader outside the group between two elementwise nodes closes the group: the reduction must
// see the exp computed, so exp is a group (or step) of its own before it and the mul after it.
TEST_F(FusionTest, AnOutsideReaderClosesTheGroup) {
  GraphBuilder b;
  const Shape s{64, 65};
  const ValueId x = b.param(DType::float32, s);
  const ValueId e = b.unary(Prim::exp, x);
  const ValueId n = b.unary(Prim::neg, e);
  ir::Attrs rows;
  rows.dims = {1};
  const ValueId r = b.push(Prim::reduce_max, {n}, rows, {DType::float32, Shape{64}});
  const ValueId rb = b.bcast(r, s, {0});  // a leading-dim broadcast: not absorbable
  const ValueId m = b.binary(Prim::sub, n, rb);
  b.output(b.unary(Prim::exp, m));
  const std::string text = expect_same_bits(b.g);
  EXPECT_NE(text.find("= fused[exp,neg] f32[64,65]"), std::string::npos) << text;
  EXPECT_NE(text.find("= fused[sub,exp] f32[64,65]"), std::string::npos) << text;
  const size_t group1 = text.find("fused[exp,neg]"), reduce = text.find("reduce_max");
  const size_t group2 = text.find("fused[sub,exp]");
  EXPECT_LT(group1, reduce);
  EXPECT_LT(reduce, group2);
}

// bfloat16 rounds after every op (load to float32, compute, round to bfloat16): fused, each op
// still rounds exactly where it did. Converts, compares and select join the chain too.
TEST_F(FusionTest, BFloat16ConvertCompareSelectKeepTheirRounding) {
  GraphBuilder b;
  const Shape s{5, 411};  // 2055 elements: two full tiles and 7 more
  const ValueId x = b.param(DType::bfloat16, s);
  const ValueId y = b.param(DType::bfloat16, s);
  const ValueId sum = b.binary(Prim::add, x, y);
  const ValueId ex = b.unary(Prim::exp, b.binary(Prim::mul, sum, x));
  ir::Attrs to_f32;
  to_f32.dtype = DType::float32;
  const ValueId wide = b.push(Prim::convert, {ex}, to_f32, {DType::float32, s});
  const ValueId half = b.binary(Prim::mul, wide, b.full(DType::float32, s, 0.5));
  const ValueId pos = b.compare(Prim::gt, half, b.full(DType::float32, s, 1.0));
  const ValueId picked = b.select(pos, half, b.full(DType::float32, s, -1.0));
  b.output(picked);
  b.output(ex);
  const std::string text = expect_same_bits(b.g);
  EXPECT_NE(text.find("= fused[add,mul,exp,convert_element_type,mul,gt,select] f32[5,411]"),
            std::string::npos)
      << text;
}

// int32 wraps, shifts and selects, fused; the element count leaves a short last tile.
TEST_F(FusionTest, Int32ChainMatchesUnfused) {
  GraphBuilder b;
  const Shape s{4099};
  const ValueId x = b.param(DType::int32, s);
  const ValueId y = b.param(DType::int32, s);
  const ValueId p = b.binary(Prim::mul, x, y);
  const ValueId q = b.binary(Prim::shift_left, p, b.full(DType::int32, s, 20));
  const ValueId r = b.binary(Prim::xor_, q, x);
  const ValueId lt = b.compare(Prim::lt, r, y);
  b.output(b.select(lt, r, b.unary(Prim::neg, y)));
  const std::string text = expect_same_bits(b.g);
  EXPECT_NE(text.find("fused["), std::string::npos) << text;
  EXPECT_NE(text.find("1 fused"), std::string::npos) << text;
}

// A group over enough elements splits its tiles over two OpenMP threads; the bytes equal the
// unfused one-thread schedule's. A single big elementwise node is threaded the same way.
TEST_F(FusionTest, TwoThreadsGiveTheOneThreadBits) {
  GraphBuilder b;
  const Shape s{9, 8191};  // 73719 elements, tiles of one 8191-element row
  const ValueId x = b.param(DType::float32, s);
  const ValueId y = b.param(DType::float32, s);
  const ValueId bias = b.param(DType::float32, Shape{8191});
  const ValueId t = b.binary(Prim::add, b.binary(Prim::mul, x, y), b.trailing(bias, s));
  b.output(b.unary(Prim::sqrt, b.unary(Prim::abs, t)));
  b.output(b.unary(Prim::tanh, b.param(DType::float32, Shape{100000})));
  const std::string text = expect_same_bits(b.g, 2);
  EXPECT_NE(text.find("= fused[mul,add,abs,sqrt]"), std::string::npos) << text;
  EXPECT_NE(text.find("= fused[tanh] f32[100000]"), std::string::npos) << text;
  EXPECT_NE(text.find("2 threads"), std::string::npos) << text;
}

// A dense layer: x·w, then bias and relu. The GEMM heads the group (fusion.hpp): it runs in chunks
// of 256 rows (256 KiB of results) into a scratch buffer, each followed by the epilogue's tiles, so
// the product is never materialized whole. 1000 rows: three full chunks and one of 232 rows. The
// bits equal the unfused schedule's, at one thread and at two.
ir::Graph dense_layer(int64_t rows, int64_t in, int64_t out) {
  GraphBuilder b;
  const ValueId x = b.param(DType::float32, Shape{rows, in});
  const ValueId w = b.param(DType::float32, Shape{in, out});
  const ValueId bias = b.param(DType::float32, Shape{out});
  const Shape s{rows, out};
  const ValueId y = b.matmul(x, w);
  const ValueId z = b.binary(Prim::add, y, b.trailing(bias, s));
  const ValueId zero = b.full(DType::float32, s, 0.0);
  b.output(b.binary(Prim::max, z, zero));
  b.output(b.compare(Prim::gt, z, zero));  // relu's mask, for its gradient
  return b.g;
}

TEST_F(FusionTest, AGemmHeadsItsBiasAndReluInChunksOfRows) {
  const ir::Graph g = dense_layer(1000, 300, 256);
  cpu::CpuExecutable plain(g, {.fuse = false});
  EXPECT_GE(plain.arena_bytes(), 1000u * 256 * 4) << plain.describe();  // the product
  const std::string text = expect_same_bits(g);
  EXPECT_NE(text.find("1 steps (1 fused)"), std::string::npos) << text;
  EXPECT_NE(text.find("= fused[add,max,gt] bool[1000,256] {dot_general %3 in chunks of 256 rows;"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(%0@input[0], %1@input[1], %2:bcast@input[2]"), std::string::npos) << text;
  // The arena is the chunk buffer and the tile buffers: no 1000x256 product.
  cpu::CpuExecutable fused(g, {.fuse = true});
  EXPECT_LT(fused.arena_bytes(), 300u * 1024) << text;
  EXPECT_NE(expect_same_bits(g, 2).find("2 threads"), std::string::npos);
}

// The MLP's first layer at batch 1024: a 128-row chunk is one block of the whole product's sgemm
// calls (gemm.hpp), so the chunks give the whole product's bits on every processor — also where
// oneDNN's AVX2 kernels give a row other bits in a call of another row count (CI runs this under
// ONEDNN_MAX_CPU_ISA=AVX2 too). 1000 rows: the last chunk is the last block, 104 rows.
TEST_F(FusionTest, GemmChunksAreWholeSgemmBlocksAndGiveTheWholeProductsBits) {
  const std::string text = expect_same_bits(dense_layer(1024, 784, 512));
  EXPECT_NE(text.find("dot_general %3 in chunks of 128 rows"), std::string::npos) << text;
  EXPECT_NE(expect_same_bits(dense_layer(1000, 784, 512), 2).find("in chunks of 128 rows"),
            std::string::npos);
}

// A product whose leading dim holds 3 GEMM rows ([300, 3, 64] · [64, 512], as a Dense layer on a
// sequence): sgemm's blocks are 128 GEMM rows, so a chunk is 128 leading rows (384 GEMM rows,
// three whole blocks), not the 42 that 256 KiB would hold, and the bits are the whole product's.
TEST_F(FusionTest, AChunkOfASequenceProductIsWholeSgemmBlocks) {
  GraphBuilder b;
  const ValueId x = b.param(DType::float32, Shape{300, 3, 64});
  const ValueId w = b.param(DType::float32, Shape{64, 512});
  const ValueId bias = b.param(DType::float32, Shape{512});
  ir::Attrs a;
  a.dot.lhs_contract = {2};
  a.dot.rhs_contract = {0};
  const Shape s{300, 3, 512};
  const ValueId y = b.push(Prim::dot_general, {x, w}, a, {DType::float32, s});
  const ValueId z = b.binary(Prim::add, y, b.trailing(bias, s));
  b.output(b.binary(Prim::max, z, b.full(DType::float32, s, 0.0)));
  const std::string text = expect_same_bits(b.g);
  EXPECT_NE(text.find("dot_general %3 in chunks of 128 rows"), std::string::npos) << text;
}

// A product wider than 512 columns runs as one sgemm call (blocks of 256 KiB would hold fewer than
// 128 rows, and each call packs B again), so it heads its group as one chunk: all 300 rows.
TEST_F(FusionTest, AWideProductHeadsItsGroupAsOneChunk) {
  const std::string text = expect_same_bits(dense_layer(300, 64, 1024));
  EXPECT_NE(text.find("dot_general %3 in chunks of 300 rows"), std::string::npos) << text;
}

// A convolution heads its bias and relu too (NHWC, SAME padding), as one chunk: oneDNN's
// convolutions are slower on a few images per call than the cache traffic chunks would save.
TEST_F(FusionTest, AConvolutionHeadsItsBiasAndRelu) {
  GraphBuilder b;
  const ValueId x = b.param(DType::float32, Shape{6, 12, 12, 3});
  const ValueId k = b.param(DType::float32, Shape{3, 3, 3, 8});
  const ValueId bias = b.param(DType::float32, Shape{8});
  ir::Attrs conv;
  conv.conv = {.lhs_spec = {0, 3, 1, 2},
               .rhs_spec = {3, 2, 0, 1},
               .out_spec = {0, 3, 1, 2},
               .window_strides = {1, 1},
               .padding_low = {1, 1},
               .padding_high = {1, 1},
               .lhs_dilation = {1, 1},
               .rhs_dilation = {1, 1}};
  const Shape s{6, 12, 12, 8};
  const ValueId y = b.push(Prim::convolution, {x, k}, conv, {DType::float32, s});
  const ValueId z = b.binary(Prim::add, y, b.trailing(bias, s));
  b.output(b.binary(Prim::max, z, b.full(DType::float32, s, 0.0)));
  const std::string text = expect_same_bits(b.g);
  EXPECT_NE(text.find("= fused[add,max] f32[6,12,12,8] {conv_general_dilated %3 in chunks of 6 "
                      "rows;"),
            std::string::npos)
      << text;
}

// A product read outside the group (here: it is also a graph output) is no head: it is
// materialized by its own step.
TEST_F(FusionTest, AProductReadOutsideTheGroupIsNoHead) {
  GraphBuilder b;
  const ValueId x = b.param(DType::float32, Shape{64, 32});
  const ValueId w = b.param(DType::float32, Shape{32, 48});
  const ValueId y = b.matmul(x, w);
  b.output(b.unary(Prim::exp, b.unary(Prim::neg, y)));
  b.output(y);
  const std::string text = expect_same_bits(b.g);
  EXPECT_EQ(text.find("in chunks of"), std::string::npos) << text;
  EXPECT_NE(text.find("= dot_general f32[64,48]"), std::string::npos) << text;
  EXPECT_NE(text.find("= fused[neg,exp] f32[64,48]"), std::string::npos) << text;
}

// A result the group materializes takes the bytes of an operand that dies at the group when the
// members read it densely, none after the writer, as an unfused step writes in place: here the
// transpose's result, read by neg only (in the CNN: relu's backward select over the pooling's
// 12.8 MB gradient).
TEST_F(FusionTest, AGroupWritesInPlaceOfAnOperandDyingThere) {
  GraphBuilder b;
  const ValueId x = b.param(DType::float32, Shape{64, 48});
  ir::Attrs perm;
  perm.dims = {1, 0};
  const Shape s{48, 64};
  const ValueId t = b.push(Prim::transpose, {x}, perm, {DType::float32, s});  // in the arena
  const ValueId e = b.unary(Prim::exp, b.unary(Prim::neg, t));
  ir::Attrs rows;
  rows.dims = {1};
  b.output(b.push(Prim::reduce_max, {e}, rows, {DType::float32, Shape{48}}));
  const std::string text = expect_same_bits(b.g);
  EXPECT_NE(text.find("= fused[neg,exp] f32[48,64] {%2,%3} (%1@arena+0) -> %3@arena+0, %3 in "
                      "place of %1"),
            std::string::npos)
      << text;
}

// Reduction fusion: relu's backward pass (select of the cotangent by the mask) and the bias
// gradient, its sum over the batch. The sum is folded into the select's group tile by tile (the
// cotangent is not read back from memory), with the unfused kernel's bits; the select's result is
// still materialized for the product that reads it. Checked against a float64 sum too.
TEST_F(FusionTest, ABiasGradientSumIsFoldedIntoItsGroup) {
  GraphBuilder b;
  const Shape s{1000, 64};
  const ValueId mask = b.param(DType::bool_, s);
  const ValueId g = b.param(DType::float32, s);
  const ValueId w = b.param(DType::float32, Shape{64, 8});
  const ValueId masked = b.select(mask, g, b.full(DType::float32, s, 0.0));
  ir::Attrs batch;
  batch.dims = {0};
  const ValueId bias_grad = b.push(Prim::reduce_sum, {masked}, batch, {DType::float32, Shape{64}});
  b.output(bias_grad);
  b.output(b.matmul(masked, w));

  cpu::CpuExecutable plain(b.g, {.fuse = false});
  EXPECT_NE(plain.describe().find("= reduce_sum f32[64]"), std::string::npos) << plain.describe();
  const std::string text = expect_same_bits(b.g);
  EXPECT_NE(text.find("= fused[select,reduce_sum] f32[1000,64] {%4,%5} (%0@input[0], "
                      "%1@input[1], %3:fill) -> %4@arena+0, %5@output[0], tile 1024"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("= reduce_sum"), std::string::npos) << text;

  std::vector<uint8_t> m(1000 * 64);
  std::vector<float> gs(1000 * 64), ws(64 * 8, 0.0f);
  for (size_t i = 0; i < gs.size(); ++i) {
    m[i] = static_cast<uint8_t>(i % 3 != 0);
    gs[i] = static_cast<float>((i * 37) % 101) / 7.0f - 7.0f;
  }
  cpu::CpuExecutable fused(b.g, {.fuse = true});
  const auto got = read<float>(*execute(fused, {buffer(m), buffer(gs), buffer(ws)})[0]);
  for (size_t j = 0; j < 64; ++j) {
    double want = 0;
    for (size_t i = 0; i < 1000; ++i)
      want += m[i * 64 + j] ? static_cast<double>(gs[i * 64 + j]) : 0;
    ASSERT_EQ(got[j], static_cast<float>(want)) << j;
  }
}

// A sum is folded only where the order of its additions stays the unfused kernel's: not into a
// group split over two threads, and not over trailing dims (a row sum).
TEST_F(FusionTest, SumsStayStepsOnTwoThreadsAndOverTrailingDims) {
  GraphBuilder b;
  const Shape s{1024, 96};  // 98304 elements: 2 threads of 49152
  const ValueId x = b.param(DType::float32, s);
  const ValueId e = b.unary(Prim::exp, b.unary(Prim::neg, x));
  ir::Attrs batch, rows;
  batch.dims = {0};
  rows.dims = {1};
  b.output(b.push(Prim::reduce_sum, {e}, batch, {DType::float32, Shape{96}}));
  b.output(b.push(Prim::reduce_sum, {e}, rows, {DType::float32, Shape{1024}}));
  const std::string two = expect_same_bits(b.g, 2);
  EXPECT_NE(two.find("= fused[neg,exp] f32[1024,96]"), std::string::npos) << two;
  EXPECT_NE(two.find("= reduce_sum f32[96]"), std::string::npos) << two;
  const std::string one = expect_same_bits(b.g, 1);
  EXPECT_NE(one.find("= fused[neg,exp,reduce_sum] f32[1024,96]"), std::string::npos) << one;
  EXPECT_NE(one.find("= reduce_sum f32[1024]"), std::string::npos) << one;
}

// peak_bytes(): arena + constants + inputs + outputs. Unfused, neg's result takes 1 KiB of arena
// (exp runs over it in place, tanh writes the output); fused, the arena holds two 256-element tile
// buffers (a result's buffer is taken before its operand's is freed).
TEST_F(FusionTest, PeakBytesCountArenaAndBuffers) {
  GraphBuilder b;
  const ValueId x = b.param(DType::float32, Shape{256});
  b.output(b.unary(Prim::tanh, b.unary(Prim::exp, b.unary(Prim::neg, x))));
  cpu::CpuExecutable plain(b.g, {.fuse = false});
  EXPECT_EQ(plain.peak_bytes(), 1024u + 1024u + 1024u);
  EXPECT_NE(plain.describe().find("arena 1024 bytes, peak 3072 bytes"), std::string::npos)
      << plain.describe();
  cpu::CpuExecutable fused(b.g, {.fuse = true});
  EXPECT_EQ(fused.peak_bytes(), 2048u + 1024u + 1024u);
  EXPECT_NE(fused.describe().find("fused[neg,exp,tanh]"), std::string::npos) << fused.describe();
}

// run_profiled runs like run() (same results) and lists every step with its time.
TEST_F(FusionTest, RunProfiledTimesEveryStep) {
  GraphBuilder b;
  const ValueId x = b.param(DType::float32, Shape{3});
  ir::Attrs all;
  all.dims = {0};
  b.output(b.push(Prim::reduce_sum, {b.unary(Prim::neg, x)}, all, {DType::float32, Shape{}}));
  cpu::CpuExecutable exe(b.g, {.fuse = false});
  auto in = buffer(std::vector<float>{1, 2, 4});
  auto out = backend_->allocate(4, device_);
  Buffer* ins[] = {in.get()};
  Buffer* outs[] = {out.get()};
  const std::string text = exe.run_profiled(ins, outs);
  EXPECT_EQ(read<float>(*out), std::vector<float>{-7.0f});
  EXPECT_EQ(text.rfind("profile of cpu executable f: ", 0), 0u) << text;
  EXPECT_NE(text.find("in 2 steps"), std::string::npos) << text;
  EXPECT_NE(text.find("= neg f32[3]"), std::string::npos) << text;
  EXPECT_NE(text.find("= reduce_sum f32[]"), std::string::npos) << text;
}

// Transposes of the last two dims run in 16x16 blocks (strided_copy.cpp); odd sizes leave
// partial blocks, and a leading batch dim is walked outside them. Checked against the index map.
TEST_F(FusionTest, BlockedTransposeMovesEveryElement) {
  for (DType t : {DType::float32, DType::int32}) {
    GraphBuilder b;
    const ValueId x = b.param(t, Shape{3, 37, 53});
    ir::Attrs perm;
    perm.dims = {0, 2, 1};
    b.output(b.push(Prim::transpose, {x}, perm, {t, Shape{3, 53, 37}}));
    cpu::CpuExecutable exe(b.g);
    std::vector<int32_t> in(3 * 37 * 53);
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int32_t>(i * 7 + 1);
    const auto out = read<int32_t>(*execute(exe, {buffer(in)})[0]);
    for (int64_t k = 0; k < 3; ++k)
      for (int64_t i = 0; i < 53; ++i)
        for (int64_t j = 0; j < 37; ++j)
          ASSERT_EQ(out[static_cast<size_t>((k * 53 + i) * 37 + j)],
                    in[static_cast<size_t>((k * 37 + j) * 53 + i)]);
  }
}

}  // namespace
}  // namespace kiln
