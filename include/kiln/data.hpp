// Data: IDX files (the MNIST family's format), Fashion-MNIST, a batching loader that assembles
// batches on a background thread, and grayscale images (PNG, PGM) for prediction. docs/data.md
// describes the formats, the limits and the loader's threading.
//
// Every reader trusts nothing in its input: lengths and dimensions are checked against the bytes
// there are before anything is allocated for them, and every problem is a kiln::ValueError naming
// the file, the byte offset and what was expected against what was found.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kiln/array.hpp"

namespace kiln::data {

// ---- IDX ----

// The most elements an IDX file may declare (2^31 - 1): Fashion-MNIST's largest file has 47
// million, and the bound keeps a hostile header from asking for more than an int32 index reaches.
inline constexpr int64_t kMaxIdxElements = (int64_t{1} << 31) - 1;

// An IDX file, gzip-compressed (recognised by its magic bytes 1f 8b, not its name) or plain: the
// header's element type (uint8, int8, int16, int32, float32, float64) and dimensions, with the
// big-endian elements converted to host order.
Array read_idx(const std::filesystem::path& path);
// The same from bytes in memory; `name` stands for the file in error messages.
Array read_idx_bytes(std::span<const uint8_t> bytes, const std::string& name = "<bytes>");

// ---- Fashion-MNIST ----

// A labelled set of images: images uint8 [N, H, W] (or [N, H, W, C]) as stored, labels int32 [N].
struct Dataset {
  Array images;
  Array labels;
};

enum class Split { train, test };

// $KILN_FASHION_MNIST_DIR when set, else /usr/share/datasets/fashion-mnist (where Debian's
// dataset-fashion-mnist package puts the four files).
std::filesystem::path default_fashion_mnist_dir();
// The 60000 training or 10000 test images (uint8 [N, 28, 28]) and labels (int32 [N], 0..9) from
// `dir`'s {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or the same names without .gz).
Dataset load_fashion_mnist(Split split,
                           const std::filesystem::path& dir = default_fashion_mnist_dir());
// "T-shirt/top", "Trouser", ..., "Ankle boot": the name of each label 0..9.
const std::array<std::string_view, 10>& fashion_mnist_class_names();

// ---- Loader ----

// How a batch's images are laid out: nhwc float32 [B, H, W, C] (C = 1 for [N, H, W] images) for a
// CNN; flat float32 [B, H*W*C] for an MLP.
enum class Layout { nhwc, flat };

struct LoaderOptions {
  int64_t batch_size = 128;
  // Epoch e visits the samples in random::permutation(fold_in(key(seed), e), N), JAX's shuffle.
  bool shuffle = true;
  uint32_t seed = 0;
  // Without drop_last the last batch holds the N % batch_size samples left (Batch::size says so).
  bool drop_last = false;
  Layout layout = Layout::nhwc;
  // Images become (x / 255 - mean) / std, in float32.
  float mean = 0.0f;
  float std = 1.0f;
  // How many assembled batches may wait for next(); at least 1.
  int prefetch = 2;
  // Optional host-side augmentation, run on the loader's thread on each batch after
  // normalisation: `images` holds size * H*W*C floats, `labels` size int32. It must not call kiln
  // ops (see docs/data.md); an exception it throws is rethrown by next().
  std::function<void(std::span<float> images, std::span<int32_t> labels)> augment = nullptr;
};

struct Batch {
  Array images;  // float32, as LoaderOptions::layout says
  Array labels;  // int32 [size]
  int64_t size = 0;
};

// Batches of a Dataset, assembled by one background thread into a queue of `prefetch` batches, so
// next() waits only when that thread is behind. Its methods are for one thread (the training
// loop's); destroying a Loader mid-epoch stops and joins its thread.
class Loader {
 public:
  Loader(const Dataset& dataset, LoaderOptions options = {});
  ~Loader();
  Loader(Loader&&) noexcept;
  Loader& operator=(Loader&&) noexcept;

  // Begins epoch `epoch` (0 <= epoch < 2^32): fixes its order and discards what was queued of the
  // one before.
  void start_epoch(int64_t epoch);
  // The epoch's next batch, or nullopt once the epoch is done. Rethrows an exception of the
  // loader's thread (after the batches made before it), which ends the epoch.
  std::optional<Batch> next();
  int64_t batches_per_epoch() const;
  int64_t size() const;  // N, the samples in the dataset

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ---- images ----

// A grayscale image uint8 [H, W] from a PNG (any color type and bit depth: palette expanded,
// 16-bit scaled to 8, alpha ignored, RGB to 0.299 R + 0.587 G + 0.114 B rounded) or a PGM (P2 or
// P5, maxval <= 255, scaled to 0..255). The format is recognised by its magic bytes.
Array read_image(const std::filesystem::path& path);
Array read_image_bytes(std::span<const uint8_t> bytes, const std::string& name = "<bytes>");
struct ImageSize {
  int64_t width = 0;
  int64_t height = 0;
};
// Images for prediction as uint8 [N, H, W]: an IDX file of uint8 [N, H, W] or [H, W], or one PNG
// or PGM image (N = 1). With `only`, a PNG of another size is a ValueError from its header, before
// any pixel is decoded (a PNG of 2 MB can declare a gigabyte of pixels); a PGM's pixels are no
// larger than its file, and the caller checks the result's shape in any case.
Array read_images(const std::filesystem::path& path, std::optional<ImageSize> only = std::nullopt);
// Writes a uint8 [H, W] image as binary PGM (P5) or 8-bit grayscale PNG, atomically (temporary
// file, flush, rename).
void write_pgm(const std::filesystem::path& path, const Array& image);
void write_png(const std::filesystem::path& path, const Array& image);

}  // namespace kiln::data
