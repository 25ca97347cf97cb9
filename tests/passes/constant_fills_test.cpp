#include <gtest/gtest.h>

#include "kiln/backend.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "passes/constant_fills.hpp"

namespace kiln {
namespace {

ir::Graph scale_and_shift() {
  ir::Graph g;
  ir::ValueId x = g.add_parameter({float32, {4}});
  ir::Attrs two;
  two.shape = {4};
  two.dtype = float32;
  two.value = Scalar::from_double(2.0, float32);
  ir::ValueId a = g.add(ir::Prim::full, {}, two, {});
  ir::ValueId b = g.add(ir::Prim::full, {}, two, {});  // an equal fill: shares a's literal
  ir::ValueId m = g.add(ir::Prim::mul, {x, a}, {}, {});
  g.outputs = {g.add(ir::Prim::add, {m, b}, {}, {})};
  return g;
}

TEST(ConstantFills, FullNodesBecomeSharedConstants) {
  ir::Graph before = scale_and_shift();
  EXPECT_EQ(before.str(),
            "{ lambda ; a:f32[4] . let\n"
            "    b:f32[4] = full[value=2.000000]\n"
            "    c:f32[4] = full[value=2.000000]\n"
            "    d:f32[4] = mul a b\n"
            "    e:f32[4] = add d c\n"
            "  in (e,) }");
  ir::Graph after = passes::materialize_fills(before);
  after.verify();
  EXPECT_EQ(after.str(),
            "{ lambda ; a:f32[4] . let\n"
            "    b:f32[4] = constant\n"
            "    c:f32[4] = constant\n"
            "    d:f32[4] = mul a b\n"
            "    e:f32[4] = add d c\n"
            "  in (e,) }");
  EXPECT_EQ(after.nodes[1].attrs.literal, after.nodes[2].attrs.literal);
  const auto* v = static_cast<const float*>(after.nodes[1].attrs.literal->host_data());
  EXPECT_EQ(std::vector<float>(v, v + 4), (std::vector<float>{2, 2, 2, 2}));
}

TEST(ConstantFills, LargeFillsStayKernels) {
  ir::Graph g;
  ir::Attrs big;
  big.shape = {1024, 1024};
  big.dtype = float32;
  g.outputs = {g.add(ir::Prim::full, {}, big, {})};
  EXPECT_EQ(passes::materialize_fills(g).nodes[0].prim, ir::Prim::full);
}

TEST(ConstantFills, NumbersAreUnchangedForEveryDType) {
  for (DType t : {bool_, uint8, uint32, int8, int32, int64, bfloat16, float16, float32, float64}) {
    auto f = jit([t](const Array& x) { return astype(x, t) + full({3}, 1.0, t); });
    Array got = astype(f(array({0, 1, 2})), float64);
    std::vector<double> want =
        t == bool_ ? std::vector<double>{1, 1, 1} : std::vector<double>{1, 2, 3};
    EXPECT_EQ(got.to_vector<double>(), want) << name(t);
  }
}

}  // namespace
}  // namespace kiln
