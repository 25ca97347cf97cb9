// The dtypes added for Flax compatibility, seen through kiln::Array and the eager ops: int16,
// uint16 and uint64 compute like the other integers and promote as JAX does; complex64 and
// complex128 hold and print their values (their arithmetic: tests/ops/complex_ops_test.cpp).
#include <gtest/gtest.h>

#include <complex>
#include <cstdint>
#include <source_location>
#include <string>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/error.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

TEST(NewDTypesArray, Int16AndUint16ComputeEagerlyAndPromoteAsJax) {
  Array a = Array::from_data<int16_t>(std::vector<int16_t>{32767, -3}, {2});
  Array sum = a + 1;  // a weak int keeps int16, and wraps
  EXPECT_EQ(sum.dtype(), int16);
  EXPECT_EQ(sum.to_vector<int16_t>(), (std::vector<int16_t>{-32768, -2}));
  Array u = Array::from_data<uint8_t>(std::vector<uint8_t>{200, 1}, {2});
  Array i = Array::from_data<int8_t>(std::vector<int8_t>{100, -1}, {2});
  Array ui = u + i;  // uint8 + int8 -> int16 (JAX), so 300 fits
  EXPECT_EQ(ui.dtype(), int16);
  EXPECT_EQ(ui.to_vector<int16_t>(), (std::vector<int16_t>{300, 0}));
  Array w = Array::from_data<uint16_t>(std::vector<uint16_t>{65535}, {1});
  EXPECT_EQ(astype(w, float32).item<float>(), 65535.f);
  EXPECT_EQ(w.str(), "[65535]");
}

TEST(NewDTypesArray, Uint64KeepsItsFullRangeAndMeetsSignedIntsAtFloat64) {
  Array u = Array::from_data<uint64_t>(std::vector<uint64_t>{18446744073709551615ull}, {1});
  EXPECT_EQ(u.repr(), "Array([18446744073709551615], dtype=uint64)");
  EXPECT_EQ((u + 1).to_vector<uint64_t>(), (std::vector<uint64_t>{0}));
  Array s = Array::from_data<int64_t>(std::vector<int64_t>{-1}, {1});
  Array m = u + s;  // JAX's weak float f*, float64 with x64
  EXPECT_EQ(m.dtype(), float64);
  EXPECT_EQ(m.item<double>(), 18446744073709551615.0 - 1);
}

TEST(NewDTypesArray, ComplexArraysHoldAndPrintTheirValues) {
  Array c =
      Array::from_data<std::complex<float>>(std::vector<std::complex<float>>{{1, 2}, {3, -4}}, {2});
  EXPECT_EQ(c.dtype(), complex64);
  EXPECT_EQ(c.to_vector<std::complex<float>>()[1], std::complex<float>(3, -4));
  EXPECT_EQ(c.str(), "[1.+2.j 3.-4.j]");
  EXPECT_EQ(c.repr(), "Array([1.+2.j, 3.-4.j], dtype=complex64)");
  Array z = Array::from_data<std::complex<double>>(std::vector<std::complex<double>>{{0.5, 1}}, {});
  EXPECT_EQ(z.str(), "(0.5+1j)");
}

// What an 8-byte Scalar cannot hold is still refused by name: lt has no complex ordering.
TEST(NewDTypesArray, ComplexOrderingIsRefusedNamingTheDtypeAndTheLine) {
  Array c = Array::from_data<std::complex<float>>(std::vector<std::complex<float>>{{1, 2}}, {1});
  const auto loc = std::source_location::current();
  try {
    (void)less(c, c, loc);
    FAIL() << "expected kiln::DTypeError";
  } catch (const DTypeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("got complex64"), std::string::npos) << msg;
    EXPECT_NE(msg.find("new_dtypes_array_test.cpp:" + std::to_string(loc.line())),
              std::string::npos)
        << msg;
  }
}

}  // namespace
}  // namespace kiln
