// Fashion-MNIST training in LibTorch C++ 1.13, the peer of `kiln train fashion-mnist` for
// bench/fashion_mnist_bench: the same two architectures (src/models/fashion_mnist.cpp), the same
// batch size, optimizer (Adam, optax's/PyTorch's defaults besides the rate), loss (softmax cross
// entropy), input normalisation and epochs, written the way a LibTorch user would write them.
// Initialisation is each framework's own default (PyTorch: kaiming-uniform; Flax: lecun-normal).
//
//   fashion_mnist_libtorch --model mlp|cnn --epochs N --batch-size B --lr X --seed S --threads T
//                          [--data DIR] [--limit N] [--rank R --world N --store FILE [--host
//                          ADDRESS]]
//
// --limit N trains on the first N training images only (as `kiln train --limit`), for quick runs.
//
// Prints one line per epoch, `epoch E seconds S loss L test_accuracy A`, that the bench parses.
// With --world N > 1 (bench/multi_process/run.sh): N processes train data-parallel over LibTorch's
// gloo backend (c10d::ProcessGroupGloo, rendezvous through a c10d::FileStore at FILE): each takes
// its rows of every batch and the gradients are averaged by one all-reduce after backward, as
// kiln does (PyTorch's DistributedDataParallel, which buckets and overlaps, is Python's). Rank 0
// prints, adding `all_reduce_seconds`.
#include <ATen/Parallel.h>
#include <torch/torch.h>
#ifdef KILN_BENCH_LIBTORCH_GLOO
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
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

// The processes of a data-parallel run (world 1: alone).
struct World {
  int rank = 0;
  int size = 1;
#ifdef KILN_BENCH_LIBTORCH_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
#endif
};

// The gradients averaged over the processes: laid end to end, one all-reduce, copied back.
void average_gradients(World& world, torch::nn::Module& model) {
#ifdef KILN_BENCH_LIBTORCH_GLOO
  std::vector<torch::Tensor> grads;
  for (auto& p : model.parameters()) grads.push_back(p.grad().view(-1));
  std::vector<torch::Tensor> flat{torch::cat(grads)};
  world.group->allreduce(flat)->wait();
  flat[0].div_(world.size);
  int64_t at = 0;
  for (auto& p : model.parameters()) {
    const int64_t n = p.grad().numel();
    p.grad().view(-1).copy_(flat[0].narrow(0, at, n));
    at += n;
  }
#else
  (void)world;
  (void)model;
#endif
}

template <class Model>
int run(Model model, const Split& train, const Split& test, int epochs, int64_t batch, double lr,
        World& world) {
  if (world.size > 1) {
    // One set of initial parameters: rank 0's.
#ifdef KILN_BENCH_LIBTORCH_GLOO
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      std::vector<torch::Tensor> t{p.data()};
      world.group->broadcast(t)->wait();
    }
#endif
  }
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(lr));
  const int64_t n = train.labels.size(0);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    model->train();
    torch::Tensor perm = torch::randperm(n, torch::kInt64);
    double loss_sum = 0, all_reduce_seconds = 0;
    int64_t seen = 0;
    for (int64_t start = 0; start < n; start += batch) {
      const int64_t len = std::min(batch, n - start);
      // This process's rows of the batch (all of them alone).
      const int64_t share = len / world.size, first = start + world.rank * share;
      torch::Tensor idx = perm.narrow(0, first, world.size == 1 ? len : share);
      torch::Tensor x = train.images.index_select(0, idx);
      torch::Tensor y = train.labels.index_select(0, idx);
      opt.zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(x), y);
      loss.backward();
      if (world.size > 1) {
        const auto r0 = std::chrono::steady_clock::now();
        average_gradients(world, *model);
        all_reduce_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
      }
      opt.step();
      loss_sum += loss.item<double>() * static_cast<double>(len);
      seen += len;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (world.rank != 0) continue;
    model->eval();
    torch::NoGradGuard no_grad;
    int64_t correct = 0;
    const int64_t m = test.labels.size(0);
    for (int64_t start = 0; start < m; start += 1000) {
      const int64_t len = std::min<int64_t>(1000, m - start);
      torch::Tensor pred = model->forward(test.images.narrow(0, start, len)).argmax(1);
      correct += pred.eq(test.labels.narrow(0, start, len)).sum().item<int64_t>();
    }
    std::printf("epoch %d seconds %.3f loss %.4f test_accuracy %.4f", epoch, seconds,
                loss_sum / static_cast<double>(seen),
                static_cast<double>(correct) / static_cast<double>(m));
    if (world.size > 1) std::printf(" all_reduce_seconds %.3f", all_reduce_seconds);
    std::printf("\n");
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
  World world;
  std::string store, host = "127.0.0.1";
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
    else if (k == "--rank")
      world.rank = std::stoi(v);
    else if (k == "--world")
      world.size = std::stoi(v);
    else if (k == "--store")
      store = v;
    else if (k == "--host")
      host = v;
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
    if (world.size > 1) {
#ifdef KILN_BENCH_LIBTORCH_GLOO
      auto file_store = c10::make_intrusive<c10d::FileStore>(store, world.size);
      auto options = c10d::ProcessGroupGloo::Options::create();
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
      world.group =
          c10::make_intrusive<c10d::ProcessGroupGloo>(file_store, world.rank, world.size, options);
#else
      std::fprintf(stderr, "fashion_mnist_libtorch: built without LibTorch's gloo backend\n");
      return 2;
#endif
    }
    Split train = load(dir, "train"), test = load(dir, "t10k");
    if (limit > 0 && limit < train.labels.size(0))
      train = {train.images.narrow(0, 0, limit), train.labels.narrow(0, 0, limit)};
    if (model == "mlp") return run(Mlp(), train, test, epochs, batch, lr, world);
    if (model == "cnn") return run(Cnn(), train, test, epochs, batch, lr, world);
    std::fprintf(stderr, "fashion_mnist_libtorch: unknown model %s (mlp or cnn)\n", model.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist_libtorch: %s\n", e.what());
    return 1;
  }
}
