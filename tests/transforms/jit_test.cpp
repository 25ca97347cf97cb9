#include <gtest/gtest.h>

#include "kiln/jit.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

TEST(Jit, TracesOncePerSignatureAndReusesTheExecutable) {
  int traces = 0;
  auto f = jit([&](const Array& x) {
    ++traces;
    return x * 2.0 + 1.0;
  });
  EXPECT_EQ(f(full({3}, 1.0)).to_vector<float>(), (std::vector<float>{3, 3, 3}));
  EXPECT_EQ(f(full({3}, 2.0)).to_vector<float>(), (std::vector<float>{5, 5, 5}));
  EXPECT_EQ(traces, 1);
  EXPECT_EQ(f(full({2}, 2.0)).to_vector<float>(), (std::vector<float>{5, 5}));  // new shape
  EXPECT_EQ(f(full({2}, 2.0, float64)).to_vector<double>(),
            (std::vector<double>{5, 5}));  // new dtype
  EXPECT_EQ(traces, 3);
  EXPECT_EQ(f.cache_size(), 3u);
}

TEST(Jit, TreeStructureIsPartOfTheSignature) {
  int traces = 0;
  auto f = jit([&](const Tree& t) {
    ++traces;
    Array s = zeros({});
    for (const Array& leaf : leaves(t)) s = s + sum(leaf);
    return s;
  });
  EXPECT_FLOAT_EQ(f(Tree::dict({{"a", ones({2})}, {"b", ones({3})}})).item<float>(), 5.0f);
  EXPECT_FLOAT_EQ(f(Tree::dict({{"b", ones({3})}, {"a", ones({2})}})).item<float>(),
                  5.0f);  // same structure
  EXPECT_EQ(traces, 1);
  EXPECT_FLOAT_EQ(f(Tree::dict({{"a", ones({2})}, {"c", ones({3})}})).item<float>(), 5.0f);
  EXPECT_EQ(traces, 2);
}

TEST(Jit, LowerPrintsTheGraphLikeAJaxpr) {
  auto f = jit([](const Array& x, const Array& w) { return relu(matmul(x, w)); });
  std::string text = f.lower(ones({16, 4}), ones({4, 8})).text();
  EXPECT_NE(text.find("{ lambda ; a:f32[16,4] b:f32[4,8] . let"), std::string::npos) << text;
  EXPECT_NE(text.find("c:f32[16,8] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] a b"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("gt"), std::string::npos) << text;  // relu: select(x > 0, ...)
  EXPECT_NE(text.find("select"), std::string::npos) << text;
  EXPECT_EQ(text.substr(text.size() - 4), ",) }") << text;  // one output
}

TEST(Jit, CapturedConcreteArraysBecomeConstants) {
  Array bias = array({1, 2, 3});
  auto f = jit([&](const Array& x) { return x + bias; });
  EXPECT_EQ(f(zeros({3})).to_vector<float>(), (std::vector<float>{1, 2, 3}));
  std::string text = f.lower(zeros({3})).text();
  EXPECT_NE(text.find("constant"), std::string::npos) << text;
}

TEST(Jit, ReturningAnInputOrAConstantWorks) {
  auto f = jit([](const Array& x, const Array& y) {
    return std::make_pair(x, std::make_pair(y * 1.0, ones({2})));
  });
  auto [a, bc] = f(full({2}, 4.0), full({1}, 5.0));
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{4, 4}));
  EXPECT_EQ(bc.first.to_vector<float>(), (std::vector<float>{5}));
  EXPECT_EQ(bc.second.to_vector<float>(), (std::vector<float>{1, 1}));
}

TEST(Jit, EscapedTracerIsATracerErrorNamingWhereItWasMade) {
  Array leaked;
  auto f = jit([&](const Array& x) {
    leaked = x * 3.0;
    return x;
  });
  f(ones({2}));
  ASSERT_TRUE(leaked.is_tracer());
  try {
    Array y = leaked + 1.0;
    FAIL() << "no error";
  } catch (const TracerError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("jit_test.cpp"), std::string::npos) << m;
    EXPECT_NE(m.find("after the jit/grad trace"), std::string::npos) << m;
  }
  EXPECT_THROW(leaked.to_vector<float>(), TracerError);
  EXPECT_THROW(f(leaked), TracerError);
}

TEST(Jit, ReadingAValueInsideTheTraceIsATracerError) {
  auto f = jit([](const Array& x) {
    (void)x.item<float>();
    return x;
  });
  EXPECT_THROW(f(ones({})), TracerError);
}

TEST(Jit, EmptyOutputLeafIsAValueError) {
  auto f = jit([](const Array& x) { return std::make_pair(x, Array()); });
  EXPECT_THROW(f(ones({1})), ValueError);
}

TEST(Jit, NestedJitIsInlined) {
  auto inner = jit([](const Array& x) { return x * x; });
  auto outer = jit([&](const Array& x) { return inner(x) + 1.0; });
  EXPECT_EQ(outer(full({2}, 3.0)).to_vector<float>(), (std::vector<float>{10, 10}));
  EXPECT_EQ(inner.cache_size(), 0u);  // never compiled on its own
}

TEST(Jit, UnknownBackendIsDeviceNotFound) {
  EXPECT_THROW(jit([](const Array& x) { return x; }, {.backend = "tt"}), DeviceNotFound);
}

TEST(Jit, ShapeErrorNamesBothShapesAndTheUsersLine) {
  auto f = jit([](const Array& x, const Array& y) { return x + y; });
  try {
    f(ones({16, 4}), ones({3}));
    FAIL();
  } catch (const ShapeError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("(16, 4)"), std::string::npos) << m;
    EXPECT_NE(m.find("(3,)"), std::string::npos) << m;
    EXPECT_NE(m.find("jit_test.cpp:"), std::string::npos) << m;
  }
}

TEST(Jit, CompiledScheduleIsPrintable) {
  auto f = jit([](const Array& x) { return exp(x) + 1.0; });
  std::string text = f.lower(ones({4})).compile().text();
  EXPECT_NE(text.find("exp"), std::string::npos) << text;
}

// A loop that feeds each call's output into the next and drops it afterwards gets the dead
// output's buffer back instead of a new allocation (JitCache's output pool).
TEST(Jit, ASteadyLoopReusesTheBuffersOfDeadOutputs) {
  auto f = jit([](const Array& x) { return x + 1.0; });
  Array x = f(zeros({64}));  // call 1: buffer A
  const void* a = x.buffer()->host_data();
  x = f(x);  // call 2: buffer B (A is still the input); A dies
  const void* b = x.buffer()->host_data();
  EXPECT_NE(a, b);
  x = f(x);  // call 3: A again
  EXPECT_EQ(x.buffer()->host_data(), a);
  x = f(x);
  EXPECT_EQ(x.buffer()->host_data(), b);
  EXPECT_EQ(x.to_vector<float>(), std::vector<float>(64, 4.0f));
}

// An output the caller still holds is never written again, nor is one whose buffer a view shares.
TEST(Jit, HeldOutputsAndTheirViewsKeepTheirValues) {
  auto f = jit([](const Array& x) { return x * 2.0; });
  std::vector<Array> kept;
  Array x = full({8}, 1.0);
  for (int i = 0; i < 5; ++i) {
    x = f(x);
    kept.push_back(x);
  }
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(kept[static_cast<size_t>(i)].to_vector<float>(),
              std::vector<float>(8, static_cast<float>(2 << i)));

  Array y = f(full({8}, 3.0));
  Array view = reshape(y, {2, 4});  // may share y's buffer
  y = Array();
  for (int i = 0; i < 4; ++i) (void)f(full({8}, 5.0));
  EXPECT_EQ(view.to_vector<float>(), std::vector<float>(8, 6.0f));
}

}  // namespace
}  // namespace kiln
