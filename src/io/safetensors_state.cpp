// Flax state dicts <-> safetensors files, losslessly in both directions.
//
// Arrays become tensors named by their dotted path. Whatever the names and the buffer order cannot
// say (native values, empty maps, numpy scalars, key order) goes into a layout recorded in
// __metadata__[kStateDictKey] — but only when it is needed: a state dict that reading the plain
// file back would reproduce gets no layout, so a safetensors file converted to msgpack and back
// keeps its exact bytes.
#include <bit>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/chunked_array.hpp"
#include "io/state_value_text.hpp"
#include "kiln/safetensors.hpp"

namespace kiln::safetensors {
namespace {

using Json = nlohmann::ordered_json;
using serialization::StateValue;
using K = StateValue::Kind;

constexpr std::string_view kMetadataKey = "__metadata__";
// Matches the msgpack reader's nesting limit, which no Flax state dict comes near.
constexpr int kMaxLayoutDepth = 64;

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

StateValue map_value() {
  StateValue v;
  v.kind = K::map;
  v.map = std::make_shared<StateValue::Map>();
  return v;
}

StateValue array_value(Array a, K kind = K::array) {
  StateValue v;
  v.kind = kind;
  v.array = std::move(a);
  return v;
}

// The top-level "__metadata__" entry that is the file's own metadata: a map of strings only.
bool is_file_metadata(const std::string& key, const StateValue& v, int depth) {
  if (depth != 0 || key != kMetadataKey || v.kind != K::map || !v.map) return false;
  for (const auto& [k, x] : v.map->entries)
    if (x.kind != K::string) return false;
  return true;
}

// Floats as their exact value when JSON can hold it, as bits otherwise (NaN, infinities).
Json float_json(double f) {
  if (std::isfinite(f)) return f;
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx",
                static_cast<unsigned long long>(std::bit_cast<uint64_t>(f)));
  return std::string(buf);
}

Json layout_of(const StateValue& v, int depth) {
  switch (v.kind) {
    case K::nil:
      return Json::array({"none"});
    case K::boolean:
      return Json::array({"bool", v.b});
    case K::integer:
      return v.i_unsigned ? Json::array({"uint", v.u}) : Json::array({"int", v.i});
    case K::floating:
      return Json::array({v.f_single ? "float32" : "float64", float_json(v.f)});
    case K::complex:
      return Json::array({"complex", float_json(v.f), float_json(v.imag)});
    case K::string:
      return Json::array({"str", v.s});
    case K::array:
      return Json::array({"array"});
    case K::scalar:
      return Json::array({"scalar"});
    case K::map:
      break;
  }
  if (serialization::is_chunked_array(v)) return Json::array({"chunked"});
  Json obj = Json::object();
  if (!v.map) return obj;
  for (const auto& [k, x] : v.map->entries) {
    if (obj.contains(k))
      throw ValueError("cannot write key '" + k + "' twice in one map to safetensors");
    obj[k] = is_file_metadata(k, x, depth) ? Json::array({"metadata"}) : layout_of(x, depth + 1);
  }
  return obj;
}

void collect(const StateValue& v, const std::string& path, int depth, File& out) {
  switch (v.kind) {
    case K::array:
    case K::scalar:
      out.tensors.emplace_back(path, v.array);
      return;
    case K::map:
      break;
    default:
      return;  // native values live in the layout
  }
  if (serialization::is_chunked_array(v)) {
    out.tensors.emplace_back(path, serialization::unchunk_array(v, path));
    return;
  }
  if (!v.map) return;
  for (const auto& [k, x] : v.map->entries) {
    if (is_file_metadata(k, x, depth)) {
      out.metadata.emplace();
      for (const auto& [mk, mv] : x.map->entries) out.metadata->emplace_back(mk, mv.s);
    } else {
      collect(x, join(path, k), depth + 1, out);
    }
  }
}

StateValue tensor_value(const Array& a) {
  // Flax writes arrays over MAX_CHUNK_SIZE chunked; a state dict read from a file must too.
  if (static_cast<size_t>(a.size()) * itemsize(a.dtype()) > serialization::kMaxChunkBytes)
    return serialization::chunk_array(a);
  return array_value(a);
}

StateValue metadata_value(const Metadata& m) {
  StateValue v = map_value();
  for (const auto& [k, s] : m) {
    StateValue x;
    x.kind = K::string;
    x.s = s;
    v.map->entries.emplace_back(k, std::move(x));
  }
  return v;
}

// Rebuilds a state dict from a layout, taking each tensor by its dotted path.
class Rebuilder {
 public:
  Rebuilder(const File& f, Metadata metadata, const std::string& source)
      : metadata_(std::move(metadata)), source_(source) {
    for (const auto& [name, a] : f.tensors) tensors_.emplace(name, &a);
  }

  StateValue build(const Json& layout) {
    StateValue root = node(layout, "", 0);
    if (root.kind != K::map) fail("its top level is not a map");
    if (!metadata_placed_ && !metadata_.empty())
      root.map->entries.insert(root.map->entries.begin(),
                               {std::string(kMetadataKey), metadata_value(metadata_)});
    if (used_ != tensors_.size()) {
      for (const auto& [name, a] : tensors_)
        if (!taken_.count(name)) fail("it does not place tensor '" + name + "'");
    }
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ValueError(source_ + ": __metadata__['" + std::string(kStateDictKey) +
                     "'] (kiln's layout of the Flax state dict) is not usable: " + what);
  }

  const Array& take(const std::string& path) {
    auto it = tensors_.find(path);
    if (it == tensors_.end()) fail("it lists tensor '" + path + "', which the file lacks");
    if (!taken_.insert(path).second) fail("it lists tensor '" + path + "' twice");
    ++used_;
    return *it->second;
  }

  double float_of(const Json& j, const std::string& path) {
    if (j.is_number()) return j.get<double>();
    if (j.is_string()) {
      auto s = j.get<std::string>();
      if (s.size() == 18 && s.rfind("0x", 0) == 0) {
        uint64_t bits = 0;
        bool ok = true;
        for (size_t i = 2; i < s.size() && ok; ++i) {
          char c = s[i];
          int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
          ok = d >= 0;
          bits = bits << 4 | static_cast<uint64_t>(d < 0 ? 0 : d);
        }
        if (ok) return std::bit_cast<double>(bits);
      }
    }
    fail("the float at '" + path + "' is " + j.dump());
  }

  StateValue node(const Json& j, const std::string& path, int depth) {
    if (depth > kMaxLayoutDepth) fail("it nests deeper than " + std::to_string(kMaxLayoutDepth));
    if (j.is_object()) {
      StateValue v = map_value();
      for (const auto& [k, x] : j.items()) {
        if (depth == 0 && k == kMetadataKey && x == Json::array({"metadata"})) {
          v.map->entries.emplace_back(k, metadata_value(metadata_));
          metadata_placed_ = true;
        } else {
          v.map->entries.emplace_back(k, node(x, join(path, k), depth + 1));
        }
      }
      return v;
    }
    if (!j.is_array() || j.empty() || !j[0].is_string()) fail("at '" + path + "': " + j.dump());
    auto tag = j[0].get<std::string>();
    StateValue v;
    auto want = [&](size_t n) {
      if (j.size() != n) fail("at '" + path + "': " + j.dump());
    };
    if (tag == "array" || tag == "scalar" || tag == "chunked") {
      want(1);
      const Array& a = take(path);
      if (tag == "chunked") return serialization::chunk_array(a);
      if (tag == "scalar" && a.ndim() != 0) fail("the numpy scalar '" + path + "' is not 0-d");
      return array_value(a, tag == "scalar" ? K::scalar : K::array);
    }
    if (tag == "none") {
      want(1);
    } else if (tag == "bool" && j.size() == 2 && j[1].is_boolean()) {
      v.kind = K::boolean;
      v.b = j[1].get<bool>();
    } else if (tag == "int" && j.size() == 2 && j[1].is_number_integer()) {
      v.kind = K::integer;
      if (j[1].is_number_unsigned() && j[1].get<uint64_t>() > uint64_t(INT64_MAX))
        fail("the int at '" + path + "' is out of range");
      v.i = j[1].get<int64_t>();
    } else if (tag == "uint" && j.size() == 2 && j[1].is_number_unsigned()) {
      v.kind = K::integer;
      v.i_unsigned = true;
      v.u = j[1].get<uint64_t>();
      v.i = static_cast<int64_t>(v.u);
    } else if ((tag == "float32" || tag == "float64") && j.size() == 2) {
      v.kind = K::floating;
      v.f_single = tag == "float32";
      v.f = float_of(j[1], path);
    } else if (tag == "complex" && j.size() == 3) {
      v.kind = K::complex;
      v.f = float_of(j[1], path);
      v.imag = float_of(j[2], path);
    } else if (tag == "str" && j.size() == 2 && j[1].is_string()) {
      v.kind = K::string;
      v.s = j[1].get<std::string>();
    } else {
      fail("at '" + path + "': " + j.dump());
    }
    return v;
  }

  std::map<std::string, const Array*> tensors_;
  std::set<std::string> taken_;
  size_t used_ = 0;
  Metadata metadata_;
  bool metadata_placed_ = false;
  const std::string& source_;
};

// The state dict a file without a layout stands for: nested maps from the dotted names.
StateValue plain_state(const File& f, const std::string& source) {
  StateValue root = map_value();
  if (f.metadata)
    root.map->entries.emplace_back(std::string(kMetadataKey), metadata_value(*f.metadata));
  // Tensor names are checked for clashes on the tree; its leaves then map one to one.
  Tree t = to_tree(File{f.tensors, std::nullopt}, source);
  std::function<StateValue(const Tree&)> convert = [&](const Tree& n) -> StateValue {
    if (n.is_leaf()) return tensor_value(n.leaf());
    StateValue m = map_value();
    for (const auto& [k, x] : n.items()) m.map->entries.emplace_back(k, convert(x));
    return m;
  };
  if (f.metadata && t.contains(kMetadataKey))
    throw ValueError(source + ": tensors named '__metadata__.*' clash with the file's metadata");
  for (const auto& [k, x] : t.items()) root.map->entries.emplace_back(k, convert(x));
  return root;
}

}  // namespace

File from_state_dict(const StateValue& state) {
  if (state.kind != K::map || serialization::is_chunked_array(state))
    throw ValueError("safetensors holds named arrays, so the state dict must be a map, not " +
                     serialization::describe(state));
  File f;
  collect(state, "", 0, f);
  if (f.metadata)
    for (const auto& [k, v] : *f.metadata)
      if (k == kStateDictKey)
        throw ValueError("the state dict's __metadata__ has the key '" +
                         std::string(kStateDictKey) +
                         "', which kiln keeps for the state dict's layout");
  // The layout is recorded only when the plain file would not read back as this state dict.
  Json layout = layout_of(state, 0);
  bool same = false;
  try {
    same = layout_of(plain_state(f, "<state dict>"), 0) == layout;
  } catch (const ValueError&) {
    same = false;  // names that clash in the plain form: the layout resolves them
  }
  if (!same) {
    std::string text;
    try {
      text = layout.dump();
    } catch (const Json::type_error& e) {
      throw ValueError(std::string("cannot write the state dict to safetensors: a key or string "
                                   "is not UTF-8 (") +
                       e.what() + ")");
    }
    if (!f.metadata) f.metadata.emplace();
    f.metadata->emplace_back(std::string(kStateDictKey), std::move(text));
  }
  return f;
}

StateValue to_state_dict(const File& f, const std::string& source) {
  if (f.metadata) {
    Metadata rest;
    const std::string* layout = nullptr;
    for (const auto& kv : *f.metadata) {
      if (kv.first == kStateDictKey) {
        layout = &kv.second;
      } else {
        rest.push_back(kv);
      }
    }
    if (layout) {
      Json j;
      try {
        // Bounded like the header itself: the layout came from the same untrusted file.
        Json::parser_callback_t limit = [](int depth, Json::parse_event_t, Json&) {
          if (depth > kMaxLayoutDepth + 2)
            throw ValueError("nests deeper than " + std::to_string(kMaxLayoutDepth));
          return true;
        };
        j = Json::parse(*layout, limit);
      } catch (const Json::exception& e) {
        throw ValueError(source + ": __metadata__['" + std::string(kStateDictKey) +
                         "'] is not valid JSON: " + e.what());
      } catch (const ValueError& e) {
        throw ValueError(source + ": __metadata__['" + std::string(kStateDictKey) + "'] " +
                         e.what());
      }
      return Rebuilder(f, std::move(rest), source).build(j);
    }
  }
  return plain_state(f, source);
}

}  // namespace kiln::safetensors
