// IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/, "THE IDX
// FILE FORMAT"): bytes 0-1 are zero, byte 2 the element type, byte 3 the number of dimensions,
// then one big-endian uint32 per dimension, then the elements, big-endian, in C order.
//
// The payload's size is known from the header, so it must match the content exactly. Memory is
// bounded by what the input justifies: a plain file's payload is checked against the file's size
// before it is allocated; a gzip file's is allocated as inflate produces it (growing from a few
// times the compressed size, doubling, capped at the declared size), so neither a hostile header
// nor a gzip bomb gets more than the declared size, nor much more than the data there is.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

#include "data/byte_stream.hpp"
#include "data/input_file.hpp"
#include "kiln/backend.hpp"
#include "kiln/data.hpp"

namespace kiln::data {
namespace {

struct IdxType {
  uint8_t code;
  std::string_view name;
  DType dtype;
};
// Every type IDX defines.
constexpr IdxType kIdxTypes[] = {
    {0x08, "uint8", DType::uint8},     {0x09, "int8", DType::int8},
    {0x0B, "int16", DType::int16},     {0x0C, "int32", DType::int32},
    {0x0D, "float32", DType::float32}, {0x0E, "float64", DType::float64},
};

std::string known_types() {
  std::string s;
  for (const auto& t : kIdxTypes) {
    char code[8];
    std::snprintf(code, sizeof code, "0x%02X", t.code);
    s += (s.empty() ? "" : ", ") + std::string(code) + " " + std::string(t.name);
  }
  return s;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    char b[4];
    std::snprintf(b, sizeof b, "%02x", p[i]);
    s += (i ? " " : "") + std::string(b);
  }
  return s;
}

// Reports problems as "<name>: at byte N: <what>"; byte offsets of a gzip file count decompressed
// bytes, which the name says.
class IdxReader {
 public:
  IdxReader(std::span<const uint8_t> bytes, const std::string& name)
      : stream_(bytes, name), where_(name) {}

  Array read() {
    uint8_t magic[4];
    size_t got = stream_.read(magic);
    if (got < 4)
      fail(got, "truncated header: the data ends after " + std::to_string(got) +
                    " bytes, but an IDX file starts with a 4-byte magic number");
    if (magic[0] != 0 || magic[1] != 0)
      fail(0, "not an IDX file: it starts with bytes " + hex_bytes(magic, 4) +
                  ", where an IDX file starts with 00 00, an element type and a dimension count");
    const IdxType& type = element_type(magic[2]);
    const int ndims = magic[3];
    if (ndims > Shape::kMaxRank)
      fail(3, std::to_string(ndims) + " dimensions; kiln arrays have at most " +
                  std::to_string(Shape::kMaxRank));

    const uint64_t header_bytes = 4 + 4 * static_cast<uint64_t>(ndims);
    uint8_t dim_bytes[4 * Shape::kMaxRank];
    got = stream_.read({dim_bytes, 4 * static_cast<size_t>(ndims)});
    if (got < 4 * static_cast<size_t>(ndims))
      fail(4 + got, "truncated header: the data ends after " + std::to_string(4 + got) +
                        " bytes, but " + std::to_string(ndims) + " dimensions need a " +
                        std::to_string(header_bytes) + "-byte header");
    Shape shape;
    int64_t numel = 1;
    for (int i = 0; i < ndims; ++i) {
      const uint8_t* p = dim_bytes + 4 * i;
      const int64_t d = (int64_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
      shape.push_back(d);
      // Checked after every factor, so the product never overflows.
      numel *= d;
      if (numel > kMaxIdxElements) {
        std::string dims;
        for (int j = 0; j < ndims; ++j) {
          const uint8_t* q = dim_bytes + 4 * j;
          dims += (j ? " x " : "") +
                  std::to_string((uint64_t{q[0]} << 24) | (q[1] << 16) | (q[2] << 8) | q[3]);
        }
        fail(4, "the dimensions " + dims + " declare more than kiln's IDX limit of " +
                    std::to_string(kMaxIdxElements) + " elements (kiln::data::kMaxIdxElements)");
      }
    }
    describe_ = std::string(type.name) + "[" + shape.dims_str() + "]";
    const uint64_t payload = static_cast<uint64_t>(numel) * itemsize(type.dtype);
    const uint64_t total = header_bytes + payload;

    std::shared_ptr<Buffer> buffer = read_payload(payload, total);
    check_no_trailing(total);
    Array out = Array::from_buffer(std::move(buffer), type.dtype, shape);
    if (itemsize(type.dtype) > 1) to_host_order(out, itemsize(type.dtype));
    return out;
  }

 private:
  [[noreturn]] void fail(uint64_t at, const std::string& what) const {
    throw ValueError(where_ + ": at byte " + std::to_string(at) +
                     (stream_.gzip() ? " of the decompressed data" : "") + ": " + what);
  }

  const IdxType& element_type(uint8_t code) const {
    for (const auto& t : kIdxTypes)
      if (t.code == code) return t;
    char c[8];
    std::snprintf(c, sizeof c, "0x%02X", code);
    fail(2, "unknown IDX element type " + std::string(c) + "; IDX defines " + known_types());
  }

  [[noreturn]] void truncated(uint64_t found, uint64_t total) const {
    fail(found, "truncated: the header declares " + describe_ + ", which needs " +
                    std::to_string(total) + " bytes in all, but the data ends at byte " +
                    std::to_string(found) + " (expected " + std::to_string(total) +
                    " bytes, found " + std::to_string(found) + ")");
  }

  std::shared_ptr<Buffer> read_payload(uint64_t payload, uint64_t total) {
    const uint64_t start = stream_.position();
    if (!stream_.gzip() && stream_.input_left() < payload)
      truncated(start + stream_.input_left(), total);
    const Device device = default_device();
    // A plain file's payload is there in full; a gzip one's capacity grows with what inflate
    // actually produces (see the top of the file).
    uint64_t capacity =
        stream_.gzip()
            ? std::min<uint64_t>(payload, std::max<uint64_t>(uint64_t{1} << 20,
                                                             4 * uint64_t{stream_.input_left()}))
            : payload;
    auto buffer = allocate_host(static_cast<size_t>(capacity), device);
    uint64_t filled = 0;
    for (;;) {
      auto* base = static_cast<uint8_t*>(buffer->host_data());
      filled += stream_.read({base + filled, static_cast<size_t>(capacity - filled)});
      if (filled < capacity) truncated(start + filled, total);
      if (filled == payload) return buffer;
      capacity = std::min(payload, 2 * capacity);
      auto grown = allocate_host(static_cast<size_t>(capacity), device);
      std::memcpy(grown->host_data(), base, static_cast<size_t>(filled));
      buffer = std::move(grown);
    }
  }

  void check_no_trailing(uint64_t total) {
    if (!stream_.gzip()) {
      if (size_t extra = stream_.input_left())
        fail(total, std::to_string(extra) + " trailing bytes after the " + describe_ +
                        " the header declares (expected " + std::to_string(total) +
                        " bytes, found " + std::to_string(total + extra) + ")");
      return;
    }
    // Counted through a small scratch buffer, and only up to a bound: the extra content of a
    // gzip bomb is neither stored nor inflated in full.
    constexpr uint64_t kCountLimit = uint64_t{1} << 20;
    uint8_t scratch[4096];
    uint64_t extra = 0;
    while (extra <= kCountLimit) {
      size_t n = stream_.read(scratch);
      if (n == 0) break;
      extra += n;
    }
    if (extra == 0) return;
    if (extra > kCountLimit)
      fail(total, "more than " + std::to_string(kCountLimit) + " trailing bytes after the " +
                      describe_ + " the header declares (expected " + std::to_string(total) +
                      " bytes, found more than " + std::to_string(total + kCountLimit) + ")");
    fail(total, std::to_string(extra) + " trailing bytes after the " + describe_ +
                    " the header declares (expected " + std::to_string(total) + " bytes, found " +
                    std::to_string(total + extra) + ")");
  }

  // IDX stores elements big-endian.
  static void to_host_order(const Array& a, size_t size) {
    if constexpr (std::endian::native == std::endian::big) return;
    auto* p = static_cast<uint8_t*>(a.buffer()->host_data());
    const size_t n = static_cast<size_t>(a.size());
    for (size_t i = 0; i < n; ++i, p += size) std::reverse(p, p + size);
  }

  ByteStream stream_;
  std::string where_;
  std::string describe_;  // "uint8[60000,28,28]"
};

}  // namespace

Array read_idx_bytes(std::span<const uint8_t> bytes, const std::string& name) {
  return IdxReader(bytes, name).read();
}

Array read_idx(const std::filesystem::path& path) {
  std::vector<uint8_t> bytes = read_input_file(path);
  return read_idx_bytes(bytes, path.string());
}

}  // namespace kiln::data
