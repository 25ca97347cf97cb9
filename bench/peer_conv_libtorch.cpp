// The LibTorch (C++ 1.13) side of conv_bench: torch::conv2d forward + backward for the CNN's two
// convolution layers, timed by the same harness as kiln. Built only when CMake finds Torch.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "conv_peer.hpp"

namespace kiln_bench {
namespace {

// NHWC / HWIO host data as the NCHW / OIHW tensors torch::conv2d takes.
torch::Tensor nhwc(const float* p, int64_t n, int64_t h, int64_t w, int64_t c) {
  return torch::from_blob(const_cast<float*>(p), {n, h, w, c}).permute({0, 3, 1, 2}).contiguous();
}
torch::Tensor hwio(const float* p, int64_t h, int64_t w, int64_t i, int64_t o) {
  return torch::from_blob(const_cast<float*>(p), {h, w, i, o}).permute({3, 2, 0, 1}).contiguous();
}

// One layer: forward, then the gradient of <y, ct> with respect to the weights and, for the
// second layer (whose input is an activation), the input.
Timing time_layer(torch::Tensor x, torch::Tensor k, const torch::Tensor& ct, bool input_grad,
                  double& weight_grad_sum) {
  x.set_requires_grad(input_grad);
  k.set_requires_grad(true);
  auto step = [&] {
    k.mutable_grad() = torch::Tensor();
    if (input_grad) x.mutable_grad() = torch::Tensor();
    torch::Tensor y = torch::conv2d(x, k, {}, 1, 1);
    y.backward(ct);
  };
  Timing t = time_per_call(step);
  weight_grad_sum = k.grad().sum().item<double>();
  return t;
}

}  // namespace

ConvPeerTimes run_libtorch_conv_peer(const float* x1, const float* k1, const float* ct1,
                                     const float* x2, const float* k2, const float* ct2) {
  at::set_num_threads(1);
  ConvPeerTimes p;
  p.threads = at::get_num_threads();
  p.version = TORCH_VERSION;
  torch::Tensor tx1 = nhwc(x1, 128, 28, 28, 1), tk1 = hwio(k1, 3, 3, 1, 32);
  torch::Tensor tc1 = nhwc(ct1, 128, 28, 28, 32);
  torch::Tensor tx2 = nhwc(x2, 128, 14, 14, 32), tk2 = hwio(k2, 3, 3, 32, 64);
  torch::Tensor tc2 = nhwc(ct2, 128, 14, 14, 64);
  p.layer1 = time_layer(tx1, tk1, tc1, false, p.layer1_sum);
  p.layer2 = time_layer(tx2, tk2, tc2, true, p.layer2_sum);
  const auto cl = torch::MemoryFormat::ChannelsLast;
  double unused = 0;
  // detach: the NCHW runs made these leaves require grad, and a copy of one would not be a leaf.
  auto as_cl = [&](const torch::Tensor& t) { return t.detach().contiguous(cl); };
  p.layer1_nhwc = time_layer(as_cl(tx1), as_cl(tk1), as_cl(tc1), false, unused);
  p.layer2_nhwc = time_layer(as_cl(tx2), as_cl(tk2), as_cl(tc2), true, unused);
  return p;
}

}  // namespace kiln_bench
