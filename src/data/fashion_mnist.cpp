// Fashion-MNIST (Zalando Research, github.com/zalandoresearch/fashion-mnist): 28x28 grayscale
// images of 10 kinds of clothing in MNIST's IDX files, 60000 for training and 10000 for testing.
#include <cstdlib>

#include "kiln/backend.hpp"
#include "kiln/data.hpp"

namespace kiln::data {
namespace {

constexpr const char* kDefaultDir = "/usr/share/datasets/fashion-mnist";
constexpr const char* kDirVariable = "KILN_FASHION_MNIST_DIR";
constexpr int64_t kSide = 28;
constexpr int64_t kClasses = 10;

std::string how_to_get_the_files(const std::filesystem::path& dir) {
  const char* env = std::getenv(kDirVariable);
  const bool from_env = env != nullptr && *env != '\0' && dir == std::filesystem::path(env);
  return std::string(from_env ? " (the directory comes from $KILN_FASHION_MNIST_DIR)" : "") +
         ". Debian's package dataset-fashion-mnist installs the four files in " + kDefaultDir +
         " (apt-get install dataset-fashion-mnist, or scripts/install.sh); or set " + kDirVariable +
         " to a directory holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
         "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz";
}

// `stem`.gz, as distributed, or `stem` when someone has unpacked it.
std::filesystem::path find_file(const std::filesystem::path& dir, const std::string& stem) {
  std::error_code ec;
  const auto gz = dir / (stem + ".gz");
  if (std::filesystem::exists(gz, ec)) return gz;
  const auto plain = dir / stem;
  if (std::filesystem::exists(plain, ec)) return plain;
  throw ValueError("Fashion-MNIST file " + gz.string() + " not found (nor " + stem + ")" +
                   how_to_get_the_files(dir));
}

std::string type_of(const Array& a) {
  return std::string(name(a.dtype())) + "[" + a.shape().dims_str() + "]";
}

}  // namespace

std::filesystem::path default_fashion_mnist_dir() {
  const char* env = std::getenv(kDirVariable);
  if (env != nullptr && *env != '\0') return env;
  return kDefaultDir;
}

Dataset load_fashion_mnist(Split split, const std::filesystem::path& dir) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const auto images_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const auto labels_path = find_file(dir, prefix + "-labels-idx1-ubyte");

  Array images = read_idx(images_path);
  const Shape& is = images.shape();
  if (images.dtype() != DType::uint8 || is.rank() != 3 || is[1] != kSide || is[2] != kSide)
    throw ValueError(images_path.string() + ": holds " + type_of(images) +
                     ", where Fashion-MNIST images are uint8[N,28,28]; is this the right file?");
  Array raw_labels = read_idx(labels_path);
  if (raw_labels.dtype() != DType::uint8 || raw_labels.ndim() != 1)
    throw ValueError(labels_path.string() + ": holds " + type_of(raw_labels) +
                     ", where Fashion-MNIST labels are uint8[N]; is this the right file?");
  const int64_t n = is[0];
  if (raw_labels.shape()[0] != n)
    throw ValueError(labels_path.string() + ": " + std::to_string(raw_labels.shape()[0]) +
                     " labels, but " + images_path.string() + " holds " + std::to_string(n) +
                     " images; the two files must come from the same split");

  // int32, the dtype kiln's losses take for class indices, checked on the way.
  const auto* src = static_cast<const uint8_t*>(raw_labels.buffer()->host_data());
  auto buffer = allocate_host(static_cast<size_t>(n) * sizeof(int32_t), default_device());
  auto* dst = static_cast<int32_t*>(buffer->host_data());
  for (int64_t i = 0; i < n; ++i) {
    if (src[i] >= kClasses)
      throw ValueError(labels_path.string() + ": label " + std::to_string(src[i]) + " at index " +
                       std::to_string(i) + " is not a class 0..9");
    dst[i] = src[i];
  }
  return {std::move(images), Array::from_buffer(std::move(buffer), DType::int32, Shape{n})};
}

const std::array<std::string_view, 10>& fashion_mnist_class_names() {
  // The order of the labels 0..9, from the dataset's README.
  static constexpr std::array<std::string_view, 10> kNames = {
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return kNames;
}

}  // namespace kiln::data
