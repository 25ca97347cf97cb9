// C++ element types of kiln's dtypes as kernels use them: the type arithmetic happens in
// (float for the 16-bit floats) and loads/stores between the two.
#pragma once

#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kiln/dtype.hpp"
#include "kiln/ir.hpp"

namespace kiln::cpu {

template <class T>
inline constexpr bool kIsHalf = std::is_same_v<T, bf16> || std::is_same_v<T, f16>;
template <class T>
inline constexpr bool kIsFloat = kIsHalf<T> || std::is_floating_point_v<T>;
template <class T>
inline constexpr bool kIsBool = std::is_same_v<T, bool>;
template <class T>
inline constexpr bool kIsInt = std::is_integral_v<T> && !kIsBool<T>;

// bfloat16/float16 are computed in float32 and rounded back (docs/primitives.md).
template <class T>
using compute_t = std::conditional_t<kIsHalf<T>, float, T>;

template <class T>
inline compute_t<T> load(T v) {
  if constexpr (kIsHalf<T>) {
    return to_float(v);
  } else {
    return v;
  }
}

template <class T>
inline T store(compute_t<T> v) {
  if constexpr (std::is_same_v<T, bf16>) {
    return to_bf16(v);
  } else if constexpr (std::is_same_v<T, f16>) {
    return to_f16(v);
  } else {
    return v;
  }
}

// StableHLO's maximum and minimum as XLA's CPU computes them for JAX (IEEE 754-2019 maximum and
// minimum): a NaN operand gives NaN (the first NaN operand), and -0 orders below +0 whichever
// operand holds it, so max(+0, -0) and max(-0, +0) are +0 (jnp.clip(x, min=0) of -0 is +0). Every
// max/min of the cpu — elementwise, absorbed, fused, reductions, windows, scans, scatters — is one
// of these. Selects only, so loops over them vectorize.
template <class C>
inline C max_of(C x, C y) {
  if constexpr (std::is_floating_point_v<C>) {
    // One select (a NaN y fails every comparison and is taken; of a tie, x when y is -0).
    // Spelled so, a loop over two streams runs as fast as the former x > y ? x : y with a NaN
    // test, and with a hoisted scalar y (relu's 0) nearly so: signbit(y) is then loop-invariant
    // (docs/decisions.md).
    return x != x || x > y || (x == y && std::signbit(y)) ? x : y;
  } else {
    return x > y ? x : y;
  }
}
template <class C>
inline C min_of(C x, C y) {
  if constexpr (std::is_floating_point_v<C>) {
    return x != x || x < y || (x == y && !std::signbit(y)) ? x : y;
  } else {
    return x < y ? x : y;
  }
}

// Calls f.template operator()<T>() for every real type kernels compute on, in DType order. The
// complex dtypes have kernels of their own (complex_kernels.cpp, visit_complex below).
template <class F>
constexpr void for_each_type(F&& f) {
  f.template operator()<bool>();
  f.template operator()<uint8_t>();
  f.template operator()<uint16_t>();
  f.template operator()<uint32_t>();
  f.template operator()<uint64_t>();
  f.template operator()<int8_t>();
  f.template operator()<int16_t>();
  f.template operator()<int32_t>();
  f.template operator()<int64_t>();
  f.template operator()<bf16>();
  f.template operator()<f16>();
  f.template operator()<float>();
  f.template operator()<double>();
}

using ir::DTypeMask;

// for_each_type visits exactly the real dtypes a registry row can hold (kiln/ir.hpp).
static_assert(
    [] {
      DTypeMask m = 0;
      for_each_type([&]<class T>() { m |= ir::dtype_bit(dtype_of<T>()); });
      return m;
    }() == ir::kRealDTypes,
    "the kernels' element types and the registry's dtypes differ");

template <class T>
inline constexpr bool kIsComplex =
    std::is_same_v<T, std::complex<float>> || std::is_same_v<T, std::complex<double>>;

// Calls f(T{}) with T = std::complex<float> for complex64, std::complex<double> for complex128
// (numpy's layout: real part, then imaginary part).
template <class F>
decltype(auto) visit_complex(DType t, F&& f) {
  if (t == DType::complex64) return f(std::complex<float>{});
  if (t != DType::complex128) refuse_complex(t, "visit_complex of a real dtype");
  return f(std::complex<double>{});
}

// Sixteen bytes moved as one element (complex128).
struct Word16 {
  uint64_t lo, hi;
};

// The type of an element's width: shape kernels move bytes, not values.
template <size_t Width>
using word_t = std::conditional_t<
    Width == 1, uint8_t,
    std::conditional_t<Width == 2, uint16_t,
                       std::conditional_t<Width == 4, uint32_t,
                                          std::conditional_t<Width == 8, uint64_t, Word16>>>>;

// Calls f.template operator()<Width>() with the itemsize as a compile-time constant.
template <class F>
decltype(auto) visit_width(size_t width, F&& f) {
  switch (width) {
    case 1:
      return f.template operator()<1>();
    case 2:
      return f.template operator()<2>();
    case 4:
      return f.template operator()<4>();
    case 8:
      return f.template operator()<8>();
    default:
      return f.template operator()<16>();
  }
}

}  // namespace kiln::cpu
