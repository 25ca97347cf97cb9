// safetensors files: the header codec, the byte layout, and trees named by dotted paths.
//
// The writer follows the reference implementation (huggingface/safetensors, tensor.rs `prepare`):
// tensors sorted by descending dtype (its Dtype enum is in increasing alignment order, so the
// widest types come first and every tensor stays aligned) then by name, the header serialized
// compactly with __metadata__ first and tensors in buffer order, padded with spaces to a multiple
// of 8 bytes. The reader takes header entries in any order, as the reference does, but requires
// what the reference validates: offsets that tile the buffer exactly from 0 to its end.
#include "kiln/safetensors.hpp"

#include "io/mapped_file.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

namespace kiln::safetensors {
namespace {

using Json = nlohmann::ordered_json;

// The header only needs three levels (object -> tensor entry -> shape); a little slack, and no
// more, so a hostile header of nested brackets is refused while it is parsed.
constexpr int kMaxJsonDepth = 8;

struct DTypeName {
  DType dtype;
  std::string_view name;
  int rank;  // position in the reference's Dtype enum: the sort key of the writer
};
// Ranks are the reference's enum order (BOOL, F4, F6_*, U8, I8, F8_*, I16, U16, F16, BF16, I32,
// U32, F32, C64, F64, I64, U64) restricted to kiln's dtypes; only their order matters. The format
// has no complex128.
constexpr DTypeName kDTypes[] = {
    {DType::bool_, "BOOL", 0},    {DType::uint8, "U8", 1},       {DType::int8, "I8", 2},
    {DType::int16, "I16", 3},     {DType::uint16, "U16", 4},     {DType::float16, "F16", 5},
    {DType::bfloat16, "BF16", 6}, {DType::int32, "I32", 7},      {DType::uint32, "U32", 8},
    {DType::float32, "F32", 9},   {DType::complex64, "C64", 10}, {DType::float64, "F64", 11},
    {DType::int64, "I64", 12},    {DType::uint64, "U64", 13},
};
// dtypes safetensors defines that kiln has no element type for.
constexpr std::string_view kUnsupported[] = {
    "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2",
};

int dtype_rank(DType t) {
  for (const auto& d : kDTypes)
    if (d.dtype == t) return d.rank;
  return 0;
}

std::string known_names() {
  std::string s;
  for (const auto& d : kDTypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw ValueError(source + ": " + what);
}

std::string in_quotes(std::string_view name) {
  return "'" + std::string(name) + "'";
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON value as a non-negative integer that fits in uint64 (dims and offsets).
std::optional<uint64_t> as_count(const Json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0)
    return static_cast<uint64_t>(j.get<int64_t>());
  return std::nullopt;
}

// One tensor's header entry, checked on its own (offsets are checked against the others later).
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& source, const std::string& name, const Json& j) {
  auto where = "tensor " + in_quotes(name);
  if (!j.is_object()) fail(source, where + ": its header entry is not an object");
  auto field = [&](const char* key) -> const Json& {
    auto it = j.find(key);
    if (it == j.end()) fail(source, where + ": its header entry has no \"" + key + "\"");
    return *it;
  };
  const Json& dt = field("dtype");
  if (!dt.is_string()) fail(source, where + ": \"dtype\" is not a string");
  auto dname = dt.get<std::string>();
  std::optional<DType> dtype;
  for (const auto& d : kDTypes)
    if (d.name == dname) dtype = d.dtype;
  if (!dtype) {
    for (auto u : kUnsupported)
      if (u == dname)
        fail(source, where + " has dtype " + dname + ": kiln does not support it yet (kiln has " +
                         known_names() + ")");
    fail(source, where + " has dtype \"" + dname +
                     "\", which is not a safetensors dtype (kiln reads " + known_names() + ")");
  }

  const Json& sh = field("shape");
  if (!sh.is_array()) fail(source, where + ": \"shape\" is not a list");
  if (sh.size() > static_cast<size_t>(Shape::kMaxRank))
    fail(source, where + " has rank " + std::to_string(sh.size()) + ", over kiln's maximum of " +
                     std::to_string(Shape::kMaxRank));
  std::vector<int64_t> dims;  // a Shape once the byte count is known to fit the file
  uint64_t numel = 1;
  bool overflow = false;
  for (const Json& d : sh) {
    auto n = as_count(d);
    if (!n || *n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(source, where + ": shape " + sh.dump() + " holds something that is not a dimension");
    dims.push_back(static_cast<int64_t>(*n));
    if (*n != 0 && numel > std::numeric_limits<uint64_t>::max() / *n) overflow = true;
    numel *= *n;
  }

  const Json& off = field("data_offsets");
  std::optional<uint64_t> begin, end;
  if (off.is_array() && off.size() == 2) begin = as_count(off[0]), end = as_count(off[1]);
  if (!begin || !end)
    fail(source, where + ": \"data_offsets\" is " + off.dump() + ", not [begin, end]");
  if (*end < *begin)
    fail(source, where + ": data_offsets " + off.dump() + " end before they begin");
  uint64_t size = itemsize(*dtype);
  // A shape whose byte count overflows cannot match offsets that fit in a file.
  overflow = overflow || numel > std::numeric_limits<uint64_t>::max() / size;
  if (overflow || numel * size != *end - *begin)
    fail(source, where + ": " + dname + " of shape " + sh.dump() + " needs " +
                     (overflow ? std::string("over 2**64") : std::to_string(numel * size)) +
                     " bytes but data_offsets " + off.dump() + " hold " +
                     std::to_string(*end - *begin));
  return {name, *dtype, Shape(dims), *begin, *end};
}

// Throws from inside the parser once nesting passes kMaxJsonDepth, before a deep value is built.
struct TooDeep {};

Json parse_header(const std::string& source, const uint8_t* p, size_t n) {
  Json::parser_callback_t limit = [](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxJsonDepth) throw TooDeep{};
    return true;
  };
  try {
    return Json::parse(p, p + n, limit);
  } catch (const TooDeep&) {
    fail(source, "the JSON header (bytes 8.." + std::to_string(8 + n) +
                     ") nests deeper than a safetensors header does (" +
                     std::to_string(kMaxJsonDepth) + " levels)");
  } catch (const Json::parse_error& e) {
    // e.byte counts from 1 within the header; the header starts at byte 8 of the file.
    size_t at = 8 + (e.byte > 0 ? e.byte - 1 : 0);
    fail(source,
         "the JSON header is not valid JSON at byte " + std::to_string(at) + ": " + e.what());
  } catch (const Json::exception& e) {
    // Valid JSON that nlohmann cannot hold, such as a number past double's range (1e999).
    fail(source, std::string("the JSON header (at byte 8) cannot be read: ") + e.what());
  }
}

Metadata parse_metadata(const std::string& source, const Json& j) {
  if (!j.is_object()) fail(source, "__metadata__ is not an object of strings");
  Metadata m;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string())
      fail(source, "__metadata__[" + in_quotes(k) + "] is " + v.dump() + ", not a string");
    m.emplace_back(k, v.get<std::string>());
  }
  return m;
}

// A bool element is one byte, 0 or 1: any other byte would be a value kiln's bool ops never make.
void check_bools(const std::string& source, const Entry& e, const uint8_t* p, uint64_t file_at) {
  for (uint64_t i = 0; i < e.end - e.begin; ++i)
    if (p[i] > 1)
      fail(source, "tensor " + in_quotes(e.name) + " is BOOL but byte " +
                       std::to_string(file_at + i) + " holds " + std::to_string(p[i]) +
                       ", not 0 or 1");
}

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

void collect(const Tree& t, const std::string& path, File& out) {
  switch (t.kind()) {
    case Tree::Kind::none:
      return;
    case Tree::Kind::leaf:
      out.tensors.emplace_back(path, t.leaf());
      return;
    case Tree::Kind::dict:
      for (const auto& [k, v] : t.items()) collect(v, join(path, k), out);
      return;
    case Tree::Kind::list:
      for (size_t i = 0; i < t.size(); ++i) collect(t[i], join(path, std::to_string(i)), out);
      return;
  }
}

}  // namespace

std::string_view dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.dtype == t) return d.name;
  return "?";  // complex128: encode refuses it by name
}

std::vector<uint8_t> encode(const File& f) {
  std::vector<size_t> order(f.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (const auto& [name, a] : f.tensors) {
    if (a.empty())
      throw ValueError("safetensors: tensor " + in_quotes(name) + " is an empty Array");
    if (dtype_name(a.dtype()) == "?")
      throw ValueError("safetensors: tensor " + in_quotes(name) + " is " +
                       std::string(kiln::name(a.dtype())) +
                       ", which safetensors has no dtype for (its only complex dtype is C64, "
                       "complex64): keep this file in Flax's msgpack format");
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    int rx = dtype_rank(f.tensors[x].second.dtype()), ry = dtype_rank(f.tensors[y].second.dtype());
    if (rx != ry) return rx > ry;
    return f.tensors[x].first < f.tensors[y].first;
  });
  for (size_t i = 1; i < order.size(); ++i)
    if (f.tensors[order[i]].first == f.tensors[order[i - 1]].first)
      throw ValueError("safetensors: two tensors are named " +
                       in_quotes(f.tensors[order[i]].first));

  Json header = Json::object();
  if (f.metadata) {
    Json m = Json::object();
    for (const auto& [k, v] : *f.metadata) {
      if (m.contains(k))
        throw ValueError("safetensors: __metadata__ has the key " + in_quotes(k) + " twice");
      m[k] = v;
    }
    header["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& [name, a] = f.tensors[i];
    if (name == "__metadata__")
      throw ValueError("safetensors: no tensor can be named __metadata__ (the header's own key)");
    uint64_t n = static_cast<uint64_t>(a.size()) * itemsize(a.dtype());
    Json entry = Json::object();
    entry["dtype"] = dtype_name(a.dtype());
    Json shape = Json::array();
    for (int64_t d : a.shape().dims()) shape.push_back(static_cast<uint64_t>(d));
    entry["shape"] = std::move(shape);
    entry["data_offsets"] = Json::array({offset, offset + n});
    header[name] = std::move(entry);
    offset += n;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::type_error& e) {
    throw ValueError(std::string("safetensors: a name or metadata value is not UTF-8: ") +
                     e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<uint8_t> out(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(uint64_t{text.size()} >> (8 * i));
  std::memcpy(out.data() + 8, text.data(), text.size());
  uint8_t* p = out.data() + 8 + text.size();
  for (size_t i : order) {
    const Array& a = f.tensors[i].second;
    size_t n = static_cast<size_t>(a.size()) * itemsize(a.dtype());
    if (n) a.copy_to_host(p, a.dtype());
    serialization::release_pages(a);  // an array read in place (kiln convert) is done with
    p += n;
  }
  return out;
}

namespace {

// decode over `size` bytes at `data`; with `in_place`, the tensors are views into that file.
File decode_bytes(const uint8_t* data, size_t size, const std::string& source,
                  const std::shared_ptr<const serialization::MappedFile>& in_place) {
  if (size < 8)
    fail(source, "the file is " + std::to_string(size) +
                     " bytes; a safetensors file starts with an 8-byte header length");
  uint64_t n = read_le64(data);
  uint64_t after = size - 8;
  if (n > after)
    fail(source, "the header length at byte 0 says " + std::to_string(n) + " bytes but only " +
                     std::to_string(after) + " follow (truncated, or not a safetensors file)");
  if (n > kMaxHeaderBytes)
    fail(source, "the header length at byte 0 says " + std::to_string(n) +
                     " bytes, over the limit of " + std::to_string(kMaxHeaderBytes));
  Json header = parse_header(source, data + 8, static_cast<size_t>(n));
  if (!header.is_object()) fail(source, "the JSON header at byte 8 is not an object");

  File out;
  std::vector<Entry> entries;
  for (const auto& [k, v] : header.items()) {
    if (k == "__metadata__") {
      out.metadata = parse_metadata(source, v);
    } else {
      entries.push_back(parse_entry(source, k, v));
    }
  }
  // Tile check: in offset order, each tensor starts where the previous one ended, and the last
  // ends where the file does. Zero-byte tensors may share an offset.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  const uint64_t base = 8 + n;
  const uint64_t buffer = after - n;
  uint64_t at = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    std::string prev =
        i ? "tensor " + in_quotes(entries[i - 1].name) + " ends" : "the buffer starts";
    if (e.begin > at)
      fail(source, "tensor " + in_quotes(e.name) + " starts at byte " +
                       std::to_string(base + e.begin) + " but " + prev + " at byte " +
                       std::to_string(base + at) + ": a gap of " + std::to_string(e.begin - at) +
                       " bytes");
    if (e.begin < at)
      fail(source, "tensor " + in_quotes(e.name) + " (bytes " + std::to_string(base + e.begin) +
                       ".." + std::to_string(base + e.end) + ") overlaps tensor " +
                       in_quotes(entries[i - 1].name) + ", which ends at byte " +
                       std::to_string(base + at));
    if (e.end > buffer)
      fail(source, "tensor " + in_quotes(e.name) + " ends at byte " + std::to_string(base + e.end) +
                       " but the file is " + std::to_string(size) + " bytes (truncated?)");
    at = e.end;
  }
  if (at != buffer)
    fail(source, "the data buffer (from byte " + std::to_string(base) + ") is " +
                     std::to_string(buffer) + " bytes but the tensors cover " + std::to_string(at) +
                     ": " + std::to_string(buffer - at) +
                     " bytes after the last tensor belong to none");
  out.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    const uint8_t* p = data + base + e.begin;
    if (e.dtype == DType::bool_) check_bools(source, e, p, base + e.begin);
    const auto n = static_cast<size_t>(e.end - e.begin);
    out.tensors.emplace_back(e.name,
                             in_place ? serialization::view_array(in_place, p, n, e.dtype, e.shape)
                                      : Array::from_bytes(p, n, e.dtype, e.shape));
  }
  return out;
}

}  // namespace

File decode(const std::vector<uint8_t>& bytes, const std::string& source) {
  return decode_bytes(bytes.data(), bytes.size(), source, nullptr);
}

File decode_in_place(const std::shared_ptr<const serialization::MappedFile>& file,
                     const std::string& source) {
  return decode_bytes(file->data(), file->size(), source, file);
}

void write(const std::filesystem::path& path, const File& f,
           const serialization::WriteOptions& options) {
  std::vector<uint8_t> bytes;
  try {
    bytes = encode(f);
  } catch (const ValueError& e) {
    throw ValueError("cannot write " + path.string() + ": " + e.what());
  }
  serialization::write_file(path, bytes, options);
}

File read(const std::filesystem::path& path) {
  return decode(serialization::read_file(path), path.string());
}

File from_tree(const Tree& t, std::optional<Metadata> metadata) {
  File f;
  collect(t, "", f);
  f.metadata = std::move(metadata);
  return f;
}

Tree to_tree(const File& f, const std::string& source) {
  Tree root = Tree::dict();
  for (const auto& [name, a] : f.tensors) {
    Tree* node = &root;
    size_t start = 0;
    for (;;) {
      size_t dot = name.find('.', start);
      std::string key =
          name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!node->is_dict())
        fail(source, "tensor " + in_quotes(name) + " lies under " +
                         in_quotes(name.substr(0, start - 1)) + ", which is a tensor itself");
      if (dot == std::string::npos) {
        if (node->contains(key))
          fail(source, "tensor " + in_quotes(name) + " is also the prefix of other tensors' names");
        node->entry(key) = Tree(a);
        break;
      }
      if (!node->contains(key)) node->entry(key) = Tree::dict();
      node = &node->entry(key);
      start = dot + 1;
    }
  }
  return root;
}

void save(const std::filesystem::path& path, const Tree& t, std::optional<Metadata> metadata) {
  write(path, from_tree(t, std::move(metadata)));
}

Tree load(const std::filesystem::path& path) {
  return to_tree(read(path), path.string());
}

Tree load(const std::filesystem::path& path, const Tree& templ) {
  Tree t = load(path);
  return serialization::from_state_dict(templ, serialization::to_state_dict(t), path.string());
}

}  // namespace kiln::safetensors
