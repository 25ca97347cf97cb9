// Images for prediction: format detection by magic bytes, and atomic writes.
#include <cstdio>

#include "data/image_codecs.hpp"
#include "data/input_file.hpp"
#include "kiln/backend.hpp"
#include "kiln/data.hpp"
#include "kiln/serialization.hpp"

namespace kiln::data {
namespace {

std::string first_bytes(std::span<const uint8_t> b) {
  std::string s;
  for (size_t i = 0; i < std::min<size_t>(b.size(), 8); ++i) {
    char h[4];
    std::snprintf(h, sizeof h, "%02x", b[i]);
    s += (i ? " " : "") + std::string(h);
  }
  return s.empty() ? "nothing (the file is empty)" : "bytes " + s;
}

bool is_netpbm_other(std::span<const uint8_t> b) {
  return b.size() >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7';
}

// The pixels of a uint8 [H, W] image on the host, checked before anything is written.
Array checked_image(const std::filesystem::path& path, const Array& image) {
  if (image.empty()) throw ValueError("cannot write " + path.string() + ": the image is empty");
  const Shape& s = image.shape();
  if (image.dtype() != DType::uint8 || s.rank() != 2 || s[0] < 1 || s[1] < 1 ||
      s[0] > kMaxImageSide || s[1] > kMaxImageSide)
    throw ValueError("cannot write " + path.string() + ": the image is " +
                     std::string(name(image.dtype())) + "[" + s.dims_str() +
                     "]; images are uint8[H, W], 1 to " + std::to_string(kMaxImageSide) +
                     " pixels a side (astype(x, uint8) converts; scale to 0..255 first)");
  return device_get(image);
}

}  // namespace

Array read_image_bytes(std::span<const uint8_t> bytes, const std::string& name) {
  if (is_png(bytes)) return decode_png(bytes, name);
  if (is_pgm(bytes)) return decode_pgm(bytes, name);
  if (is_netpbm_other(bytes))
    throw ValueError(name + ": a Netpbm P" + std::string(1, static_cast<char>(bytes[1])) +
                     " file; kiln reads grayscale PGM (P2, P5) and PNG images");
  throw ValueError(name + ": not a PNG or PGM image: it starts with " + first_bytes(bytes) +
                   "; kiln reads PNG and PGM (P2, P5) images");
}

Array read_image(const std::filesystem::path& path) {
  std::vector<uint8_t> bytes = read_input_file(path);
  return read_image_bytes(bytes, path.string());
}

Array read_images(const std::filesystem::path& path, std::optional<ImageSize> only) {
  std::vector<uint8_t> bytes = read_input_file(path);
  const std::string name = path.string();
  Array images;
  if (const std::optional<ImageSize> s = png_size(bytes);
      only && s && (s->width != only->width || s->height != only->height))
    throw ValueError(name + ": the PNG's header says " + std::to_string(s->width) + "x" +
                     std::to_string(s->height) + " (width x height); expected " +
                     std::to_string(only->width) + "x" + std::to_string(only->height) +
                     " images (nothing was decoded)");
  if (is_png(bytes) || is_pgm(bytes)) {
    images = read_image_bytes(bytes, name);
  } else if (bytes.size() >= 2 &&
             ((bytes[0] == 0 && bytes[1] == 0) || (bytes[0] == 0x1f && bytes[1] == 0x8b))) {
    images = read_idx_bytes(bytes, name);
    if (images.dtype() != DType::uint8 || (images.ndim() != 2 && images.ndim() != 3))
      throw ValueError(name + ": an IDX file of " + std::string(kiln::name(images.dtype())) + "[" +
                       images.shape().dims_str() +
                       "]; images are uint8 [N, H, W] or one uint8 [H, W]");
  } else {
    throw ValueError(name + ": not an IDX, PNG or PGM file: it starts with " + first_bytes(bytes));
  }
  if (images.ndim() == 3) return images;
  // One image becomes a batch of one; the buffer is shared, not copied.
  const Shape& s = images.shape();
  return Array::from_buffer(images.buffer(), DType::uint8, Shape{1, s[0], s[1]});
}

void write_pgm(const std::filesystem::path& path, const Array& image) {
  Array host = checked_image(path, image);
  const Shape& s = host.shape();
  serialization::write_file(
      path, encode_pgm(static_cast<const uint8_t*>(host.buffer()->host_data()), s[0], s[1]));
}

void write_png(const std::filesystem::path& path, const Array& image) {
  Array host = checked_image(path, image);
  const Shape& s = host.shape();
  serialization::write_file(
      path, encode_png(static_cast<const uint8_t*>(host.buffer()->host_data()), s[0], s[1]));
}

}  // namespace kiln::data
