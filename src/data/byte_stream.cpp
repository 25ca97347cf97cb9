#include "data/byte_stream.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>

#include "kiln/error.hpp"

namespace kiln::data {
namespace {

bool has_gzip_magic(std::span<const uint8_t> b, size_t at) {
  return b.size() >= at + 2 && b[at] == 0x1f && b[at + 1] == 0x8b;
}

}  // namespace

struct ByteStream::Inflater {
  z_stream z{};
  bool member_done = false;  // the current gzip member has ended
  ~Inflater() { inflateEnd(&z); }
};

ByteStream::ByteStream(std::span<const uint8_t> data, std::string name)
    : data_(data), name_(std::move(name)) {
  if (!has_gzip_magic(data_, 0)) return;
  inflater_ = std::make_unique<Inflater>();
  // 16 + MAX_WBITS: a gzip wrapper (header and CRC-32 trailer checked), not zlib or raw deflate.
  int rc = inflateInit2(&inflater_->z, 16 + MAX_WBITS);
  // After a failed init zlib's state is null, which inflateEnd (in ~Inflater) accepts.
  if (rc == Z_MEM_ERROR) throw std::bad_alloc();
  if (rc != Z_OK)
    throw ValueError(name_ + ": cannot start zlib's inflate (zlib error " + std::to_string(rc) +
                     ")");
}

ByteStream::~ByteStream() = default;

size_t ByteStream::read(std::span<uint8_t> dst) {
  size_t got;
  if (inflater_) {
    got = inflate_into(dst);
  } else {
    got = std::min(dst.size(), input_left());
    if (got) std::memcpy(dst.data(), data_.data() + consumed_, got);
    consumed_ += got;
  }
  position_ += got;
  return got;
}

size_t ByteStream::inflate_into(std::span<uint8_t> dst) {
  z_stream& z = inflater_->z;
  size_t got = 0;
  while (got < dst.size()) {
    if (inflater_->member_done) {
      if (input_left() == 0) break;
      // gzip allows several members back to back (RFC 1952 2.2); anything else after the end of
      // the stream is not gzip data.
      if (!has_gzip_magic(data_, consumed_))
        throw ValueError(
            name_ + ": at compressed byte " + std::to_string(consumed_) + ": " +
            std::to_string(input_left()) +
            " bytes after the end of the gzip stream that are not another gzip member");
      inflateReset(&z);
      inflater_->member_done = false;
    }
    // zlib counts in uInt (32 bits), so a larger input or output goes in slices.
    z.next_in = const_cast<Bytef*>(data_.data() + consumed_);
    z.avail_in = static_cast<uInt>(std::min<size_t>(input_left(), UINT_MAX));
    z.next_out = dst.data() + got;
    z.avail_out = static_cast<uInt>(std::min<size_t>(dst.size() - got, UINT_MAX));
    const uInt in_before = z.avail_in, out_before = z.avail_out;
    int rc = inflate(&z, Z_NO_FLUSH);
    consumed_ += in_before - z.avail_in;
    got += out_before - z.avail_out;
    if (rc == Z_STREAM_END) {
      inflater_->member_done = true;
    } else if (rc == Z_OK) {
      continue;
    } else if (rc == Z_BUF_ERROR && input_left() == 0) {
      throw ValueError(name_ + ": at compressed byte " + std::to_string(consumed_) +
                       ": truncated gzip stream: the file ends before the stream does (after " +
                       std::to_string(position_ + got) +
                       " decompressed bytes); the file was cut short, download or copy it again");
    } else if (rc == Z_MEM_ERROR) {
      throw std::bad_alloc();
    } else {
      throw ValueError(name_ + ": at compressed byte " + std::to_string(consumed_) +
                       ": corrupt gzip data (zlib: " +
                       (z.msg ? std::string(z.msg) : "error " + std::to_string(rc)) + ")");
    }
  }
  return got;
}

}  // namespace kiln::data
