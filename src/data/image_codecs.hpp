// The grayscale image formats read_image and write_pgm/write_png speak: PGM (Netpbm) and PNG.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/data.hpp"

namespace kiln::data {

// The widest and tallest image kiln reads or writes: far beyond a 28x28 input, small enough that
// a header cannot ask for more than 256 MiB of pixels.
inline constexpr int64_t kMaxImageSide = 16384;

bool is_png(std::span<const uint8_t> bytes);
bool is_pgm(std::span<const uint8_t> bytes);  // "P2" or "P5"

// The size a PNG's IHDR chunk declares, read from the header alone; nullopt when the bytes are
// too short to hold one (decode_png then says what is wrong).
std::optional<ImageSize> png_size(std::span<const uint8_t> bytes);

// uint8 [H, W]; problems are ValueErrors "<name>: ...".
Array decode_pgm(std::span<const uint8_t> bytes, const std::string& name);
Array decode_png(std::span<const uint8_t> bytes, const std::string& name);

// The file bytes of a uint8 image of `height` x `width` pixels, row by row.
std::vector<uint8_t> encode_pgm(const uint8_t* pixels, int64_t height, int64_t width);
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t height, int64_t width);

}  // namespace kiln::data
