// convert between every pair of dtypes. Float -> int truncates toward zero and saturates (NaN ->
// 0), as XLA's conversion does, so out-of-range values are defined; -> bool is x != 0. A real
// value becomes the real part of a complex one (imaginary part 0); complex -> complex converts
// each part; complex -> real keeps the real part, as JAX's convert_element_type does.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"
#include "kiln/error.hpp"

namespace kiln::cpu {
namespace {

template <class I, class F>
I saturating_trunc(F x) {
  if (std::isnan(x)) return 0;
  // min() and max()+1 are powers of two, exact in every float type.
  constexpr F lo = static_cast<F>(std::numeric_limits<I>::min());
  constexpr F hi = static_cast<F>(std::numeric_limits<I>::max());
  if (x <= lo) return std::numeric_limits<I>::min();
  if (x >= hi) return std::numeric_limits<I>::max();
  return static_cast<I>(x);
}

// double -> float rounding to odd: rounding that result again to a 16-bit float then gives the
// correctly rounded 16-bit value (float has more than 2·11+2 bits of precision), where two
// round-to-nearest steps could round twice in the same direction.
float to_float_round_odd(double d) {
  float f = static_cast<float>(d);
  if (!std::isfinite(f) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) {
    f = std::nextafter(f, 0.0f);
  }
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  bits |= 1;
  std::memcpy(&f, &bits, sizeof(bits));
  return f;
}

template <class To, class From>
To convert_value(From x) {
  if constexpr (std::is_same_v<To, From>) {
    return x;
  } else if constexpr (kIsBool<To>) {
    return load(x) != 0;
  } else if constexpr (kIsHalf<To>) {
    if constexpr (std::is_same_v<From, float> || kIsHalf<From> || kIsBool<From>) {
      return store<To>(static_cast<float>(load(x)));
    } else {
      return store<To>(to_float_round_odd(static_cast<double>(x)));
    }
  } else if constexpr (std::is_floating_point_v<To>) {
    return static_cast<To>(load(x));
  } else if constexpr (kIsFloat<From>) {
    return saturating_trunc<To>(load(x));
  } else {
    return static_cast<To>(x);  // integer -> integer wraps (C++20: modular)
  }
}

template <class To, class From>
To convert_element(From x) {
  if constexpr (kIsComplex<To>) {
    using Part = typename To::value_type;
    if constexpr (kIsComplex<From>) {
      return To(static_cast<Part>(x.real()), static_cast<Part>(x.imag()));
    } else {
      return To(convert_value<Part>(x), Part{0});
    }
  } else if constexpr (kIsComplex<From>) {
    return convert_value<To>(x.real());
  } else {
    return convert_value<To>(x);
  }
}

template <class To, class From>
void convert_kernel(const KernelArgs& a, const KernelParams& p) {
  const int64_t n = static_cast<const CountParams&>(p).n;
  const From* x = in_ptr<From>(a, 0);
  To* y = out_ptr<To>(a);
  for (int64_t i = 0; i < n; ++i) y[i] = convert_element<To>(x[i]);
}

// visit_dtype, and visit_complex for the complex dtypes.
template <class F>
KernelFn visit_any(DType t, F&& f) {
  if (is_complex(t)) return visit_complex(t, f);
  return visit_dtype(t, f);
}

}  // namespace

Lowered lower_convert(const ir::Node& node, std::span<const ir::ValueType> in) {
  Lowered l;
  l.fn = visit_any(in[0].dtype, [&](auto from) -> KernelFn {
    return visit_any(node.type.dtype, [](auto to) -> KernelFn {
      return &convert_kernel<decltype(to), decltype(from)>;
    });
  });
  l.params = std::make_unique<CountParams>(node.type.shape.numel());
  l.elementwise = true;
  return l;
}

}  // namespace kiln::cpu
