// flax.serialization for kiln trees: to_state_dict / from_state_dict and the msgpack wrappers.
//
// from_state_dict follows Flax's rules and messages (target keys must be in the state, lists must
// match in size, paths like ./params/Dense_0). Strict, the default, adds what Flax does not check:
// no keys beyond the template's, and every array's shape and dtype, so a wrong checkpoint fails at
// load, not deep inside a jitted step. Lenient is Flax's own behaviour: extra state keys are
// dropped and arrays are taken as the file has them.
#include <algorithm>
#include <complex>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "io/chunked_array.hpp"
#include "io/state_value_text.hpp"
#include "kiln/serialization.hpp"

namespace kiln::serialization {
namespace {

StateValue map_value() {
  StateValue v;
  v.kind = StateValue::Kind::map;
  v.map = std::make_shared<StateValue::Map>();
  return v;
}

// A state map's entries by key. A repeated key resolves to its last value, as Python's dict does
// when msgpack.unpackb builds it.
class Entries {
 public:
  explicit Entries(const StateValue& m) {
    index_.reserve(m.map->entries.size());
    for (const auto& [k, v] : m.map->entries) index_[k] = &v;
  }
  const StateValue* find(const std::string& key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : it->second;
  }
  size_t size() const { return index_.size(); }

 private:
  std::unordered_map<std::string_view, const StateValue*> index_;
};

std::string join(const std::string& path, const std::string& key) {
  return path + "/" + key;
}

// Python's repr of a set of str, in the order given (Python's own order is a hash order).
std::string python_set(const std::vector<std::string>& keys) {
  std::string s = "{";
  for (size_t i = 0; i < keys.size(); ++i) s += (i ? ", '" : "'") + keys[i] + "'";
  return s + "}";
}

class Restorer {
 public:
  Restorer(const std::string& source, const RestoreOptions& options)
      : source_(source), strict_(options.strict) {}

  Tree restore(const Tree& templ, const StateValue& state, const std::string& path) {
    switch (templ.kind()) {
      case Tree::Kind::none:
        return restore_none(state, path);
      case Tree::Kind::leaf:
        return Tree(restore_leaf(templ.leaf(), state, path));
      case Tree::Kind::dict:
        return restore_dict(templ, state, path);
      case Tree::Kind::list:
        return restore_list(templ, state, path);
    }
    return {};
  }

 private:
  [[noreturn]] void mismatch(const std::string& path, const std::string& expected,
                             const StateValue& found) const {
    throw ValueError(source_ + ": at path " + path + " the template has " + expected +
                     " but the state dict has " + describe(found));
  }
  void require_map(const Tree& templ, const StateValue& state, const std::string& path) const {
    if (state.kind != StateValue::Kind::map || is_chunked_array(state))
      mismatch(path, describe(templ), state);
  }

  // Flax returns the state unchanged where the target is not a registered type, as None is.
  Tree restore_none(const StateValue& state, const std::string& path) const {
    if (state.kind == StateValue::Kind::nil) return {};
    if (state.kind == StateValue::Kind::array || state.kind == StateValue::Kind::scalar)
      return Tree(state.array);
    if (is_chunked_array(state)) return Tree(unchunk_array(state, source_ + ": at path " + path));
    mismatch(path, "None", state);
  }

  Tree restore_dict(const Tree& templ, const StateValue& state, const std::string& path) {
    require_map(templ, state, path);
    Entries entries(state);
    std::vector<std::string> missing;
    for (const auto& [k, sub] : templ.items())
      if (!entries.find(k)) missing.push_back(k);
    if (!missing.empty())
      throw ValueError(source_ +
                       ": The target dict keys and state dict keys do not match, target dict "
                       "contains keys " +
                       python_set(missing) + " which are not present in state dict at path " +
                       path);
    if (strict_ && entries.size() != templ.items().size()) {
      std::vector<std::string> extra;
      for (const auto& [k, sub] : state.map->entries)
        if (!templ.contains(k) && std::find(extra.begin(), extra.end(), k) == extra.end())
          extra.push_back(k);
      throw ValueError(source_ + ": the state dict has keys " + python_set(extra) +
                       " which the template does not have at path " + path +
                       " (restore with RestoreOptions{.strict = false} to drop them, as Flax "
                       "does)");
    }
    Tree::Dict out;
    out.reserve(templ.items().size());
    for (const auto& [k, sub] : templ.items())
      out.emplace_back(k, restore(sub, *entries.find(k), join(path, k)));
    return Tree(std::move(out));
  }

  Tree restore_list(const Tree& templ, const StateValue& state, const std::string& path) {
    require_map(templ, state, path);
    Entries entries(state);
    size_t n = templ.size();
    if (entries.size() != n)
      throw ValueError(source_ + ": The size of the list and the state dict do not match, got " +
                       std::to_string(n) + " and " + std::to_string(entries.size()) + " at path " +
                       path);
    Tree::List out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      std::string k = std::to_string(i);
      const StateValue* sub = entries.find(k);
      if (!sub)
        throw ValueError(source_ + ": the state dict for the list at path " + path +
                         " has no key '" + k +
                         "' (lists are saved as maps keyed \"0\", \"1\", ...)");
      out.push_back(restore(templ.elements()[i], *sub, join(path, k)));
    }
    return Tree::list(std::move(out));
  }

  Array restore_leaf(const Array& like, const StateValue& state, const std::string& path) const {
    using K = StateValue::Kind;
    const std::string expected = "an array " + array_type(like.dtype(), like.shape());
    Array found;
    switch (state.kind) {
      case K::array:
      case K::scalar:
        found = state.array;
        break;
      case K::map:
        if (!is_chunked_array(state)) mismatch(path, expected, state);
        found = unchunk_array(state, source_ + ": at path " + path);
        break;
      case K::integer:
      case K::floating:
      case K::boolean:
      case K::complex:
        return from_native(like, state, path);
      case K::nil:
      case K::string:
        mismatch(path, expected, state);
    }
    if (!strict_) return found;
    if (found.shape() != like.shape())
      throw ShapeError(source_ + ": shape mismatch at path " + path + ": the template has " +
                       array_type(like.dtype(), like.shape()) + " but the state dict has " +
                       array_type(found.dtype(), found.shape()));
    if (found.dtype() != like.dtype())
      throw DTypeError(source_ + ": dtype mismatch at path " + path + ": the template has " +
                       array_type(like.dtype(), like.shape()) + " but the state dict has " +
                       array_type(found.dtype(), found.shape()));
    return found;
  }

  // A native msgpack number where the template has an array: Flax's TrainState.create saves step
  // as a Python int. It becomes a 0-d array of the template's dtype when the value fits exactly;
  // lenient, anything else becomes a 0-d array of the value's own type (int64, uint64 past
  // int64, float64 or float32 as encoded, bool, complex128), as Flax keeps the Python value.
  Array from_native(const Array& like, const StateValue& v, const std::string& path) const {
    using K = StateValue::Kind;
    const DType dt = like.dtype();
    const bool fits_kind = (v.kind == K::boolean && dt == DType::bool_) ||
                           (v.kind == K::integer && (is_integer(dt) || is_floating(dt))) ||
                           (v.kind == K::floating && is_floating(dt)) ||
                           (v.kind == K::complex && is_complex(dt));
    const bool fits = fits_kind && (!is_integer(dt) || int_fits(v, dt));
    if (!strict_) return native_array(v, fits ? dt : own_dtype(v));
    if (like.ndim() != 0)
      throw ShapeError(source_ + ": shape mismatch at path " + path + ": the template has " +
                       array_type(dt, like.shape()) + " but the state dict has " + native_text(v));
    if (fits_kind && !fits)
      throw DTypeError(source_ + ": at path " + path + " the state dict has " + native_text(v) +
                       ", which does not fit the template's " + std::string(name(dt)));
    if (!fits)
      throw DTypeError(source_ + ": dtype mismatch at path " + path + ": the template has " +
                       array_type(dt, like.shape()) + " but the state dict has " + native_text(v));
    return native_array(v, dt);
  }

  static DType own_dtype(const StateValue& v) {
    using K = StateValue::Kind;
    switch (v.kind) {
      case K::boolean:
        return DType::bool_;
      case K::integer:
        return v.i_unsigned ? DType::uint64 : DType::int64;
      case K::floating:
        return v.f_single ? DType::float32 : DType::float64;
      default:
        return DType::complex128;
    }
  }

  // A 0-d array of dtype dt holding native value v (a kind dt can hold, checked by the caller).
  static Array native_array(const StateValue& v, DType dt) {
    using K = StateValue::Kind;
    if (v.kind == K::complex) {
      if (dt == DType::complex64) {
        std::complex<float> c(static_cast<float>(v.f), static_cast<float>(v.imag));
        return Array::from_bytes(&c, sizeof c, dt, Shape{});
      }
      std::complex<double> c(v.f, v.imag);
      return Array::from_bytes(&c, sizeof c, dt, Shape{});
    }
    Scalar s;
    if (v.kind == K::boolean) {
      s = Scalar::from_int(v.b ? 1 : 0, dt);
    } else if (v.kind == K::integer && v.i_unsigned) {
      s = dt == DType::uint64 ? Scalar{dt, v.u} : Scalar::from_double(static_cast<double>(v.u), dt);
    } else if (v.kind == K::integer) {
      s = Scalar::from_int(v.i, dt);
    } else {
      s = Scalar::from_double(v.f, dt);
    }
    return Array::from_bytes(&s.bits, itemsize(dt), dt, Shape{});
  }

  // Whether integer v is a value of integer dtype dt.
  static bool int_fits(const StateValue& v, DType dt) {
    if (v.i_unsigned) return dt == DType::uint64;  // above int64's range
    return visit_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        if constexpr (std::is_unsigned_v<T>) {
          return v.i >= 0 && static_cast<uint64_t>(v.i) <= std::numeric_limits<T>::max();
        } else {
          return v.i >= std::numeric_limits<T>::min() && v.i <= std::numeric_limits<T>::max();
        }
      }
      return false;
    });
  }

  const std::string& source_;
  bool strict_;
};

}  // namespace

StateValue to_state_dict(const Tree& t) {
  switch (t.kind()) {
    case Tree::Kind::none:
      return StateValue{};
    case Tree::Kind::leaf: {
      const Array& a = t.leaf();
      // As Flax's _chunk_array_leaves_in_place: msgpack cannot hold an object of 2**31 bytes.
      if (static_cast<size_t>(a.size()) * itemsize(a.dtype()) > kMaxChunkBytes)
        return chunk_array(a);
      StateValue v;
      v.kind = StateValue::Kind::array;
      v.array = a;
      return v;
    }
    case Tree::Kind::dict: {
      StateValue v = map_value();
      v.map->entries.reserve(t.items().size());
      for (const auto& [k, sub] : t.items()) v.map->entries.emplace_back(k, to_state_dict(sub));
      return v;
    }
    case Tree::Kind::list: {
      StateValue v = map_value();
      v.map->entries.reserve(t.size());
      for (size_t i = 0; i < t.size(); ++i)
        v.map->entries.emplace_back(std::to_string(i), to_state_dict(t.elements()[i]));
      return v;
    }
  }
  return {};
}

Tree from_state_dict(const Tree& templ, const StateValue& state, const std::string& source,
                     const RestoreOptions& options) {
  return Restorer(source, options).restore(templ, state, ".");
}

std::vector<uint8_t> to_bytes(const Tree& t) {
  return encode(to_state_dict(t));
}

Tree from_bytes(const Tree& templ, const std::vector<uint8_t>& bytes, const std::string& source,
                const RestoreOptions& options) {
  return from_state_dict(templ, decode(bytes, source), source, options);
}

void save(const std::filesystem::path& path, const Tree& t, const WriteOptions& options) {
  write_file(path, to_bytes(t), options);
}

Tree load(const std::filesystem::path& path, const Tree& templ, const RestoreOptions& options) {
  return from_bytes(templ, read_file(path), path.string(), options);
}

}  // namespace kiln::serialization
