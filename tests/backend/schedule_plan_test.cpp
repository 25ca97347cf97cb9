// The cpu compile's planning passes, each on its own (schedule_plan.hpp): what a step reads, what
// is live, which nodes fuse, and how fusion stretches lifetimes.
#include "backend/cpu/schedule_plan.hpp"

#include <gtest/gtest.h>

#include "backend/graph_builder.hpp"

namespace kiln::cpu {
namespace {

using ir::Prim;
using kiln::testing::GraphBuilder;

TEST(SchedulePlan, AbsorptionReadsATrailingBroadcastsSourceCyclicallyAndAFillNotAtAll) {
  GraphBuilder b;
  const Shape s{4, 3};
  auto x = b.param(DType::float32, s);
  auto bias = b.param(DType::float32, Shape{3});
  auto y = b.binary(Prim::add, x, b.trailing(bias, s));             // %3 reads %1 cyclically
  auto z = b.binary(Prim::mul, y, b.full(DType::float32, s, 2.0));  // %5 reads no buffer for %4
  b.output(z);
  const Absorption a = plan_absorption(b.g);
  EXPECT_EQ(a.reads[y], (std::vector<ValueId>{x, bias}));
  ASSERT_EQ(a.operand[y].size(), 2u);
  EXPECT_EQ(a.operand[y][0].kind, OperandRead::Kind::dense);
  EXPECT_EQ(a.operand[y][1].kind, OperandRead::Kind::cyclic);
  EXPECT_EQ(a.operand[y][1].period, 3);
  EXPECT_EQ(a.reads[z], (std::vector<ValueId>{y}));
  EXPECT_EQ(a.operand[z][1].kind, OperandRead::Kind::fill);
}

TEST(SchedulePlan, LivenessDropsDeadNodesAndMakesReshapesViews) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2, 3});
  auto dead = b.unary(Prim::exp, x);
  ir::Attrs flat;
  flat.shape = Shape{6};
  auto r = b.push(Prim::reshape, {x}, flat, {DType::float32, Shape{6}});
  auto y = b.unary(Prim::neg, r);
  b.output(y);
  const Absorption a = plan_absorption(b.g);
  const Liveness l = analyze(b.g, a.reads);
  EXPECT_FALSE(l.needed[dead]);
  EXPECT_TRUE(l.needed[r]);
  EXPECT_TRUE(l.is_view[r]);
  EXPECT_EQ(l.root[r], x);
  EXPECT_EQ(l.last_use[x], static_cast<int64_t>(y));  // read through its view
  EXPECT_EQ(l.output_of[y], 0);
}

TEST(SchedulePlan, GroupsJoinAnElementwiseChainAndFusionOffKeepsEveryNodeAlone) {
  GraphBuilder b;
  const Shape s{64};
  auto x = b.param(DType::float32, s);
  auto n = b.unary(Prim::neg, x);
  auto e = b.unary(Prim::exp, n);
  auto t = b.unary(Prim::tanh, e);
  b.output(t);
  b.output(n);  // read outside the group: materialized
  const Absorption a = plan_absorption(b.g);
  Liveness l = analyze(b.g, a.reads);
  const Groups fused = plan_groups(b.g, a, l, true, 0, 1);
  ASSERT_EQ(fused.members.size(), 1u);
  EXPECT_EQ(fused.members[0], (std::vector<ValueId>{n, e, t}));
  EXPECT_EQ(fused.of[e], 0);
  const Groups alone = plan_groups(b.g, a, l, false, 0, 1);
  EXPECT_TRUE(alone.members.empty());
  EXPECT_EQ(alone.of[e], -1);
  // Under fusion every member runs at the group's last member: x lives until t.
  const std::vector<bool> read_outside = extend_lifetimes_over_groups(b.g, a, fused, l);
  EXPECT_EQ(l.last_use[x], static_cast<int64_t>(t));
  EXPECT_FALSE(read_outside[n]);  // outputs are materialized through output_of, not this
  EXPECT_FALSE(read_outside[e]);
}

}  // namespace
}  // namespace kiln::cpu
