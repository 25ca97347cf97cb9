// Checkpoint files in either format: reading and writing by extension, conversion, comparison.
//
// Everything goes through the state dict (StateValue), which holds all either format can say, so
// conversions are lossless and `diff` compares a msgpack file with a safetensors one by content.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstring>
#include <map>

#include "io/chunked_array.hpp"
#include "io/mapped_file.hpp"
#include "io/state_value_text.hpp"
#include "kiln/checkpoints.hpp"
#include "kiln/safetensors.hpp"

namespace kiln::checkpoints {
namespace {

using serialization::StateValue;
using K = StateValue::Kind;

// One comparable entry: an array (chunked ones joined) or anything else as its text.
struct Leaf {
  const StateValue* value;
  Array array;  // set for arrays, numpy scalars and chunked arrays
};

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

void flatten(const StateValue& v, const std::string& path,
             std::vector<std::pair<std::string, Leaf>>& out) {
  if (v.kind == K::array || v.kind == K::scalar) {
    out.push_back({path, {&v, v.array}});
  } else if (v.kind == K::map && serialization::is_chunked_array(v)) {
    out.push_back({path, {&v, serialization::unchunk_array(v, path)}});
  } else if (v.kind == K::map && v.map && !v.map->entries.empty()) {
    for (const auto& [k, x] : v.map->entries) flatten(x, join(path, k), out);
  } else {
    out.push_back({path, {&v, Array()}});  // native values and empty maps
  }
}

std::string text_of(const Leaf& l) {
  if (!l.array.empty()) return serialization::array_type(l.array.dtype(), l.array.shape());
  if (l.value->kind == K::map) return "{}";
  return serialization::native_text(*l.value);
}

// The elements of a host array (a view into a mapped file, or any array on the host) as bytes.
const uint8_t* host_bytes(const Array& a, Array& keep) {
  keep = a.buffer()->host_data() != nullptr ? a : device_get(a);
  return static_cast<const uint8_t*>(keep.buffer()->host_data());
}

// Element i of the bytes `p` of dtype T, exactly, as an integer (integers and bools).
template <class T>
__int128 int_at(const uint8_t* p, size_t i) {
  T x;
  std::memcpy(&x, p + i * sizeof(T), sizeof(T));
  return static_cast<__int128>(x);
}

// Element i as a complex double: real floats widened (float16 and bfloat16 exactly), complex as
// stored, integers converted.
template <class T>
std::complex<double> complex_at(const uint8_t* p, size_t i) {
  T x;
  std::memcpy(&x, p + i * sizeof(T), sizeof(T));
  if constexpr (std::is_same_v<T, bf16> || std::is_same_v<T, f16>) {
    return to_float(x);
  } else if constexpr (std::is_same_v<T, std::complex<float>> ||
                       std::is_same_v<T, std::complex<double>>) {
    return {static_cast<double>(x.real()), static_cast<double>(x.imag())};
  } else {
    return static_cast<double>(x);
  }
}

// visit_dtype, complex dtypes included (visit_dtype leaves them out: no kernel computes on them,
// but a comparison reads their bytes).
template <class F>
void visit_stored(DType t, F&& f) {
  if (t == DType::complex64) return f(std::complex<float>{});
  if (t == DType::complex128) return f(std::complex<double>{});
  visit_dtype(t, f);
}

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

bool same_number(double x, double y) {
  return x == y || (std::isnan(x) && std::isnan(y));
}

// Values of two equal-shaped arrays: how many elements differ and by how much at most. Integers
// compare exactly; floats and complex as complex doubles (parts NaN equal to NaN), the difference
// as the modulus. Element by element from the stored bytes, so comparing costs no memory beyond
// the arrays themselves (a view into a mapped file costs none).
std::string compare_values(const Array& a, const Array& b, bool& differ) {
  const auto n = static_cast<size_t>(a.size());
  Array keep_a, keep_b;
  const uint8_t* pa = host_bytes(a, keep_a);
  const uint8_t* pb = host_bytes(b, keep_b);
  size_t count = 0;
  double max_diff = 0;
  auto int_like = [](DType t) { return is_integer(t) || t == DType::bool_; };
  if (int_like(a.dtype()) && int_like(b.dtype())) {
    visit_dtype(a.dtype(), [&](auto ta) {
      visit_dtype(b.dtype(), [&](auto tb) {
        using A = decltype(ta);
        using B = decltype(tb);
        if constexpr (std::is_integral_v<A> && std::is_integral_v<B>) {
          for (size_t i = 0; i < n; ++i) {
            const __int128 x = int_at<A>(pa, i), y = int_at<B>(pb, i);
            if (x == y) continue;
            ++count;
            max_diff = std::max(max_diff, static_cast<double>(x > y ? x - y : y - x));
          }
        }
      });
    });
  } else {
    visit_stored(a.dtype(), [&](auto ta) {
      visit_stored(b.dtype(), [&](auto tb) {
        using A = decltype(ta);
        using B = decltype(tb);
        for (size_t i = 0; i < n; ++i) {
          const std::complex<double> x = complex_at<A>(pa, i), y = complex_at<B>(pb, i);
          if (same_number(x.real(), y.real()) && same_number(x.imag(), y.imag())) continue;
          ++count;
          const double d = std::abs(x - y);
          max_diff = std::isnan(d) ? NAN : std::isnan(max_diff) ? max_diff : std::max(max_diff, d);
        }
      });
    });
  }
  if (count == 0) {
    // Equal values can still differ in bits (-0.0 and 0.0, NaN payloads, or the dtype).
    if (a.dtype() == b.dtype() && n > 0 && std::memcmp(pa, pb, n * itemsize(a.dtype())) != 0) {
      differ = true;
      return "equal values but different bits (-0.0 vs 0.0 or NaN payloads)";
    }
    return "";
  }
  differ = true;
  return std::to_string(count) + " of " + std::to_string(n) +
         (n == 1 ? " element differs" : " elements differ") + ", max abs difference " +
         number(max_diff);
}

bool same_native(const StateValue& a, const StateValue& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::nil:
      return true;
    case K::boolean:
      return a.b == b.b;
    case K::integer:
      return a.i_unsigned == b.i_unsigned && (a.i_unsigned ? a.u == b.u : a.i == b.i);
    case K::floating:
      return a.f_single == b.f_single && (a.f == b.f || (std::isnan(a.f) && std::isnan(b.f)));
    case K::string:
      return a.s == b.s;
    case K::complex:
      return same_number(a.f, b.f) && same_number(a.imag, b.imag);
    default:
      return true;  // empty maps
  }
}

}  // namespace

Format format_of(const std::filesystem::path& path) {
  auto ext = path.extension().string();
  if (ext == ".msgpack") return Format::msgpack;
  if (ext == ".safetensors") return Format::safetensors;
  throw ValueError("cannot tell the format of " + path.string() +
                   " from its extension: use .msgpack (Flax) or .safetensors");
}

StateValue read_state_in_place(const std::filesystem::path& path) {
  Format f = format_of(path);
  const auto file = serialization::MappedFile::open(path);
  if (f == Format::msgpack) return serialization::decode_in_place(file, path.string());
  return safetensors::to_state_dict(safetensors::decode_in_place(file, path.string()),
                                    path.string());
}

StateValue read_state(const std::filesystem::path& path) {
  Format f = format_of(path);
  auto bytes = serialization::read_file(path);
  if (f == Format::msgpack) return serialization::decode(bytes, path.string());
  return safetensors::to_state_dict(safetensors::decode(bytes, path.string()), path.string());
}

void write_state(const std::filesystem::path& path, const StateValue& state,
                 const serialization::WriteOptions& options) {
  if (format_of(path) == Format::msgpack) {
    serialization::write_file(path, serialization::encode(state), options);
  } else {
    safetensors::File f;
    try {
      f = safetensors::from_state_dict(state);
    } catch (const ValueError& e) {
      throw ValueError("cannot write " + path.string() + ": " + e.what());
    }
    safetensors::write(path, f, options);
  }
}

void convert(const std::filesystem::path& in, const std::filesystem::path& out,
             const serialization::WriteOptions& options) {
  format_of(out);  // a bad output name fails before the input is read
  serialization::refuse_read_only(out, options);  // so does a read-only one
  write_state(out, read_state_in_place(in), options);
}

Diff diff(const StateValue& a, const StateValue& b, const std::string& a_name,
          const std::string& b_name) {
  std::vector<std::pair<std::string, Leaf>> la, lb;
  flatten(a, "", la);
  flatten(b, "", lb);
  std::map<std::string, const Leaf*> in_b;
  for (const auto& [p, l] : lb) in_b.emplace(p, &l);
  std::map<std::string, bool> in_a;
  for (const auto& [p, l] : la) in_a.emplace(p, true);

  Diff d;
  size_t differing = 0;
  auto line = [&](const std::string& s) {
    d.report += s + "\n";
    ++differing;
  };
  for (const auto& [path, l] : la) {
    std::string name = path.empty() ? "(top level)" : path;
    auto it = in_b.find(path);
    if (it == in_b.end()) {
      line("only in " + a_name + ": " + name + " " + text_of(l));
      continue;
    }
    const Leaf& r = *it->second;
    if (l.array.empty() != r.array.empty()) {
      line(name + ": " + text_of(l) + " vs " + text_of(r));
      continue;
    }
    if (l.array.empty()) {
      if (!same_native(*l.value, *r.value)) line(name + ": " + text_of(l) + " vs " + text_of(r));
      continue;
    }
    bool kinds_differ = (l.value->kind == K::scalar) != (r.value->kind == K::scalar);
    if (!(l.array.shape() == r.array.shape())) {
      line(name + ": " + text_of(l) + " vs " + text_of(r));
      continue;
    }
    bool differ = false;
    std::string values = compare_values(l.array, r.array, differ);
    serialization::release_pages(l.array);  // done with them: a diff holds one pair at a time
    serialization::release_pages(r.array);
    std::string what;
    if (l.array.dtype() != r.array.dtype()) what = text_of(l) + " vs " + text_of(r);
    if (kinds_differ)
      what += std::string(what.empty() ? "" : "; ") + "a numpy scalar in " +
              (l.value->kind == K::scalar ? a_name : b_name) + " only";
    if (!values.empty()) what += (what.empty() ? "" : "; ") + values;
    if (!what.empty())
      line(name + " " + (l.array.dtype() == r.array.dtype() ? text_of(l) + ": " : ": ") + what);
  }
  for (const auto& [path, l] : lb)
    if (!in_a.count(path))
      line("only in " + b_name + ": " + (path.empty() ? "(top level)" : path) + " " + text_of(l));

  d.identical = differing == 0;
  size_t total = la.size();
  for (const auto& [path, l] : lb) total += in_a.count(path) ? 0 : 1;
  d.report += d.identical ? "identical: " + std::to_string(total) + " entries\n"
                          : std::to_string(differing) + " of " + std::to_string(total) +
                                " entries differ\n";
  return d;
}

Diff diff_files(const std::filesystem::path& a, const std::filesystem::path& b) {
  return diff(read_state_in_place(a), read_state_in_place(b), a.string(), b.string());
}

}  // namespace kiln::checkpoints
