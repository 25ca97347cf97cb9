#include <gtest/gtest.h>

#include "pass_testing.hpp"
#include "passes/dead_code.hpp"

namespace kiln {
namespace {

using pass_testing::bytes_of;
using pass_testing::run;

TEST(DeadCode, DropsUnreadNodesKeepsParametersAndOutputs) {
  ir::Graph g;
  ir::ValueId x = g.add_parameter({float32, {3}});
  ir::ValueId unused = g.add_parameter({float32, {3}});
  ir::ValueId e = g.add(ir::Prim::exp, {x}, {}, {});  // dead
  g.add(ir::Prim::log, {e}, {}, {});                  // dead, reads a dead node
  ir::ValueId n = g.add(ir::Prim::neg, {x}, {}, {});
  ir::ValueId s = g.add(ir::Prim::sin, {n}, {}, {});  // an output nothing else reads
  g.outputs = {n, s, x};
  (void)unused;
  EXPECT_EQ(g.str(),
            "{ lambda ; a:f32[3] b:f32[3] . let\n"
            "    c:f32[3] = exp a\n"
            "    d:f32[3] = log c\n"
            "    e:f32[3] = neg a\n"
            "    f:f32[3] = sin e\n"
            "  in (e, f, a) }");
  ir::Graph after = passes::dead_code_elimination(g);
  after.verify();
  EXPECT_EQ(after.str(),
            "{ lambda ; a:f32[3] b:f32[3] . let\n"
            "    c:f32[3] = neg a\n"
            "    d:f32[3] = sin c\n"
            "  in (c, d, a) }");
  EXPECT_EQ(after.inputs, (std::vector<ir::ValueId>{0, 1}));
  const std::vector<pass_testing::Bytes> in = {bytes_of(std::vector<float>{1.5f, -0.0f, 3e38f}),
                                               bytes_of(std::vector<float>{0, 0, 0})};
  EXPECT_EQ(run(after, in), run(g, in));
}

TEST(DeadCode, KeepsSourceLocations) {
  ir::Graph g;
  const auto here = std::source_location::current();
  ir::ValueId x = g.add_parameter({float32, {2}});
  g.add(ir::Prim::exp, {x}, {}, {});
  g.outputs = {g.add(ir::Prim::neg, {x}, {}, here)};
  ir::Graph after = passes::dead_code_elimination(g);
  ASSERT_EQ(after.nodes.size(), 2u);
  EXPECT_EQ(after.nodes[1].loc.line(), here.line());
}

}  // namespace
}  // namespace kiln
