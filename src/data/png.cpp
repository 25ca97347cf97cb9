// PNG through libpng (Debian libpng-dev). Every PNG becomes 8-bit grayscale: palettes are
// expanded, 1/2/4-bit gray widened, 16-bit samples scaled to 8 bits (v * 255 / 65535, rounded),
// alpha and tRNS transparency ignored (the color as stored is kept), and RGB turned into luma
// 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, what PIL's convert("L") uses), rounded. No gamma
// correction: samples are taken as stored.
//
// libpng reports errors by longjmp to the setjmp in the decoding function. For that to be
// well-defined in C++, every object with a destructor is declared before setjmp (so no jump skips
// one), and what the error callback writes lives on the heap, not in the function's locals.
#include <png.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#include "data/image_codecs.hpp"
#include "kiln/backend.hpp"

namespace kiln::data {
namespace {

// What the callbacks read and write.
struct PngIo {
  std::span<const uint8_t> in;
  size_t pos = 0;
  std::vector<uint8_t>* out = nullptr;
  char error[256] = {};
  char warning[256] = {};  // the first one: libpng explains some errors only in a warning before
};

void on_error(png_structp png, png_const_charp message) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  std::snprintf(io->error, sizeof io->error, "%s", message);
  png_longjmp(png, 1);
}

void on_warning(png_structp png, png_const_charp message) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  if (io->warning[0] == '\0') std::snprintf(io->warning, sizeof io->warning, "%s", message);
}

void read_bytes(png_structp png, png_bytep dst, size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (n > io->in.size() - io->pos) {
    std::snprintf(io->error, sizeof io->error,
                  "truncated: the data ends at byte %zu, inside a PNG chunk", io->in.size());
    png_longjmp(png, 1);
  }
  std::memcpy(dst, io->in.data() + io->pos, n);
  io->pos += n;
}

void write_bytes(png_structp png, png_bytep src, size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  bool failed = false;
  try {
    io->out->insert(io->out->end(), src, src + n);
  } catch (const std::bad_alloc&) {
    failed = true;  // longjmp from inside a handler would skip the exception's cleanup
  }
  if (failed) png_error(png, "out of memory");
}

void flush_bytes(png_structp) {}

struct ReadHandles {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~ReadHandles() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

struct WriteHandles {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~WriteHandles() { png_destroy_write_struct(&png, info ? &info : nullptr); }
};

}  // namespace

bool is_png(std::span<const uint8_t> bytes) {
  return bytes.size() >= 8 && png_sig_cmp(bytes.data(), 0, 8) == 0;
}

std::optional<ImageSize> png_size(std::span<const uint8_t> bytes) {
  // The signature (8 bytes), then IHDR: length (4), "IHDR", width and height as big-endian u32.
  if (!is_png(bytes) || bytes.size() < 24 || std::memcmp(bytes.data() + 12, "IHDR", 4) != 0)
    return std::nullopt;
  auto u32 = [&](size_t at) {
    return int64_t{bytes[at]} << 24 | int64_t{bytes[at + 1]} << 16 | int64_t{bytes[at + 2]} << 8 |
           int64_t{bytes[at + 3]};
  };
  return ImageSize{u32(16), u32(20)};
}

Array decode_png(std::span<const uint8_t> bytes, const std::string& name) {
  // Everything with a destructor, before setjmp (see the top of the file).
  auto io = std::make_unique<PngIo>();
  io->in = bytes;
  ReadHandles h;
  std::shared_ptr<Buffer> gray;
  std::vector<uint8_t> rgb;
  std::vector<png_bytep> rows;

  h.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, io.get(), on_error, on_warning);
  if (h.png == nullptr) throw std::bad_alloc();
  h.info = png_create_info_struct(h.png);
  if (h.info == nullptr) throw std::bad_alloc();
  if (setjmp(png_jmpbuf(h.png))) {
    std::string what = io->error;
    if (what.rfind("truncated", 0) != 0) {
      if (io->warning[0] != '\0') what += "; " + std::string(io->warning);
      what = "bad PNG data: " + what + " (libpng)";
      if (what.find("exceeds user limit") != std::string::npos)
        what += "; kiln reads images up to " + std::to_string(kMaxImageSide) + " x " +
                std::to_string(kMaxImageSide);
    }
    throw ValueError(name + ": " + what);
  }
  png_set_read_fn(h.png, io.get(), read_bytes);
  png_set_user_limits(h.png, kMaxImageSide, kMaxImageSide);
  png_read_info(h.png, h.info);
  const png_uint_32 width = png_get_image_width(h.png, h.info);
  const png_uint_32 height = png_get_image_height(h.png, h.info);
  const int color_type = png_get_color_type(h.png, h.info);
  const int bit_depth = png_get_bit_depth(h.png, h.info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(h.png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(h.png);
  if (bit_depth == 16) png_set_scale_16(h.png);
  if (color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(h.png);
  png_set_interlace_handling(h.png);
  png_read_update_info(h.png, h.info);
  const int channels = png_get_channels(h.png, h.info);  // 1 (gray) or 3 (RGB) by now
  const size_t row_bytes = png_get_rowbytes(h.png, h.info);

  gray = allocate_host(size_t{width} * height, default_device());
  auto* out = static_cast<uint8_t*>(gray->host_data());
  rows.resize(height);
  if (channels == 1) {
    // Gray rows decode straight into the array.
    for (png_uint_32 y = 0; y < height; ++y) rows[y] = out + size_t{y} * width;
  } else {
    rgb.resize(row_bytes * height);
    for (png_uint_32 y = 0; y < height; ++y) rows[y] = rgb.data() + y * row_bytes;
  }
  png_read_image(h.png, rows.data());
  png_read_end(h.png, nullptr);

  if (channels == 3) {
    for (size_t i = 0, n = size_t{width} * height; i < n; ++i) {
      const uint8_t* p = rgb.data() + 3 * i;
      // 0.299 R + 0.587 G + 0.114 B rounded half up, in integers so it is exact.
      out[i] = static_cast<uint8_t>((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
    }
  }
  return Array::from_buffer(std::move(gray), DType::uint8, Shape{int64_t{height}, int64_t{width}});
}

std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t height, int64_t width) {
  std::vector<uint8_t> out;
  auto io = std::make_unique<PngIo>();
  io->out = &out;
  WriteHandles h;
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (int64_t y = 0; y < height; ++y)
    rows[static_cast<size_t>(y)] = const_cast<png_bytep>(pixels + y * width);

  h.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, io.get(), on_error, on_warning);
  if (h.png == nullptr) throw std::bad_alloc();
  h.info = png_create_info_struct(h.png);
  if (h.info == nullptr) throw std::bad_alloc();
  if (setjmp(png_jmpbuf(h.png))) throw Error(std::string("cannot encode PNG: ") + io->error);
  png_set_write_fn(h.png, io.get(), write_bytes, flush_bytes);
  png_set_IHDR(h.png, h.info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(h.png, h.info);
  png_write_image(h.png, rows.data());
  png_write_end(h.png, nullptr);
  return out;
}

}  // namespace kiln::data
