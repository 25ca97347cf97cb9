// Byte and array helpers shared by the serialization tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/serialization.hpp"

namespace kiln::testing_io {

// The checkpoint Flax wrote, in ../shared next to the checkout (never copied into the repository).
inline std::filesystem::path flax_fixture() {
  return (std::filesystem::path(KILN_SOURCE_DIR) / ".." / "shared" / "fixtures" / "flax" /
          "trainstate_sgd_momentum_transformer.msgpack")
      .lexically_normal();
}
#define KILN_SKIP_WITHOUT_FLAX_FIXTURE()                            \
  if (!std::filesystem::exists(::kiln::testing_io::flax_fixture())) \
  GTEST_SKIP() << ::kiln::testing_io::flax_fixture().string()       \
               << " absent: ../shared/fixtures absent"

// "81 a1 61" -> {0x81, 0xa1, 0x61}; spaces are ignored, "'text'" inserts the ASCII bytes of text.
inline std::vector<uint8_t> hex(std::string_view s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == ' ') {
      ++i;
    } else if (s[i] == '\'') {
      size_t end = s.find('\'', i + 1);
      for (size_t j = i + 1; j < end; ++j) out.push_back(static_cast<uint8_t>(s[j]));
      i = end + 1;
    } else {
      out.push_back(static_cast<uint8_t>(std::stoul(std::string(s.substr(i, 2)), nullptr, 16)));
      i += 2;
    }
  }
  return out;
}

inline std::string to_hex(const std::vector<uint8_t>& b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i) s += ' ';
    s += digits[b[i] >> 4];
    s += digits[b[i] & 15];
  }
  return s;
}

inline Array f32(std::vector<float> v, Shape s) {
  return Array::from_data<float>(v, s);
}
inline Array i32(std::vector<int32_t> v, Shape s) {
  return Array::from_data<int32_t>(v, s);
}

inline serialization::StateValue map_of(
    std::vector<std::pair<std::string, serialization::StateValue>> entries) {
  serialization::StateValue v;
  v.kind = serialization::StateValue::Kind::map;
  v.map = std::make_shared<serialization::StateValue::Map>();
  v.map->entries = std::move(entries);
  return v;
}

// An array leaf of a state dict: ext 1 (array) or, with Kind::scalar, ext 3 (numpy scalar).
inline serialization::StateValue array_value(
    Array a, serialization::StateValue::Kind kind = serialization::StateValue::Kind::array) {
  serialization::StateValue v;
  v.kind = kind;
  v.array = std::move(a);
  return v;
}

inline serialization::StateValue int_value(int64_t i) {
  serialization::StateValue v;
  v.kind = serialization::StateValue::Kind::integer;
  v.i = i;
  return v;
}

// The message of the kiln::Error that f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace kiln::testing_io
