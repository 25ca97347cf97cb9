// Fashion-MNIST training in LibTorch C++ 1.13, the peer of `kiln train fashion-mnist` for
// bench/fashion_mnist_bench: the same two architectures (src/models/fashion_mnist.cpp), the same
// batch size, optimizer (Adam, optax's/PyTorch's defaults besides the rate), loss (softmax cross
// entropy), input normalisation and epochs, written the way a LibTorch user would write them.
// Initialisation is each framework's own default (PyTorch: kaiming-uniform; Flax: lecun-normal).
//
//   fashion_mnist_libtorch --model mlp|cnn --epochs N --batch-size B --lr X --seed S --threads T
//                          [--data DIR] [--limit N]
//
// --limit N trains on the first N training images only (as `kiln train --limit`), for quick runs.
//
// Prints one line per epoch, `epoch E seconds S loss L test_accuracy A`, that the bench parses.
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// An IDX file (gzip), its payload after the header: enough for the four Fashion-MNIST files.
std::vector<uint8_t> read_idx_payload(const std::string& path, int ndims) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  int n = 0;
  while ((n = gzread(f, chunk, sizeof chunk)) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  gzclose(f);
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes.size() < header) throw std::runtime_error("truncated " + path);
  return {bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end()};
}

struct Split {
  torch::Tensor images;  // float32 [N, 1, 28, 28], normalised
  torch::Tensor labels;  // int64 [N]
};

// Normalisation as kiln's loader applies it: (x/255 - mean) / std.
constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;

Split load(const std::string& dir, const std::string& prefix) {
  std::vector<uint8_t> img = read_idx_payload(dir + "/" + prefix + "-images-idx3-ubyte.gz", 3);
  std::vector<uint8_t> lab = read_idx_payload(dir + "/" + prefix + "-labels-idx1-ubyte.gz", 1);
  const int64_t n = static_cast<int64_t>(lab.size());
  auto images = torch::from_blob(img.data(), {n, 1, 28, 28}, torch::kUInt8).to(torch::kFloat32);
  images = (images / 255.0f - kMean) / kStd;
  auto labels = torch::from_blob(lab.data(), {n}, torch::kUInt8).to(torch::kInt64);
  return {images.contiguous(), labels.contiguous()};
}

struct MlpImpl : torch::nn::Module {
  MlpImpl()
      : fc0(register_module("Dense_0", torch::nn::Linear(784, 512))),
        fc1(register_module("Dense_1", torch::nn::Linear(512, 512))),
        fc2(register_module("Dense_2", torch::nn::Linear(512, 10))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = x.view({x.size(0), 784});
    x = torch::dropout(torch::relu(fc0(x)), 0.2, is_training());
    x = torch::dropout(torch::relu(fc1(x)), 0.2, is_training());
    return fc2(x);
  }
  torch::nn::Linear fc0, fc1, fc2;
};
TORCH_MODULE(Mlp);

struct CnnImpl : torch::nn::Module {
  CnnImpl()
      : conv0(register_module("Conv_0",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3).padding(1)))),
        conv1(register_module("Conv_1",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)))),
        fc0(register_module("Dense_0", torch::nn::Linear(7 * 7 * 64, 128))),
        fc1(register_module("Dense_1", torch::nn::Linear(128, 10))) {}
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv0(x)), 2);
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);
    x = x.flatten(1);
    x = torch::dropout(x, 0.25, is_training());
    x = torch::dropout(torch::relu(fc0(x)), 0.5, is_training());
    return fc1(x);
  }
  torch::nn::Conv2d conv0, conv1;
  torch::nn::Linear fc0, fc1;
};
TORCH_MODULE(Cnn);

template <class Model>
int run(Model model, const Split& train, const Split& test, int epochs, int64_t batch, double lr) {
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(lr));
  const int64_t n = train.labels.size(0);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    model->train();
    torch::Tensor perm = torch::randperm(n, torch::kInt64);
    double loss_sum = 0;
    int64_t seen = 0;
    for (int64_t start = 0; start < n; start += batch) {
      const int64_t len = std::min(batch, n - start);
      torch::Tensor idx = perm.narrow(0, start, len);
      torch::Tensor x = train.images.index_select(0, idx);
      torch::Tensor y = train.labels.index_select(0, idx);
      opt.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>() * static_cast<double>(len);
      seen += len;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    model->eval();
    torch::NoGradGuard no_grad;
    int64_t correct = 0;
    const int64_t m = test.labels.size(0);
    for (int64_t start = 0; start < m; start += 1000) {
      const int64_t len = std::min<int64_t>(1000, m - start);
      torch::Tensor pred = model->forward(test.images.narrow(0, start, len)).argmax(1);
      correct += pred.eq(test.labels.narrow(0, start, len)).sum().item<int64_t>();
    }
    std::printf("epoch %d seconds %.3f loss %.4f test_accuracy %.4f\n", epoch, seconds,
                loss_sum / static_cast<double>(seen),
                static_cast<double>(correct) / static_cast<double>(m));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "mlp", dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 1, threads = 1;
  int64_t batch = 128;
  double lr = 1e-3;
  uint64_t seed = 0;
  int64_t limit = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model")
      model = v;
    else if (k == "--epochs")
      epochs = std::stoi(v);
    else if (k == "--batch-size")
      batch = std::stoll(v);
    else if (k == "--lr")
      lr = std::stod(v);
    else if (k == "--seed")
      seed = std::stoull(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else if (k == "--data")
      dir = v;
    else if (k == "--limit")
      limit = std::stoll(v);
    else {
      std::fprintf(stderr, "fashion_mnist_libtorch: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  try {
    at::set_num_threads(threads);
    at::set_num_interop_threads(1);
    torch::manual_seed(seed);
    Split train = load(dir, "train"), test = load(dir, "t10k");
    if (limit > 0 && limit < train.labels.size(0))
      train = {train.images.narrow(0, 0, limit), train.labels.narrow(0, 0, limit)};
    if (model == "mlp") return run(Mlp(), train, test, epochs, batch, lr);
    if (model == "cnn") return run(Cnn(), train, test, epochs, batch, lr);
    std::fprintf(stderr, "fashion_mnist_libtorch: unknown model %s (mlp or cnn)\n", model.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist_libtorch: %s\n", e.what());
    return 1;
  }
}
