#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "pass_testing.hpp"
#include "passes/dead_code.hpp"
#include "passes/simplify.hpp"

namespace kiln {
namespace {

using pass_testing::bytes_of;
using pass_testing::run;

ir::Graph simplified(const ir::Graph& g) {
  ir::Graph s = passes::simplify(g);
  s.verify();
  ir::Graph d = passes::dead_code_elimination(s);
  d.verify();
  return d;
}

// The values where a wrong identity shows: signed zeros, NaN, infinities, a subnormal.
std::vector<float> awkward(size_t n) {
  const float base[] = {-0.0f,
                        0.0f,
                        std::numeric_limits<float>::quiet_NaN(),
                        -std::numeric_limits<float>::infinity(),
                        1e-45f,
                        -3.5f};
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = base[i % 6];
  return v;
}

// x (op) splat(value), with the splat a 0-d full broadcast to x's shape, and its reverse.
ir::Graph with_splat(ir::Prim op, double value, bool splat_first = false) {
  ir::Graph g;
  ir::ValueId x = g.add_parameter({float32, {6}});
  ir::Attrs f;
  f.shape = {};
  f.value = Scalar::from_double(value, float32);
  ir::ValueId s = g.add(ir::Prim::full, {}, f, {});
  ir::Attrs b;
  b.shape = {6};
  ir::ValueId bs = g.add(ir::Prim::broadcast_in_dim, {s}, b, {});
  g.outputs = {splat_first ? g.add(op, {bs, x}, {}, {}) : g.add(op, {x, bs}, {}, {})};
  return g;
}

void expect_same_numbers(const ir::Graph& a, const ir::Graph& b) {
  const std::vector<pass_testing::Bytes> in = {bytes_of(awkward(6))};
  EXPECT_EQ(run(a, in), run(b, in));
}

TEST(Simplify, ExactIdentitiesGoAway) {
  const char* just_x = "{ lambda ; a:f32[6] . let\n  in (a,) }";
  for (auto [op, value, first] :
       {std::tuple{ir::Prim::mul, 1.0, false}, std::tuple{ir::Prim::mul, 1.0, true},
        std::tuple{ir::Prim::sub, 0.0, false}, std::tuple{ir::Prim::add, -0.0, false},
        std::tuple{ir::Prim::add, -0.0, true}}) {
    ir::Graph g = with_splat(op, value, first);
    ir::Graph after = simplified(g);
    EXPECT_EQ(after.str(), just_x) << ir::name(op) << " " << value;
    expect_same_numbers(after, g);
  }
}

TEST(Simplify, InexactIdentitiesStay) {
  // -0 + +0 is +0: x + 0.0 is not x. x - (-0) is x + 0, the same. x * -1, x + 1 are not identities.
  for (auto [op, value] : {std::pair{ir::Prim::add, 0.0}, std::pair{ir::Prim::sub, -0.0},
                           std::pair{ir::Prim::mul, -1.0}, std::pair{ir::Prim::add, 1.0}}) {
    ir::Graph g = with_splat(op, value);
    EXPECT_EQ(simplified(g).str(), g.str()) << ir::name(op) << " " << value;
  }
  EXPECT_EQ(with_splat(ir::Prim::add, 0.0).str(),
            "{ lambda ; a:f32[6] . let\n"
            "    b:f32[] = full[value=0.000000]\n"
            "    c:f32[6] = broadcast_in_dim[shape=(6,) broadcast_dimensions=()] b\n"
            "    d:f32[6] = add a c\n"
            "  in (d,) }");
}

TEST(Simplify, IntegerZeroIsAnIdentityForAdd) {
  auto f = jit([](const Array& x) { return (x + full({}, 0.0, int32)) * full({3}, 1.0, int32); });
  ir::Graph g = f.lower(astype(array({1, 2, 3}), int32)).graph();
  ir::Graph after = simplified(g);
  EXPECT_EQ(after.str(), "{ lambda ; a:i32[3] . let\n  in (a,) }") << g.str();
}

TEST(Simplify, ShapeChainsCollapse) {
  ir::Graph g;
  ir::ValueId x = g.add_parameter({float32, {2, 3, 4}});
  ir::Attrs r1, r2, r3;
  r1.shape = {6, 4};
  r2.shape = {24};
  r3.shape = {2, 3, 4};
  ir::ValueId a = g.add(ir::Prim::reshape, {x}, r1, {});
  ir::ValueId b = g.add(ir::Prim::reshape, {a}, r2, {});  // -> reshape x to (24,)
  ir::ValueId c = g.add(ir::Prim::reshape, {b}, r3, {});  // -> x
  ir::Attrs t1, t2, t3;
  t1.dims = {1, 2, 0};
  t2.dims = {2, 0, 1};  // undoes t1
  t3.dims = {1, 0, 2};
  ir::ValueId d = g.add(ir::Prim::transpose, {x}, t1, {});
  ir::ValueId e = g.add(ir::Prim::transpose, {d}, t2, {});  // -> x
  ir::ValueId f = g.add(ir::Prim::transpose, {d}, t3, {});  // -> one transpose of x
  ir::Attrs b1, b2, b3;
  b1.shape = {5, 2, 3, 4};
  b1.dims = {1, 2, 3};
  b2.shape = {7, 5, 2, 3, 4};
  b2.dims = {1, 2, 3, 4};
  b3.shape = {2, 3, 4};
  b3.dims = {0, 1, 2};
  ir::ValueId h = g.add(ir::Prim::broadcast_in_dim, {x}, b1, {});
  ir::ValueId i = g.add(ir::Prim::broadcast_in_dim, {h}, b2, {});  // -> one broadcast of x
  ir::ValueId j = g.add(ir::Prim::broadcast_in_dim, {x}, b3, {});  // -> x
  ir::Attrs cv;
  cv.dtype = float32;
  ir::ValueId k = g.add(ir::Prim::convert, {x}, cv, {});  // -> x
  g.outputs = {b, c, e, f, i, j, k};
  g.verify();
  ir::Graph after = simplified(g);
  EXPECT_EQ(after.str(),
            "{ lambda ; a:f32[2,3,4] . let\n"
            "    b:f32[24] = reshape[new_sizes=(24,)] a\n"
            "    c:f32[4,3,2] = transpose[permutation=(2,1,0)] a\n"
            "    d:f32[7,5,2,3,4] = broadcast_in_dim[shape=(7,5,2,3,4) "
            "broadcast_dimensions=(2,3,4)] a\n"
            "  in (b, a, a, c, d, a, a) }")
      << g.str();
  std::vector<float> v(24);
  for (size_t n = 0; n < v.size(); ++n) v[n] = static_cast<float>(n) - 0.5f;
  EXPECT_EQ(run(after, {bytes_of(v)}), run(g, {bytes_of(v)}));
}

TEST(Simplify, ConvertToAnotherDTypeStays) {
  auto f = jit([](const Array& x) { return astype(astype(x, float16), float32); });
  ir::Graph g = f.lower(array({1.0f / 3})).graph();
  EXPECT_EQ(simplified(g).str(), g.str());
}

}  // namespace
}  // namespace kiln
