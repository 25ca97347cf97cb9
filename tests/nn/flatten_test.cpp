// nn::flatten: the batch axis kept, the rest merged in row-major order.
#include <gtest/gtest.h>

#include <vector>

#include "kiln/autodiff.hpp"
#include "kiln/nn.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln {
namespace {

TEST(Flatten, KeepsTheBatchAxisAndMergesTheRest) {
  const Array x = random::normal(random::key(0), {2, 3, 4, 5});
  Array y = nn::flatten(x);
  EXPECT_EQ(y.shape(), (Shape{2, 60}));
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());  // row-major: the same element order
  EXPECT_EQ(nn::flatten(ones({2, 3})).shape(), (Shape{2, 3}));
  EXPECT_EQ(nn::flatten(ones({5})).shape(), (Shape{5, 1}));
  EXPECT_EQ(nn::flatten(ones({0, 3, 2})).shape(), (Shape{0, 6}));
  EXPECT_THROW(nn::flatten(scalar(1.0)), ShapeError);
  EXPECT_THROW(nn::flatten(Array()), ValueError);
  // Its gradient is a reshape back.
  Array g = grad([](const Array& a) { return sum(nn::flatten(a) * 2.0); })(x);
  EXPECT_EQ(g.shape(), x.shape());
  EXPECT_EQ(g.to_vector<float>(), std::vector<float>(120, 2.0f));
}

}  // namespace
}  // namespace kiln
