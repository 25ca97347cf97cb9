// KILN_DEBUG_NANS=1 (docs/tracing.md): a jitted call that makes a NaN is replayed op by op and
// the first primitive that made one is named with its source line. The variable is read once per
// process, so ctest runs these cases in a process of their own with it set (tests/CMakeLists.txt);
// without it they skip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "kiln/error.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

#define KILN_REQUIRE_DEBUG_NANS()                                  \
  if (std::getenv("KILN_DEBUG_NANS") == nullptr)                   \
  GTEST_SKIP() << "KILN_DEBUG_NANS is not set (ctest sets it for " \
                  "DebugNans.*)"

TEST(DebugNans, NamesTheFirstPrimitiveThatMadeANanAndItsLine) {
  KILN_REQUIRE_DEBUG_NANS();
  const int line = __LINE__ + 4;  // the line of sqrt below
  auto f = jit(
      [](const Array& x) {
        Array y = x * 2.0;
        Array root = sqrt(y);  // NaN for x < 0
        return exp(root) + 1.0;
      },
      {.name = "nan_maker"});
  // Finite inputs: no NaN, no error, the right values.
  EXPECT_FLOAT_EQ(f(array(std::vector<float>{2.0f}, {1})).item<float>(), std::exp(2.0f) + 1.0f);
  try {
    f(array(std::vector<float>{1.0f, -3.0f}, {2}));
    ADD_FAILURE() << "a NaN passed";
  } catch (const FloatingPointError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("primitive sqrt made the first NaN (f32[2]) in jitted function 'nan_maker'"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("debug_nans_test.cpp:" + std::to_string(line)), std::string::npos) << m;
  }
}

TEST(DebugNans, AnArgumentThatHoldsANanIsNamedAsSuch) {
  KILN_REQUIRE_DEBUG_NANS();
  auto f = jit([](const Array& x) { return x + 1.0; }, {.name = "adder"});
  try {
    f(array(std::vector<float>{NAN}, {1}));
    ADD_FAILURE() << "a NaN passed";
  } catch (const FloatingPointError& e) {
    EXPECT_NE(std::string(e.what()).find("an argument of jitted function 'adder' (f32[1]) already "
                                         "holds a NaN"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kiln
