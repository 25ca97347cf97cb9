// numpy's array printing, re-derived from numpy/_core/arrayprint.py (array2string, _formatArray,
// FloatingFormat, IntegerFormat, BoolFormat) and scalartypes.c (the str of a scalar), with the
// default print options: precision 8, floatmode 'maxprec', suppress False, threshold 1000,
// edgeitems 3, linewidth 75, sign '-', legacy off. JAX's repr wraps numpy's array2string
// (jax/_src/array.py, ArrayImpl.__repr__).
//
// bfloat16 is not a numpy floating type: ml_dtypes registers it as a subclass of np.generic, so
// numpy formats each element with the scalar's repr, which ml_dtypes writes as `std::ostream <<
// float` (ml_dtypes/_src/custom_float.h, PyCustomFloat_Repr): "1", "0.5", "1.00781", no padding.
#include "core/array_format.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <locale>
#include <sstream>
#include <string_view>
#include <system_error>
#include <vector>

namespace kiln {
namespace {

// numpy's default print options (numpy.get_printoptions()).
constexpr int kPrecision = 8;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int kLineWidth = 75;

// ---------------------------------------------------------------------------------------------
// Reading elements

double element_as_double(const void* data, DType t, int64_t i) {
  return visit_dtype(t, [&](auto tag) -> double {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, static_cast<const char*>(data) + i * sizeof(T), sizeof(T));
    if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) {
      return to_float(v);
    } else {
      return static_cast<double>(v);
    }
  });
}

std::string integer_text(const void* data, DType t, int64_t i) {
  return visit_dtype(t, [&](auto tag) -> std::string {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      T v;
      std::memcpy(&v, static_cast<const char*>(data) + i * sizeof(T), sizeof(T));
      return std::to_string(
          static_cast<std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>(v));
    }
    return {};
  });
}

bool element_as_bool(const void* data, int64_t i) {
  return static_cast<const uint8_t*>(data)[i] != 0;
}

// ---------------------------------------------------------------------------------------------
// Decimal digits of a float (what numpy's Dragon4 produces)

// |value| = d0.d1d2... x 10^exp; `digits` has no leading or trailing zeros ("0" for zero).
struct Decimal {
  bool negative = false;
  std::string digits = "0";
  int exp = 0;
  int frac_digits() const { return std::max(0, static_cast<int>(digits.size()) - 1 - exp); }
};

// Normalises a digit string whose first digit sits at decimal position `exp` (leading and
// trailing zeros allowed).
Decimal make_decimal(bool negative, std::string all, int exp) {
  Decimal d;
  d.negative = negative;
  size_t first = all.find_first_not_of('0');
  if (first == std::string::npos) return d;  // zero
  size_t last = all.find_last_not_of('0');
  d.digits = all.substr(first, last - first + 1);
  d.exp = exp - static_cast<int>(first);
  return d;
}

// Parses to_chars output: "1.25e-03", "7e+00" (scientific) or "123.4500" (fixed), no sign.
Decimal parse_chars(bool negative, std::string_view s) {
  size_t e = s.find('e');
  std::string_view mant = s.substr(0, e);
  int exp10 = 0;
  if (e != std::string_view::npos) {
    std::string_view ex = s.substr(e + 1);
    if (!ex.empty() && ex[0] == '+') ex.remove_prefix(1);
    std::from_chars(ex.data(), ex.data() + ex.size(), exp10);
  }
  size_t dot = mant.find('.');
  std::string int_part(mant.substr(0, dot));
  std::string frac_part = dot == std::string_view::npos ? "" : std::string(mant.substr(dot + 1));
  return make_decimal(negative, int_part + frac_part,
                      exp10 + static_cast<int>(int_part.size()) - 1);
}

// The exact binary value of v correctly rounded to `precision` digits after the point, in
// scientific or fixed notation.
Decimal rounded(double v, int precision, std::chars_format fmt) {
  char buf[400];
  auto r = std::to_chars(buf, buf + sizeof(buf), std::fabs(v), fmt, precision);
  return parse_chars(std::signbit(v), std::string_view(buf, r.ptr - buf));
}

// The shortest digits that read back as the same float16 (IEEE half), choosing the closest to the
// exact value among the shortest, as Dragon4 does. Candidates at each length are the correctly
// rounded decimal and its two neighbours, which covers the asymmetric interval at powers of two.
Decimal shortest_half(double v) {
  const double a = std::fabs(v);
  const uint16_t target = std::bit_cast<uint16_t>(static_cast<_Float16>(a));
  for (int p = 1; p <= 17; ++p) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), a, std::chars_format::scientific, p - 1);
    Decimal near = parse_chars(false, std::string_view(buf, r.ptr - buf));
    // near = m x 10^(exp - p + 1) with m a p-digit integer.
    std::string m_str = near.digits + std::string(p - near.digits.size(), '0');
    int64_t m = std::stoll(m_str);
    int scale = near.exp - p + 1;
    bool found = false;
    double best_dist = 0;
    Decimal best;
    for (int64_t c : {m - 1, m, m + 1}) {
      if (c <= 0) continue;
      std::string text = std::to_string(c) + "e" + std::to_string(scale);
      double x = 0;
      std::from_chars(text.data(), text.data() + text.size(), x);
      if (std::bit_cast<uint16_t>(static_cast<_Float16>(x)) != target) continue;
      double dist = std::fabs(x - a);
      if (!found || dist < best_dist) {
        std::string cd = std::to_string(c);
        best = make_decimal(false, cd, scale + static_cast<int>(cd.size()) - 1);
        best_dist = dist;
        found = true;
      }
    }
    if (found) {
      best.negative = std::signbit(v);
      return best;
    }
  }
  return rounded(v, 16, std::chars_format::scientific);  // unreachable: 17 digits round-trip
}

// The shortest digits that round-trip in the array's own dtype (numpy's "unique" Dragon4 mode).
Decimal shortest(double v, DType t) {
  if (v == 0) {
    Decimal z;
    z.negative = std::signbit(v);
    return z;
  }
  if (t == DType::float16) return shortest_half(v);
  char buf[64];
  std::to_chars_result r;
  if (t == DType::float64) {
    r = std::to_chars(buf, buf + sizeof(buf), std::fabs(v), std::chars_format::scientific);
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), std::fabs(static_cast<float>(v)),
                      std::chars_format::scientific);
  }
  return parse_chars(std::signbit(v), std::string_view(buf, r.ptr - buf));
}

// Dragon4 in unique mode with a cutoff of `precision` digits after the point: the shortest
// digits when they fit, else the exact binary value correctly rounded at the cutoff (numpy rounds
// the remainder half-to-even, as to_chars with a precision does).
Decimal capped_positional(double v, DType t, int precision) {
  Decimal d = shortest(v, t);
  if (d.frac_digits() > precision) d = rounded(v, precision, std::chars_format::fixed);
  return d;
}
Decimal capped_scientific(double v, DType t, int precision) {
  Decimal d = shortest(v, t);
  if (static_cast<int>(d.digits.size()) - 1 > precision) {
    d = rounded(v, precision, std::chars_format::scientific);
  }
  return d;
}

// Positional text split at the point: {"-12", "5"} for -12.5 (the sign belongs to the int part;
// `plus` writes "+" on the others, numpy's sign='+').
std::pair<std::string, std::string> positional_parts(const Decimal& d, bool plus = false) {
  std::string int_part, frac_part;
  const int n = static_cast<int>(d.digits.size());
  if (d.digits == "0") {
    int_part = "0";
  } else if (d.exp >= 0) {
    int_part = d.digits.substr(0, std::min(n, d.exp + 1));
    if (n < d.exp + 1) int_part += std::string(d.exp + 1 - n, '0');
    if (n > d.exp + 1) frac_part = d.digits.substr(d.exp + 1);
  } else {
    int_part = "0";
    frac_part = std::string(-d.exp - 1, '0') + d.digits;
  }
  if (d.negative || plus) int_part = (d.negative ? "-" : "+") + int_part;
  return {int_part, frac_part};
}

struct SciParts {
  std::string int_part, frac_part;  // "-1", "25"
  int exp = 0;
};
SciParts scientific_parts(const Decimal& d, bool plus = false) {
  SciParts p;
  p.int_part = (d.negative ? "-" : plus ? "+" : "") + d.digits.substr(0, 1);
  p.frac_part = d.digits.substr(1);
  p.exp = d.digits == "0" ? 0 : d.exp;
  return p;
}

// "e-05": the sign always, at least `min_digits` digits (Dragon4 pads the exponent with zeros).
std::string exponent_text(int exp, int min_digits) {
  std::string digits = std::to_string(std::abs(exp));
  if (static_cast<int>(digits.size()) < min_digits)
    digits.insert(0, min_digits - digits.size(), '0');
  return std::string("e") + (exp < 0 ? "-" : "+") + digits;
}

// ---------------------------------------------------------------------------------------------
// Scalars: numpy's str of a float scalar (scalartypes.c, *_either): positional when 1e-4 <= |x| <
// 1e16 or x == 0 with one zero kept after the point ("1.0"), else scientific with the point and
// trailing zeros trimmed ("1e-05"); shortest digits, no precision cutoff.

// `keep_zero`: "1.0" (a float's str) rather than "1" (a complex part's); `plus`: "+1.0".
std::string float_scalar_str(double v, DType t, bool keep_zero = true, bool plus = false) {
  if (std::isnan(v)) return plus ? "+nan" : "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : plus ? "+inf" : "inf";
  long double a = std::fabs(static_cast<long double>(v));
  Decimal d = shortest(v, t);
  if (a == 0 || (a < 1.e16L && a >= 1.e-4L)) {
    auto [ip, fp] = positional_parts(d, plus);
    if (fp.empty()) return keep_zero ? ip + ".0" : ip;
    return ip + "." + fp;
  }
  SciParts s = scientific_parts(d, plus);
  return s.int_part + (s.frac_part.empty() ? "" : "." + s.frac_part) + exponent_text(s.exp, 2);
}

// The real dtype of a complex dtype's parts.
DType part_dtype(DType t) {
  return t == DType::complex64 ? DType::float32 : DType::float64;
}

// Part `part` (0 real, 1 imaginary) of complex element i.
double complex_part(const void* data, DType t, int64_t i, int part) {
  if (t == DType::complex64) {
    float v;
    std::memcpy(&v, static_cast<const char*>(data) + (2 * i + part) * sizeof(float), sizeof v);
    return v;
  }
  double v;
  std::memcpy(&v, static_cast<const char*>(data) + (2 * i + part) * sizeof(double), sizeof v);
  return v;
}

// numpy's str of a complex scalar (scalartypes.c, c*type_str): "(1+2j)", "(1.5-0j)", and "2j"
// when the real part is +0; the parts trimmed of ".0", the imaginary part signed.
std::string complex_scalar_str(const void* data, DType t) {
  const double re = complex_part(data, t, 0, 0), im = complex_part(data, t, 0, 1);
  const DType pt = part_dtype(t);
  if (re == 0 && !std::signbit(re)) return float_scalar_str(im, pt, false) + "j";
  return "(" + float_scalar_str(re, pt, false) + float_scalar_str(im, pt, false, true) + "j)";
}

// ml_dtypes' bfloat16 repr/str: `std::ostream << float` in the classic locale (printf "%g").
std::string ostream_float(float f) {
  std::ostringstream s;
  s.imbue(std::locale::classic());
  s << (std::isnan(f) ? std::fabs(f) : f);
  return s.str();
}

// ---------------------------------------------------------------------------------------------
// Element formatters over the displayed elements (numpy sizes its columns from those only)

using ElementFn = std::function<std::string(int64_t)>;
using ValueFn = std::function<double(int64_t)>;

// numpy's FloatingFormat in 'maxprec' mode over the values value(i) of dtype t; `plus` is its
// sign='+' (the imaginary parts of a complex array).
ElementFn floating_format(const ValueFn& value, DType t, const std::vector<int64_t>& shown,
                          bool plus = false) {
  std::vector<double> finite;
  bool any_nonfinite = false, any_neginf = plus;  // numpy: neginf = sign != '-' or any(x == -inf)
  for (int64_t i : shown) {
    double v = value(i);
    if (std::isfinite(v)) {
      finite.push_back(v);
    } else {
      any_nonfinite = true;
      if (std::isinf(v) && v < 0) any_neginf = true;
    }
  }

  // Scientific when max >= cutoff, min < 1e-4 or max/min > 1e3 over the nonzero finite |values|.
  // Since numpy 2.3 (legacy > '2.2') the cutoff is 10**min(8, finfo(dtype).precision): 1e3 for
  // float16, 1e6 for float32, 1e8 for float64 (it was 1e8 for all before). numpy 2 compares a
  // scalar of the array's dtype with a Python float in that dtype (NEP 50), so the thresholds and
  // the ratio are rounded to the dtype.
  bool exp_format = false;
  {
    double mx = -1, mn = -1;
    for (double v : finite) {
      if (v == 0) continue;
      double a = std::fabs(v);
      if (mx < 0 || a > mx) mx = a;
      if (mn < 0 || a < mn) mn = a;
    }
    if (mx > 0) {
      auto in_dtype = [t](double x) -> double {
        switch (t) {
          case DType::float32:
            return static_cast<float>(x);
          case DType::float16:
            return static_cast<double>(static_cast<_Float16>(x));
          default:
            return x;
        }
      };
      const double cutoff = t == DType::float16 ? 1.e3 : t == DType::float32 ? 1.e6 : 1.e8;
      exp_format =
          mx >= in_dtype(cutoff) || mn < in_dtype(1.e-4) || in_dtype(mx / mn) > in_dtype(1000.);
    }
  }

  int pad_left = 0, pad_right = 0, precision = 0, exp_size = -1;
  if (finite.empty()) {
    // nothing to size
  } else if (exp_format) {
    for (double v : finite) {
      SciParts s = scientific_parts(capped_scientific(v, t, kPrecision), plus);
      precision = std::max(precision, static_cast<int>(s.frac_part.size()));
      pad_left = std::max(pad_left, static_cast<int>(s.int_part.size()));
      exp_size =
          std::max(exp_size, std::max(2, static_cast<int>(std::to_string(std::abs(s.exp)).size())));
    }
    pad_right = exp_size + 2 + precision;
  } else {
    for (double v : finite) {
      auto [ip, fp] = positional_parts(capped_positional(v, t, kPrecision), plus);
      pad_left = std::max(pad_left, static_cast<int>(ip.size()));
      pad_right = std::max(pad_right, static_cast<int>(fp.size()));
    }
  }
  if (any_nonfinite) {
    const int offset = pad_right + 1;  // +1 for the point
    pad_left = std::max({pad_left, 3 - offset, 3 + (any_neginf ? 1 : 0) - offset});
  }

  return [=](int64_t i) -> std::string {
    double v = value(i);
    auto pad_to = [](std::string s, int width) {
      if (static_cast<int>(s.size()) < width) s.insert(0, width - s.size(), ' ');
      return s;
    };
    if (!std::isfinite(v)) {
      std::string r = std::isnan(v) ? "nan" : (v < 0 ? "-inf" : "inf");
      if (plus && !(std::isinf(v) && v < 0)) r = "+" + r;
      return pad_to(r, pad_left + pad_right + 1);
    }
    if (exp_format) {
      SciParts s = scientific_parts(capped_scientific(v, t, precision), plus);
      std::string frac = s.frac_part + std::string(precision - s.frac_part.size(), '0');
      return pad_to(s.int_part, pad_left) + "." + frac + exponent_text(s.exp, exp_size);
    }
    auto [ip, fp] = positional_parts(capped_positional(v, t, kPrecision), plus);
    return pad_to(ip, pad_left) + "." + fp + std::string(pad_right - fp.size(), ' ');
  };
}

// numpy's ComplexFloatingFormat: the real parts and the imaginary parts each formatted as a float
// array of the part dtype (the imaginary ones signed), "j" put before the imaginary part's padding.
ElementFn complex_format(const void* data, DType t, const std::vector<int64_t>& shown) {
  const DType pt = part_dtype(t);
  ElementFn re = floating_format([=](int64_t i) { return complex_part(data, t, i, 0); }, pt, shown);
  ElementFn im =
      floating_format([=](int64_t i) { return complex_part(data, t, i, 1); }, pt, shown, true);
  return [=](int64_t i) {
    std::string r = re(i), m = im(i);
    size_t end = m.find_last_not_of(' ');
    m.insert(end == std::string::npos ? 0 : end + 1, "j");
    return r + m;
  };
}

// numpy's IntegerFormat: right-aligned to the widest of str(max) and str(min).
ElementFn integer_format(const void* data, DType t, const std::vector<int64_t>& shown) {
  size_t width = 0;
  for (int64_t i : shown) width = std::max(width, integer_text(data, t, i).size());
  return [=](int64_t i) {
    std::string s = integer_text(data, t, i);
    if (s.size() < width) s.insert(0, width - s.size(), ' ');
    return s;
  };
}

ElementFn element_format(const void* data, DType t, const std::vector<int64_t>& shown,
                         bool zero_d) {
  switch (t) {
    case DType::bool_:
      // BoolFormat: " True" so that it lines up with "False", except in a 0-d array.
      return [=](int64_t i) -> std::string {
        return element_as_bool(data, i) ? (zero_d ? "True" : " True") : "False";
      };
    case DType::bfloat16:
      return [=](int64_t i) {
        return ostream_float(static_cast<float>(element_as_double(data, t, i)));
      };
    case DType::float16:
    case DType::float32:
    case DType::float64:
      return floating_format([=](int64_t i) { return element_as_double(data, t, i); }, t, shown);
    case DType::complex64:
    case DType::complex128:
      return complex_format(data, t, shown);
    default:
      return integer_format(data, t, shown);
  }
}

// ---------------------------------------------------------------------------------------------
// numpy's _formatArray

struct Layout {
  const Shape& shape;
  std::vector<int64_t> strides;
  bool summarise;
  const ElementFn& fmt;
  std::string separator;
};

bool show_summary(const Layout& L, int axis) {
  return L.summarise && 2 * kEdgeItems < L.shape[axis];
}

// The flat indices numpy shows (_leading_trailing), in order.
void collect_shown(const Layout& L, int axis, int64_t offset, std::vector<int64_t>& out) {
  if (axis == L.shape.rank()) {
    out.push_back(offset);
    return;
  }
  const int64_t n = L.shape[axis];
  for (int64_t i = 0; i < n; ++i) {
    if (show_summary(L, axis) && i == kEdgeItems) i = n - kEdgeItems;
    collect_shown(L, axis + 1, offset + i * L.strides[axis], out);
  }
}

// _extendLine: numpy wraps before a word that would pass the width, unless the line holds
// nothing but its indent yet.
void extend_line(std::string& s, std::string& line, const std::string& word, int width,
                 const std::string& indent) {
  bool wrap = static_cast<int>(line.size() + word.size()) > width;
  if (line.size() <= indent.size()) wrap = false;
  if (wrap) {
    size_t end = line.find_last_not_of(' ');
    s += line.substr(0, end == std::string::npos ? 0 : end + 1) + "\n";
    line = indent;
  }
  line += word;
}

std::string recurse(const Layout& L, int axis, int64_t offset, const std::string& hanging_indent,
                    int width) {
  const int axes_left = L.shape.rank() - axis;
  if (axes_left == 0) return L.fmt(offset);

  const std::string next_indent = hanging_indent + " ";
  const int next_width = width - 1;  // len("]")
  const int64_t n = L.shape[axis];
  const bool summary = show_summary(L, axis);
  const int64_t leading = summary ? kEdgeItems : 0;
  const int64_t trailing = summary ? kEdgeItems : n;
  auto child = [&](int64_t i) {
    return recurse(L, axis + 1, offset + i * L.strides[axis], next_indent, next_width);
  };

  std::string s;
  if (axes_left == 1) {
    std::string sep_stripped = L.separator.substr(0, L.separator.find_last_not_of(' ') + 1);
    const int elem_width = width - std::max(static_cast<int>(sep_stripped.size()), 1);
    std::string line = hanging_indent;
    for (int64_t i = 0; i < leading; ++i) {
      extend_line(s, line, child(i), elem_width, hanging_indent);
      line += L.separator;
    }
    if (summary) {
      extend_line(s, line, "...", elem_width, hanging_indent);
      line += L.separator;
    }
    for (int64_t i = trailing; i > 1; --i) {
      extend_line(s, line, child(n - i), elem_width, hanging_indent);
      line += L.separator;
    }
    extend_line(s, line, child(n - 1), elem_width, hanging_indent);
    s += line;
  } else {
    std::string line_sep = L.separator.substr(0, L.separator.find_last_not_of(' ') + 1) +
                           std::string(axes_left - 1, '\n');
    for (int64_t i = 0; i < leading; ++i) s += hanging_indent + child(i) + line_sep;
    if (summary) s += hanging_indent + "..." + line_sep;
    for (int64_t i = trailing; i > 1; --i) s += hanging_indent + child(n - i) + line_sep;
    s += hanging_indent + child(n - 1);
  }
  return "[" + s.substr(hanging_indent.size()) + "]";
}

// numpy's array2string for a non-empty array: `prefix_len` is len(prefix) and `width` the
// linewidth less len(suffix).
std::string array2string(const void* data, DType dtype, const Shape& shape,
                         const std::string& separator, size_t prefix_len, int width) {
  const bool summarise = shape.numel() > kThreshold;
  ElementFn placeholder;
  Layout L{shape, strides_of(shape), summarise, placeholder, separator};
  std::vector<int64_t> shown;
  collect_shown(L, 0, 0, shown);
  ElementFn fmt = element_format(data, dtype, shown, shape.rank() == 0);
  Layout with_fmt{shape, L.strides, summarise, fmt, separator};
  return recurse(with_fmt, 0, 0, " " + std::string(prefix_len, ' '), width);
}

}  // namespace

std::string format_str(const void* host_data, DType dtype, const Shape& shape) {
  if (shape.rank() == 0) {
    // numpy's str of a 0-d array is the str of its scalar.
    switch (dtype) {
      case DType::bool_:
        return element_as_bool(host_data, 0) ? "True" : "False";
      case DType::bfloat16:
        return ostream_float(static_cast<float>(element_as_double(host_data, dtype, 0)));
      case DType::float16:
      case DType::float32:
      case DType::float64:
        return float_scalar_str(element_as_double(host_data, dtype, 0), dtype);
      case DType::complex64:
      case DType::complex128:
        return complex_scalar_str(host_data, dtype);
      default:
        return integer_text(host_data, dtype, 0);
    }
  }
  if (shape.numel() == 0) return "[]";
  return array2string(host_data, dtype, shape, " ", 0, kLineWidth);
}

std::string format_repr(const void* host_data, DType dtype, const Shape& shape) {
  const std::string prefix = "Array(";
  const std::string dtype_str = "dtype=" + std::string(name(dtype)) + ")";
  std::string s;
  if (shape.numel() == 0) {
    s = "[], shape=" + shape.str();
  } else {
    // suffix "," shortens the line by one (array2string: linewidth -= len(suffix)).
    s = array2string(host_data, dtype, shape, ", ", prefix.size(), kLineWidth - 1);
  }
  // JAX's own arithmetic, kept as is: len(s) - s.rfind('\n') + 1.
  const size_t nl = s.rfind('\n');
  const int64_t last_line_len = static_cast<int64_t>(s.size()) -
                                (nl == std::string::npos ? -1 : static_cast<int64_t>(nl)) + 1;
  std::string sep = " ";
  if (last_line_len + static_cast<int64_t>(dtype_str.size()) + 1 > kLineWidth)
    sep = std::string(prefix.size(), ' ');
  return prefix + s + "," + sep + dtype_str;
}

}  // namespace kiln
