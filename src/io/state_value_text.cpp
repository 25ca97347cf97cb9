#include "io/state_value_text.hpp"

#include <charconv>
#include <cmath>

#include "io/chunked_array.hpp"

namespace kiln::serialization {

std::string array_type(DType dtype, const Shape& shape) {
  return std::string(name(dtype)) + "[" + shape.dims_str() + "]";
}

namespace {

// Python's repr of a float: shortest round-trip digits, and "1.0" rather than "1".
std::string python_float(double f) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f);
  std::string s(buf, end);
  if (s == "inf" || s == "-inf") return s;
  if (s == "nan" || s == "-nan") return "nan";
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

// Python's repr of a complex: "(1+2j)", "(1.5-0j)", "2j" when the real part is +0; the parts
// without a trailing ".0".
std::string python_complex(double re, double im) {
  auto part = [](double x) {
    std::string s = python_float(x);
    if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
    return s;
  };
  std::string imag = part(im) + "j";
  if (re == 0 && !std::signbit(re)) return imag;
  if (imag[0] != '-') imag = "+" + imag;
  return "(" + part(re) + imag + ")";
}

}  // namespace

std::string native_text(const StateValue& v) {
  using K = StateValue::Kind;
  switch (v.kind) {
    case K::nil:
      return "None";
    case K::boolean:
      return v.b ? "bool True" : "bool False";
    case K::integer:
      return "int " + (v.i_unsigned ? std::to_string(v.u) : std::to_string(v.i));
    case K::floating:
      return (v.f_single ? "float32 " : "float ") + python_float(v.f);
    case K::string:
      return "str '" + v.s + "'";
    case K::complex:
      return "complex " + python_complex(v.f, v.imag);
    case K::array:
    case K::scalar:
    case K::map:
      break;
  }
  return "";
}

std::string describe(const StateValue& v) {
  using K = StateValue::Kind;
  switch (v.kind) {
    case K::array:
      return "an array " + array_type(v.array.dtype(), v.array.shape());
    case K::scalar:
      return "a numpy scalar " + array_type(v.array.dtype(), v.array.shape());
    case K::map: {
      if (auto type = chunked_array_type(v))
        return "a chunked array " + array_type(type->first, type->second);
      size_t n = v.map ? v.map->entries.size() : 0;
      return "a map with " + std::to_string(n) + (n == 1 ? " entry" : " entries");
    }
    default:
      return native_text(v);
  }
}

std::string describe(const Tree& t) {
  switch (t.kind()) {
    case Tree::Kind::none:
      return "None";
    case Tree::Kind::leaf:
      return "an array " + array_type(t.leaf().dtype(), t.leaf().shape());
    case Tree::Kind::dict:
      return "a dict";
    case Tree::Kind::list:
      return "a list of " + std::to_string(t.size());
  }
  return "";
}

}  // namespace kiln::serialization
