#include <gtest/gtest.h>

#include "kiln/error.hpp"
#include "kiln/ir.hpp"

namespace kiln::ir {
namespace {

TEST(Graph, PrintsTypedSsaLikeAJaxpr) {
  Graph g;
  ValueId x = g.add_parameter({float32, {2, 3}});
  Attrs t;
  t.dims = {1, 0};
  ValueId y = g.add(Prim::transpose, {x}, t, {});
  Attrs r;
  r.dims = {1};
  ValueId z = g.add(Prim::reduce_sum, {y}, r, {});
  g.outputs = {z};
  g.verify();
  EXPECT_EQ(g.str(),
            "{ lambda ; a:f32[2,3] . let\n"
            "    b:f32[3,2] = transpose[permutation=(1,0)] a\n"
            "    c:f32[3] = reduce_sum[axes=(1,)] b\n"
            "  in (c,) }");
}

TEST(Graph, InfersDotGeneralWithBatchDims) {
  Attrs a;
  a.dot = {{2}, {1}, {0}, {0}};
  ValueType out = infer_type(
      Prim::dot_general, std::vector<ValueType>{{float32, {5, 2, 3}}, {float32, {5, 3, 7}}}, a, {});
  EXPECT_EQ(out, (ValueType{float32, {5, 2, 7}}));
}

TEST(Graph, ShapeErrorNamesBothShapesAndTheSourceLine) {
  Graph g;
  ValueId x = g.add_parameter({float32, {16, 4}});
  ValueId y = g.add_parameter({float32, {3}});
  try {
    g.add(Prim::add, {x, y}, {}, std::source_location::current());
    FAIL();
  } catch (const ShapeError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("(16, 4)"), std::string::npos) << m;
    EXPECT_NE(m.find("(3,)"), std::string::npos) << m;
    EXPECT_NE(m.find("graph_test.cpp:"), std::string::npos) << m;
  }
}

TEST(Graph, DTypeMismatchIsADTypeError) {
  Graph g;
  ValueId x = g.add_parameter({float32, {2}});
  ValueId y = g.add_parameter({int32, {2}});
  EXPECT_THROW(g.add(Prim::mul, {x, y}, {}, {}), DTypeError);
  EXPECT_THROW(g.add(Prim::exp, {y}, {}, {}), DTypeError);
}

TEST(Graph, VerifierRejectsAWrongRecordedType) {
  Graph g;
  ValueId x = g.add_parameter({float32, {2}});
  g.nodes.push_back(Node{Prim::exp, {x}, {}, {float32, {3}}, {}});
  g.outputs = {1};
  try {
    g.verify();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("records type f32[3] but its operands give f32[2]"),
              std::string::npos)
        << e.what();
  }
}

TEST(Graph, VerifierRejectsUseBeforeDefinition) {
  Graph g;
  g.add_parameter({float32, {2}});
  g.nodes.push_back(Node{Prim::neg, {2}, {}, {float32, {2}}, {}});
  g.nodes.push_back(Node{Prim::neg, {0}, {}, {float32, {2}}, {}});
  EXPECT_THROW(g.verify(), Error);
}

TEST(Graph, ShapeRulesOfLayoutPrimitives) {
  Attrs s;
  s.start = {1, 0};
  s.limit = {5, 3};
  s.stride = {2, 1};
  EXPECT_EQ(infer_type(Prim::slice, std::vector<ValueType>{{float32, {6, 3}}}, s, {}).shape,
            (Shape{2, 3}));
  Attrs p;
  p.low = {1};
  p.high = {2};
  p.interior = {1};
  EXPECT_EQ(
      infer_type(Prim::pad, std::vector<ValueType>{{float32, {3}}, {float32, {}}}, p, {}).shape,
      (Shape{8}));
  Attrs b;
  b.shape = {4, 3};
  b.dims = {1};
  EXPECT_EQ(infer_type(Prim::broadcast_in_dim, std::vector<ValueType>{{float32, {3}}}, b, {}).shape,
            (Shape{4, 3}));
  b.dims = {0};
  EXPECT_THROW(infer_type(Prim::broadcast_in_dim, std::vector<ValueType>{{float32, {3}}}, b, {}),
               ShapeError);
  Attrs c;
  c.axis = 1;
  EXPECT_EQ(infer_type(Prim::concatenate,
                       std::vector<ValueType>{{float32, {2, 1}}, {float32, {2, 4}}}, c, {})
                .shape,
            (Shape{2, 5}));
  Attrs am;
  am.axis = 0;
  EXPECT_EQ(infer_type(Prim::argmax, std::vector<ValueType>{{float32, {5, 2}}}, am, {}),
            (ValueType{int32, {2}}));
}

}  // namespace
}  // namespace kiln::ir
