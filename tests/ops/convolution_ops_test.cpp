// The convolution and window API (src/ops/convolution.cpp): lax.padtype_to_pads, the string
// dimension numbers, dtype promotion and the errors, each naming the caller's line.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kiln/kiln.hpp"

namespace kiln {
namespace {

using Pads = std::vector<std::pair<int64_t, int64_t>>;

Pads pads(std::vector<int64_t> in, std::vector<int64_t> window, std::vector<int64_t> strides,
          const char* kind) {
  return padtype_to_pads(in, window, strides, kind);
}

TEST(PadtypeToPads, SameSplitsTheTotalWithTheOddOneHighAsLax) {
  // lax: out = ceil(in / stride), total = max((out - 1) * stride + window - in, 0).
  EXPECT_EQ(pads({28, 28}, {3, 3}, {1, 1}, "SAME"), (Pads{{1, 1}, {1, 1}}));
  EXPECT_EQ(pads({6, 5}, {3, 2}, {2, 2}, "SAME"), (Pads{{0, 1}, {0, 1}}));
  EXPECT_EQ(pads({7}, {4}, {1}, "SAME"), (Pads{{1, 2}}));
  EXPECT_EQ(pads({7}, {4}, {1}, "SAME_LOWER"), (Pads{{2, 1}}));
  EXPECT_EQ(pads({4}, {1}, {3}, "SAME"), (Pads{{0, 0}}));  // never negative
  EXPECT_EQ(pads({7, 3}, {4, 5}, {1, 2}, "VALID"), (Pads{{0, 0}, {0, 0}}));
  EXPECT_EQ(pads({7}, {4}, {1}, "same"), (Pads{{1, 2}}));
  EXPECT_THROW(pads({7}, {4}, {1}, "FULL"), ValueError);
  EXPECT_THROW(pads({7, 7}, {4}, {1}, "SAME"), ShapeError);
}

TEST(ConvGeneralDilated, SpecLettersMatchSpatialDimsByName) {
  // The same convolution with the kernel's spatial dims listed W before H: lhs and out follow the
  // rhs's order, so the result is the same array (up to float32 summation order).
  Array x = random::normal(random::key(0), {1, 5, 4, 2});
  Array k = random::normal(random::key(1), {3, 2, 2, 3});
  Array y = conv_general_dilated(x, k, {.window_strides = {2, 1}});
  Array y2 = conv_general_dilated(x, transpose(k, {1, 0, 2, 3}),
                                  {.window_strides = {1, 2}, .rhs_spec = "WHIO"});
  EXPECT_EQ(y.shape(), y2.shape());
  auto a = y.to_vector<float>(), b = y2.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5f) << i;  // summation order
}

TEST(ConvGeneralDilated, PromotesOperandsAsDotGeneral) {
  Array y = conv_general_dilated(ones({1, 3, 3, 1}, int32), ones({2, 2, 1, 1}, float32));
  EXPECT_EQ(y.dtype(), float32);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{4, 4, 4, 4}));
  EXPECT_EQ(conv_general_dilated(ones({1, 3, 3, 1}, bfloat16), ones({2, 2, 1, 1}, float64)).dtype(),
            float64);
}

TEST(ConvGeneralDilated, BadArgumentsAreTypedErrorsNamingTheLine) {
  Array x = ones({1, 4, 4, 2}), k = ones({3, 3, 2, 5});
  auto expect_line = [](auto&& call, const char* what) {
    try {
      call();
      ADD_FAILURE() << what << ": no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("convolution_ops_test.cpp"), std::string::npos)
          << what << ": " << e.what();
    }
  };
  expect_line([&] { (void)conv_general_dilated(x, k, {.lhs_spec = "NHWX"}); }, "unknown letter");
  expect_line([&] { (void)conv_general_dilated(x, k, {.rhs_spec = "HWIIO"}); }, "spec length");
  expect_line([&] { (void)conv_general_dilated(x, k, {.padding = {{1, 1}}}); }, "padding pairs");
  expect_line([&] { (void)conv_general_dilated(x, k, {.feature_group_count = 2}); }, "groups");
  expect_line([&] { (void)conv_general_dilated(x, ones({3, 3, 5})); }, "rank");
  expect_line([&] { (void)conv_general_dilated(x, k, {.window_strides = {0, 1}}); }, "stride 0");
  EXPECT_THROW((void)conv_general_dilated(x, k, {.lhs_spec = "NHWX"}), ValueError);
  EXPECT_THROW((void)conv_general_dilated(x, k, {.feature_group_count = 2}), ShapeError);
  EXPECT_THROW((void)conv_general_dilated(x > 0.5, k > 0.5), DTypeError);
}

TEST(ReduceWindow, ApiDefaultsAndErrors) {
  Array x = reshape(arange(12, float32), {3, 4});
  // Empty strides: 1; empty padding: 0.
  EXPECT_EQ(reduce_window_sum(x, {1, 2}, {}, {}).shape(), (Shape{3, 3}));
  EXPECT_EQ(reduce_window_max(x, {2, 2}, {1, 2}, {}).to_vector<float>(),
            (std::vector<float>{5, 7, 9, 11}));
  EXPECT_THROW((void)reduce_window_max(x, {2}, {}, {}), ShapeError);
  EXPECT_THROW((void)reduce_window_max(x, {2, 0}, {}, {}), ShapeError);
  EXPECT_THROW((void)reduce_window_sum(x, {2, 2}, {1, 1}, {{0, 0}}), ShapeError);
  EXPECT_THROW((void)reduce_window_sum(x, {2, 2}, {1, 1}, {{-4, 0}, {0, 0}}), ShapeError);
  EXPECT_EQ(rev(x, {-1}).to_vector<float>()[0], 3.0f);
}

}  // namespace
}  // namespace kiln
