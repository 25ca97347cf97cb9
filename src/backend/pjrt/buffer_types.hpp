// kiln dtypes as PJRT buffer element types (XLA's PrimitiveType numbering), both ways.
#pragma once

#include <optional>

#include "backend/pjrt/c_api.hpp"
#include "kiln/dtype.hpp"

namespace kiln::pjrt {

inline capi::BufferType buffer_type(DType t) {
  using B = capi::BufferType;
  switch (t) {
    case DType::bool_:
      return B::pred;
    case DType::uint8:
      return B::u8;
    case DType::uint16:
      return B::u16;
    case DType::uint32:
      return B::u32;
    case DType::uint64:
      return B::u64;
    case DType::int8:
      return B::s8;
    case DType::int16:
      return B::s16;
    case DType::int32:
      return B::s32;
    case DType::int64:
      return B::s64;
    case DType::bfloat16:
      return B::bf16;
    case DType::float16:
      return B::f16;
    case DType::float32:
      return B::f32;
    case DType::float64:
      return B::f64;
    case DType::complex64:
      return B::c64;
    case DType::complex128:
      return B::c128;
  }
  return B::invalid;
}

// The kiln dtype of a PJRT element type; nullopt for those kiln has none of (f8, s4, ...).
inline std::optional<DType> dtype_of(capi::BufferType b) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (buffer_type(static_cast<DType>(i)) == b) return static_cast<DType>(i);
  return std::nullopt;
}

}  // namespace kiln::pjrt
