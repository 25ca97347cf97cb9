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
    {"uint16", "u16", 2},
    {"uint32", "u32", 4},
    {"uint64", "u64", 8},
    {"int8", "i8", 1},
    {"int16", "i16", 2},
    {"int32", "i32", 4},
    {"int64", "i64", 8},
    {"bfloat16", "bf16", 2},
    {"float16", "f16", 2},
    {"float32", "f32", 4},
    {"float64", "f64", 8},
    {"complex64", "c64", 8},
    {"complex128", "c128", 16},
}};

constexpr int idx(DType t) {
  return static_cast<int>(t);
}

// JAX's promotion lattice (jax/_src/dtypes.py, _type_promotion_lattice, the 'standard' branch) as
// upward edges between kiln's dtypes plus one extra node: JAX's weak float f*, where uint64 meets
// the signed ints. The other weak nodes lie on single paths and are contracted: i* between bool
// and uint8/int8, c* between f* and complex64.
constexpr int kWeakFloat = kNumDTypes;
constexpr int kNumNodes = kNumDTypes + 1;
using Bits = uint32_t;
constexpr Bits bit(int node) {
  return Bits{1} << node;
}
constexpr Bits bit(DType t) {
  return bit(idx(t));
}

constexpr std::array<Bits, kNumNodes> direct_edges() {
  using enum DType;
  std::array<Bits, kNumNodes> e{};
  e[idx(bool_)] = bit(uint8) | bit(int8);
  e[idx(uint8)] = bit(uint16) | bit(int16);
  e[idx(uint16)] = bit(uint32) | bit(int32);
  e[idx(uint32)] = bit(uint64) | bit(int64);
  e[idx(uint64)] = bit(kWeakFloat);
  e[idx(int8)] = bit(int16);
  e[idx(int16)] = bit(int32);
  e[idx(int32)] = bit(int64);
  e[idx(int64)] = bit(kWeakFloat);
  e[kWeakFloat] = bit(bfloat16) | bit(float16) | bit(complex64);
  e[idx(bfloat16)] = bit(float32);
  e[idx(float16)] = bit(float32);
  e[idx(float32)] = bit(float64) | bit(complex64);
  e[idx(float64)] = bit(complex128);
  e[idx(complex64)] = bit(complex128);
  return e;
}

// up[n]: every node reachable from n, n included.
constexpr std::array<Bits, kNumNodes> upper_sets() {
  auto e = direct_edges();
  std::array<Bits, kNumNodes> up{};
  for (int i = 0; i < kNumNodes; ++i) up[i] = bit(i);
  for (int round = 0; round < kNumNodes; ++round)
    for (int i = 0; i < kNumNodes; ++i)
      for (int j = 0; j < kNumNodes; ++j)
        if (e[i] & bit(j)) up[i] |= up[j];
  return up;
}
constexpr auto kUp = upper_sets();

// The least upper bound: the common bound whose own upper set holds all the others.
constexpr int join(int a, int b) {
  Bits common = kUp[a] & kUp[b];
  for (int c = 0; c < kNumNodes; ++c)
    if ((common & bit(c)) && (kUp[c] & common) == common) return c;
  return -1;
}

// Every pair has a least upper bound: the graph is a lattice, as JAX requires of its own.
constexpr bool every_pair_joins() {
  for (int a = 0; a < kNumNodes; ++a)
    for (int b = 0; b < kNumNodes; ++b)
      if (join(a, b) < 0) return false;
  return true;
}
static_assert(every_pair_joins());

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
bool is_complex(DType t) {
  return t == DType::complex64 || t == DType::complex128;
}
bool is_unsigned(DType t) {
  return t == DType::uint8 || t == DType::uint16 || t == DType::uint32 || t == DType::uint64;
}
bool is_integer(DType t) {
  return is_unsigned(t) || t == DType::int8 || t == DType::int16 || t == DType::int32 ||
         t == DType::int64;
}
bool is_signed(DType t) {
  return (is_integer(t) && !is_unsigned(t)) || is_floating(t) || is_complex(t);
}

DType promote(DType a, DType b) {
  const int j = join(idx(a), idx(b));
  // JAX's weak float as a result means "the default float"; with x64 (kiln has int64 and uint64
  // only as JAX has them, with x64 enabled) that is float64.
  return j == kWeakFloat ? DType::float64 : static_cast<DType>(j);
}

DType promote_weak(DType t, WeakKind weak) {
  switch (weak) {
    case WeakKind::none:
    case WeakKind::boolean:
      return t;
    case WeakKind::integer:
      return t == DType::bool_ ? DType::int32 : t;
    case WeakKind::floating:
      return is_floating(t) || is_complex(t) ? t : DType::float32;
  }
  return t;
}

DType real_dtype(DType t) {
  if (t == DType::complex64) return DType::float32;
  if (t == DType::complex128) return DType::float64;
  return t;
}

DType complex_dtype(DType t) {
  if (t == DType::float32 || t == DType::complex64) return DType::complex64;
  if (t == DType::float64 || t == DType::complex128) return DType::complex128;
  throw DTypeError("no complex dtype has parts of dtype " + std::string(name(t)) +
                   ": lax.complex takes float32 (complex64) or float64 (complex128) parts; cast "
                   "with astype first");
}

void refuse_complex(DType t, std::string_view what) {
  throw Unsupported(std::string(what) + " on " + std::string(name(t)) +
                    ": this code handles real dtypes only (a kiln bug if a public operation "
                    "reached it: please report it)");
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

// A Scalar is one 8-byte slot: a complex value (two parts, up to 16 bytes) has no place in it.
void check_scalar_dtype(DType t, const char* what) {
  if (is_complex(t))
    throw DTypeError(std::string("Scalar::") + what + " of dtype " + std::string(name(t)) +
                     ": a kiln::Scalar holds one real value in 8 bytes; build a complex value "
                     "with complex(re, im) or from host data");
}
}  // namespace

Scalar Scalar::from_double(double v, DType t) {
  check_scalar_dtype(t, "from_double");
  Scalar s{t, 0};
  visit_dtype(t, [&](auto tag) {
    auto x = from_double_as<decltype(tag)>(v);
    std::memcpy(&s.bits, &x, sizeof(x));
  });
  return s;
}

Scalar Scalar::from_int(int64_t v, DType t) {
  check_scalar_dtype(t, "from_int");
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
  check_scalar_dtype(dtype, "to_double");
  return visit_dtype(dtype, [&](auto tag) {
    decltype(tag) x;
    std::memcpy(&x, &bits, sizeof(x));
    return to_double_from(x);
  });
}

int64_t Scalar::to_int() const {
  check_scalar_dtype(dtype, "to_int");
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
