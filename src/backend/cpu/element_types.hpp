// C++ element types of kiln's dtypes as kernels use them: the type arithmetic happens in
// (float for the 16-bit floats), loads/stores between the two, and dtype sets as bit masks.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kiln/dtype.hpp"

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

// Calls f.template operator()<T>() for every type kernels compute on, in DType order. complex64
// and complex128 are storage only (kiln/dtype.hpp): absent here, so no dtype mask holds them and
// the kernel table refuses every primitive on them.
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

using DTypeMask = uint16_t;
static_assert(kNumDTypes <= 16, "DTypeMask has one bit per dtype");

constexpr DTypeMask bit(DType t) {
  return static_cast<DTypeMask>(1u << static_cast<int>(t));
}

// The dtypes whose storage type satisfies Pred.
template <template <class> class Pred>
constexpr DTypeMask mask_of() {
  DTypeMask m = 0;
  for_each_type([&]<class T>() {
    if (Pred<T>::value) m |= bit(dtype_of<T>());
  });
  return m;
}

template <class T>
struct IsFloat : std::bool_constant<kIsFloat<T>> {};
template <class T>
struct IsInt : std::bool_constant<kIsInt<T>> {};
template <class T>
struct IsNumeric : std::bool_constant<!kIsBool<T>> {};
template <class T>
struct IsAny : std::true_type {};
template <class T>
struct IsBitwise : std::bool_constant<!kIsFloat<T>> {};  // bool and ints

inline constexpr DTypeMask kFloats = mask_of<IsFloat>();
inline constexpr DTypeMask kInts = mask_of<IsInt>();
inline constexpr DTypeMask kNumeric = mask_of<IsNumeric>();
inline constexpr DTypeMask kAll = mask_of<IsAny>();
inline constexpr DTypeMask kBitwise = mask_of<IsBitwise>();

// The unsigned integer type of an element's width: shape kernels move bytes, not values.
template <size_t Width>
using word_t = std::conditional_t<
    Width == 1, uint8_t,
    std::conditional_t<Width == 2, uint16_t, std::conditional_t<Width == 4, uint32_t, uint64_t>>>;

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
    default:
      return f.template operator()<8>();
  }
}

}  // namespace kiln::cpu
