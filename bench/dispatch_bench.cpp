// dispatch_bench: what one call costs when the work itself is tiny, i.e. kiln's per-call overhead.
//
//   (a) a cached jit call of the tutorial's forward pass: MLP 4 -> 8 -> 1 (Dense, relu, Dense) on
//       x = 16x4 and on one row x = 1x4, params a Tree {"Dense_0": {"kernel", "bias"}, "Dense_1":
//       ...}
//   (b) one eager op, x + y on two 16x4 float32 arrays (a cached one-primitive executable)
//
// Each is the median over 21 batches of ns per call, beside the same in LibTorch C++ when CMake
// found it (peer_libtorch.cpp). DESIGN.md §2 asks for exactly this measurement of the hot path.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "harness.hpp"
#include "kiln/array.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/tree.hpp"

namespace {

using kiln::Array;
using kiln::Tree;
using kiln_bench::Timing;

// Every weight and bias is 0.01, as in the tutorial (nn.initializers.constant(0.01)).
Tree dense_params(int64_t in, int64_t out) {
  return Tree::dict({{"kernel", kiln::full({in, out}, 0.01)}, {"bias", kiln::full({out}, 0.01)}});
}

// The tutorial's SimpleMLP, written directly on ops: Dense computes x @ kernel + bias.
Array mlp_forward(const Tree& params, const Array& x) {
  const Tree& d0 = params["Dense_0"];
  const Tree& d1 = params["Dense_1"];
  Array h = kiln::relu(kiln::matmul(x, d0["kernel"].leaf()) + d0["bias"].leaf());
  return kiln::matmul(h, d1["kernel"].leaf()) + d1["bias"].leaf();
}

// A benchmark of a wrong computation is worthless: check every element before timing anything.
void expect_all(const char* what, const Array& a, float expected) {
  for (float v : a.to_vector<float>()) {
    if (std::fabs(v - expected) > 1e-5f) {
      std::fprintf(stderr, "dispatch_bench: %s gave %g, expected %g\n", what, v, expected);
      std::exit(1);
    }
  }
}

struct Row {
  std::string workload;
  Timing kiln;
  std::optional<Timing> peer;
};

void print_table(const std::vector<Row>& rows, bool have_peer) {
  std::printf("%-34s %12s %12s %14s\n", "workload", "kiln ns", "LibTorch ns", "kiln/LibTorch");
  for (const Row& r : rows) {
    std::printf("%-34s %12.0f", r.workload.c_str(), r.kiln.median_ns);
    if (r.peer) {
      std::printf(" %12.0f %13.2fx\n", r.peer->median_ns, r.kiln.median_ns / r.peer->median_ns);
    } else {
      std::printf(" %12s %14s\n", have_peer ? "-" : "n/a", "-");
    }
  }
}

}  // namespace

int main() {
  // 0.01 * 4 + 0.01 = 0.05 per hidden unit (relu keeps it); 0.05 * 0.01 * 8 + 0.01 = 0.014.
  constexpr float kForwardValue = 0.014f;
  constexpr float kAddValue = 3.0f;

  const Tree params =
      Tree::dict({{"Dense_0", dense_params(4, 8)}, {"Dense_1", dense_params(8, 1)}});
  const Array x16 = kiln::ones({16, 4});
  const Array x1 = kiln::ones({1, 4});
  const Array y16 = kiln::full({16, 4}, 2.0);

  auto forward = kiln::jit([](const Tree& p, const Array& x) { return mlp_forward(p, x); },
                           {.backend = "cpu"});

  // The first call traces and compiles; it is reported apart because it happens once per
  // signature, while the table is about every call after it.
  auto t0 = std::chrono::steady_clock::now();
  Array out = forward(params, x16);
  const double first_call_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  expect_all("jit forward 16x4", out, kForwardValue);
  expect_all("jit forward 1x4", forward(params, x1), kForwardValue);
  expect_all("eager add", x16 + y16, kAddValue);

  std::vector<Row> rows;
  rows.push_back({"jit forward MLP 4-8-1, x 16x4",
                  kiln_bench::time_per_call([&] { out = forward(params, x16); }),
                  {}});
  rows.push_back({"jit forward MLP 4-8-1, x 1x4",
                  kiln_bench::time_per_call([&] { out = forward(params, x1); }),
                  {}});
  rows.push_back(
      {"eager add 16x4 + 16x4", kiln_bench::time_per_call([&] { out = x16 + y16; }), {}});

  bool have_peer = false;
#ifdef KILN_BENCH_HAVE_LIBTORCH
  const kiln_bench::PeerTimes peer = kiln_bench::run_libtorch_peer();
  if (std::fabs(peer.forward16_value - kForwardValue) > 1e-5f ||
      std::fabs(peer.add_value - kAddValue) > 1e-5f) {
    std::fprintf(stderr, "dispatch_bench: LibTorch computed %g and %g, expected %g and %g\n",
                 peer.forward16_value, peer.add_value, kForwardValue, kAddValue);
    return 1;
  }
  rows[0].peer = peer.forward16;
  rows[1].peer = peer.forward1;
  rows[2].peer = peer.add;
  have_peer = true;
#endif

  std::printf("dispatch_bench: ns per call, median of %d batches (each ~%.0f ms of calls)\n",
              kiln_bench::kBatches, kiln_bench::kBatchSeconds * 1e3);
  print_table(rows, have_peer);
  std::printf("\nkiln first jit call (trace + compile), x 16x4: %.1f us\n", first_call_us);
  std::printf("kiln calls per batch:");
  for (const Row& r : rows) std::printf(" %lld", static_cast<long long>(r.kiln.calls));
  std::printf("\n");
#ifdef KILN_BENCH_HAVE_LIBTORCH
  std::printf("LibTorch %s: %d intra-op thread, torch::NoGradGuard, addmm + relu\n", peer.version,
              peer.threads);
#else
  std::printf("LibTorch: not installed (scripts/install.sh --bench)\n");
#endif
  return 0;
}
