// Element types, their numpy names, and JAX's type-promotion rules over them.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace kiln {

// Lattice-friendly order: bool, unsigned ints, signed ints, floats, complex, each by width. Nothing
// persists these numbers; loops over dtypes and the backends' dtype bit masks follow this order.
enum class DType : uint8_t {
  bool_,
  uint8,
  uint16,
  uint32,
  uint64,
  int8,
  int16,
  int32,
  int64,
  bfloat16,
  float16,
  float32,
  float64,
  complex64,
  complex128
};

inline constexpr int kNumDTypes = 15;
inline constexpr DType float32 = DType::float32;
inline constexpr DType float64 = DType::float64;
inline constexpr DType bfloat16 = DType::bfloat16;
inline constexpr DType float16 = DType::float16;
inline constexpr DType int8 = DType::int8;
inline constexpr DType int16 = DType::int16;
inline constexpr DType int32 = DType::int32;
inline constexpr DType int64 = DType::int64;
inline constexpr DType uint8 = DType::uint8;
inline constexpr DType uint16 = DType::uint16;
inline constexpr DType uint32 = DType::uint32;
inline constexpr DType uint64 = DType::uint64;
inline constexpr DType complex64 = DType::complex64;
inline constexpr DType complex128 = DType::complex128;
inline constexpr DType bool_ = DType::bool_;

// numpy's name: "float32", "bfloat16", "complex64", "bool", ...
std::string_view name(DType t);
// jaxpr's short name: "f32", "bf16", "u16", "c64", "bool", ...
std::string_view short_name(DType t);
// The dtype called `name` (numpy spelling); throws DTypeError listing the known names.
DType dtype_from_name(std::string_view name);
size_t itemsize(DType t);
bool is_floating(DType t);  // real floats only: bfloat16, float16, float32, float64
bool is_complex(DType t);   // complex64, complex128
bool is_integer(DType t);   // signed or unsigned, not bool
bool is_signed(DType t);    // signed ints, floats and complex
bool is_unsigned(DType t);  // uint8 ... uint64

// The kind of a C++ scalar written at the API (JAX's "weak type"): it adapts to the other operand.
enum class WeakKind : uint8_t { none, boolean, integer, floating };

// JAX's promotion (jax.numpy.promote_types with x64 enabled): the least upper bound on its type
// lattice. uint64 with a signed int meets at JAX's weak float node, which is float64 here.
DType promote(DType a, DType b);
// The dtype of `array_dtype op weak_scalar`: a weak scalar keeps the array's dtype unless the kinds
// differ (int array * 2.0 -> float32, bool array + 1 -> int32; complex arrays keep theirs).
DType promote_weak(DType array_dtype, WeakKind weak);

// The dtype of a complex dtype's parts (complex64 -> float32, complex128 -> float64); a real
// dtype is its own.
DType real_dtype(DType t);
// The complex dtype whose parts have dtype t (float32 -> complex64, float64 -> complex128; a
// complex t is its own). Throws DTypeError for other dtypes, as lax.complex does.
DType complex_dtype(DType t);
// Code that handles real elements only (visit_dtype, Scalar) meeting a complex dtype: throws the
// Unsupported error naming `what` and the dtype (a kiln bug where a registry row admits complex).
[[noreturn]] void refuse_complex(DType t, std::string_view what);

// 16-bit float storage: IEEE half and bfloat16, round-to-nearest-even.
struct bf16 {
  uint16_t bits;  // trivial, so buffers of them can be memcpy-ed; bf16{} is zero
};
struct f16 {
  uint16_t bits;  // trivial, so buffers of them can be memcpy-ed; bf16{} is zero
};
float to_float(bf16 v);
float to_float(f16 v);
bf16 to_bf16(float v);
f16 to_f16(float v);

// Calls f(T{}) with T the C++ storage type of t (bool, uint8_t, ..., bf16, f16, float, double):
// the types kernels compute in. A complex t throws (refuse_complex), so no caller instantiates its
// code for complex; kernels of complex dtypes dispatch to std::complex<float/double> themselves.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::bool_:
      return f(bool{});
    case DType::uint8:
      return f(uint8_t{});
    case DType::uint16:
      return f(uint16_t{});
    case DType::uint32:
      return f(uint32_t{});
    case DType::uint64:
      return f(uint64_t{});
    case DType::int8:
      return f(int8_t{});
    case DType::int16:
      return f(int16_t{});
    case DType::int32:
      return f(int32_t{});
    case DType::int64:
      return f(int64_t{});
    case DType::bfloat16:
      return f(bf16{});
    case DType::float16:
      return f(f16{});
    case DType::float32:
      return f(float{});
    case DType::float64:
      break;
    case DType::complex64:
    case DType::complex128:
      refuse_complex(t, "this operation");
  }
  return f(double{});
}

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<bool>() {
  return DType::bool_;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::uint8;
}
template <>
constexpr DType dtype_of<uint16_t>() {
  return DType::uint16;
}
template <>
constexpr DType dtype_of<uint32_t>() {
  return DType::uint32;
}
template <>
constexpr DType dtype_of<uint64_t>() {
  return DType::uint64;
}
template <>
constexpr DType dtype_of<int8_t>() {
  return DType::int8;
}
template <>
constexpr DType dtype_of<int16_t>() {
  return DType::int16;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::int32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::int64;
}
template <>
constexpr DType dtype_of<bf16>() {
  return DType::bfloat16;
}
template <>
constexpr DType dtype_of<f16>() {
  return DType::float16;
}
template <>
constexpr DType dtype_of<float>() {
  return DType::float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::float64;
}
// numpy's complex64/complex128 layout: real then imaginary part, as std::complex stores them.
template <>
constexpr DType dtype_of<std::complex<float>>() {
  return DType::complex64;
}
template <>
constexpr DType dtype_of<std::complex<double>>() {
  return DType::complex128;
}

// An 8-byte slot holding one scalar in a dtype's own encoding (exact for every real dtype). A
// complex value does not fit: building a Scalar of a complex dtype throws DTypeError.
struct Scalar {
  DType dtype = DType::float32;
  uint64_t bits = 0;

  static Scalar from_double(double v, DType t);
  static Scalar from_int(int64_t v, DType t);
  double to_double() const;
  int64_t to_int() const;
  bool operator==(const Scalar&) const = default;
};

}  // namespace kiln
