#include <gtest/gtest.h>

#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"
#include "pass_testing.hpp"
#include "passes/cse.hpp"
#include "passes/dead_code.hpp"

namespace kiln {
namespace {

using pass_testing::bytes_of;
using pass_testing::run;

// A constant node's attrs holding v (f32[v.size()]) in a buffer of its own.
ir::Attrs literal(const std::vector<float>& v) {
  auto b = allocate_host(v.size() * sizeof(float), default_device());
  std::memcpy(b->host_data(), v.data(), b->bytes());
  ir::Attrs a;
  a.shape = {static_cast<int64_t>(v.size())};
  a.dtype = float32;
  a.literal = std::move(b);
  return a;
}

TEST(Cse, MergesEqualNodesNotParameters) {
  ir::Graph g;
  ir::ValueId x = g.add_parameter({float32, {3}});
  ir::ValueId y = g.add_parameter({float32, {3}});  // same type as x: still a distinct input
  ir::ValueId a = g.add(ir::Prim::exp, {x}, {}, {});
  ir::ValueId b = g.add(ir::Prim::exp, {x}, {}, {});
  ir::ValueId c = g.add(ir::Prim::mul, {a, y}, {}, {});
  ir::ValueId d = g.add(ir::Prim::mul, {b, y}, {}, {});  // equal once a and b merge
  ir::ValueId e = g.add(ir::Prim::mul, {y, b}, {}, {});  // other operand order: not merged
  ir::Attrs c1, c2;
  c1 = literal({1, 2, 3});
  c2 = literal({1, 2, 3});  // another buffer, the same bytes
  ir::ValueId k1 = g.add(ir::Prim::constant, {}, c1, {});
  ir::ValueId k2 = g.add(ir::Prim::constant, {}, c2, {});
  ir::ValueId s = g.add(ir::Prim::add, {c, k1}, {}, {});
  ir::ValueId t = g.add(ir::Prim::add, {d, k2}, {}, {});
  g.outputs = {s, t, e, b};
  g.verify();
  EXPECT_EQ(g.str(),
            "{ lambda ; a:f32[3] b:f32[3] . let\n"
            "    c:f32[3] = exp a\n"
            "    d:f32[3] = exp a\n"
            "    e:f32[3] = mul c b\n"
            "    f:f32[3] = mul d b\n"
            "    g:f32[3] = mul b d\n"
            "    h:f32[3] = constant\n"
            "    i:f32[3] = constant\n"
            "    j:f32[3] = add e h\n"
            "    k:f32[3] = add f i\n"
            "  in (j, k, g, d) }");
  ir::Graph after = passes::common_subexpression_elimination(g);
  after.verify();
  EXPECT_EQ(after.str(),
            "{ lambda ; a:f32[3] b:f32[3] . let\n"
            "    c:f32[3] = exp a\n"
            "    d:f32[3] = mul c b\n"
            "    e:f32[3] = mul b c\n"
            "    f:f32[3] = constant\n"
            "    g:f32[3] = add d f\n"
            "  in (g, g, e, c) }");
  const std::vector<pass_testing::Bytes> in = {bytes_of(std::vector<float>{0.5f, -1, 88}),
                                               bytes_of(std::vector<float>{2, -0.0f, 1e-3f})};
  EXPECT_EQ(run(after, in), run(g, in));
}

TEST(Cse, DifferentConstantsAndAttrsStayApart) {
  ir::Graph g;
  ir::ValueId x = g.add_parameter({float32, {2, 3}});
  ir::Attrs c1, c2, r1, r2;
  c1 = literal({1, 2, 3});
  c2 = literal({1, 2, 4});
  r1.dims = {0};
  r2.dims = {1};
  g.add(ir::Prim::constant, {}, c1, {});
  g.add(ir::Prim::constant, {}, c2, {});
  g.add(ir::Prim::reduce_sum, {x}, r1, {});
  g.add(ir::Prim::reduce_sum, {x}, r2, {});
  g.outputs = {1, 2, 3, 4};
  ir::Graph after = passes::common_subexpression_elimination(g);
  after.verify();
  EXPECT_EQ(after.str(), g.str());
}

TEST(Cse, RandomBitsMergeTheyArePureFunctionsOfKeyAndCounter) {
  // Two draws from one key are one draw: threefry2x32 has no hidden state.
  auto f = jit([](const Array& key, const Array& x) {
    Array a = random::normal(key, {4});
    Array b = random::normal(key, {4});
    return x * a + b;
  });
  Array key = random::key(7);
  Array x = array({1, 2, 3, 4});
  ir::Graph g = f.lower(key, x).graph();
  ir::Graph after = passes::dead_code_elimination(passes::common_subexpression_elimination(g));
  after.verify();
  auto count = [](const ir::Graph& h) {
    int n = 0;
    for (const auto& node : h.nodes) n += node.prim == ir::Prim::threefry2x32;
    return n;
  };
  EXPECT_EQ(count(g), 2);
  EXPECT_EQ(count(after), 1);
  EXPECT_LT(after.nodes.size(), g.nodes.size());
  const std::vector<pass_testing::Bytes> in = {bytes_of(key.to_vector<uint32_t>()),
                                               bytes_of(x.to_vector<float>())};
  EXPECT_EQ(run(after, in), run(g, in));
}

}  // namespace
}  // namespace kiln
