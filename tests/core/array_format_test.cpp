// Text forms of arrays. Every expected string below was derived by hand from numpy's printing
// algorithm with its default options (numpy/_core/arrayprint.py: array2string, _formatArray,
// FloatingFormat 'maxprec' with precision 8, IntegerFormat, BoolFormat; linewidth 75, threshold
// 1000, edgeitems 3) and from JAX's ArrayImpl.__repr__ (jax/_src/array.py), which calls
// np.array2string(x, prefix="Array(", suffix=",", separator=", "). The derivation of each one is in
// the comment above it. Several are outputs widely quoted in numpy's and JAX's own documentation.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "core/array_format.hpp"

namespace kiln {
namespace {

std::string str_f32(const std::vector<float>& v, Shape s) {
  return format_str(v.data(), float32, s);
}
std::string repr_f32(const std::vector<float>& v, Shape s) {
  return format_repr(v.data(), float32, s);
}

TEST(ArrayFormat, Float32Row) {
  // Whole numbers print as "1." (Dragon4 with trim '.'); every element has int width 1, frac 0.
  std::vector<float> v{1, 2, 3, 4};
  EXPECT_EQ(str_f32(v, {1, 4}), "[[1. 2. 3. 4.]]");
  // JAX: the same body with separator ", ", then ", dtype=float32)".
  EXPECT_EQ(repr_f32(v, {1, 4}), "Array([[1., 2., 3., 4.]], dtype=float32)");
}

TEST(ArrayFormat, ShortestDigits) {
  // float32 0.1 prints as its shortest round-trip form "0.1" (not 0.100000001).
  EXPECT_EQ(str_f32({0.1f, 1.5f}, {2}), "[0.1 1.5]");
  // Fractions are padded on the right to the longest fraction, ints on the left: "1.5 " "2.25"
  // "-3.  " with pad_left 2 (the "-3"), pad_right 2.
  EXPECT_EQ(str_f32({1.5f, 2.25f, -3.f}, {3}), "[ 1.5   2.25 -3.  ]");
  // 1/3 in float32 is 0.33333334 (8 digits, within the precision-8 cap); "0.1" gets 7 spaces.
  EXPECT_EQ(str_f32({0.1f, 1.f / 3.f}, {2}), "[0.1        0.33333334]");
  // float64 1/3 needs 16 digits; 'maxprec' cuts at 8 and rounds: 0.33333333.
  std::vector<double> d{1.0 / 3.0, 2.0 / 3.0};
  EXPECT_EQ(format_str(d.data(), float64, {2}), "[0.33333333 0.66666667]");
}

TEST(ArrayFormat, ZeroDim) {
  // str of a 0-d array is the str of its numpy scalar (scalartypes.c): positional, shortest,
  // one zero kept after the point.
  float x = 1.8357873f;
  EXPECT_EQ(format_str(&x, float32, {}), "1.8357873");
  float y = 0.947667f;
  EXPECT_EQ(format_str(&y, float32, {}), "0.947667");
  float one = 1.f;
  EXPECT_EQ(format_str(&one, float32, {}), "1.0");
  float small = 1e-5f;
  EXPECT_EQ(format_str(&small, float32, {}), "1e-05");
  // JAX's repr of a 0-d array goes through array2string: FloatingFormat of the one value.
  EXPECT_EQ(format_repr(&y, float32, {}), "Array(0.947667, dtype=float32)");
  EXPECT_EQ(format_repr(&one, float32, {}), "Array(1., dtype=float32)");
  int32_t i = -7;
  EXPECT_EQ(format_str(&i, int32, {}), "-7");
  EXPECT_EQ(format_repr(&i, int32, {}), "Array(-7, dtype=int32)");
  bool b = true;
  EXPECT_EQ(format_str(&b, bool_, {}), "True");
  // BoolFormat drops the leading space for 0-d data.
  EXPECT_EQ(format_repr(&b, bool_, {}), "Array(True, dtype=bool)");
}

TEST(ArrayFormat, Scientific) {
  // min nonzero |x| < 1e-4 switches to scientific; fractions "" and "" -> precision 0, exponent
  // digits 2, point kept.
  EXPECT_EQ(str_f32({1e-5f, 1.0f}, {2}), "[1.e-05 1.e+00]");
  // max/min > 1e3: 1e-5 prints "1", 1.5 prints "1.5" -> precision 1, zeros pad the mantissa.
  EXPECT_EQ(str_f32({1e-5f, 1.5f}, {2}), "[1.0e-05 1.5e+00]");
  // max >= 1e8: float32 1e10 is exact (2^10 * 9765625); 12345.678 rounds to the float32
  // 12345.678 (shortest "1.2345678e+04").
  EXPECT_EQ(str_f32({1e10f, 12345.678f}, {2}), "[1.0000000e+10 1.2345678e+04]");
  // numpy >= 2.3 switches at 10**min(8, finfo(dtype).precision): 1e6 for float32 (finfo
  // precision 6), 1e3 for float16 (precision 3), 1e8 for float64; the ratio here is only 2.
  EXPECT_EQ(str_f32({1e6f, 2e6f}, {2}), "[1.e+06 2.e+06]");
  EXPECT_EQ(str_f32({999999.f, 2e5f}, {2}), "[999999. 200000.]");
  std::vector<f16> h{to_f16(1000.f), to_f16(2000.f)};
  EXPECT_EQ(format_str(h.data(), float16, {2}), "[1.e+03 2.e+03]");
  std::vector<double> big{1e6, 2e6};
  EXPECT_EQ(format_str(big.data(), float64, {2}), "[1000000. 2000000.]");
  // A three-digit exponent widens every exponent (exp_size = 3).
  std::vector<double> d{1e100, 1e-5};
  EXPECT_EQ(format_str(d.data(), float64, {2}), "[1.e+100 1.e-005]");
}

TEST(ArrayFormat, NonFinite) {
  // finite part "1." (pad_left 1, pad_right 0); with -inf present pad_left becomes
  // max(1, 3 - 1, 3 + 1 - 1) = 3, and non-finite values are right-aligned to pad_left + 1.
  float nan = std::numeric_limits<float>::quiet_NaN();
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(str_f32({1.f, nan, -inf}, {3}), "[  1.  nan -inf]");
  EXPECT_EQ(str_f32({nan, inf}, {2}), "[nan inf]");
  EXPECT_EQ(format_str(&nan, float32, {}), "nan");
}

TEST(ArrayFormat, ThreeD) {
  // Rows separated by "\n", 2-d blocks by "\n\n"; each level of nesting indents by one space.
  std::vector<float> v{1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(str_f32(v, {2, 2, 2}), "[[[1. 2.]\n  [3. 4.]]\n\n [[5. 6.]\n  [7. 8.]]]");
  // JAX: the separator's "," ends each row and "Array(" indents the continuation by 7.
  EXPECT_EQ(repr_f32(v, {2, 2, 2}),
            "Array([[[1., 2.],\n"
            "        [3., 4.]],\n"
            "\n"
            "       [[5., 6.],\n"
            "        [7., 8.]]], dtype=float32)");
  EXPECT_EQ(str_f32({1, 2, 3, 4}, {2, 2}), "[[1. 2.]\n [3. 4.]]");
}

TEST(ArrayFormat, Bool) {
  // BoolFormat: " True" so it lines up with "False", even when every element is True.
  bool v[] = {true, false};
  EXPECT_EQ(format_str(v, bool_, {2}), "[ True False]");
  EXPECT_EQ(format_repr(v, bool_, {2}), "Array([ True, False], dtype=bool)");
  bool w[] = {true, true};
  EXPECT_EQ(format_str(w, bool_, {2}), "[ True  True]");
}

TEST(ArrayFormat, Int32Negatives) {
  // IntegerFormat: width = max(len(str(max)), len(str(min))) = len("-100") = 4, right-aligned.
  int32_t v[] = {-1, 10, -100};
  EXPECT_EQ(format_str(v, int32, {3}), "[  -1   10 -100]");
  EXPECT_EQ(format_repr(v, int32, {3}), "Array([  -1,   10, -100], dtype=int32)");
  int32_t w[] = {1, 2};
  EXPECT_EQ(format_repr(w, int32, {2}), "Array([1, 2], dtype=int32)");
}

TEST(ArrayFormat, BFloat16) {
  // ml_dtypes' bfloat16 is not an np.floating, so numpy prints each element with the scalar's
  // repr, which ml_dtypes writes with `std::ostream << float` ("%g", 6 significant digits), and
  // pads nothing. 1 + 2^-7 = 1.0078125 -> "1.00781".
  std::vector<bf16> v{to_bf16(1.f), to_bf16(0.5f), to_bf16(1.0078125f), to_bf16(-3.f)};
  EXPECT_EQ(format_str(v.data(), bfloat16, {4}), "[1 0.5 1.00781 -3]");
  EXPECT_EQ(format_repr(v.data(), bfloat16, {4}), "Array([1, 0.5, 1.00781, -3], dtype=bfloat16)");
  bf16 s = to_bf16(2.f);
  EXPECT_EQ(format_str(&s, bfloat16, {}), "2");
  EXPECT_EQ(format_repr(&s, bfloat16, {}), "Array(2, dtype=bfloat16)");
}

TEST(ArrayFormat, Float16) {
  // float16 is an np.floating: FloatingFormat with the shortest digits that round-trip in half
  // precision. The half nearest 0.1 is 0.0999755859375, shortest "0.1"; nearest 1/3 is
  // 0.333251953125, shortest "0.3333" (0.333 reads back as the half 0.3330078125).
  std::vector<f16> v{to_f16(0.1f), to_f16(1.f / 3.f), to_f16(2.f)};
  EXPECT_EQ(format_str(v.data(), float16, {3}), "[0.1    0.3333 2.    ]");
  f16 s = to_f16(0.1f);
  EXPECT_EQ(format_str(&s, float16, {}), "0.1");
}

TEST(ArrayFormat, Summarised) {
  // 2000 > threshold 1000: edgeitems 3 each side. Shown values 0 1 2 1997 1998 1999: max/min =
  // 1999 > 1e3, so scientific; longest mantissa fraction "997" -> precision 3. This is numpy's
  // well-known print of np.arange(2000.).
  std::vector<float> v(2000);
  std::iota(v.begin(), v.end(), 0.f);
  EXPECT_EQ(str_f32(v, {2000}),
            "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]");
  EXPECT_EQ(repr_f32(v, {2000}),
            "Array([0.000e+00, 1.000e+00, 2.000e+00, ..., 1.997e+03, 1.998e+03,\n"
            "       1.999e+03], dtype=float32)");
  std::vector<int32_t> iv(2000);
  std::iota(iv.begin(), iv.end(), 0);
  EXPECT_EQ(format_str(iv.data(), int32, {2000}), "[   0    1    2 ... 1997 1998 1999]");
  // 2-d: rows and columns summarised; the width comes from the shown elements only (max 1999).
  EXPECT_EQ(format_str(iv.data(), int32, {40, 50}),
            "[[   0    1    2 ...   47   48   49]\n"
            " [  50   51   52 ...   97   98   99]\n"
            " [ 100  101  102 ...  147  148  149]\n"
            " ...\n"
            " [1850 1851 1852 ... 1897 1898 1899]\n"
            " [1900 1901 1902 ... 1947 1948 1949]\n"
            " [1950 1951 1952 ... 1997 1998 1999]]");
  // Exactly 1000 elements is not summarised (size > threshold summarises).
  std::vector<int32_t> k(1000, 0);
  std::string full = format_str(k.data(), int32, {1000});
  EXPECT_EQ(full.find("..."), std::string::npos);
}

TEST(ArrayFormat, LongRowWraps) {
  // np.arange(30.): elements " 0." .. "29." (3 wide). str: the row may reach 75 - len("]") = 74
  // columns; the line starts with a 1-space hanging indent and each word adds 4, so the 19th word
  // would end at column 76 and wraps: 18 per line.
  std::vector<float> v(30);
  std::iota(v.begin(), v.end(), 0.f);
  EXPECT_EQ(str_f32(v, {30}),
            "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n"
            " 18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]");
  // repr: width 75 - len(",") - len(",") = 73 for elements, 7-space indent, 5 columns per element:
  // 13 per line, as numpy's own `array([ 0.,  1., ...` repr of np.arange(30.).
  EXPECT_EQ(repr_f32(v, {30}),
            "Array([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12.,\n"
            "       13., 14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25.,\n"
            "       26., 27., 28., 29.], dtype=float32)");
}

TEST(ArrayFormat, ReprLongLastLine) {
  // np.arange(13.) fits one line of array2string: s = "[ 0.,  1., ... 12.]", 65 characters.
  // JAX computes last_line_len = len(s) - s.rfind('\n') + 1 = 67 and, as 67 + len("dtype=float32)")
  // + 1 > 75, separates the dtype with len("Array(") spaces instead of one.
  std::vector<float> v(13);
  std::iota(v.begin(), v.end(), 0.f);
  EXPECT_EQ(repr_f32(v, {13}),
            "Array([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12.],      "
            "dtype=float32)");
}

TEST(ArrayFormat, Empty) {
  float dummy = 0;
  EXPECT_EQ(format_str(&dummy, float32, {0}), "[]");
  EXPECT_EQ(format_repr(&dummy, float32, {2, 0}), "Array([], shape=(2, 0), dtype=float32)");
}

// ---- int16, uint16, uint64: IntegerFormat, right-aligned to the widest ----

TEST(ArrayFormat, NewIntegerDtypes) {
  std::vector<int16_t> i16{-32768, 7};
  EXPECT_EQ(format_str(i16.data(), int16, {2}), "[-32768      7]");
  EXPECT_EQ(format_repr(i16.data(), int16, {2}), "Array([-32768,      7], dtype=int16)");
  std::vector<uint16_t> u16{65535, 0};
  EXPECT_EQ(format_str(u16.data(), uint16, {2}), "[65535     0]");
  // uint64's maximum prints unsigned, 20 digits wide.
  std::vector<uint64_t> u64{18446744073709551615ull, 0};
  EXPECT_EQ(format_str(u64.data(), uint64, {2}), "[18446744073709551615                    0]");
  EXPECT_EQ(format_str(u64.data(), uint64, {}), "18446744073709551615");
}

// ---- complex: ComplexFloatingFormat = FloatingFormat of the real parts + FloatingFormat of the
// imaginary parts with sign='+', "j" put before the imaginary part's right padding ----

TEST(ArrayFormat, Complex64Row) {
  // Reals [1, 3]: "1." "3."; imaginaries [2, -4] signed: "+2." "-4.".
  std::vector<std::complex<float>> v{{1, 2}, {3, -4}};
  EXPECT_EQ(format_str(v.data(), complex64, {2}), "[1.+2.j 3.-4.j]");
  EXPECT_EQ(format_repr(v.data(), complex64, {2}), "Array([1.+2.j, 3.-4.j], dtype=complex64)");
}

TEST(ArrayFormat, Complex128PadsEachPartAsItsOwnColumn) {
  // Reals [0.5, -1.25]: pad_left 2 ("-1"), pad_right 2 ("25"): " 0.5 " and "-1.25".
  // Imaginaries [1, -0.5] signed: int parts "+1" "-0", pad_right 1: "+1. " and "-0.5"; the j goes
  // before the padding: "+1.j " and "-0.5j".
  std::vector<std::complex<double>> v{{0.5, 1}, {-1.25, -0.5}};
  EXPECT_EQ(format_str(v.data(), complex128, {2}), "[ 0.5 +1.j  -1.25-0.5j]");
  EXPECT_EQ(format_repr(v.data(), complex128, {2}),
            "Array([ 0.5 +1.j , -1.25-0.5j], dtype=complex128)");
}

TEST(ArrayFormat, ComplexZeroDim) {
  // str of a 0-d array is the scalar's str (scalartypes.c): parenthesised, ".0" trimmed, and just
  // the imaginary part when the real part is +0.
  std::complex<float> a{1, 2};
  EXPECT_EQ(format_str(&a, complex64, {}), "(1+2j)");
  std::complex<double> b{1.5, -0.25};
  EXPECT_EQ(format_str(&b, complex128, {}), "(1.5-0.25j)");
  std::complex<double> c{0, 2};
  EXPECT_EQ(format_str(&c, complex128, {}), "2j");
  std::complex<double> d{-0.0, 2};
  EXPECT_EQ(format_str(&d, complex128, {}), "(-0+2j)");
  // repr of a 0-d array goes through array2string: "1.+2.j".
  EXPECT_EQ(format_repr(&a, complex64, {}), "Array(1.+2.j, dtype=complex64)");
}

TEST(ArrayFormat, ComplexNonFinite) {
  // Imaginary parts [nan, 1] signed: "+nan" padded to pad_left + pad_right + 1; numpy counts a
  // possible "-inf" too (neginf is true with sign '+'), so pad_left is max(2, 4 - 1) = 3.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::complex<double>> v{{1, nan}, {2, 1}};
  EXPECT_EQ(format_str(v.data(), complex128, {2}), "[1.+nanj 2. +1.j]");
}

}  // namespace
}  // namespace kiln
