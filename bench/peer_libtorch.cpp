// The LibTorch (C++ 1.13) side of dispatch_bench: the same MLP forward pass and the same eager add,
// written the way a LibTorch user would (tensors, addmm, relu, no autograd), timed by the same
// harness. Built only when CMake finds Torch, so kiln never depends on it.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "harness.hpp"

namespace kiln_bench {

PeerTimes run_libtorch_peer() {
  // One intra-op thread: on a 2-core machine a second pool only adds contention, and kiln's
  // numbers are meant to be compared at equal parallelism.
  at::set_num_threads(1);
  // Inference only: no autograd graph is recorded, as kiln's jitted forward records none.
  torch::NoGradGuard no_grad;

  const auto c = torch::TensorOptions().dtype(torch::kFloat32);
  const torch::Tensor w0 = torch::full({4, 8}, 0.01, c), b0 = torch::full({8}, 0.01, c);
  const torch::Tensor w1 = torch::full({8, 1}, 0.01, c), b1 = torch::full({1}, 0.01, c);
  const torch::Tensor x16 = torch::ones({16, 4}, c), x1 = torch::ones({1, 4}, c);
  const torch::Tensor y16 = torch::full({16, 4}, 2.0, c);

  // x @ kernel + bias, as flax.linen.Dense computes it (kernel is in x out, unlike nn::Linear).
  auto forward = [&](const torch::Tensor& x) {
    return torch::addmm(b1, torch::relu(torch::addmm(b0, x, w0)), w1);
  };

  PeerTimes p;
  p.threads = at::get_num_threads();
  p.version = TORCH_VERSION;
  torch::Tensor out;  // assigned in the loop, so each call's result is also freed in the loop
  p.forward16 = time_per_call([&] { out = forward(x16); });
  p.forward16_value = out[15][0].item<float>();
  p.forward1 = time_per_call([&] { out = forward(x1); });
  p.add = time_per_call([&] { out = x16 + y16; });
  p.add_value = out[15][3].item<float>();
  return p;
}

}  // namespace kiln_bench
