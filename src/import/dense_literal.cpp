#include "import/dense_literal.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

#include "kiln/error.hpp"

namespace kiln::mlir {
namespace {

[[noreturn]] void fail(std::string_view source, Pos at, const std::string& what,
                       const std::string& hint) {
  throw ValueError(where(source, at) + what + (hint.empty() ? "" : ". " + hint));
}

void flatten(const Attr& e, std::vector<const Attr*>& out) {
  if (e.kind != Attr::Kind::list) {
    out.push_back(&e);
    return;
  }
  for (const Attr& x : e.items) flatten(x, out);
}

}  // namespace

std::vector<const Attr*> dense_elements(const Attr& dense) {
  std::vector<const Attr*> out;
  for (const Attr& e : dense.items) flatten(e, out);
  return out;
}

DenseBytes dense_bytes(const Attr& dense, std::string_view source_name) {
  const ir::ValueType& t = dense.type;
  const DType dt = t.dtype;
  const size_t item = itemsize(dt);
  const int64_t n = t.shape.numel();
  DenseBytes out;
  std::vector<uint8_t>& bytes = out.bytes;
  bool& splat = out.splat;
  if (!dense.items.empty() &&
      dense.items[0].kind == Attr::Kind::string) {  // dense<"0x0000803F...">
    const std::string& hex = dense.items[0].text;
    if (hex.size() < 2 || hex[0] != '0' || (hex[1] != 'x' && hex[1] != 'X') || hex.size() % 2)
      fail(source_name, dense.items[0].pos,
           "a hex dense literal must be \"0x\" and an even number of digits", "");
    auto digit = [&](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      fail(source_name, dense.items[0].pos,
           "bad hex digit '" + std::string(1, c) + "' in a dense literal",
           "Write the bytes as hex digits 0-9, A-F");
    };
    for (size_t i = 2; i < hex.size(); i += 2)
      bytes.push_back(static_cast<uint8_t>(digit(hex[i]) * 16 + digit(hex[i + 1])));
    if (dt == DType::bool_)
      for (uint8_t& b : bytes) b = b != 0;  // kiln's bools are 0 or 1
    splat = bytes.size() == item && n != 1;
    if (!splat && bytes.size() != static_cast<size_t>(n) * item)
      fail(source_name, dense.pos,
           "hex dense literal has " + std::to_string(bytes.size()) + " bytes for " + type_text(t) +
               " (" + std::to_string(n * item) + " expected)",
           "Give the raw little-endian bytes of every element, or of one for all");
  } else {
    const std::vector<const Attr*> flat = dense_elements(dense);
    splat = flat.size() == 1 && n != 1;
    if (!splat && static_cast<int64_t>(flat.size()) != n)
      fail(source_name, dense.pos,
           "dense literal has " + std::to_string(flat.size()) + " elements for " + type_text(t),
           "Give one element per position (nested [..] in row-major order), or one for all");
    bytes.resize(flat.size() * item);
    for (size_t i = 0; i < flat.size(); ++i) {
      const Attr& e = *flat[i];
      uint64_t bits = 0;
      auto bad = [&](const std::string& why) {
        fail(source_name, e.pos,
             "bad dense element '" + e.text + "' for " + type_text(t) + ": " + why,
             "Write true/false for i1, integers for integer types, decimals or 0x bits for "
             "floats, (re,im) for complex");
      };
      // A float element of dtype ft: a decimal (correctly rounded) or its bits in hex.
      auto float_bits = [&](const Attr& x, DType ft) -> uint64_t {
        if (x.kind == Attr::Kind::integer && x.is_hex) {
          const auto b = static_cast<uint64_t>(x.integer);
          if (itemsize(ft) < 8 && (b >> (8 * itemsize(ft))) != 0)
            bad("more bits than the type has");
          return b;
        }
        if (x.kind != Attr::Kind::integer && x.kind != Attr::Kind::floating)
          bad("expected a number");
        if (ft == DType::float32) {
          const float f = std::strtof(x.text.c_str(), nullptr);
          uint32_t b = 0;
          std::memcpy(&b, &f, 4);
          return b;
        }
        return Scalar::from_double(std::strtod(x.text.c_str(), nullptr), ft).bits;
      };
      if (is_complex(dt)) {
        if (e.kind != Attr::Kind::complex) bad("expected a complex element (re,im)");
        const DType part = real_dtype(dt);
        const size_t half = itemsize(part);
        for (size_t k = 0; k < 2; ++k) {
          const uint64_t b = float_bits(e.items[k], part);
          std::memcpy(bytes.data() + i * item + k * half, &b, half);
        }
        continue;
      }
      if (e.kind == Attr::Kind::complex) bad("a complex element for a real type");
      if (dt == DType::bool_) {
        if (e.kind == Attr::Kind::keyword) {
          bits = e.text == "true" ? 1 : 0;
        } else if (e.kind == Attr::Kind::integer && (e.integer == 0 || e.integer == 1)) {
          bits = static_cast<uint64_t>(e.integer);
        } else {
          bad("expected true or false");
        }
      } else if (is_integer(dt)) {
        if (e.kind != Attr::Kind::integer) bad("expected an integer");
        const int b = static_cast<int>(8 * item);
        const bool neg = !e.text.empty() && e.text[0] == '-';
        if (is_unsigned(dt) && neg) bad("negative value for an unsigned type");
        if (b < 64) {
          const int64_t lo = is_unsigned(dt) || e.is_hex ? 0 : -(int64_t{1} << (b - 1));
          const int64_t hi =
              is_unsigned(dt) || e.is_hex ? (int64_t{1} << b) - 1 : (int64_t{1} << (b - 1)) - 1;
          if (e.integer < lo || e.integer > hi) bad("out of range");
        }
        bits = static_cast<uint64_t>(e.integer);
      } else {  // floats
        bits = float_bits(e, dt);
      }
      std::memcpy(bytes.data() + i * item, &bits, item);  // little-endian host
    }
  }
  return out;
}

}  // namespace kiln::mlir
