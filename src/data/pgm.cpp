// PGM, Netpbm's grayscale format (netpbm.sourceforge.net/doc/pgm.html): "P5" (binary) or "P2"
// (plain text), then width, height and maxval as decimal numbers separated by whitespace, with
// "#" comments up to the end of a line allowed between them, then one whitespace character and
// the samples, row by row. kiln reads maxval up to 255 (one byte a sample) and scales samples to
// 0..255; several images in one file are refused.
#include <algorithm>
#include <cstring>

#include "data/image_codecs.hpp"
#include "kiln/backend.hpp"

namespace kiln::data {
namespace {

bool is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

class PgmParser {
 public:
  PgmParser(std::span<const uint8_t> bytes, const std::string& name) : b_(bytes), name_(name) {}

  Array parse() {
    const bool binary = b_[1] == '5';
    pos_ = 2;
    const int64_t width = header_number("width");
    const int64_t height = header_number("height");
    const int64_t maxval = header_number("maxval");
    if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide)
      fail(2, "a " + std::to_string(width) + " x " + std::to_string(height) +
                  " image; kiln reads images from 1 x 1 to " + std::to_string(kMaxImageSide) +
                  " x " + std::to_string(kMaxImageSide));
    if (maxval < 1 || maxval > 255)
      fail(maxval_at_, "maxval " + std::to_string(maxval) +
                           (maxval > 255 ? " means 16-bit samples, which kiln does not read; "
                                           "convert the image to 8 bits (maxval 255)"
                                         : " is not allowed (1 to 65535 in PGM)"));
    if (pos_ >= b_.size() || !is_space(b_[pos_]))
      fail(pos_, "truncated header: maxval must be followed by one whitespace character");
    ++pos_;
    const size_t count = static_cast<size_t>(width * height);
    // Checked before allocating: P5 needs `count` bytes, P2 at least one digit and one separator
    // a sample, less the last separator.
    const size_t needed = binary ? count : 2 * count - 1;
    if (b_.size() - pos_ < needed)
      fail(b_.size(), "truncated: a " + std::to_string(width) + " x " + std::to_string(height) +
                          " image needs " + (binary ? "" : "at least ") + std::to_string(needed) +
                          " bytes of samples from byte " + std::to_string(pos_) +
                          ", but the data ends at byte " + std::to_string(b_.size()));
    auto buffer = allocate_host(count, default_device());
    auto* out = static_cast<uint8_t*>(buffer->host_data());
    for (size_t i = 0; i < count; ++i) {
      if (!binary && i > 0) skip_space_between_samples();
      const size_t at = pos_;
      const int64_t v = binary ? b_[pos_++] : number("sample " + std::to_string(i));
      if (v > maxval)
        fail(at, "sample " + std::to_string(i) + " is " + std::to_string(v) +
                     ", above the maxval " + std::to_string(maxval));
      // Rounded to nearest: maxval itself becomes 255.
      out[i] = static_cast<uint8_t>((v * 255 + maxval / 2) / maxval);
    }
    if (!binary)
      while (pos_ < b_.size() && is_space(b_[pos_])) ++pos_;
    if (pos_ != b_.size())
      fail(pos_, std::to_string(b_.size() - pos_) + " bytes after the image's " +
                     std::to_string(count) + " samples (expected " + std::to_string(pos_) +
                     " bytes, found " + std::to_string(b_.size()) +
                     "); several images in one file are not read");
    return Array::from_buffer(std::move(buffer), DType::uint8, Shape{height, width});
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw ValueError(name_ + ": at byte " + std::to_string(at) + ": " + what);
  }

  // Whitespace and comments, then a decimal number.
  int64_t header_number(const char* what) {
    for (;;) {
      while (pos_ < b_.size() && is_space(b_[pos_])) ++pos_;
      if (pos_ < b_.size() && b_[pos_] == '#') {
        while (pos_ < b_.size() && b_[pos_] != '\n' && b_[pos_] != '\r') ++pos_;
        continue;
      }
      break;
    }
    if (std::strcmp(what, "maxval") == 0) maxval_at_ = pos_;
    return number(what);
  }

  void skip_space_between_samples() {
    if (pos_ >= b_.size() || !is_space(b_[pos_]))
      fail(pos_, "expected whitespace between plain PGM samples");
    while (pos_ < b_.size() && is_space(b_[pos_])) ++pos_;
  }

  int64_t number(const std::string& what) {
    if (pos_ >= b_.size()) fail(pos_, "truncated: the data ends where the " + what + " should be");
    if (b_[pos_] < '0' || b_[pos_] > '9')
      fail(pos_, "expected the " + what + " (a decimal number), found byte 0x" + hex(b_[pos_]));
    int64_t v = 0;
    const size_t start = pos_;
    while (pos_ < b_.size() && b_[pos_] >= '0' && b_[pos_] <= '9') {
      v = v * 10 + (b_[pos_++] - '0');
      // Far above any valid field, and a bound that keeps v from overflowing.
      if (v > 1'000'000'000) fail(start, "the " + what + " is too large a number");
    }
    return v;
  }

  static std::string hex(uint8_t c) {
    const char* d = "0123456789abcdef";
    return {d[c >> 4], d[c & 15]};
  }

  std::span<const uint8_t> b_;
  const std::string& name_;
  size_t pos_ = 0;
  size_t maxval_at_ = 0;
};

}  // namespace

bool is_pgm(std::span<const uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '2' || bytes[1] == '5');
}

Array decode_pgm(std::span<const uint8_t> bytes, const std::string& name) {
  return PgmParser(bytes, name).parse();
}

std::vector<uint8_t> encode_pgm(const uint8_t* pixels, int64_t height, int64_t width) {
  const std::string header =
      "P5\n" + std::to_string(width) + " " + std::to_string(height) + "\n255\n";
  std::vector<uint8_t> out(header.begin(), header.end());
  out.insert(out.end(), pixels, pixels + height * width);
  return out;
}

}  // namespace kiln::data
