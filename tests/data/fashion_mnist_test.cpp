// Fashion-MNIST: the loader's checks on small files written here, and the real files when Debian's
// dataset-fashion-mnist package is installed (skipped, saying so, when it is not).
#include <gtest/gtest.h>

#include <cstdlib>

#include "data/data_test_helpers.hpp"
#include "kiln/backend.hpp"
#include "kiln/data.hpp"

namespace kiln {
namespace {

using testing_data::gzip;
using testing_data::idx_bytes;
using testing_data::TempDir;
using testing_data::value_error_of;

// `n` images whose pixels are (image index + pixel index) % 256, and the given labels.
void write_split(const TempDir& dir, const std::string& prefix, uint32_t n,
                 std::vector<uint8_t> labels, uint32_t side = 28, bool compress = true) {
  std::vector<uint8_t> pixels(size_t{n} * side * side);
  for (size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<uint8_t>(i / (side * side) + i % (side * side));
  auto images = idx_bytes(0x08, {n, side, side}, pixels);
  auto label_file = idx_bytes(0x08, {static_cast<uint32_t>(labels.size())}, labels);
  const std::string ext = compress ? ".gz" : "";
  testing_data::write_bytes(dir / (prefix + "-images-idx3-ubyte" + ext),
                            compress ? gzip(images) : images);
  testing_data::write_bytes(dir / (prefix + "-labels-idx1-ubyte" + ext),
                            compress ? gzip(label_file) : label_file);
}

TEST(FashionMnist, LoadsASplitAsUint8ImagesAndInt32Labels) {
  TempDir dir;
  write_split(dir, "train", 3, {9, 0, 5});
  write_split(dir, "t10k", 2, {1, 2}, 28, /*compress=*/false);  // unpacked files are read too
  data::Dataset train = data::load_fashion_mnist(data::Split::train, dir.path());
  EXPECT_EQ(train.images.dtype(), DType::uint8);
  EXPECT_EQ(train.images.shape(), (Shape{3, 28, 28}));
  EXPECT_EQ(train.labels.dtype(), DType::int32);
  EXPECT_EQ(train.labels.to_vector<int32_t>(), (std::vector<int32_t>{9, 0, 5}));
  EXPECT_EQ(train.images.to_vector<uint8_t>()[784 + 5], 6);  // image 1, pixel 5
  data::Dataset test = data::load_fashion_mnist(data::Split::test, dir.path());
  EXPECT_EQ(test.images.shape(), (Shape{2, 28, 28}));
  EXPECT_EQ(test.labels.to_vector<int32_t>(), (std::vector<int32_t>{1, 2}));
}

TEST(FashionMnist, MissingFileSaysWhichAndHowToInstallIt) {
  TempDir dir;
  std::string e = value_error_of([&] { data::load_fashion_mnist(data::Split::train, dir.path()); });
  EXPECT_NE(e.find("Fashion-MNIST file " + (dir / "train-images-idx3-ubyte.gz").string() +
                   " not found (nor train-images-idx3-ubyte)"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("apt-get install dataset-fashion-mnist"), std::string::npos) << e;
  EXPECT_NE(e.find("scripts/install.sh"), std::string::npos) << e;
  EXPECT_NE(e.find("KILN_FASHION_MNIST_DIR"), std::string::npos) << e;
  // With the images present, the labels file is the one named.
  write_split(dir, "t10k", 2, {1, 2});
  std::filesystem::remove(dir / "t10k-labels-idx1-ubyte.gz");
  e = value_error_of([&] { data::load_fashion_mnist(data::Split::test, dir.path()); });
  EXPECT_NE(e.find((dir / "t10k-labels-idx1-ubyte.gz").string() + " not found"), std::string::npos)
      << e;
}

TEST(FashionMnist, MismatchedCountsLabelsOrSizesAreRefused) {
  TempDir dir;
  write_split(dir, "train", 3, {1, 2});
  EXPECT_EQ(value_error_of([&] { data::load_fashion_mnist(data::Split::train, dir.path()); }),
            (dir / "train-labels-idx1-ubyte.gz").string() + ": 2 labels, but " +
                (dir / "train-images-idx3-ubyte.gz").string() +
                " holds 3 images; the two files must come from the same split");
  write_split(dir, "train", 2, {1, 10});
  EXPECT_EQ(
      value_error_of([&] { data::load_fashion_mnist(data::Split::train, dir.path()); }),
      (dir / "train-labels-idx1-ubyte.gz").string() + ": label 10 at index 1 is not a class 0..9");
  write_split(dir, "train", 2, {1, 2}, /*side=*/32);
  EXPECT_EQ(value_error_of([&] { data::load_fashion_mnist(data::Split::train, dir.path()); }),
            (dir / "train-images-idx3-ubyte.gz").string() +
                ": holds uint8[2,32,32], where Fashion-MNIST images are uint8[N,28,28]; is this "
                "the right file?");
  // A truncated file is reported by the IDX reader, naming it.
  auto cut = gzip(idx_bytes(0x08, {2, 28, 28}, std::vector<uint8_t>(100)));
  testing_data::write_bytes(dir / "train-images-idx3-ubyte.gz", cut);
  EXPECT_EQ(value_error_of([&] { data::load_fashion_mnist(data::Split::train, dir.path()); }),
            (dir / "train-images-idx3-ubyte.gz").string() +
                ": at byte 116 of the decompressed data: truncated: the header declares "
                "uint8[2,28,28], which needs 1584 bytes in all, but the data ends at byte 116 "
                "(expected 1584 bytes, found 116)");
}

TEST(FashionMnist, DefaultDirectoryComesFromTheEnvironment) {
  const char* old = std::getenv("KILN_FASHION_MNIST_DIR");
  const std::string saved = old ? old : "";
  ::unsetenv("KILN_FASHION_MNIST_DIR");
  EXPECT_EQ(data::default_fashion_mnist_dir(), "/usr/share/datasets/fashion-mnist");
  ::setenv("KILN_FASHION_MNIST_DIR", "/data/fm", 1);
  EXPECT_EQ(data::default_fashion_mnist_dir(), "/data/fm");
  std::string e = value_error_of([] { data::load_fashion_mnist(data::Split::train); });
  EXPECT_NE(e.find("/data/fm/train-images-idx3-ubyte.gz not found"), std::string::npos) << e;
  EXPECT_NE(e.find("(the directory comes from $KILN_FASHION_MNIST_DIR)"), std::string::npos) << e;
  if (old)
    ::setenv("KILN_FASHION_MNIST_DIR", saved.c_str(), 1);
  else
    ::unsetenv("KILN_FASHION_MNIST_DIR");
}

TEST(FashionMnist, ClassNamesInLabelOrder) {
  const auto& names = data::fashion_mnist_class_names();
  EXPECT_EQ(names[0], "T-shirt/top");
  EXPECT_EQ(names[1], "Trouser");
  EXPECT_EQ(names[2], "Pullover");
  EXPECT_EQ(names[3], "Dress");
  EXPECT_EQ(names[4], "Coat");
  EXPECT_EQ(names[5], "Sandal");
  EXPECT_EQ(names[6], "Shirt");
  EXPECT_EQ(names[7], "Sneaker");
  EXPECT_EQ(names[8], "Bag");
  EXPECT_EQ(names[9], "Ankle boot");
}

// The real files. The checksums were computed once, independently of kiln, with Python 3:
//   im = gzip.open(".../train-images-idx3-ubyte.gz").read(); zlib.crc32(im[16:16 + 784])
// (the first image; im[16:] for all of them), and the same on the labels' lb[8:].
const std::filesystem::path kSystemDir = "/usr/share/datasets/fashion-mnist";
#define SKIP_WITHOUT_FASHION_MNIST()                                                      \
  if (!std::filesystem::exists(kSystemDir / "train-images-idx3-ubyte.gz"))                \
  GTEST_SKIP() << kSystemDir.string()                                                     \
               << " has no Fashion-MNIST: apt-get install dataset-fashion-mnist (or run " \
                  "scripts/install.sh) to run this test"

std::vector<uint8_t> label_bytes(const Array& labels) {
  auto v = labels.to_vector<int32_t>();
  return std::vector<uint8_t>(v.begin(), v.end());
}

TEST(FashionMnist, RealTrainingSplit) {
  SKIP_WITHOUT_FASHION_MNIST();
  data::Dataset d = data::load_fashion_mnist(data::Split::train, kSystemDir);
  EXPECT_EQ(d.images.shape(), (Shape{60000, 28, 28}));
  EXPECT_EQ(d.labels.shape(), (Shape{60000}));
  const auto* pixels = static_cast<const uint8_t*>(d.images.buffer()->host_data());
  EXPECT_EQ(testing_data::crc32_of(pixels, 784), 0xf270beb5u);
  EXPECT_EQ(testing_data::crc32_of(pixels, 60000 * 784), 0xae65dccdu);
  auto labels = label_bytes(d.labels);
  EXPECT_EQ(labels[0], 9);  // an ankle boot
  EXPECT_EQ(testing_data::crc32_of(labels.data(), labels.size()), 0x2ed6e46au);
}

TEST(FashionMnist, RealTestSplit) {
  SKIP_WITHOUT_FASHION_MNIST();
  data::Dataset d = data::load_fashion_mnist(data::Split::test, kSystemDir);
  EXPECT_EQ(d.images.shape(), (Shape{10000, 28, 28}));
  const auto* pixels = static_cast<const uint8_t*>(d.images.buffer()->host_data());
  EXPECT_EQ(testing_data::crc32_of(pixels, 784), 0x52830860u);
  EXPECT_EQ(testing_data::crc32_of(pixels, 10000 * 784), 0x12728439u);
  auto labels = label_bytes(d.labels);
  EXPECT_EQ(labels[0], 9);
  EXPECT_EQ(testing_data::crc32_of(labels.data(), labels.size()), 0x242bc73fu);
}

TEST(FashionMnist, RealTrainingSplitThroughTheLoader) {
  SKIP_WITHOUT_FASHION_MNIST();
  data::Loader loader(data::load_fashion_mnist(data::Split::train, kSystemDir),
                      {.batch_size = 128, .seed = 0, .layout = data::Layout::flat});
  EXPECT_EQ(loader.batches_per_epoch(), 469);  // 468 full batches and 96 samples left
  loader.start_epoch(0);
  std::vector<int64_t> per_class(10, 0);
  int64_t batches = 0, last_size = 0;
  while (auto batch = loader.next()) {
    ++batches;
    last_size = batch->size;
    EXPECT_EQ(batch->images.shape(), (Shape{batch->size, 784}));
    for (int32_t label : batch->labels.to_vector<int32_t>())
      ++per_class[static_cast<size_t>(label)];
  }
  EXPECT_EQ(batches, 469);
  EXPECT_EQ(last_size, 96);
  EXPECT_EQ(per_class, std::vector<int64_t>(10, 6000));  // the training split is balanced
}

}  // namespace
}  // namespace kiln
