// Elementwise kernels: unary math, binary arithmetic and logic, comparisons, select and plain
// copies. Operands have the result's shape (the API inserts broadcasts), so each kernel is one
// flat loop; reads of element i happen before the write of element i, so a result may overwrite
// an operand (in-place reuse).
#include <array>
#include <bit>
#include <cmath>
#include <concepts>
#include <cstring>
#include <functional>
#include <limits>
#include <type_traits>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"
#include "backend/cpu/special_functions.hpp"

namespace kiln::cpu {
namespace {

template <class C>
concept Floating = std::floating_point<C>;
template <class C>
concept Numeric = !std::same_as<C, bool>;
template <class C>
concept Integer = std::integral<C> && !std::same_as<C, bool>;
template <class C>
concept Signed = Numeric<C> && std::is_signed_v<C>;  // signed ints and floats (abs, sign)

// Integer arithmetic wraps (two's complement), as XLA's does, instead of being undefined.
template <Integer C>
C wrap_neg(C x) {
  using U = std::make_unsigned_t<C>;
  return static_cast<C>(static_cast<U>(U{0} - static_cast<U>(x)));
}

// ---- unary ----------------------------------------------------------------------------------

struct Neg {
  template <Numeric C>
  C operator()(C x) const {
    if constexpr (std::floating_point<C>) {
      return -x;
    } else {
      return wrap_neg(x);
    }
  }
};
struct Abs {
  template <Signed C>
  C operator()(C x) const {
    if constexpr (std::floating_point<C>) {
      return std::fabs(x);
    } else {
      return x < 0 ? wrap_neg(x) : x;
    }
  }
};
struct Sign {
  // sign(±0) keeps the zero and sign(NaN) is NaN, as lax.sign.
  template <Signed C>
  C operator()(C x) const {
    if constexpr (std::floating_point<C>) {
      if (std::isnan(x) || x == 0) return x;
      return x > 0 ? C{1} : C{-1};
    } else {
      return static_cast<C>((x > 0) - (x < 0));
    }
  }
};
struct Not {
  template <std::integral C>
  C operator()(C x) const {
    if constexpr (std::same_as<C, bool>) {
      return !x;
    } else {
      return static_cast<C>(~x);
    }
  }
};

#define KILN_FLOAT_UNARY(Name, expr) \
  struct Name {                      \
    template <Floating C>            \
    C operator()(C x) const {        \
      return expr;                   \
    }                                \
  };
KILN_FLOAT_UNARY(Exp, std::exp(x))
KILN_FLOAT_UNARY(Log, std::log(x))
KILN_FLOAT_UNARY(Log1p, std::log1p(x))
KILN_FLOAT_UNARY(Expm1, std::expm1(x))
KILN_FLOAT_UNARY(Sqrt, std::sqrt(x))
KILN_FLOAT_UNARY(Rsqrt, C{1} / std::sqrt(x))
KILN_FLOAT_UNARY(Tanh, std::tanh(x))
KILN_FLOAT_UNARY(Logistic, C{1} / (C{1} + std::exp(-x)))
KILN_FLOAT_UNARY(Sin, std::sin(x))
KILN_FLOAT_UNARY(Cos, std::cos(x))
KILN_FLOAT_UNARY(Floor, std::floor(x))
KILN_FLOAT_UNARY(Ceil, std::ceil(x))
KILN_FLOAT_UNARY(Round, std::round(x))  // half away from zero
#undef KILN_FLOAT_UNARY

struct Erf {
  template <Floating C>
  C operator()(C x) const {
    if constexpr (std::same_as<C, float>) {
      return erf_f32(x);
    } else {
      return erf_f64(x);
    }
  }
};
struct ErfInv {
  template <Floating C>
  C operator()(C x) const {
    if constexpr (std::same_as<C, float>) {
      return erf_inv_f32(x);
    } else {
      return erf_inv_f64(x);
    }
  }
};

#define KILN_LANCZOS_UNARY(Name, f32, f64)    \
  struct Name {                               \
    template <Floating C>                     \
    C operator()(C x) const {                 \
      if constexpr (std::same_as<C, float>) { \
        return f32(x);                        \
      } else {                                \
        return f64(x);                        \
      }                                       \
    }                                         \
  };
KILN_LANCZOS_UNARY(Lgamma, lgamma_f32, lgamma_f64)
KILN_LANCZOS_UNARY(Digamma, digamma_f32, digamma_f64)
#undef KILN_LANCZOS_UNARY

// Bit counts of the two's-complement pattern (stablehlo.popcnt, count_leading_zeros).
struct Popcnt {
  template <Integer C>
  C operator()(C x) const {
    return static_cast<C>(std::popcount(static_cast<std::make_unsigned_t<C>>(x)));
  }
};
struct Clz {
  template <Integer C>
  C operator()(C x) const {
    return static_cast<C>(std::countl_zero(static_cast<std::make_unsigned_t<C>>(x)));
  }
};

template <class Op, class T>
void unary_kernel(const KernelArgs& a, const KernelParams& p) {
  const int64_t n = static_cast<const CountParams&>(p).n;
  const T* x = in_ptr<T>(a, 0);
  T* y = out_ptr<T>(a);
  Op op;
  for (int64_t i = 0; i < n; ++i) y[i] = store<T>(op(load(x[i])));
}

template <class Op>
KernelFn pick_unary(DType t) {
  return visit_dtype(t, [](auto tag) -> KernelFn {
    using T = decltype(tag);
    if constexpr (std::is_invocable_v<Op, compute_t<T>>) {
      return &unary_kernel<Op, T>;
    } else {
      return nullptr;
    }
  });
}

// ---- binary ---------------------------------------------------------------------------------

struct Add {
  template <Numeric C>
  C operator()(C x, C y) const {
    if constexpr (std::floating_point<C>) {
      return x + y;
    } else {
      using U = std::make_unsigned_t<C>;
      return static_cast<C>(static_cast<U>(static_cast<U>(x) + static_cast<U>(y)));
    }
  }
};
struct Sub {
  template <Numeric C>
  C operator()(C x, C y) const {
    if constexpr (std::floating_point<C>) {
      return x - y;
    } else {
      using U = std::make_unsigned_t<C>;
      return static_cast<C>(static_cast<U>(static_cast<U>(x) - static_cast<U>(y)));
    }
  }
};
struct Mul {
  template <Numeric C>
  C operator()(C x, C y) const {
    if constexpr (std::floating_point<C>) {
      return x * y;
    } else {
      // uint8/int8 promote to int; uint32 and wider multiply as unsigned (wraps).
      using U =
          std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
      return static_cast<C>(static_cast<U>(x) * static_cast<U>(y));
    }
  }
};
// Integer division by zero and MIN / -1 follow XLA (all ones, and MIN) instead of trapping.
struct Div {
  template <Numeric C>
  C operator()(C x, C y) const {
    if constexpr (std::floating_point<C>) {
      return x / y;
    } else {
      if (y == 0) return static_cast<C>(-1);
      if constexpr (std::is_signed_v<C>) {
        if (x == std::numeric_limits<C>::min() && y == -1) return x;
      }
      return static_cast<C>(x / y);
    }
  }
};
struct Rem {
  template <Numeric C>
  C operator()(C x, C y) const {
    if constexpr (std::floating_point<C>) {
      return std::fmod(x, y);
    } else {
      if (y == 0) return x;
      if constexpr (std::is_signed_v<C>) {
        if (y == -1) return 0;
      }
      return static_cast<C>(x % y);
    }
  }
};
struct Pow {
  template <Floating C>
  C operator()(C x, C y) const {
    return std::pow(x, y);
  }
};
// atan2(x, y) is the angle of the point (y, x): lax.atan2's operand order.
struct Atan2 {
  template <Floating C>
  C operator()(C x, C y) const {
    return std::atan2(x, y);
  }
};
// max/min propagate NaN and order -0 below +0 (max_of, min_of); on bool they are or/and.
struct Max {
  template <class C>
  C operator()(C x, C y) const {
    return max_of(x, y);
  }
};
struct Min {
  template <class C>
  C operator()(C x, C y) const {
    return min_of(x, y);
  }
};
struct And {
  template <std::integral C>
  C operator()(C x, C y) const {
    return static_cast<C>(x & y);
  }
};
struct Or {
  template <std::integral C>
  C operator()(C x, C y) const {
    return static_cast<C>(x | y);
  }
};
struct Xor {
  template <std::integral C>
  C operator()(C x, C y) const {
    return static_cast<C>(x ^ y);
  }
};
// Shift counts are read as unsigned: negative or ≥ the bit width give 0.
struct ShiftLeft {
  template <Integer C>
  C operator()(C x, C y) const {
    using U = std::make_unsigned_t<C>;
    if (static_cast<U>(y) >= 8 * sizeof(C)) return 0;
    return static_cast<C>(static_cast<U>(static_cast<U>(x) << static_cast<U>(y)));
  }
};
struct ShiftRightLogical {
  template <Integer C>
  C operator()(C x, C y) const {
    using U = std::make_unsigned_t<C>;
    if (static_cast<U>(y) >= 8 * sizeof(C)) return 0;
    return static_cast<C>(static_cast<U>(static_cast<U>(x) >> static_cast<U>(y)));
  }
};

// The bits shift as a signed value whatever the type (XLA's ShiftRightArithmetic on unsigned
// types too); counts read as unsigned at or above the width shift by width - 1 (all sign bits).
struct ShiftRightArithmetic {
  template <Integer C>
  C operator()(C x, C y) const {
    using U = std::make_unsigned_t<C>;
    using S = std::make_signed_t<C>;
    constexpr U kMax = 8 * sizeof(C) - 1;
    const U n = static_cast<U>(y) > kMax ? kMax : static_cast<U>(y);
    return static_cast<C>(static_cast<S>(x) >> n);
  }
};

template <class Op, class T>
void binary_kernel(const KernelArgs& a, const KernelParams& p) {
  const int64_t n = static_cast<const CountParams&>(p).n;
  const T* x = in_ptr<T>(a, 0);
  const T* y = in_ptr<T>(a, 1);
  T* z = out_ptr<T>(a);
  Op op;
  for (int64_t i = 0; i < n; ++i) z[i] = store<T>(op(load(x[i]), load(y[i])));
}

template <class Op>
KernelFn pick_binary(DType t) {
  return visit_dtype(t, [](auto tag) -> KernelFn {
    using T = decltype(tag);
    using C = compute_t<T>;
    if constexpr (std::is_invocable_v<Op, C, C>) {
      return &binary_kernel<Op, T>;
    } else {
      return nullptr;
    }
  });
}

// ---- comparisons (IEEE: every comparison with NaN is false except ne) -----------------------

template <class Cmp, class T>
void compare_kernel(const KernelArgs& a, const KernelParams& p) {
  const int64_t n = static_cast<const CountParams&>(p).n;
  const T* x = in_ptr<T>(a, 0);
  const T* y = in_ptr<T>(a, 1);
  bool* z = out_ptr<bool>(a);
  Cmp cmp;
  for (int64_t i = 0; i < n; ++i) z[i] = cmp(load(x[i]), load(y[i]));
}

template <class Cmp>
KernelFn pick_compare(DType t) {
  return visit_dtype(t, [](auto tag) -> KernelFn { return &compare_kernel<Cmp, decltype(tag)>; });
}

// ---- select and copies (move bytes: only the element width matters) -------------------------

// Both operands are loaded and blended through a mask: with `pred ? x[i] : y[i]` GCC keeps the
// loads conditional and does not vectorize the loop.
template <class Word>
inline Word blend(uint8_t pred, Word x, Word y) {
  const auto m = static_cast<Word>(Word{0} - static_cast<Word>(pred != 0));
  return static_cast<Word>((x & m) | (y & static_cast<Word>(~m)));
}
inline Word16 blend(uint8_t pred, Word16 x, Word16 y) {
  return {blend(pred, x.lo, y.lo), blend(pred, x.hi, y.hi)};
}

template <size_t W>
void select_kernel(const KernelArgs& a, const KernelParams& p) {
  using Word = word_t<W>;
  const int64_t n = static_cast<const CountParams&>(p).n;
  const uint8_t* pred = in_ptr<uint8_t>(a, 0);  // bool storage: one byte, 0 or 1
  const Word* x = in_ptr<Word>(a, 1);
  const Word* y = in_ptr<Word>(a, 2);
  Word* z = out_ptr<Word>(a);
  for (int64_t i = 0; i < n; ++i) z[i] = blend(pred[i], x[i], y[i]);
}

void copy_kernel(const KernelArgs& a, const KernelParams& p) {
  const auto n = static_cast<size_t>(static_cast<const CountParams&>(p).n);
  if (n != 0 && a.out != a.in[0]) std::memcpy(a.out, a.in[0], n);
}

Lowered elementwise(KernelFn fn, const ir::Node& node) {
  Lowered l;
  l.fn = fn;
  l.params = std::make_unique<CountParams>(node.type.shape.numel());
  l.elementwise = true;
  return l;
}

// Which functor implements each elementwise primitive.
struct KernelPicker {
  ir::Prim prim;
  KernelFn (*pick)(DType);
};

using ir::Prim;
constexpr KernelPicker kUnaryKernels[] = {
    {Prim::neg, &pick_unary<Neg>},           {Prim::abs, &pick_unary<Abs>},
    {Prim::sign, &pick_unary<Sign>},         {Prim::exp, &pick_unary<Exp>},
    {Prim::log, &pick_unary<Log>},           {Prim::log1p, &pick_unary<Log1p>},
    {Prim::expm1, &pick_unary<Expm1>},       {Prim::sqrt, &pick_unary<Sqrt>},
    {Prim::rsqrt, &pick_unary<Rsqrt>},       {Prim::tanh, &pick_unary<Tanh>},
    {Prim::logistic, &pick_unary<Logistic>}, {Prim::sin, &pick_unary<Sin>},
    {Prim::cos, &pick_unary<Cos>},           {Prim::erf, &pick_unary<Erf>},
    {Prim::erf_inv, &pick_unary<ErfInv>},    {Prim::floor, &pick_unary<Floor>},
    {Prim::ceil, &pick_unary<Ceil>},         {Prim::round, &pick_unary<Round>},
    {Prim::not_, &pick_unary<Not>},          {Prim::popcnt, &pick_unary<Popcnt>},
    {Prim::clz, &pick_unary<Clz>},           {Prim::lgamma, &pick_unary<Lgamma>},
    {Prim::digamma, &pick_unary<Digamma>},
};

// ---- reduce_precision ----------------------------------------------------------------------

struct ReducePrecisionParams : KernelParams {
  int64_t n = 0;
  int exponent_bits = 0, mantissa_bits = 0;
};

// XLA's reduce_precision on the bits of a float with E exponent and M mantissa bits (U its bit
// pattern): round the mantissa to `mantissa_bits` (to nearest, ties to even, by adding a bias
// and truncating), then send exponents above the new range to ±inf and those at or below its
// bottom to ±0 (no subnormals); NaN stays NaN unless no mantissa bits remain (then the bits
// decide, as in XLA).
template <class U, int E, int M>
U reduce_precision_bits(U x, int exponent_bits, int mantissa_bits) {
  constexpr int kBits = 8 * sizeof(U);
  U r = x;
  if (mantissa_bits < M) {
    const int drop = M - mantissa_bits;
    const U last_bit = static_cast<U>(U{1} << drop);
    const U bias = static_cast<U>(((last_bit >> 1) - 1) + ((r & last_bit) >> drop));
    r = static_cast<U>((r + bias) & static_cast<U>(~(last_bit - 1)));
  }
  if (exponent_bits < E) {
    const U sign = static_cast<U>(U{1} << (kBits - 1));
    const U exp_mask = static_cast<U>(((U{1} << E) - 1) << M);
    const U bias = static_cast<U>((U{1} << (E - 1)) - 1);
    const U reduced_bias = static_cast<U>((U{1} << (exponent_bits - 1)) - 1);
    const U exponent = r & exp_mask;
    const U signed_zero = r & sign;
    if (exponent > static_cast<U>((bias + reduced_bias) << M)) {
      r = signed_zero | exp_mask;
    } else if (exponent <= static_cast<U>((bias - reduced_bias) << M)) {
      r = signed_zero;
    }
  }
  if (mantissa_bits > 0) {
    const U exp_mask = static_cast<U>(((U{1} << E) - 1) << M);
    const U mantissa = static_cast<U>((U{1} << M) - 1);
    if ((x & exp_mask) == exp_mask && (x & mantissa) != 0) r = x;  // NaN in, NaN out
  }
  return r;
}

template <class T, class U, int E, int M>
void reduce_precision_kernel(const KernelArgs& a, const KernelParams& p) {
  const auto& rp = static_cast<const ReducePrecisionParams&>(p);
  const std::byte* x = a.in[0];
  std::byte* y = a.out;
  for (int64_t i = 0; i < rp.n; ++i) {
    U bits;
    std::memcpy(&bits, x + i * sizeof(U), sizeof(U));
    bits = reduce_precision_bits<U, E, M>(bits, rp.exponent_bits, rp.mantissa_bits);
    std::memcpy(y + i * sizeof(U), &bits, sizeof(U));
  }
}

// ---- absorbed operands (schedule_plan.cpp replaced a full or broadcast_in_dim operand) ------
//
// The result is rows × len elements. Operand k starts at base[k] and advances row_stride[k]
// elements per row: len for a dense operand, 0 for a cyclic source (period len) or a scalar. The
// inner loop is instantiated per scalar/contiguous pattern, so a scalar is a register and every
// other operand a unit-stride stream: the compiler vectorizes it like the flat kernels.

struct AbsorbParams : KernelParams {
  int64_t rows = 0;
  int64_t len = 0;
  std::array<OperandRead::Kind, 3> kind{};
  std::array<int64_t, 3> row_stride{};
  std::array<uint64_t, 3> fill{};
};

// The operands' first elements: step inputs in order, a fill's value from the params (copied to
// storage of the element type, so no object is read through a pointer of another type).
template <class T, size_t N>
struct AbsorbedOperands {
  std::array<const T*, N> base{};
  std::array<T, N> fills{};
  AbsorbedOperands(std::span<const std::byte* const> ins, const OperandRead::Kind* kind,
                   const uint64_t* fill) {
    size_t next = 0;
    for (size_t k = 0; k < N; ++k) {
      if (kind[k] == OperandRead::Kind::fill) {
        std::memcpy(&fills[k], &fill[k], sizeof(T));
        base[k] = &fills[k];
      } else {
        base[k] = reinterpret_cast<const T*>(ins[next++]);
      }
    }
  }
};

// One operand's row: a hoisted value when Scalar, else a stream.
template <class T, bool Scalar>
struct RowIn {
  const T* p;
  T s;
  explicit RowIn(const T* row) : p(row), s(Scalar ? *row : T{}) {}
  T operator[](int64_t i) const {
    if constexpr (Scalar) {
      return s;
    } else {
      return p[i];
    }
  }
};

template <class Op, class T, class R, bool S0, bool S1>
void absorbed_binary_kernel(const KernelArgs& a, const KernelParams& pp) {
  const auto& p = static_cast<const AbsorbParams&>(pp);
  const AbsorbedOperands<T, 2> in(a.in, p.kind.data(), p.fill.data());
  R* z = out_ptr<R>(a);
  Op op;
  for (int64_t r = 0; r < p.rows; ++r) {
    const RowIn<T, S0> x(in.base[0] + r * p.row_stride[0]);
    const RowIn<T, S1> y(in.base[1] + r * p.row_stride[1]);
    R* zr = z + r * p.len;
    for (int64_t i = 0; i < p.len; ++i) zr[i] = op(x[i], y[i]);
  }
}

template <size_t W, bool S0, bool S1, bool S2>
void absorbed_select_kernel(const KernelArgs& a, const KernelParams& pp) {
  using Word = word_t<W>;
  const auto& p = static_cast<const AbsorbParams&>(pp);
  // The predicate is bool (one byte): read it as uint8_t so both operand arrays share a type.
  const AbsorbedOperands<uint8_t, 1> pred(a.in, &p.kind[0], &p.fill[0]);
  const size_t pred_inputs = p.kind[0] == OperandRead::Kind::fill ? 0 : 1;
  const AbsorbedOperands<Word, 2> in(a.in.subspan(pred_inputs), &p.kind[1], &p.fill[1]);
  Word* z = out_ptr<Word>(a);
  for (int64_t r = 0; r < p.rows; ++r) {
    const RowIn<uint8_t, S0> c(pred.base[0] + r * p.row_stride[0]);
    const RowIn<Word, S1> x(in.base[0] + r * p.row_stride[1]);
    const RowIn<Word, S2> y(in.base[1] + r * p.row_stride[2]);
    Word* zr = z + r * p.len;
    for (int64_t i = 0; i < p.len; ++i) zr[i] = blend(c[i], x[i], y[i]);
  }
}

// The instantiation for a scalar pattern (bit k set: operand k is a scalar).
template <class Op, class T, class R>
KernelFn absorbed_binary(unsigned scalars) {
  constexpr KernelFn table[] = {
      &absorbed_binary_kernel<Op, T, R, false, false>,
      &absorbed_binary_kernel<Op, T, R, true, false>,
      &absorbed_binary_kernel<Op, T, R, false, true>,
      &absorbed_binary_kernel<Op, T, R, true, true>,
  };
  return table[scalars & 3u];
}

template <size_t W>
KernelFn absorbed_select(unsigned scalars) {
  constexpr KernelFn table[] = {
      &absorbed_select_kernel<W, false, false, false>,
      &absorbed_select_kernel<W, true, false, false>,
      &absorbed_select_kernel<W, false, true, false>,
      &absorbed_select_kernel<W, true, true, false>,
      &absorbed_select_kernel<W, false, false, true>,
      &absorbed_select_kernel<W, true, false, true>,
      &absorbed_select_kernel<W, false, true, true>,
      &absorbed_select_kernel<W, true, true, true>,
  };
  return table[scalars & 7u];
}

// One row per binary primitive and comparison: its flat kernels by dtype, and the absorbed-operand
// kernels for float32 (the training hot path; other dtypes keep materialized operands, which keeps
// the instantiations to a few dozen small loops). Every functor that computes on float gets them,
// so a new binary primitive cannot silently lose them.
struct BinaryKernels {
  ir::Prim prim;
  KernelFn (*pick)(DType);
  KernelFn (*absorbed)(unsigned scalars);  // nullptr: no float32 kernel (bitwise ops, shifts)
};
template <class Op>
constexpr BinaryKernels arithmetic(Prim p) {
  if constexpr (std::is_invocable_v<Op, float, float>) {
    return {p, &pick_binary<Op>, &absorbed_binary<Op, float, float>};
  } else {
    return {p, &pick_binary<Op>, nullptr};
  }
}
template <class Cmp>
constexpr BinaryKernels comparison(Prim p) {
  return {p, &pick_compare<Cmp>, &absorbed_binary<Cmp, float, bool>};
}
constexpr BinaryKernels kBinaryKernels[] = {
    arithmetic<Add>(Prim::add),
    arithmetic<Sub>(Prim::sub),
    arithmetic<Mul>(Prim::mul),
    arithmetic<Div>(Prim::div),
    arithmetic<Rem>(Prim::rem),
    arithmetic<Pow>(Prim::pow),
    arithmetic<Atan2>(Prim::atan2),
    arithmetic<Max>(Prim::max),
    arithmetic<Min>(Prim::min),
    arithmetic<And>(Prim::and_),
    arithmetic<Or>(Prim::or_),
    arithmetic<Xor>(Prim::xor_),
    arithmetic<ShiftLeft>(Prim::shift_left),
    arithmetic<ShiftRightLogical>(Prim::shift_right_logical),
    arithmetic<ShiftRightArithmetic>(Prim::shift_right_arithmetic),
    comparison<std::equal_to<>>(Prim::eq),
    comparison<std::not_equal_to<>>(Prim::ne),
    comparison<std::less<>>(Prim::lt),
    comparison<std::less_equal<>>(Prim::le),
    comparison<std::greater<>>(Prim::gt),
    comparison<std::greater_equal<>>(Prim::ge),
};

const BinaryKernels* binary_kernels(Prim p) {
  for (const BinaryKernels& k : kBinaryKernels)
    if (k.prim == p) return &k;
  return nullptr;
}

template <size_t N>
KernelFn pick(const KernelPicker (&table)[N], const ir::Node& node, DType t) {
  for (const KernelPicker& k : table) {
    if (k.prim != node.prim) continue;
    if (KernelFn fn = k.pick(t)) return fn;
  }
  no_kernel(node, t);
}

}  // namespace

Lowered lower_unary(const ir::Node& node, std::span<const ir::ValueType> in) {
  if (node.prim == Prim::reduce_precision) {
    auto params = std::make_unique<ReducePrecisionParams>();
    params->n = node.type.shape.numel();
    params->exponent_bits = node.attrs.exponent_bits;
    params->mantissa_bits = node.attrs.mantissa_bits;
    Lowered l;
    switch (in[0].dtype) {
      case DType::bfloat16:
        l.fn = &reduce_precision_kernel<bf16, uint16_t, 8, 7>;
        break;
      case DType::float16:
        l.fn = &reduce_precision_kernel<f16, uint16_t, 5, 10>;
        break;
      case DType::float32:
        l.fn = &reduce_precision_kernel<float, uint32_t, 8, 23>;
        break;
      case DType::float64:
        l.fn = &reduce_precision_kernel<double, uint64_t, 11, 52>;
        break;
      default:
        no_kernel(node, in[0].dtype);
    }
    l.params = std::move(params);
    l.elementwise = true;
    return l;
  }
  if (is_complex_elementwise(node, in)) return lower_complex_elementwise(node, in);
  return elementwise(pick(kUnaryKernels, node, in[0].dtype), node);
}

Lowered lower_binary(const ir::Node& node, std::span<const ir::ValueType> in) {
  if (is_complex_elementwise(node, in)) return lower_complex_elementwise(node, in);
  const BinaryKernels* k = binary_kernels(node.prim);
  KernelFn fn = k != nullptr ? k->pick(in[0].dtype) : nullptr;
  if (fn == nullptr) no_kernel(node, in[0].dtype);
  return elementwise(fn, node);
}

Lowered lower_compare(const ir::Node& node, std::span<const ir::ValueType> in) {
  return lower_binary(node, in);
}

Lowered lower_select(const ir::Node& node, std::span<const ir::ValueType> in) {
  KernelFn fn =
      visit_width(itemsize(in[1].dtype), []<size_t W>() -> KernelFn { return &select_kernel<W>; });
  return elementwise(fn, node);
}

Lowered lower_copy(const ir::Node&, std::span<const ir::ValueType> in) {
  Lowered l;
  l.fn = &copy_kernel;
  l.params = std::make_unique<CountParams>(in[0].shape.numel() *
                                           static_cast<int64_t>(itemsize(in[0].dtype)));
  l.elementwise = true;
  return l;
}

bool can_absorb_operands(const ir::Node& node, std::span<const ir::ValueType> in) {
  // A fill is one 8-byte word: complex128 selects keep materialized operands.
  if (node.prim == Prim::select) return in.size() == 3 && itemsize(in[1].dtype) <= 8;
  if (in.size() != 2 || in[0].dtype != DType::float32) return false;
  const BinaryKernels* k = binary_kernels(node.prim);
  return k != nullptr && k->absorbed != nullptr;
}

Lowered lower_absorbing(const ir::Node& node, std::span<const ir::ValueType> in,
                        std::span<const OperandRead> reads) {
  if (!can_absorb_operands(node, in) || reads.size() != in.size() || reads.size() > 3)
    no_kernel(node, in.empty() ? node.type.dtype : in[0].dtype);
  auto params = std::make_unique<AbsorbParams>();
  const int64_t n = node.type.shape.numel();
  // Rows span the period of the cyclic operands (the schedule gives them all one period).
  int64_t len = n;
  for (const OperandRead& r : reads) {
    if (r.kind == OperandRead::Kind::cyclic) len = r.period;
  }
  params->len = len;
  params->rows = len > 0 ? n / len : 0;
  unsigned scalars = 0;
  for (size_t k = 0; k < reads.size(); ++k) {
    const OperandRead::Kind kind = reads[k].kind;
    params->kind[k] = kind;
    params->fill[k] = reads[k].fill;
    params->row_stride[k] = kind == OperandRead::Kind::dense ? len : 0;
    if (kind == OperandRead::Kind::scalar || kind == OperandRead::Kind::fill) scalars |= 1u << k;
  }
  KernelFn fn = nullptr;
  if (node.prim == Prim::select) {
    fn = visit_width(itemsize(in[1].dtype),
                     [&]<size_t W>() -> KernelFn { return absorbed_select<W>(scalars); });
  } else {
    fn = binary_kernels(node.prim)->absorbed(scalars);
  }
  Lowered l;
  l.fn = fn;
  l.params = std::move(params);
  // In-place reuse is safe only for dense operands; the schedule checks that, not this flag.
  l.elementwise = true;
  return l;
}

}  // namespace kiln::cpu
