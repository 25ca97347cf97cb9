// StateValue <-> msgpack bytes, through msgpack-c++.
//
// Its packer picks the smallest encoding of every value exactly as Python's msgpack does (fixint,
// uint8..64 for non-negative ints, int8..64 for negative ones, fixstr/str8/16/32, bin8/16/32,
// fixext1/2/4/8/16 else ext8/16/32, fixmap/map16/32), so a state dict decoded from a file Flax
// wrote encodes back to the same bytes. Decoding goes through its visitor parser: it hands over
// pointers into the input (array bytes are copied once, into the Array) and the offsets of
// truncation and format errors, and it never allocates from a declared length. Input is untrusted,
// so every count is bounded by the input's size and nesting is capped.
//
// What is not kept: the width of a non-canonical integer (`d1 00 05` for 5 re-encodes as `05`),
// and the encoding of a complex's parts (Flax packs a Python complex as [real, imag] float64s, so
// a float32 or int part re-encodes as float64); Python never writes either.
#include <bit>
#include <msgpack.hpp>

#include <cstdio>
#include <limits>
#include <optional>

#include "io/flax_format.hpp"
#include "io/mapped_file.hpp"
#include "io/state_value_text.hpp"
#include "kiln/serialization.hpp"

namespace kiln::serialization {
namespace {

// Flax's own state dicts are a handful of levels deep; 64 stops hostile inputs long before the
// recursive destructor of a deep StateValue could exhaust the stack.
constexpr size_t kMaxDepth = 64;

// ---- encoding ----

// The packer's output stream: appends to the byte vector being built.
struct ByteSink {
  std::vector<uint8_t>* out;
  void write(const char* p, size_t n) { out->insert(out->end(), p, p + n); }
};
using Packer = msgpack::packer<ByteSink>;

void check_fits_u32(size_t n, const char* what) {
  if (n > std::numeric_limits<uint32_t>::max())
    throw ValueError("cannot encode a " + std::string(what) + " of " + std::to_string(n) +
                     " bytes: msgpack lengths are 32-bit (Flax chunks arrays over 2**30 bytes)");
}

// ext `type` holding packb((shape, dtype.name, bytes), use_bin_type=True), as Flax's
// _ndarray_to_bytes writes it. The payload header is packed first so the ext length is known; the
// elements are then copied straight from the array into the output.
void encode_array(const Array& a, int8_t type, std::vector<uint8_t>& out) {
  if (a.empty()) throw ValueError("cannot encode an empty kiln::Array (it holds no value)");
  std::vector<uint8_t> head;
  ByteSink head_sink{&head};
  Packer hp(head_sink);
  hp.pack_array(3);
  hp.pack_array(static_cast<uint32_t>(a.ndim()));
  for (int64_t d : a.shape().dims()) hp.pack_uint64(static_cast<uint64_t>(d));
  std::string_view dt = name(a.dtype());
  hp.pack_str(static_cast<uint32_t>(dt.size()));
  hp.pack_str_body(dt.data(), static_cast<uint32_t>(dt.size()));
  size_t nbytes = static_cast<size_t>(a.size()) * itemsize(a.dtype());
  check_fits_u32(nbytes, "array");
  hp.pack_bin(static_cast<uint32_t>(nbytes));
  check_fits_u32(head.size() + nbytes, "array");

  ByteSink sink{&out};
  Packer pk(sink);
  pk.pack_ext(head.size() + nbytes, type);
  sink.write(reinterpret_cast<const char*>(head.data()), head.size());
  size_t at = out.size();
  out.resize(at + nbytes);
  if (nbytes) a.copy_to_host(out.data() + at, a.dtype());
  release_pages(a);  // an array read in place (kiln convert) is not needed again
}

// The bytes of every array in `v`: what the encoding holds beyond its small structure, reserved
// up front so that the output never regrows (a regrowth holds the old and the new copy at once).
size_t array_bytes(const StateValue& v) {
  if (v.kind == StateValue::Kind::array || v.kind == StateValue::Kind::scalar)
    return v.array.empty() ? 0 : static_cast<size_t>(v.array.size()) * itemsize(v.array.dtype());
  size_t n = 0;
  if (v.kind == StateValue::Kind::map && v.map)
    for (const auto& [key, sub] : v.map->entries) n += array_bytes(sub);
  return n;
}

// A one-byte msgpack type tag followed by `bits`, big-endian as msgpack stores numbers.
template <class U>
void write_be(std::vector<uint8_t>& out, uint8_t tag, U bits) {
  out.push_back(tag);
  for (int shift = 8 * static_cast<int>(sizeof(U)) - 8; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(bits >> shift));
}

void encode_value(const StateValue& v, std::vector<uint8_t>& out, size_t depth) {
  ByteSink sink{&out};
  Packer pk(sink);
  using K = StateValue::Kind;
  switch (v.kind) {
    case K::nil:
      pk.pack_nil();
      return;
    case K::boolean:
      v.b ? pk.pack_true() : pk.pack_false();
      return;
    case K::integer:
      v.i_unsigned ? pk.pack_uint64(v.u) : pk.pack_int64(v.i);
      return;
    case K::floating:
      // Written by hand: msgpack-c++ 4.1's pack_float/pack_double write an integral value (1.0,
      // -0.0) as a msgpack int, where Python's msgpack (what Flax uses) always writes ca/cb.
      if (v.f_single) {
        write_be(out, 0xca, std::bit_cast<uint32_t>(static_cast<float>(v.f)));
      } else {
        write_be(out, 0xcb, std::bit_cast<uint64_t>(v.f));
      }
      return;
    case K::string:
      check_fits_u32(v.s.size(), "string");
      pk.pack_str(static_cast<uint32_t>(v.s.size()));
      pk.pack_str_body(v.s.data(), static_cast<uint32_t>(v.s.size()));
      return;
    case K::array:
      encode_array(v.array, kExtNdarray, out);
      return;
    case K::scalar:
      encode_array(v.array, kExtNumpyScalar, out);
      return;
    case K::complex: {
      // Flax's _msgpack_ext_pack: ExtType(2, msgpack.packb((x.real, x.imag))), a fixarray of two
      // float64s: 19 bytes, so ext8 (c7 13 02).
      std::vector<uint8_t> payload{0x92};
      write_be(payload, 0xcb, std::bit_cast<uint64_t>(v.f));
      write_be(payload, 0xcb, std::bit_cast<uint64_t>(v.imag));
      pk.pack_ext(payload.size(), kExtComplex);
      sink.write(reinterpret_cast<const char*>(payload.data()), payload.size());
      return;
    }
    case K::map: {
      if (depth >= kMaxDepth)
        throw ValueError("cannot encode a state dict nested deeper than " +
                         std::to_string(kMaxDepth) + " levels (decoding refuses them)");
      size_t n = v.map ? v.map->entries.size() : 0;
      check_fits_u32(n, "map");
      pk.pack_map(static_cast<uint32_t>(n));
      if (!v.map) return;
      for (const auto& [key, value] : v.map->entries) {
        check_fits_u32(key.size(), "string");
        pk.pack_str(static_cast<uint32_t>(key.size()));
        pk.pack_str_body(key.data(), static_cast<uint32_t>(key.size()));
        encode_value(value, out, depth + 1);
      }
      return;
    }
  }
}

// ---- decoding ----

// What went wrong while parsing, and where (absolute byte offset in the whole input).
struct Failure {
  std::string problem;
  std::optional<size_t> at;  // when unset, the parser's stopping offset is used
};

// Collects the problems the parser and the derived visitors report. msgpack-c++ calls visitor
// methods on the concrete type (templates, not virtuals), so derived classes override by hiding.
class CheckedVisitor : public msgpack::null_visitor {
 public:
  CheckedVisitor(const uint8_t* input, size_t base) : input_(input), base_(base) {}

  // msgpack-c++ passes the offending byte's offset as error_offset (parsed_offset is one before).
  void parse_error(size_t /*parsed_offset*/, size_t error_offset) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", input_[base_ + error_offset]);
    fail("byte " + std::string(hex) + " is not a msgpack type (is this a msgpack file?)",
         base_ + error_offset);
  }
  // Called instead of any other failure: the parser ran out of input while waiting for a value.
  void insufficient_bytes(size_t /*parsed_offset*/, size_t error_offset) {
    truncated_ = true;
    fail("", base_ + error_offset);
  }
  // Records the first problem; returning false from a visit stops the parser.
  bool fail(std::string problem, std::optional<size_t> at = std::nullopt) {
    if (!failure_) failure_ = Failure{std::move(problem), at};
    return false;
  }
  size_t offset_of(const char* p) const {
    return static_cast<size_t>(reinterpret_cast<const uint8_t*>(p) - input_);
  }

  const uint8_t* input_;
  size_t base_;  // where the parsed region starts in the input
  std::optional<Failure> failure_;
  bool truncated_ = false;
};

std::string at(const std::string& source, size_t offset, const std::string& problem) {
  return source + ", byte offset " + std::to_string(offset) + ": " + problem;
}

// Runs msgpack-c++'s parser over input[begin, begin+size) and turns whatever stopped it into one
// kiln error. `what` names the region ("the input", "the ext 1 payload") for truncation messages.
template <class V>
void parse_region(V& v, const uint8_t* input, size_t begin, size_t size, const std::string& source,
                  const std::string& what) {
  size_t off = 0;
  bool ok = size > 0 && msgpack::parse(reinterpret_cast<const char*>(input + begin), size, off, v);
  if (ok && !v.failure_) {
    if (off != size)
      throw ValueError(
          at(source, begin + off,
             std::to_string(size - off) + " unexpected bytes after the end of " + what));
    return;
  }
  if (size == 0) throw ValueError(at(source, begin, what + " is empty: no msgpack value"));
  if (!v.failure_) throw ValueError(at(source, begin + off, "unreadable msgpack"));
  if (v.truncated_) {
    size_t stop = v.failure_->at.value_or(begin + off);
    throw ValueError(at(source, stop,
                        "truncated: " + what + " ends at byte offset " +
                            std::to_string(begin + size) +
                            " before the value being read there is complete (" +
                            std::to_string(begin + size - stop) + " bytes left)"));
  }
  const Failure& f = *v.failure_;
  throw ValueError(at(source, f.at ? *f.at : begin + off, f.problem));
}

// dtype names numpy and ml_dtypes write that kiln has no storage for yet.
bool is_known_unsupported_dtype(std::string_view n) {
  static constexpr std::string_view kNames[] = {"int4",
                                                "uint4",
                                                "int2",
                                                "uint2",
                                                "float8_e4m3fn",
                                                "float8_e5m2",
                                                "float8_e4m3fnuz",
                                                "float8_e5m2fnuz",
                                                "float8_e4m3b11fnuz",
                                                "float8_e3m4",
                                                "float8_e4m3",
                                                "float8_e8m0fnu",
                                                "float4_e2m1fn",
                                                "complex256",
                                                "float128",
                                                "longdouble",
                                                "clongdouble"};
  for (std::string_view k : kNames)
    if (k == n) return true;
  return false;
}

// The payload of ext 1 / ext 3: [shape (array of ints), dtype name (str), C-order bytes (bin)].
// Flax unpacks it with raw=True, so the name may also come as bin and the bytes as str.
class NdarrayPayloadReader : public CheckedVisitor {
 public:
  using CheckedVisitor::CheckedVisitor;

  bool start_array(uint32_t n) {
    if (depth_ == 0) {
      if (n != 3)
        return fail("array payload is a " + std::to_string(n) +
                    "-element array; Flax writes [shape, dtype, bytes]");
    } else if (depth_ == 1 && item_ == 0) {
      if (n > static_cast<uint32_t>(Shape::kMaxRank))
        return fail("array of rank " + std::to_string(n) + "; kiln arrays have at most " +
                    std::to_string(Shape::kMaxRank) + " dimensions");
    } else {
      return fail("unexpected nested array in an array payload (expected [shape, dtype, bytes])");
    }
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool start_array_item() {
    if (depth_ == 1) ++item_;
    return true;
  }
  bool visit_positive_integer(uint64_t d) {
    if (depth_ != 2) return unexpected("an integer");
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return fail("dimension too large");
    dims_.push_back(static_cast<int64_t>(d));
    return true;
  }
  bool visit_negative_integer(int64_t d) {
    if (depth_ != 2) return unexpected("an integer");
    return fail("negative dimension " + std::to_string(d) + " in an array's shape");
  }
  bool visit_str(const char* p, uint32_t n) { return text_or_bytes(p, n); }
  bool visit_bin(const char* p, uint32_t n) { return text_or_bytes(p, n); }
  bool visit_nil() { return unexpected("nil"); }
  bool visit_boolean(bool) { return unexpected("a bool"); }
  bool visit_float32(float) { return unexpected("a float"); }
  bool visit_float64(double) { return unexpected("a float"); }
  bool visit_ext(const char*, uint32_t) { return unexpected("an ext value"); }
  bool start_map(uint32_t) { return unexpected("a map"); }

  std::vector<int64_t> dims_;
  std::string dtype_name_;
  const char* data_ = nullptr;
  size_t data_size_ = 0;
  int item_ = -1;

 private:
  bool text_or_bytes(const char* p, uint32_t n) {
    if (depth_ == 1 && item_ == 1) {
      dtype_name_.assign(p, n);
      return true;
    }
    if (depth_ == 1 && item_ == 2) {
      data_ = p;
      data_size_ = n;
      return true;
    }
    return unexpected("a string");
  }
  bool unexpected(const std::string& what) {
    return fail("unexpected " + what + " in an array payload (expected [shape, dtype, bytes])");
  }
  int depth_ = 0;
};

// `in_place`: the array is a view into that file (decode_in_place), not a copy.
Array decode_ndarray(const uint8_t* input, size_t begin, size_t size, int8_t type,
                     const std::string& source, const std::shared_ptr<const MappedFile>& in_place) {
  NdarrayPayloadReader r(input, begin);
  std::string what =
      "the ext " + std::to_string(type) + " payload at byte offset " + std::to_string(begin);
  parse_region(r, input, begin, size, source, what);
  if (r.item_ != 2) throw ValueError(at(source, begin, what + " is not [shape, dtype, bytes]"));
  DType dt;
  if (is_known_unsupported_dtype(r.dtype_name_))
    throw DTypeError(
        at(source, begin,
           "array of dtype '" + r.dtype_name_ + "': kiln does not support that dtype yet"));
  try {
    dt = dtype_from_name(r.dtype_name_);
  } catch (const DTypeError& e) {
    throw DTypeError(at(source, begin, std::string("array of ") + e.what()));
  }
  // numel * itemsize, refusing overflow: the declared shape is untrusted.
  uint64_t want = itemsize(dt);
  bool overflow = false;
  for (int64_t d : r.dims_)
    overflow |= __builtin_mul_overflow(want, static_cast<uint64_t>(d), &want);
  for (int64_t d : r.dims_)
    if (d == 0) want = 0, overflow = false;
  if (overflow || want != r.data_size_) {
    std::string dims;  // not a Shape yet: the declared one may be beyond any memory
    for (int64_t d : r.dims_) dims += (dims.empty() ? "" : ",") + std::to_string(d);
    throw ValueError(at(source, r.offset_of(r.data_),
                        "array data holds " + std::to_string(r.data_size_) + " bytes but " +
                            std::string(name(dt)) + "[" + dims + "] needs " +
                            (overflow ? std::string("more than 2**64") : std::to_string(want))));
  }
  const Shape shape(r.dims_);
  if (in_place)
    return view_array(in_place, reinterpret_cast<const uint8_t*>(r.data_), r.data_size_, dt, shape);
  return Array::from_bytes(r.data_, r.data_size_, dt, shape);
}

// The payload of ext 2, a Python complex: msgpack.packb((real, imag)), a two-element array of
// numbers (float64 as Flax writes them; float32 and ints are read too, as msgpack.unpackb would).
class ComplexPayloadReader : public CheckedVisitor {
 public:
  using CheckedVisitor::CheckedVisitor;

  bool start_array(uint32_t n) {
    if (depth_ != 0) return unexpected("a nested array");
    if (n != 2)
      return fail("complex payload is a " + std::to_string(n) +
                  "-element array; Flax writes [real, imag]");
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool visit_float64(double x) { return part(x); }
  bool visit_float32(float x) { return part(x); }
  bool visit_positive_integer(uint64_t x) { return part(static_cast<double>(x)); }
  bool visit_negative_integer(int64_t x) { return part(static_cast<double>(x)); }
  bool visit_nil() { return unexpected("nil"); }
  bool visit_boolean(bool) { return unexpected("a bool"); }
  bool visit_str(const char*, uint32_t) { return unexpected("a string"); }
  bool visit_bin(const char*, uint32_t) { return unexpected("bytes"); }
  bool visit_ext(const char*, uint32_t) { return unexpected("an ext value"); }
  bool start_map(uint32_t) { return unexpected("a map"); }

  double parts_[2] = {0, 0};
  int count_ = 0;

 private:
  bool part(double x) {
    if (depth_ != 1) return unexpected("a bare number");
    parts_[count_++] = x;
    return true;
  }
  bool unexpected(const std::string& what) {
    return fail("unexpected " + what + " in a complex payload (expected [real, imag])");
  }
  int depth_ = 0;
};

StateValue decode_complex(const uint8_t* input, size_t begin, size_t size,
                          const std::string& source) {
  ComplexPayloadReader r(input, begin);
  std::string what = "the ext 2 payload at byte offset " + std::to_string(begin);
  parse_region(r, input, begin, size, source, what);
  if (r.count_ != 2) throw ValueError(at(source, begin, what + " is not [real, imag]"));
  StateValue v;
  v.kind = StateValue::Kind::complex;
  v.f = r.parts_[0];
  v.imag = r.parts_[1];
  return v;
}

// Builds the StateValue tree from the parser's events. Maps are placed in their parent as soon as
// they start (their entries live behind a shared_ptr, so later growth of the parent is harmless).
class StateDictBuilder : public CheckedVisitor {
 public:
  StateDictBuilder(const uint8_t* input, size_t size, const std::string& source,
                   std::shared_ptr<const MappedFile> in_place = nullptr)
      : CheckedVisitor(input, 0), size_(size), source_(source), in_place_(std::move(in_place)) {}

  bool visit_nil() { return put(StateValue{}); }
  bool visit_boolean(bool b) {
    StateValue v;
    v.kind = StateValue::Kind::boolean;
    v.b = b;
    return put(std::move(v));
  }
  // Non-negative ints that fit int64 go to `i`; larger ones need `u` (i_unsigned).
  bool visit_positive_integer(uint64_t x) {
    StateValue v;
    v.kind = StateValue::Kind::integer;
    v.u = x;
    if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      v.i_unsigned = true;
    else
      v.i = static_cast<int64_t>(x);
    return put(std::move(v));
  }
  bool visit_negative_integer(int64_t x) {
    StateValue v;
    v.kind = StateValue::Kind::integer;
    v.i = x;
    return put(std::move(v));
  }
  bool visit_float32(float x) {
    StateValue v;
    v.kind = StateValue::Kind::floating;
    v.f = x;
    v.f_single = true;
    return put(std::move(v));
  }
  bool visit_float64(double x) {
    StateValue v;
    v.kind = StateValue::Kind::floating;
    v.f = x;
    return put(std::move(v));
  }
  bool visit_str(const char* p, uint32_t n) {
    if (!stack_.empty() && stack_.back().expect_key) {
      stack_.back().key.assign(p, n);
      stack_.back().expect_key = false;
      return true;
    }
    StateValue v;
    v.kind = StateValue::Kind::string;
    v.s.assign(p, n);
    return put(std::move(v));
  }
  bool visit_bin(const char* p, uint32_t) {
    return fail("a bin (bytes) value outside an array; kiln state dicts do not hold raw bytes",
                offset_of(p));
  }
  // p points at the ext type byte; size counts it too.
  bool visit_ext(const char* p, uint32_t size) {
    auto type = static_cast<int8_t>(p[0]);
    size_t payload = offset_of(p) + 1;
    if (type == kExtNdarray || type == kExtNumpyScalar) {
      StateValue v;
      v.kind = type == kExtNdarray ? StateValue::Kind::array : StateValue::Kind::scalar;
      v.array = decode_ndarray(input_, payload, size - 1, type, source_, in_place_);
      return put(std::move(v));
    }
    if (type == kExtComplex) return put(decode_complex(input_, payload, size - 1, source_));
    return fail("unknown msgpack ext type " + std::to_string(type) +
                    " (Flax writes 1 = ndarray, 2 = complex, 3 = numpy scalar)",
                offset_of(p));
  }
  bool start_array(uint32_t) {
    return fail("a msgpack array: Flax state dicts hold lists as maps keyed \"0\", \"1\", ...");
  }
  bool start_map(uint32_t n) {
    if (stack_.size() >= kMaxDepth)
      return fail("maps nested deeper than " + std::to_string(kMaxDepth) + " levels");
    // Each entry takes at least two bytes, so a larger count cannot be real; refusing it here
    // names the culprit instead of reporting truncation at the end.
    if (static_cast<uint64_t>(n) * 2 > size_)
      return fail("a map declares " + std::to_string(n) + " entries but the whole input is " +
                  std::to_string(size_) + " bytes");
    StateValue v;
    v.kind = StateValue::Kind::map;
    v.map = std::make_shared<StateValue::Map>();
    auto entries = v.map;
    if (!put(std::move(v))) return false;
    stack_.push_back(Frame{std::move(entries), {}, false});
    return true;
  }
  bool start_map_key() {
    stack_.back().expect_key = true;
    return true;
  }
  bool end_map() {
    stack_.pop_back();
    return true;
  }

  StateValue root_;

 private:
  struct Frame {
    std::shared_ptr<StateValue::Map> map;
    std::string key;
    bool expect_key;
  };
  bool put(StateValue v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    Frame& f = stack_.back();
    if (f.expect_key)
      return fail("a map key that is not a string (Flax state dicts have string keys)");
    f.map->entries.emplace_back(std::move(f.key), std::move(v));
    f.key.clear();
    return true;
  }
  size_t size_;
  const std::string& source_;
  std::shared_ptr<const MappedFile> in_place_;
  std::vector<Frame> stack_;
};

}  // namespace

std::vector<uint8_t> encode(const StateValue& v) {
  std::vector<uint8_t> out;
  out.reserve(array_bytes(v) + (size_t{1} << 16));
  encode_value(v, out, 0);
  return out;
}

StateValue decode(const std::vector<uint8_t>& bytes, const std::string& source) {
  StateDictBuilder b(bytes.data(), bytes.size(), source);
  parse_region(b, bytes.data(), 0, bytes.size(), source, "the input");
  return std::move(b.root_);
}

StateValue decode_in_place(const std::shared_ptr<const MappedFile>& file,
                           const std::string& source) {
  StateDictBuilder b(file->data(), file->size(), source, file);
  parse_region(b, file->data(), 0, file->size(), source, "the input");
  return std::move(b.root_);
}

}  // namespace kiln::serialization
