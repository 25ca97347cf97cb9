// conv_bench: the convolution layers of issue 5's Fashion-MNIST CNN at batch 128, forward plus the
// gradients a training step needs (layer 1: the kernel only, its input is the data; layer 2: the
// kernel and the input), in kiln (one jitted function per layer) and, when LibTorch is installed,
// in LibTorch 1.13 (torch::conv2d + backward, one thread) in the same run with the same harness.
//   layer 1: x 128x28x28x1, kernel 3x3x1x32, SAME
//   layer 2: x 128x14x14x32, kernel 3x3x32x64, SAME
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "harness.hpp"
#include "kiln/kiln.hpp"
#ifdef KILN_BENCH_HAVE_LIBTORCH
#include "conv_peer.hpp"
#endif

using kiln::Array;
using kiln_bench::Timing;

namespace {

std::vector<float> data(int64_t n, int salt) {
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(static_cast<float>((i * 37 + salt * 11) % 29 - 14) / 16.0f);
  return v;
}

Array host(const std::vector<float>& v, const kiln::Shape& s) {
  return kiln::array(std::span<const float>(v), s);
}

Array conv_same(const Array& x, const Array& k) {
  return kiln::conv_general_dilated(x, k, {.padding = {{1, 1}, {1, 1}}});
}

struct Layer {
  Timing timing;
  double weight_grad_sum = 0;
};

// Forward plus the pullback of ct: {y, dk} or {y, dx, dk}. kiln::vjp_core traces the forward once
// (kiln::vjp's pullback would replay it).
Layer time_layer(const Array& x, const Array& k, const Array& ct, bool input_grad) {
  auto step = kiln::jit([input_grad](const Array& xs, const Array& ks, const Array& cts) {
    std::vector<Array> primals = input_grad ? std::vector<Array>{xs, ks} : std::vector<Array>{ks};
    auto body = [&](std::span<const Array> t) {
      return std::vector<Array>{conv_same(input_grad ? t[0] : xs, t.back())};
    };
    auto [y, g] = kiln::detail::vjp_core(
        primals, body, [&](std::span<const Array>) { return std::vector<Array>{cts}; }, "vjp",
        kiln::Loc::current());
    g.insert(g.begin(), y[0]);
    return g;
  });
  std::vector<Array> out;
  Layer l;
  l.timing = kiln_bench::time_per_call([&] { out = step(x, k, ct); });
  l.weight_grad_sum = kiln::sum(kiln::astype(out.back(), kiln::float64)).item<double>();
  return l;
}

}  // namespace

int main() {
  const auto x1 = data(128 * 28 * 28 * 1, 1), k1 = data(3 * 3 * 1 * 32, 2);
  const auto ct1 = data(128 * 28 * 28 * 32, 3);
  const auto x2 = data(128 * 14 * 14 * 32, 4), k2 = data(3 * 3 * 32 * 64, 5);
  const auto ct2 = data(128 * 14 * 14 * 64, 6);
  Layer l1 = time_layer(host(x1, {128, 28, 28, 1}), host(k1, {3, 3, 1, 32}),
                        host(ct1, {128, 28, 28, 32}), false);
  Layer l2 = time_layer(host(x2, {128, 14, 14, 32}), host(k2, {3, 3, 32, 64}),
                        host(ct2, {128, 14, 14, 64}), true);
  const char* threads = std::getenv("KILN_NUM_THREADS");
  std::printf("conv_bench: ms per call (forward + gradients), median of %d batches\n",
              kiln_bench::kBatches);
  std::printf("kiln: KILN_NUM_THREADS=%s\n", threads != nullptr ? threads : "(unset: 1)");
  std::printf("%-44s %10s %12s %12s %14s\n", "workload", "kiln", "LibTorch", "LibTorch CL",
              "kiln/LibTorch");
#ifdef KILN_BENCH_HAVE_LIBTORCH
  kiln_bench::ConvPeerTimes p = kiln_bench::run_libtorch_conv_peer(
      x1.data(), k1.data(), ct1.data(), x2.data(), k2.data(), ct2.data());
  auto row = [](const char* name, const Layer& k, const Timing& t, const Timing& cl,
                double peer_sum) {
    std::printf("%-44s %10.2f %12.2f %12.2f %13.2fx\n", name, k.timing.median_ns / 1e6,
                t.median_ns / 1e6, cl.median_ns / 1e6, k.timing.median_ns / t.median_ns);
    // Both computed the same weight gradient (sums of ~1e5 products; float32 summation orders).
    if (std::abs(k.weight_grad_sum - peer_sum) > 1e-3 * (1 + std::abs(peer_sum))) {
      std::fprintf(stderr, "conv_bench: %s: kiln's weight gradient sums to %g, LibTorch's to %g\n",
                   name, k.weight_grad_sum, peer_sum);
      std::exit(1);
    }
  };
  row("layer 1: 28x28x1->32, grad kernel", l1, p.layer1, p.layer1_nhwc, p.layer1_sum);
  row("layer 2: 14x14x32->64, grad input+kernel", l2, p.layer2, p.layer2_nhwc, p.layer2_sum);
  Layer both{{l1.timing.median_ns + l2.timing.median_ns, 0, 0, 0}, 0};
  Timing pboth{p.layer1.median_ns + p.layer2.median_ns, 0, 0, 0};
  Timing pboth_cl{p.layer1_nhwc.median_ns + p.layer2_nhwc.median_ns, 0, 0, 0};
  std::printf("%-44s %10.2f %12.2f %12.2f %13.2fx\n", "both layers", both.timing.median_ns / 1e6,
              pboth.median_ns / 1e6, pboth_cl.median_ns / 1e6,
              both.timing.median_ns / pboth.median_ns);
  std::printf("LibTorch %s: %d intra-op thread; CL = channels_last tensors\n", p.version,
              p.threads);
#else
  std::printf("%-44s %10.2f %12s %12s %14s\n", "layer 1: 28x28x1->32, grad kernel",
              l1.timing.median_ns / 1e6, "n/a", "n/a", "-");
  std::printf("%-44s %10.2f %12s %12s %14s\n", "layer 2: 14x14x32->64, grad input+kernel",
              l2.timing.median_ns / 1e6, "n/a", "n/a", "-");
  std::printf("LibTorch: not installed (scripts/install.sh --bench)\n");
#endif
  return 0;
}
