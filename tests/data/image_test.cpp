// Images for prediction: PGM (P2, P5) and PNG of every color type read as 8-bit grayscale, the
// writers' bytes and round trips, and bad files refused naming the file and the problem. The
// PNGs under test are written with libpng's simplified API, independently of kiln's reader.
#include <gtest/gtest.h>
#include <png.h>

#include "data/data_test_helpers.hpp"
#include "kiln/backend.hpp"
#include "kiln/data.hpp"
#include "kiln/serialization.hpp"

namespace kiln {
namespace {

using testing_data::bytes_of;
using testing_data::TempDir;
using testing_data::value_error_of;

std::vector<uint8_t> read_pixels(const std::vector<uint8_t>& file, Shape expected_shape) {
  Array a = data::read_image_bytes(file, "img");
  EXPECT_EQ(a.dtype(), DType::uint8);
  EXPECT_EQ(a.shape(), expected_shape);
  return a.to_vector<uint8_t>();
}

std::string image_error(const std::vector<uint8_t>& file) {
  return value_error_of([&] { data::read_image_bytes(file, "img"); });
}

// A PNG of `width` x `height` in libpng's simplified `format`, from `pixels` (uint8_t or
// uint16_t components) and, for a colormap format, `colormap`.
template <class T>
std::vector<uint8_t> png_of(uint32_t format, uint32_t width, uint32_t height,
                            const std::vector<T>& pixels,
                            const std::vector<uint8_t>& colormap = {}) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = format;
  if (!colormap.empty()) image.colormap_entries = static_cast<uint32_t>(colormap.size() / 3);
  png_alloc_size_t size = 0;
  const void* cmap = colormap.empty() ? nullptr : colormap.data();
  EXPECT_TRUE(png_image_write_get_memory_size(image, size, 0, pixels.data(), 0, cmap));
  std::vector<uint8_t> out(size);
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, cmap))
      << image.message;
  out.resize(size);
  return out;
}

// ---- PGM ----

TEST(Image, WritePgmIsBinaryP5AndReadsBack) {
  TempDir dir;
  std::vector<uint8_t> px = {0, 1, 2, 128, 254, 255};
  data::write_pgm(dir / "a.pgm", Array::from_data<uint8_t>(px, {2, 3}));
  auto expected = bytes_of("P5\n3 2\n255\n");
  expected.insert(expected.end(), px.begin(), px.end());
  EXPECT_EQ(serialization::read_file(dir / "a.pgm"), expected);
  Array back = data::read_image(dir / "a.pgm");
  EXPECT_EQ(back.shape(), (Shape{2, 3}));
  EXPECT_EQ(back.to_vector<uint8_t>(), px);
  // Atomic write: nothing but the file itself is left in the directory.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(Image, PlainPgmWithCommentsAndLowMaxvalIsScaled) {
  // maxval 15: samples scale by 255 / 15 = 17.
  auto pgm = bytes_of("P2\n# made by hand\n3 # width\n2\n15\n0 1 7\n 8\t14 15\n");
  EXPECT_EQ(read_pixels(pgm, {2, 3}), (std::vector<uint8_t>{0, 17, 119, 136, 238, 255}));
  auto p5 = bytes_of("P5 2 1 255 ");
  p5.push_back(9);
  p5.push_back(200);
  EXPECT_EQ(read_pixels(p5, {1, 2}), (std::vector<uint8_t>{9, 200}));
}

TEST(Image, BadPgmFilesNameTheProblem) {
  EXPECT_EQ(image_error(bytes_of("P5\n3 2\n255\nabcd")),
            "img: at byte 15: truncated: a 3 x 2 image needs 6 bytes of samples from byte 11, but "
            "the data ends at byte 15");
  EXPECT_EQ(image_error(bytes_of("P5\n1 1\n255\nab")),
            "img: at byte 12: 1 bytes after the image's 1 samples (expected 12 bytes, found 13); "
            "several images in one file are not read");
  EXPECT_EQ(image_error(bytes_of("P5\n1 1\n65535\nab")),
            "img: at byte 7: maxval 65535 means 16-bit samples, which kiln does not read; convert "
            "the image to 8 bits (maxval 255)");
  EXPECT_EQ(image_error(bytes_of("P2\n2 1\n10\n3 11\n")),
            "img: at byte 12: sample 1 is 11, above the maxval 10");
  EXPECT_EQ(image_error(bytes_of("P2\n2 1\n10\n3 x\n")),
            "img: at byte 12: expected the sample 1 (a decimal number), found byte 0x78");
  EXPECT_EQ(image_error(bytes_of("P5\n0 1\n255\n")),
            "img: at byte 2: a 0 x 1 image; kiln reads images from 1 x 1 to 16384 x 16384");
  EXPECT_EQ(image_error(bytes_of("P5\n3")),
            "img: at byte 4: truncated: the data ends where the height should be");
  EXPECT_EQ(image_error(bytes_of("P6\n1 1\n255\nabc")),
            "img: a Netpbm P6 file; kiln reads grayscale PGM (P2, P5) and PNG images");
  EXPECT_EQ(image_error(bytes_of("GIF89a")),
            "img: not a PNG or PGM image: it starts with bytes 47 49 46 38 39 61; kiln reads PNG "
            "and PGM (P2, P5) images");
  EXPECT_EQ(image_error({}),
            "img: not a PNG or PGM image: it starts with nothing (the file is empty); kiln reads "
            "PNG and PGM (P2, P5) images");
}

// ---- PNG ----

TEST(Image, WritePngReadsBackAsTheSamePixels) {
  TempDir dir;
  std::vector<uint8_t> px(28 * 28);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 37);
  data::write_png(dir / "a.png", Array::from_data<uint8_t>(px, {28, 28}));
  auto file = serialization::read_file(dir / "a.png");
  ASSERT_GE(file.size(), 8u);
  EXPECT_EQ(png_sig_cmp(file.data(), 0, 8), 0);
  // libpng's own reader agrees: 8-bit gray, 28 x 28, the same pixels.
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  ASSERT_TRUE(png_image_begin_read_from_memory(&image, file.data(), file.size()));
  EXPECT_EQ(image.format, static_cast<uint32_t>(PNG_FORMAT_GRAY));
  std::vector<uint8_t> theirs(PNG_IMAGE_SIZE(image));
  ASSERT_TRUE(png_image_finish_read(&image, nullptr, theirs.data(), 0, nullptr));
  EXPECT_EQ(theirs, px);
  EXPECT_EQ(data::read_image(dir / "a.png").to_vector<uint8_t>(), px);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(Image, RgbBecomesRoundedBt601Luma) {
  // 0.299 R + 0.587 G + 0.114 B: 76.245, 149.685, 29.07, 18.15, 28.5 (rounds up), 255.
  std::vector<uint8_t> rgb = {255, 0,  0,  0, 255, 0,   0,   0,   255,
                              10,  20, 30, 0, 0,   250, 255, 255, 255};
  const std::vector<uint8_t> luma = {76, 150, 29, 18, 29, 255};
  EXPECT_EQ(read_pixels(png_of(PNG_FORMAT_RGB, 3, 2, rgb), {2, 3}), luma);
  // Alpha is ignored: the color as stored counts, even where fully transparent.
  std::vector<uint8_t> rgba;
  for (size_t i = 0; i < rgb.size(); i += 3) {
    rgba.insert(rgba.end(), rgb.begin() + static_cast<long>(i),
                rgb.begin() + static_cast<long>(i) + 3);
    rgba.push_back(255);
  }
  EXPECT_EQ(read_pixels(png_of(PNG_FORMAT_RGBA, 3, 2, rgba), {2, 3}), luma);
}

TEST(Image, GrayAlphaPaletteAnd16BitPngs) {
  EXPECT_EQ(
      read_pixels(png_of(PNG_FORMAT_GRAY, 2, 2, std::vector<uint8_t>{0, 50, 200, 255}), {2, 2}),
      (std::vector<uint8_t>{0, 50, 200, 255}));
  EXPECT_EQ(
      read_pixels(png_of(PNG_FORMAT_GA, 2, 1, std::vector<uint8_t>{77, 255, 99, 255}), {1, 2}),
      (std::vector<uint8_t>{77, 99}));
  // A palette of red, gray 100 and white, indexed 2, 0, 1.
  EXPECT_EQ(read_pixels(png_of(PNG_FORMAT_RGB_COLORMAP, 3, 1, std::vector<uint8_t>{2, 0, 1},
                               {255, 0, 0, 100, 100, 100, 255, 255, 255}),
                        {1, 3}),
            (std::vector<uint8_t>{255, 76, 100}));
  // 16-bit samples scale to 8 bits: v * 255 / 65535 rounded (0x00ff -> 0.99 -> 1).
  EXPECT_EQ(read_pixels(png_of(PNG_FORMAT_LINEAR_Y, 4, 1,
                               std::vector<uint16_t>{0x0000, 0x00ff, 0x8000, 0xffff}),
                        {1, 4}),
            (std::vector<uint8_t>{0, 1, 128, 255}));
}

TEST(Image, BadPngFilesNameTheProblem) {
  auto good = png_of(PNG_FORMAT_GRAY, 4, 4, std::vector<uint8_t>(16, 9));
  auto cut = std::vector<uint8_t>(good.begin(), good.begin() + 40);
  EXPECT_EQ(image_error(cut), "img: truncated: the data ends at byte 40, inside a PNG chunk");
  auto bad_crc = good;
  bad_crc[20] ^= 0x01;  // inside IHDR, so its CRC no longer matches
  EXPECT_EQ(image_error(bad_crc), "img: bad PNG data: IHDR: CRC error (libpng)");
  auto wide = png_of(PNG_FORMAT_GRAY, 20000, 1, std::vector<uint8_t>(20000, 0));
  EXPECT_EQ(image_error(wide),
            "img: bad PNG data: Invalid IHDR data; Image width exceeds user limit in IHDR "
            "(libpng); kiln reads images up to 16384 x 16384");
}

// ---- writing and batches ----

TEST(Image, WritersRefuseWhatIsNotAUint8Image) {
  TempDir dir;
  EXPECT_EQ(value_error_of([&] {
              data::write_png(dir / "f.png",
                              Array::from_data<float>(std::vector<float>{0.5f, 1.0f}, {1, 2}));
            }),
            "cannot write " + (dir / "f.png").string() +
                ": the image is float32[1,2]; images are uint8[H, W], 1 to 16384 pixels a side "
                "(astype(x, uint8) converts; scale to 0..255 first)");
  EXPECT_NE(
      value_error_of([&] {
        data::write_pgm(dir / "f.pgm", Array::from_data<uint8_t>(std::vector<uint8_t>{1, 2}, {2}));
      }).find("the image is uint8[2]"),
      std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "f.png"));
}

TEST(Image, ReadImagesGivesABatchFromIdxPngOrPgm) {
  TempDir dir;
  std::vector<uint8_t> px = {1, 2, 3, 4, 5, 6};
  data::write_png(dir / "one.png", Array::from_data<uint8_t>(px, {2, 3}));
  Array one = data::read_images(dir / "one.png");
  EXPECT_EQ(one.shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(one.to_vector<uint8_t>(), px);
  testing_data::write_bytes(dir / "two.idx", testing_data::idx_bytes(0x08, {2, 1, 3}, px));
  EXPECT_EQ(data::read_images(dir / "two.idx").shape(), (Shape{2, 1, 3}));
  testing_data::write_bytes(dir / "hw.idx.gz",
                            testing_data::gzip(testing_data::idx_bytes(0x08, {3, 2}, px)));
  EXPECT_EQ(data::read_images(dir / "hw.idx.gz").shape(), (Shape{1, 3, 2}));
  testing_data::write_bytes(dir / "f.idx", testing_data::idx_bytes(0x0D, {1, 1}, {0, 0, 0, 0}));
  EXPECT_EQ(value_error_of([&] { data::read_images(dir / "f.idx"); }),
            (dir / "f.idx").string() +
                ": an IDX file of float32[1,1]; images are uint8 [N, H, W] or one uint8 [H, W]");
  testing_data::write_bytes(dir / "x.txt", bytes_of("hello"));
  EXPECT_EQ(value_error_of([&] { data::read_images(dir / "x.txt"); }),
            (dir / "x.txt").string() +
                ": not an IDX, PNG or PGM file: it starts with bytes 68 65 6c 6c 6f");
}

}  // namespace
}  // namespace kiln
