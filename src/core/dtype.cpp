#include "kiln/dtype.hpp"

#include <array>
#include <bit>
#include <cmath>

#include "kiln/error.hpp"

namespace kiln {
namespace {

struct DTypeInfo {
  std::string_view name, short_name;
  size_t itemsize;
};

constexpr std::array<DTypeInfo, kNumDTypes> kInfo = {{
    {"bool", "bool", 1},
    {"uint8", "u8", 1},
    {"uint32", "u32", 4},
    {"int8", "i8", 1},
    {"int32", "i32", 4},
    {"int64", "i64", 8},
    {"bfloat16", "bf16", 2},
    {"float16", "f16", 2},
    {"float32", "f32", 4},
    {"float64", "f64", 8},
}};

constexpr int idx(DType t) {
  return static_cast<int>(t);
}

// JAX's promotion lattice restricted to kiln's dtypes: the upward edges. int16/uint16/uint64 and
// the weak types are absent, so their paths are contracted (uint8 -> int16 -> int32 becomes uint8
// -> int32; uint32 -> uint64 -> floats becomes uint32 -> int64 -> floats, same upper set).
using Bits = uint16_t;
constexpr Bits bit(DType t) {
  return static_cast<Bits>(1u << idx(t));
}

constexpr std::array<Bits, kNumDTypes> direct_edges() {
  std::array<Bits, kNumDTypes> e{};
  e[idx(DType::bool_)] = bit(DType::uint8) | bit(DType::int8);
  e[idx(DType::uint8)] = bit(DType::uint32) | bit(DType::int32);
  e[idx(DType::uint32)] = bit(DType::int64);
  e[idx(DType::int8)] = bit(DType::int32);
  e[idx(DType::int32)] = bit(DType::int64);
  e[idx(DType::int64)] = bit(DType::bfloat16) | bit(DType::float16);
  e[idx(DType::bfloat16)] = bit(DType::float32);
  e[idx(DType::float16)] = bit(DType::float32);
  e[idx(DType::float32)] = bit(DType::float64);
  return e;
}

// up[t]: every dtype reachable from t, t included.
constexpr std::array<Bits, kNumDTypes> upper_sets() {
  auto e = direct_edges();
  std::array<Bits, kNumDTypes> up{};
  for (int i = 0; i < kNumDTypes; ++i) up[i] = static_cast<Bits>(1u << i);
  for (int round = 0; round < kNumDTypes; ++round)
    for (int i = 0; i < kNumDTypes; ++i)
      for (int j = 0; j < kNumDTypes; ++j)
        if (e[i] & (1u << j)) up[i] |= up[j];
  return up;
}
constexpr auto kUp = upper_sets();

}  // namespace

std::string_view name(DType t) {
  return kInfo[idx(t)].name;
}
std::string_view short_name(DType t) {
  return kInfo[idx(t)].short_name;
}
size_t itemsize(DType t) {
  return kInfo[idx(t)].itemsize;
}

DType dtype_from_name(std::string_view n) {
  for (int i = 0; i < kNumDTypes; ++i)
    if (kInfo[i].name == n) return static_cast<DType>(i);
  std::string known;
  for (const auto& d : kInfo) known += (known.empty() ? "" : ", ") + std::string(d.name);
  throw DTypeError("unknown dtype '" + std::string(n) + "'; kiln knows " + known);
}

bool is_floating(DType t) {
  return t == DType::bfloat16 || t == DType::float16 || t == DType::float32 || t == DType::float64;
}
bool is_integer(DType t) {
  return !is_floating(t) && t != DType::bool_;
}
bool is_signed(DType t) {
  return t == DType::int8 || t == DType::int32 || t == DType::int64 || is_floating(t);
}

DType promote(DType a, DType b) {
  Bits common = kUp[idx(a)] & kUp[idx(b)];
  for (int c = 0; c < kNumDTypes; ++c) {
    // The least upper bound is the common bound whose own upper set holds all the others.
    if ((common & (1u << c)) && (kUp[c] & common) == common) return static_cast<DType>(c);
  }
  return DType::float64;  // unreachable: float64 bounds everything
}

DType promote_weak(DType t, WeakKind weak) {
  switch (weak) {
    case WeakKind::none:
    case WeakKind::boolean:
      return t;
    case WeakKind::integer:
      return t == DType::bool_ ? DType::int32 : t;
    case WeakKind::floating:
      return is_floating(t) ? t : DType::float32;
  }
  return t;
}

float to_float(bf16 v) {
  return std::bit_cast<float>(static_cast<uint32_t>(v.bits) << 16);
}

bf16 to_bf16(float v) {
  uint32_t b = std::bit_cast<uint32_t>(v);
  if (std::isnan(v)) return bf16{static_cast<uint16_t>((b >> 16) | 0x0040)};
  uint32_t rounding = 0x7fff + ((b >> 16) & 1);  // round to nearest, ties to even
  return bf16{static_cast<uint16_t>((b + rounding) >> 16)};
}

float to_float(f16 v) {
  return static_cast<float>(std::bit_cast<_Float16>(v.bits));
}
f16 to_f16(float v) {
  return f16{std::bit_cast<uint16_t>(static_cast<_Float16>(v))};
}

namespace {
template <class T>
T from_double_as(double v) {
  if constexpr (std::is_same_v<T, bf16>) {
    return to_bf16(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, f16>) {
    return to_f16(static_cast<float>(v));
  } else {
    return static_cast<T>(v);
  }
}
template <class T>
double to_double_from(T v) {
  if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) {
    return to_float(v);
  } else {
    return static_cast<double>(v);
  }
}
}  // namespace

Scalar Scalar::from_double(double v, DType t) {
  Scalar s{t, 0};
  visit_dtype(t, [&](auto tag) {
    auto x = from_double_as<decltype(tag)>(v);
    std::memcpy(&s.bits, &x, sizeof(x));
  });
  return s;
}

Scalar Scalar::from_int(int64_t v, DType t) {
  if (is_floating(t)) return from_double(static_cast<double>(v), t);
  Scalar s{t, 0};
  visit_dtype(t, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      T x = static_cast<T>(v);
      std::memcpy(&s.bits, &x, sizeof(x));
    }
  });
  return s;
}

double Scalar::to_double() const {
  return visit_dtype(dtype, [&](auto tag) {
    decltype(tag) x;
    std::memcpy(&x, &bits, sizeof(x));
    return to_double_from(x);
  });
}

int64_t Scalar::to_int() const {
  if (is_floating(dtype)) return static_cast<int64_t>(to_double());
  return visit_dtype(dtype, [&](auto tag) -> int64_t {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      T x;
      std::memcpy(&x, &bits, sizeof(x));
      return static_cast<int64_t>(x);
    }
    return 0;
  });
}

}  // namespace kiln
