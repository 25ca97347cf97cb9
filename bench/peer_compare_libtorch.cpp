// bench/compare's LibTorch 1.13 side (compare_peer.hpp): the MLP and kiln's Fashion-MNIST
// CNN written the way a LibTorch user writes them — torch::nn modules, torch::optim::Adam (lr
// 1e-3), cross_entropy, zero_grad / backward / step; inference under torch::InferenceMode — but
// starting from the weights kiln generated, converted to LibTorch's layouts.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "compare_peer.hpp"

namespace kiln_bench::compare {

namespace {

// A copy of a kiln-layout array as a tensor of `shape`.
torch::Tensor tensor_of(const std::vector<float>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat32).clone();
}

// A Flax Dense kernel [in, out] as a torch::nn::Linear weight [out, in].
torch::Tensor linear_weight(const std::vector<float>& kernel, int64_t in, int64_t out) {
  return tensor_of(kernel, {in, out}).t().contiguous();
}

// An HWIO convolution kernel as OIHW.
torch::Tensor conv_weight(const std::vector<float>& kernel, int64_t in, int64_t out) {
  return tensor_of(kernel, {3, 3, in, out}).permute({3, 2, 0, 1}).contiguous();
}

struct MlpImpl : torch::nn::Module {
  MlpImpl()
      : fc0(register_module("Dense_0", torch::nn::Linear(784, 512))),
        fc1(register_module("Dense_1", torch::nn::Linear(512, 512))),
        fc2(register_module("Dense_2", torch::nn::Linear(512, 10))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return fc2(torch::relu(fc1(torch::relu(fc0(x)))));
  }
  // The weights' values as kiln generated them.
  void load(const MlpParams& p) {
    torch::NoGradGuard no_grad;
    torch::nn::Linear* layers[3] = {&fc0, &fc1, &fc2};
    for (int l = 0; l < 3; ++l) {
      const int64_t in = MlpParams::kSizes[l], out = MlpParams::kSizes[l + 1];
      (*layers[l])->weight.copy_(linear_weight(p.kernel[l], in, out));
      (*layers[l])->bias.copy_(tensor_of(p.bias[l], {out}));
    }
  }
  torch::nn::Linear fc0, fc1, fc2;
};
TORCH_MODULE(Mlp);

// peer_fashion_mnist_libtorch.cpp's Cnn with its dropout left out, as kiln's side runs FashionCNN
// deterministically (so that both compute the same loss).
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
    return fc1(torch::relu(fc0(x.flatten(1))));
  }
  void load(const CnnParams& p) {
    torch::NoGradGuard no_grad;
    conv0->weight.copy_(conv_weight(p.conv0_kernel, 1, 32));
    conv0->bias.copy_(tensor_of(p.conv0_bias, {32}));
    conv1->weight.copy_(conv_weight(p.conv1_kernel, 32, 64));
    conv1->bias.copy_(tensor_of(p.conv1_bias, {64}));
    // kiln's rows are (h, w, c), LibTorch's NCHW flatten gives columns (c, h, w).
    fc0->weight.copy_(
        tensor_of(p.dense0_kernel, {7, 7, 64, 128}).permute({3, 2, 0, 1}).reshape({128, 3136}));
    fc0->bias.copy_(tensor_of(p.dense0_bias, {128}));
    fc1->weight.copy_(linear_weight(p.dense1_kernel, 128, 10));
    fc1->bias.copy_(tensor_of(p.dense1_bias, {10}));
  }
  torch::nn::Conv2d conv0, conv1;
  torch::nn::Linear fc0, fc1;
};
TORCH_MODULE(Cnn);

struct Inputs {
  torch::Tensor x, y;
};

Inputs inputs_of(const Batch& b, std::vector<int64_t> image_shape) {
  std::vector<int64_t> shape = {b.size};
  shape.insert(shape.end(), image_shape.begin(), image_shape.end());
  std::vector<int64_t> labels(b.labels.begin(), b.labels.end());
  return {tensor_of(b.x, shape), torch::tensor(labels, torch::kInt64)};
}

// One train step; returns the loss (not read back: reading it would synchronise nothing on the CPU
// but costs a tensor-to-float conversion kiln's side does not pay either).
template <class Model>
torch::Tensor train_step(Model& model, torch::optim::Adam& opt, const Inputs& in) {
  opt.zero_grad();
  torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(in.x), in.y);
  loss.backward();
  opt.step();
  return loss;
}

template <class Model, class Params>
TrainRun time_training(const Params& p, const Inputs& in, Repetitions reps) {
  Model model;
  model->load(p);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  TrainRun r;
  for (float& loss : r.loss) {
    const torch::Tensor t = train_step(model, opt, in);
    loss = t.item<float>();
  }
  // Restarting reloads the initial weights and drops Adam's state, which the next step() recreates
  // as zeros with step 0, as a new optimizer would — kiln's side reassigns its initial TrainState.
  int64_t calls = 0;
  torch::Tensor loss;
  r.step = time_per_call(
      [&] {
        if (calls++ % kRestartSteps == 0) {
          model->load(p);
          opt.state().clear();
        }
        loss = train_step(model, opt, in);
      },
      reps);
  return r;
}

}  // namespace

void libtorch_setup(int threads, int* got_threads, const char** version) {
  at::set_num_threads(threads);
  *got_threads = at::get_num_threads();
  *version = TORCH_VERSION;
}

TrainRun libtorch_mlp_train(const MlpParams& p, const Batch& b, Repetitions reps) {
  return time_training<Mlp>(p, inputs_of(b, {784}), reps);
}

TrainRun libtorch_cnn_train(const CnnParams& p, const Batch& b, Repetitions reps) {
  return time_training<Cnn>(p, inputs_of(b, {1, 28, 28}), reps);
}

InferRun libtorch_mlp_infer(const MlpParams& p, const Batch& b, Repetitions reps) {
  Mlp model;
  model->load(p);
  const Inputs in = inputs_of(b, {784});
  torch::InferenceMode inference;
  InferRun r;
  torch::Tensor logits = model->forward(in.x).contiguous();
  r.logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
  r.call = time_per_call([&] { logits = model->forward(in.x); }, reps);
  return r;
}

MemoryUse libtorch_mlp_memory(const MlpParams& p, const Batch& b, int steps) {
  Mlp model;
  model->load(p);
  const Inputs in = inputs_of(b, {784});
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3));
  torch::Tensor loss;
  return measure_memory(steps, [&] { loss = train_step(model, opt, in); });
}

}  // namespace kiln_bench::compare
