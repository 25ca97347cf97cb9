// jit's static arguments (JAX's static_argnums, by type here): integers, bools, enums and strings
// reach the function as values and are part of the cache key. And the donated-array error names
// the call that donated the array and the line that used it again.
#include <gtest/gtest.h>

#include <string>

#include "kiln/jit.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

enum class Mode { scale, shift };

TEST(JitStatic, IntsBoolsEnumsAndStringsAreStaticAndKeyTheCache) {
  int traces = 0;
  auto f = jit([&](const Array& x, int n, bool negate, Mode mode, const std::string& tag) {
    ++traces;
    Array y = mode == Mode::scale ? x * static_cast<double>(n) : x + static_cast<double>(n);
    if (tag == "twice") y = y * 2.0;
    return negate ? -y : y;
  });
  Array x = array({1.f, 2.f}, {2});
  EXPECT_EQ(f(x, 3, false, Mode::scale, std::string("once")).to_vector<float>(),
            (std::vector<float>{3, 6}));
  EXPECT_EQ(f(x, 3, false, Mode::scale, std::string("once")).to_vector<float>(),
            (std::vector<float>{3, 6}));
  EXPECT_EQ(traces, 1);  // same values: the cached executable
  EXPECT_EQ(f(x, 4, false, Mode::scale, std::string("once")).to_vector<float>(),
            (std::vector<float>{4, 8}));
  EXPECT_EQ(f(x, 4, true, Mode::scale, std::string("once")).to_vector<float>(),
            (std::vector<float>{-4, -8}));
  EXPECT_EQ(f(x, 4, true, Mode::shift, std::string("once")).to_vector<float>(),
            (std::vector<float>{-5, -6}));
  EXPECT_EQ(f(x, 4, true, Mode::shift, std::string("twice")).to_vector<float>(),
            (std::vector<float>{-10, -12}));
  EXPECT_EQ(traces, 5);
  EXPECT_EQ(f.cache_size(), 5u);
}

TEST(JitStatic, AStringLiteralIsStaticToo) {
  auto f = jit(
      [](const Array& x, const char* op) { return std::string(op) == "square" ? square(x) : x; });
  EXPECT_EQ(f(array({3.f}, {1}), "square").to_vector<float>(), std::vector<float>{9});
  EXPECT_EQ(f(array({3.f}, {1}), "same").to_vector<float>(), std::vector<float>{3});
  EXPECT_EQ(f.cache_size(), 2u);
}

Array decay(const Array& m, const Array& g) {
  return m * 0.9 + g;
}

TEST(JitDonationLines, TheErrorNamesTheDonatingCallAndTheReuse) {
  auto f = jit(decay, {.donate_argnums = {0}});
  Array m = full({4}, 1.0);
  const int call_line = __LINE__ + 1;
  Array out = f(m, full({4}, 0.5));
  const int reuse_line = __LINE__ + 2;
  try {
    (void)m.to_vector<float>();
    FAIL() << "a donated array was read";
  } catch (const ValueError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("jit_static_test.cpp:" + std::to_string(call_line) + " (donate_argnums)"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("jit_static_test.cpp:" + std::to_string(reuse_line) + ")"),
              std::string::npos)
        << what;
  }
  // Passed to the jitted function again: the error names that second call.
  const int second_call = __LINE__ + 2;
  try {
    (void)f(m, full({4}, 0.5));
    FAIL() << "a donated array was passed again";
  } catch (const ValueError& e) {
    EXPECT_NE(
        std::string(e.what()).find("jit_static_test.cpp:" + std::to_string(second_call) + ")"),
        std::string::npos)
        << e.what();
  }
  EXPECT_EQ(out.to_vector<float>(), std::vector<float>(4, 1.4f));
}

}  // namespace
}  // namespace kiln
