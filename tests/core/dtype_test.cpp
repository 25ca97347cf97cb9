#include <gtest/gtest.h>

#include <complex>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "kiln/dtype.hpp"
#include "kiln/error.hpp"

namespace kiln {
namespace {

// JAX's binary promotion table (https://jax.readthedocs.io/en/latest/type_promotion.html), the
// strong-type block, copied row by row in its own order and notation: u1..u8 are uint8..uint64,
// i1..i8 int8..int64, bf/f2/f4/f8 the floats, c8/c16 complex64/complex128, and "f*" JAX's weak
// float, which is float64 with x64 enabled (kiln's semantics: it has int64 and uint64).
TEST(DType, PromotionMatchesJaxsPublishedTable) {
  const char* cols[] = {"b1", "u1", "u2", "u4", "u8", "i1", "i2", "i4",
                        "i8", "bf", "f2", "f4", "f8", "c8", "c16"};
  // One string per row, as the page lays it out: the row's dtype, then its 15 results.
  // clang-format off
  const char* table[] = {
      "b1 b1 u1 u2 u4 u8 i1 i2 i4 i8 bf f2 f4 f8 c8 c16",
      "u1 u1 u1 u2 u4 u8 i2 i2 i4 i8 bf f2 f4 f8 c8 c16",
      "u2 u2 u2 u2 u4 u8 i4 i4 i4 i8 bf f2 f4 f8 c8 c16",
      "u4 u4 u4 u4 u4 u8 i8 i8 i8 i8 bf f2 f4 f8 c8 c16",
      "u8 u8 u8 u8 u8 u8 f* f* f* f* bf f2 f4 f8 c8 c16",
      "i1 i1 i2 i4 i8 f* i1 i2 i4 i8 bf f2 f4 f8 c8 c16",
      "i2 i2 i2 i4 i8 f* i2 i2 i4 i8 bf f2 f4 f8 c8 c16",
      "i4 i4 i4 i4 i8 f* i4 i4 i4 i8 bf f2 f4 f8 c8 c16",
      "i8 i8 i8 i8 i8 f* i8 i8 i8 i8 bf f2 f4 f8 c8 c16",
      "bf bf bf bf bf bf bf bf bf bf bf f4 f4 f8 c8 c16",
      "f2 f2 f2 f2 f2 f2 f2 f2 f2 f2 f4 f2 f4 f8 c8 c16",
      "f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f4 f8 c8 c16",
      "f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 f8 c16 c16",
      "c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c8 c16 c8 c16",
      "c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16 c16",
  };
  // clang-format on
  auto dtype_of_code = [](std::string_view code) {
    static const std::pair<std::string_view, DType> kCodes[] = {
        {"b1", bool_},   {"u1", uint8},   {"u2", uint16},  {"u4", uint32},    {"u8", uint64},
        {"i1", int8},    {"i2", int16},   {"i4", int32},   {"i8", int64},     {"bf", bfloat16},
        {"f2", float16}, {"f4", float32}, {"f8", float64}, {"c8", complex64}, {"c16", complex128},
        {"f*", float64},  // the weak float, with x64
    };
    for (const auto& [c, t] : kCodes)
      if (c == code) return t;
    throw std::runtime_error("no code " + std::string(code));
  };
  int pairs = 0;
  for (const char* line : table) {
    std::vector<std::string> row;
    std::istringstream words(line);
    for (std::string w; words >> w;) row.push_back(w);
    ASSERT_EQ(row.size(), 16u) << line;
    for (int c = 0; c < 15; ++c) {
      const DType a = dtype_of_code(row[0]), b = dtype_of_code(cols[c]);
      EXPECT_EQ(promote(a, b), dtype_of_code(row[c + 1]))
          << row[0] << " + " << cols[c] << " should be " << row[c + 1];
      ++pairs;
    }
  }
  EXPECT_EQ(pairs, kNumDTypes * kNumDTypes);
}

TEST(DType, PromotionSpotChecksWithNames) {
  EXPECT_EQ(promote(uint8, int8), int16);
  EXPECT_EQ(promote(uint16, int16), int32);
  EXPECT_EQ(promote(uint32, int8), int64);
  EXPECT_EQ(promote(uint64, int64), float64);  // JAX: f*
  EXPECT_EQ(promote(uint64, int8), float64);
  EXPECT_EQ(promote(uint64, bfloat16), bfloat16);
  EXPECT_EQ(promote(float32, complex64), complex64);
  EXPECT_EQ(promote(float64, complex64), complex128);
  EXPECT_EQ(promote(bfloat16, float16), float32);
  EXPECT_EQ(promote(bool_, complex64), complex64);
}

TEST(DType, PromotionIsSymmetric) {
  for (int a = 0; a < kNumDTypes; ++a)
    for (int b = 0; b < kNumDTypes; ++b)
      EXPECT_EQ(promote(static_cast<DType>(a), static_cast<DType>(b)),
                promote(static_cast<DType>(b), static_cast<DType>(a)));
}

TEST(DType, WeakScalarsAdaptToTheArray) {
  EXPECT_EQ(promote_weak(float32, WeakKind::floating), float32);  // x * 2.0 keeps float32
  EXPECT_EQ(promote_weak(complex64, WeakKind::floating), complex64);
  EXPECT_EQ(promote_weak(complex128, WeakKind::integer), complex128);
  EXPECT_EQ(promote_weak(complex64, WeakKind::boolean), complex64);
  EXPECT_EQ(promote_weak(uint16, WeakKind::integer), uint16);
  EXPECT_EQ(promote_weak(uint64, WeakKind::floating), float32);
  EXPECT_EQ(promote_weak(int16, WeakKind::floating), float32);
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
  EXPECT_EQ(dtype_from_name("complex128"), complex128);
  try {
    dtype_from_name("float8");
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("float8"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos);
  }
}

TEST(DType, NewDTypesHaveNumpyAndJaxprNamesAndSizes) {
  struct Row {
    DType t;
    std::string_view name, short_name;
    size_t size;
  };
  const Row rows[] = {
      {int16, "int16", "i16", 2},
      {uint16, "uint16", "u16", 2},
      {uint64, "uint64", "u64", 8},
      {complex64, "complex64", "c64", 8},
      {complex128, "complex128", "c128", 16},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(name(r.t), r.name);
    EXPECT_EQ(short_name(r.t), r.short_name);
    EXPECT_EQ(itemsize(r.t), r.size);
    EXPECT_EQ(dtype_from_name(r.name), r.t);
  }
  EXPECT_EQ(kNumDTypes, 15);
  EXPECT_EQ(dtype_of<std::complex<float>>(), complex64);
  EXPECT_EQ(dtype_of<std::complex<double>>(), complex128);
  EXPECT_EQ(dtype_of<uint16_t>(), uint16);
  EXPECT_EQ(dtype_of<int16_t>(), int16);
  EXPECT_EQ(dtype_of<uint64_t>(), uint64);
}

TEST(DType, PredicatesSortEveryDType) {
  // {floating, complex, integer, signed, unsigned} for each dtype in DType order.
  const bool expect[][5] = {
      {false, false, false, false, false},  // bool
      {false, false, true, false, true},    // uint8
      {false, false, true, false, true},    // uint16
      {false, false, true, false, true},    // uint32
      {false, false, true, false, true},    // uint64
      {false, false, true, true, false},    // int8
      {false, false, true, true, false},    // int16
      {false, false, true, true, false},    // int32
      {false, false, true, true, false},    // int64
      {true, false, false, true, false},    // bfloat16
      {true, false, false, true, false},    // float16
      {true, false, false, true, false},    // float32
      {true, false, false, true, false},    // float64
      {false, true, false, true, false},    // complex64
      {false, true, false, true, false},    // complex128
  };
  for (int i = 0; i < kNumDTypes; ++i) {
    const auto t = static_cast<DType>(i);
    SCOPED_TRACE(std::string(name(t)));
    EXPECT_EQ(is_floating(t), expect[i][0]);
    EXPECT_EQ(is_complex(t), expect[i][1]);
    EXPECT_EQ(is_integer(t), expect[i][2]);
    EXPECT_EQ(is_signed(t), expect[i][3]);
    EXPECT_EQ(is_unsigned(t), expect[i][4]);
  }
}

TEST(DType, ScalarsRefuseComplexAndVisitDTypeNamesIt) {
  for (DType t : {complex64, complex128}) {
    try {
      (void)Scalar::from_double(1.0, t);
      FAIL() << "expected DTypeError";
    } catch (const DTypeError& e) {
      EXPECT_NE(std::string(e.what()).find("Scalar::from_double of dtype " + std::string(name(t))),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("complex(re, im)"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)Scalar::from_int(1, t), DTypeError);
    EXPECT_THROW((void)(Scalar{t, 0}.to_double()), DTypeError);
  }
  try {
    visit_dtype(complex64, [](auto tag) { return sizeof(tag); });
    FAIL() << "expected Unsupported";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("on complex64: this code handles real dtypes only"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(real_dtype(complex64), float32);
  EXPECT_EQ(real_dtype(complex128), float64);
  EXPECT_EQ(real_dtype(int8), int8);
  EXPECT_EQ(complex_dtype(float32), complex64);
  EXPECT_EQ(complex_dtype(float64), complex128);
  EXPECT_THROW((void)complex_dtype(float16), DTypeError);
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
  EXPECT_EQ(Scalar::from_int(-1, uint16).bits, 0xffffu);
  EXPECT_EQ(Scalar::from_int(-32768, int16).to_int(), -32768);
  EXPECT_EQ(Scalar::from_int(-1, uint64).bits, ~uint64_t{0});
  EXPECT_DOUBLE_EQ(Scalar::from_int(-1, uint64).to_double(), 18446744073709551615.0);
}

}  // namespace
}  // namespace kiln
