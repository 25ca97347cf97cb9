#include <gtest/gtest.h>

#include "kiln/dtype.hpp"
#include "kiln/error.hpp"

namespace kiln {
namespace {

// Expected values from JAX's promotion table (jax.numpy.promote_types, x64 enabled), with int16,
// uint16 and uint64 absent from kiln: where JAX answers int16, kiln answers the next bound, int32.
TEST(DType, PromotionFollowsJaxLattice) {
  EXPECT_EQ(promote(float32, float32), float32);
  EXPECT_EQ(promote(float32, float64), float64);
  EXPECT_EQ(promote(bfloat16, float16), float32);
  EXPECT_EQ(promote(bfloat16, bfloat16), bfloat16);
  EXPECT_EQ(promote(int32, float32), float32);
  EXPECT_EQ(promote(int64, bfloat16), bfloat16);
  EXPECT_EQ(promote(int8, int32), int32);
  EXPECT_EQ(promote(uint8, int8), int32);  // JAX: int16
  EXPECT_EQ(promote(uint32, int32), int64);
  EXPECT_EQ(promote(uint32, int8), int64);
  EXPECT_EQ(promote(uint8, uint32), uint32);
  EXPECT_EQ(promote(bool_, uint8), uint8);
  EXPECT_EQ(promote(bool_, float16), float16);
  EXPECT_EQ(promote(bool_, bool_), bool_);
}

TEST(DType, PromotionIsSymmetric) {
  for (int a = 0; a < kNumDTypes; ++a)
    for (int b = 0; b < kNumDTypes; ++b)
      EXPECT_EQ(promote(static_cast<DType>(a), static_cast<DType>(b)),
                promote(static_cast<DType>(b), static_cast<DType>(a)));
}

TEST(DType, WeakScalarsAdaptToTheArray) {
  EXPECT_EQ(promote_weak(float32, WeakKind::floating), float32);  // x * 2.0 keeps float32
  EXPECT_EQ(promote_weak(bfloat16, WeakKind::floating), bfloat16);
  EXPECT_EQ(promote_weak(int32, WeakKind::floating), float32);
  EXPECT_EQ(promote_weak(int8, WeakKind::integer), int8);
  EXPECT_EQ(promote_weak(bool_, WeakKind::integer), int32);
  EXPECT_EQ(promote_weak(float16, WeakKind::integer), float16);
}

TEST(DType, NamesRoundTripAndUnknownNamesAreErrors) {
  for (int a = 0; a < kNumDTypes; ++a)
    EXPECT_EQ(dtype_from_name(name(static_cast<DType>(a))), static_cast<DType>(a));
  EXPECT_EQ(name(bool_), "bool");
  EXPECT_EQ(short_name(bfloat16), "bf16");
  EXPECT_EQ(itemsize(int64), 8u);
  try {
    dtype_from_name("float8");
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("float8"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos);
  }
}

TEST(DType, Bfloat16RoundsToNearestEven) {
  EXPECT_EQ(to_bf16(1.0f).bits, 0x3f80);
  // 1 + 2^-8 is exactly halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(to_bf16(1.00390625f).bits, 0x3f80);
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
  EXPECT_EQ(to_bf16(1.01171875f).bits, 0x3f82);
  EXPECT_FLOAT_EQ(to_float(to_bf16(3.14159f)), 3.140625f);
  EXPECT_EQ(to_f16(1.0f).bits, 0x3c00);
  EXPECT_EQ(to_f16(65504.0f).bits, 0x7bff);
  EXPECT_FLOAT_EQ(to_float(to_f16(0.1f)), 0.0999755859375f);
}

TEST(DType, ScalarsKeepExactBitsPerDType) {
  EXPECT_EQ(Scalar::from_int(0x3F800000, uint32).to_int(), 0x3F800000);
  EXPECT_EQ(Scalar::from_int(-5, int8).to_int(), -5);
  EXPECT_DOUBLE_EQ(Scalar::from_double(0.1, float64).to_double(), 0.1);
  EXPECT_DOUBLE_EQ(Scalar::from_double(0.1, float32).to_double(), static_cast<double>(0.1f));
  EXPECT_EQ(Scalar::from_int((int64_t{1} << 60) + 1, int64).to_int(), (int64_t{1} << 60) + 1);
}

}  // namespace
}  // namespace kiln
