// The cpu compile's passes after planning, each on its own: lowering (each step's kernel and the
// facts placement reads), placement (places, in-place reuse, donation, scratch, arena size; fed
// the lowering's facts, or facts a test sets) and emission (steps from lowerings and places).
#include <gtest/gtest.h>

#include "backend/cpu/schedule.hpp"
#include "backend/cpu/schedule_lowering.hpp"
#include "backend/cpu/schedule_placement.hpp"
#include "backend/cpu/schedule_plan.hpp"
#include "backend/graph_builder.hpp"

namespace kiln::cpu {
namespace {

using ir::Prim;
using kiln::testing::GraphBuilder;

constexpr Place arena(size_t offset) {
  return {Region::arena, 0, offset};
}

// A graph's plan without fusion (every node its own step), one thread.
Plan unfused(const ir::Graph& g) {
  return make_plan(g, false, 0, 1);
}

TEST(ScheduleLowering, EachNodeSteppedAloneGetsItsKernelAndLeavesGetNone) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{8, 8});
  auto w = b.param(DType::float32, Shape{8, 8});
  auto e = b.unary(Prim::exp, x);
  auto d = b.matmul(e, w);
  b.output(d);
  const Plan plan = unfused(b.g);
  const Lowering l = lower_plan(b.g, plan, 1);
  ASSERT_EQ(l.node.size(), 4u);
  EXPECT_EQ(l.node[x].fn, nullptr);  // parameters are places, not steps
  EXPECT_EQ(l.node[w].fn, nullptr);
  ASSERT_NE(l.node[e].fn, nullptr);
  EXPECT_TRUE(l.node[e].elementwise);
  ASSERT_NE(l.node[d].fn, nullptr);
  EXPECT_FALSE(l.node[d].elementwise);
  EXPECT_TRUE(l.groups.empty());
  EXPECT_EQ(l.num_fused_groups(), 0u);
}

TEST(ScheduleLowering, AFusedGroupListsItsOperandsResultsAndScratch) {
  GraphBuilder b;
  const Shape s{64, 4};
  auto x = b.param(DType::float32, s);
  auto bias = b.param(DType::float32, Shape{4});
  auto y = b.binary(Prim::add, x, b.trailing(bias, s));  // reads bias cyclically
  auto n = b.unary(Prim::neg, y);                        // %4
  auto t = b.unary(Prim::tanh, n);                       // %5
  b.output(t);
  b.output(y);  // an output: materialized; n stays in a tile buffer
  const Plan plan = make_plan(b.g, true, 0, 1);
  const Lowering l = lower_plan(b.g, plan, 1);
  ASSERT_EQ(l.groups.size(), 1u);
  EXPECT_EQ(l.num_fused_groups(), 1u);
  const FusedGroup& f = l.groups[0];
  EXPECT_EQ(f.members, (std::vector<ValueId>{y, n, t}));
  EXPECT_EQ(f.last(), t);
  EXPECT_EQ(f.external, (std::vector<ValueId>{x, bias}));
  EXPECT_EQ(f.external_cyclic, (std::vector<bool>{false, true}));
  EXPECT_EQ(f.materialized, (std::vector<ValueId>{y, t}));
  ASSERT_NE(f.params, nullptr);
  EXPECT_EQ(f.params->numel, 256);
  EXPECT_EQ(f.params->ops.size(), 3u);
  EXPECT_EQ(f.scratch_bytes, fused_scratch_bytes(*f.params));
  EXPECT_GT(f.scratch_bytes, 0u);  // its tile buffer
  EXPECT_EQ(f.names, "add,neg,tanh");
  EXPECT_EQ(l.node[n].fn, nullptr);  // members are no steps of their own
}

// x -> e = exp(x) -> n = neg(e) -> t = tanh(n) (output): e dies at n, n at t.
struct Chain {
  GraphBuilder b;
  ValueId x, e, n, t;
  Chain() {
    x = b.param(DType::float32, Shape{64});
    e = b.unary(Prim::exp, x);
    n = b.unary(Prim::neg, e);
    t = b.unary(Prim::tanh, n);
    b.output(t);
  }
};

TEST(SchedulePlacement, AnElementwiseResultTakesItsDyingOperandsBytes) {
  Chain c;
  const Plan plan = unfused(c.b.g);
  const Placement p = place_values(c.b.g, plan, lower_plan(c.b.g, plan, 1), {});
  EXPECT_EQ(p.place[c.x], (Place{Region::input, 0, 0}));
  EXPECT_EQ(p.place[c.e], arena(0));
  EXPECT_EQ(p.place[c.n], arena(0));  // e dies at n
  EXPECT_EQ(p.in_place_of[c.n], c.e);
  EXPECT_EQ(p.in_place_of[c.e], kNoValue);  // x is an input, not arena bytes
  EXPECT_EQ(p.place[c.t], (Place{Region::output, 0, 0}));
  EXPECT_EQ(p.arena_bytes, 256u);  // 64 floats, once
  EXPECT_TRUE(p.output_aliases.empty());
}

TEST(SchedulePlacement, ANonElementwiseResultNeverTakesItsOperandsBytes) {
  Chain c;
  const Plan plan = unfused(c.b.g);
  Lowering l = lower_plan(c.b.g, plan, 1);
  l.node[c.n].elementwise = false;  // as a kernel that reads other elements than it writes
  const Placement p = place_values(c.b.g, plan, l, {});
  EXPECT_EQ(p.place[c.e], arena(0));
  EXPECT_EQ(p.place[c.n], arena(256));  // fresh bytes while e is still read
  EXPECT_EQ(p.in_place_of[c.n], kNoValue);
  EXPECT_EQ(p.arena_bytes, 512u);

  // The same with a real one: a product of two 8x8 matrices is the size of its operands.
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{8, 8});
  auto e = b.unary(Prim::exp, x);
  auto d = b.matmul(e, e);
  b.output(b.unary(Prim::neg, d));
  const Plan plan2 = unfused(b.g);
  const Placement p2 = place_values(b.g, plan2, lower_plan(b.g, plan2, 1), {});
  EXPECT_EQ(p2.place[e], arena(0));
  EXPECT_EQ(p2.place[d], arena(256));
  EXPECT_EQ(p2.in_place_of[d], kNoValue);
}

TEST(SchedulePlacement, ScratchIsTheStepsOwnUntilTheStepEnds) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{64});
  auto e = b.unary(Prim::exp, x);
  auto h = b.unary(Prim::tanh, x);
  b.output(b.binary(Prim::add, e, h));
  const Plan plan = unfused(b.g);
  Lowering l = lower_plan(b.g, plan, 1);
  l.node[e].scratch_bytes = 1024;
  const Placement p = place_values(b.g, plan, l, {});
  EXPECT_EQ(p.place[e], arena(0));
  EXPECT_EQ(p.scratch[e], 256u);      // after its result, which it must not overlap
  EXPECT_EQ(p.place[h], arena(256));  // e's scratch is free again after e's step
  EXPECT_EQ(p.arena_bytes, 1280u);
}

TEST(SchedulePlacement, AViewTakesItsRootsPlace) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{2, 32});
  ir::Attrs flat;
  flat.shape = Shape{64};
  auto rx = b.push(Prim::reshape, {x}, flat, {DType::float32, Shape{64}});
  auto e = b.unary(Prim::exp, rx);
  ir::Attrs square;
  square.shape = Shape{8, 8};
  auto re = b.push(Prim::reshape, {e}, square, {DType::float32, Shape{8, 8}});
  b.output(b.unary(Prim::neg, re));
  const Plan plan = unfused(b.g);
  const Placement p = place_values(b.g, plan, lower_plan(b.g, plan, 1), {});
  EXPECT_EQ(p.place[rx], (Place{Region::input, 0, 0}));
  EXPECT_EQ(p.place[e], arena(0));
  EXPECT_EQ(p.place[re], arena(0));
}

TEST(SchedulePlacement, AnOutputTakesADonatedInputOnlyWhenNoLaterStepReadsIt) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{64});
  auto y = b.unary(Prim::exp, x);      // output 0: x is read again by z
  auto z = b.binary(Prim::add, y, x);  // output 1: x's last reader, elementwise
  b.output(y);
  b.output(z);
  const Plan plan = unfused(b.g);
  const Placement p = place_values(b.g, plan, lower_plan(b.g, plan, 1), {true});
  EXPECT_EQ(p.donated[y], -1);
  EXPECT_EQ(p.donated[z], 0);
  EXPECT_EQ(p.output_aliases, (std::vector<int>{-1, 0}));
  EXPECT_EQ(p.place[z], (Place{Region::output, 1, 0}));

  // Not donated: nothing is given away.
  const Placement kept = place_values(b.g, plan, lower_plan(b.g, plan, 1), {false});
  EXPECT_TRUE(kept.output_aliases.empty());
  EXPECT_EQ(kept.donated[z], -1);
}

TEST(SchedulePlacement, ANonElementwiseStepTakesNoDonatedInputItReads) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{8, 8});
  auto w = b.param(DType::float32, Shape{8, 8});
  auto d = b.matmul(x, w);  // reads x and w at its own step
  b.output(d);
  const Plan plan = unfused(b.g);
  const Placement p = place_values(b.g, plan, lower_plan(b.g, plan, 1), {true, true});
  EXPECT_EQ(p.output_aliases, (std::vector<int>{-1}));
  EXPECT_EQ(p.donated[d], -1);
}

TEST(SchedulePlacement, AnInputTheGraphReturnsIsNeverGivenAway) {
  GraphBuilder b;
  auto x = b.param(DType::float32, Shape{64});
  b.output(x);
  b.output(b.unary(Prim::exp, x));
  const Plan plan = unfused(b.g);
  const Placement p = place_values(b.g, plan, lower_plan(b.g, plan, 1), {true});
  EXPECT_TRUE(p.output_aliases.empty());
}

// t = transpose(x) in the arena, then the group {r = neg(t), s = <second>(r, t?)} with r read by a
// transpose outside the group (materialized) and s an output: t dies at the group.
struct GroupOverArenaValue {
  GraphBuilder b;
  ValueId t, r, s;
  explicit GroupOverArenaValue(bool second_reads_t) {
    const Shape sq{64, 64};
    auto x = b.param(DType::float32, sq);
    ir::Attrs perm;
    perm.dims = {1, 0};
    t = b.push(Prim::transpose, {x}, perm, {DType::float32, sq});
    r = b.unary(Prim::neg, t);
    s = second_reads_t ? b.binary(Prim::add, r, t) : b.unary(Prim::exp, r);
    b.output(s);
    b.output(b.push(Prim::transpose, {r}, perm, {DType::float32, sq}));
  }
};

TEST(SchedulePlacement, AGroupResultTakesADyingOperandWhenNoLaterMemberReadsIt) {
  GroupOverArenaValue c(false);
  const Plan plan = make_plan(c.b.g, true, 0, 1);
  const Lowering l = lower_plan(c.b.g, plan, 1);
  ASSERT_EQ(l.num_fused_groups(), 1u);
  ASSERT_EQ(l.groups[0].materialized, (std::vector<ValueId>{c.r, c.s}));
  const Placement p = place_values(c.b.g, plan, l, {});
  EXPECT_EQ(p.place[c.t], arena(0));
  EXPECT_EQ(p.place[c.r], arena(0));  // each tile reads t before writing r over it
  EXPECT_EQ(p.in_place_of[c.r], c.t);
  EXPECT_EQ(p.arena_bytes, 64u * 64u * 4u);  // one value's bytes for both
}

TEST(SchedulePlacement, AGroupResultKeepsOffAnOperandALaterMemberStillReads) {
  GroupOverArenaValue c(true);  // s = r + t reads t after r is written
  const Plan plan = make_plan(c.b.g, true, 0, 1);
  const Lowering l = lower_plan(c.b.g, plan, 1);
  ASSERT_EQ(l.num_fused_groups(), 1u);
  const Placement p = place_values(c.b.g, plan, l, {});
  EXPECT_EQ(p.place[c.t], arena(0));
  EXPECT_EQ(p.place[c.r], arena(64u * 64u * 4u));
  EXPECT_EQ(p.in_place_of[c.r], kNoValue);
  EXPECT_EQ(p.arena_bytes, 2u * 64u * 64u * 4u);
}

TEST(ScheduleEmission, StepsReadTheirOperandsWherePlacementPutThem) {
  Chain c;
  const Plan plan = unfused(c.b.g);
  Lowering l = lower_plan(c.b.g, plan, 1);
  const Placement p = place_values(c.b.g, plan, l, {});
  const Emitted e = emit_steps(c.b.g, plan, std::move(l), p);
  ASSERT_EQ(e.steps.size(), 3u);
  EXPECT_EQ(e.step_text, (std::vector<std::string>{
                             "%1 = exp f32[64] (%0@input[0]) -> arena+0",
                             "%2 = neg f32[64] (%1@arena+0) -> arena+0 (in place)",
                             "%3 = tanh f32[64] (%2@arena+0) -> output[0]",
                         }));
  // Base table [inputs | outputs | arena | constants]: input 0, output 0, the arena at 2.
  EXPECT_EQ(e.operand_slots[e.steps[0].first_input].base, 0u);
  EXPECT_EQ(e.steps[0].out.base, 2u);
  EXPECT_EQ(e.steps[2].out.base, 1u);
  EXPECT_EQ(e.arena_bytes, 256u);
  EXPECT_EQ(e.fused_groups, 0u);
}

}  // namespace
}  // namespace kiln::cpu
