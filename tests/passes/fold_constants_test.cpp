#include <gtest/gtest.h>

#include "pass_testing.hpp"
#include "passes/dead_code.hpp"
#include "passes/fold_constants.hpp"

namespace kiln {
namespace {

using pass_testing::bytes_of;
using pass_testing::run;

ir::Attrs fill(double v, DType t, Shape s) {
  ir::Attrs a;
  a.shape = std::move(s);
  a.dtype = t;
  a.value = Scalar::from_double(v, t);
  return a;
}

TEST(FoldConstants, ChainsOfLiteralsBecomeOneConstant) {
  ir::Graph g;
  ir::ValueId x = g.add_parameter({float32, {3}});
  ir::ValueId a = g.add(ir::Prim::full, {}, fill(0.1, float32, {3}), {});
  ir::ValueId b = g.add(ir::Prim::full, {}, fill(3.0, float32, {3}), {});
  ir::ValueId q = g.add(ir::Prim::div, {a, b}, {}, {});  // 0.1f / 3.0f, rounded as at run time
  const auto here = std::source_location::current();
  ir::ValueId e = g.add(ir::Prim::exp, {q}, {}, here);
  ir::ValueId y = g.add(ir::Prim::mul, {x, e}, {}, {});
  g.outputs = {y, e};
  EXPECT_EQ(g.str(),
            "{ lambda ; a:f32[3] . let\n"
            "    b:f32[3] = full[value=0.100000]\n"
            "    c:f32[3] = full[value=3.000000]\n"
            "    d:f32[3] = div b c\n"
            "    e:f32[3] = exp d\n"
            "    f:f32[3] = mul a e\n"
            "  in (f, e) }");
  ir::Graph after = passes::fold_constants(g);
  after.verify();
  EXPECT_EQ(after.str(),
            "{ lambda ; a:f32[3] . let\n"
            "    b:f32[3] = full[value=0.100000]\n"
            "    c:f32[3] = full[value=3.000000]\n"
            "    d:f32[3] = constant\n"
            "    e:f32[3] = constant\n"
            "    f:f32[3] = mul a e\n"
            "  in (f, e) }");
  EXPECT_EQ(after.nodes[4].loc.line(), here.line());
  EXPECT_EQ(passes::dead_code_elimination(after).str(),
            "{ lambda ; a:f32[3] . let\n"
            "    b:f32[3] = constant\n"
            "    c:f32[3] = mul a b\n"
            "  in (c, b) }");
  const std::vector<pass_testing::Bytes> in = {bytes_of(std::vector<float>{1, -0.0f, 7e37f})};
  EXPECT_EQ(run(after, in), run(g, in));
}

TEST(FoldConstants, EveryDTypeBitExact) {
  for (DType t : {uint8, int32, int64, bfloat16, float16, float32, float64}) {
    ir::Graph g;
    ir::ValueId a = g.add(ir::Prim::full, {}, fill(7, t, {5}), {});
    ir::Attrs io;
    io.shape = {5};
    io.dtype = t;
    ir::ValueId i = g.add(ir::Prim::iota, {}, io, {});
    ir::ValueId s = g.add(ir::Prim::sub, {i, a}, {}, {});
    ir::ValueId d = g.add(ir::Prim::div, {s, a}, {}, {});
    ir::Attrs r;
    r.dims = {0};
    g.outputs = {d, g.add(ir::Prim::reduce_sum, {d}, r, {})};
    ir::Graph after = passes::fold_constants(g);
    after.verify();
    EXPECT_EQ(after.nodes[3].prim, ir::Prim::constant) << name(t);
    EXPECT_EQ(after.nodes[4].prim, ir::Prim::constant) << name(t);
    EXPECT_EQ(run(after, {}), run(g, {})) << name(t);
  }
}

TEST(FoldConstants, LeavesParametersBroadcastsAndLargeResults) {
  ir::Graph g;
  ir::ValueId x = g.add_parameter({float32, {2}});
  ir::ValueId s = g.add(ir::Prim::full, {}, fill(2, float32, {}), {});
  ir::Attrs bc;
  bc.shape = {2};
  bc.dims = {};
  ir::ValueId b = g.add(ir::Prim::broadcast_in_dim, {s}, bc, {});  // read as a scalar: stays
  ir::ValueId big = g.add(ir::Prim::full, {}, fill(1, float32, {128, 256}), {});
  ir::ValueId e = g.add(ir::Prim::exp, {big}, {}, {});   // 128 KiB: stays a kernel
  ir::ValueId y = g.add(ir::Prim::mul, {x, b}, {}, {});  // reads a parameter: stays
  g.outputs = {y, e};
  ir::Graph after = passes::fold_constants(g);
  after.verify();
  EXPECT_EQ(after.str(), g.str());
}

}  // namespace
}  // namespace kiln
