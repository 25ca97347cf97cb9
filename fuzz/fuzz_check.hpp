// Helpers shared by kiln's fuzz targets: a failed property prints what broke and aborts, so
// libFuzzer records the input as a crash (and keeps it in the artifact directory).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kiln/serialization.hpp"

namespace kiln_fuzz {

[[noreturn]] inline void property_failed(const std::string& what) {
  std::fprintf(stderr, "\n==kiln-fuzz== PROPERTY VIOLATED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline std::vector<uint8_t> host_bytes(const kiln::Array& a) {
  std::vector<uint8_t> out(static_cast<size_t>(a.size()) * kiln::itemsize(a.dtype()));
  if (!out.empty()) a.copy_to_host(out.data(), a.dtype());
  return out;
}

// Exact equality of two state dicts: kinds, the msgpack encoding each value had, keys in order,
// floats bit for bit (NaN payloads included), arrays' dtype, shape and bytes. On a difference,
// `where` says the path.
inline bool same_state(const kiln::serialization::StateValue& a,
                       const kiln::serialization::StateValue& b, std::string& where,
                       const std::string& path = ".") {
  using K = kiln::serialization::StateValue::Kind;
  where = path;
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::nil:
      return true;
    case K::boolean:
      return a.b == b.b;
    case K::integer:
      return a.i_unsigned == b.i_unsigned && (a.i_unsigned ? a.u == b.u : a.i == b.i);
    case K::floating:
      return a.f_single == b.f_single && std::memcmp(&a.f, &b.f, sizeof a.f) == 0;
    case K::string:
      return a.s == b.s;
    case K::complex:
      return std::memcmp(&a.f, &b.f, sizeof a.f) == 0 &&
             std::memcmp(&a.imag, &b.imag, sizeof a.imag) == 0;
    case K::array:
    case K::scalar:
      return a.array.dtype() == b.array.dtype() && a.array.shape() == b.array.shape() &&
             host_bytes(a.array) == host_bytes(b.array);
    case K::map: {
      size_t na = a.map ? a.map->entries.size() : 0, nb = b.map ? b.map->entries.size() : 0;
      if (na != nb) return false;
      for (size_t i = 0; i < na; ++i) {
        const auto& [ka, va] = a.map->entries[i];
        const auto& [kb, vb] = b.map->entries[i];
        if (ka != kb) {
          where = path + "/" + ka;
          return false;
        }
        if (!same_state(va, vb, where, path + "/" + ka)) return false;
      }
      return true;
    }
  }
  return false;
}

}  // namespace kiln_fuzz
