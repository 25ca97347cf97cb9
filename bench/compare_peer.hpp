// The workloads of bench/compare (compare_bench.cpp) as plain data, shared by kiln's side and its
// LibTorch peer (peer_compare_libtorch.cpp, compiled only when CMake finds Torch). Plain types
// only, so the two translation units share no library types; a declaration that disagrees with
// its definition fails at link time.
//
// kiln generates every weight and input once and hands the same float values to LibTorch, in
// kiln's (Flax's) layouts; the peer converts them to its own.
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "harness.hpp"

namespace kiln_bench::compare {

// The MLP, 784-512-512-10 (kiln's FashionMLP with dropout off). Dense kernels are
// [in, out] row-major, as Flax stores them.
struct MlpParams {
  static constexpr int64_t kSizes[4] = {784, 512, 512, 10};
  std::vector<float> kernel[3], bias[3];
};

// kiln's FashionCNN: Conv 32 3x3 SAME, relu, max_pool 2x2, Conv 64 3x3 SAME, relu, max_pool 2x2,
// flatten, Dense 128, relu, Dense 10. Conv kernels are HWIO [3, 3, in, out]; the first Dense
// kernel's 3136 rows are in NHWC flatten order (h, w, c) — kiln flattens channels last.
struct CnnParams {
  std::vector<float> conv0_kernel, conv0_bias, conv1_kernel, conv1_bias;
  std::vector<float> dense0_kernel, dense0_bias, dense1_kernel, dense1_bias;
};

// A batch of 28x28 grayscale images: x is [size, 784], which is also [size, 28, 28, 1] (NHWC) and
// [size, 1, 28, 28] (NCHW) with one channel.
struct Batch {
  int64_t size = 0;
  std::vector<float> x;
  std::vector<int32_t> labels;  // in [0, 10)
};

// A train step timed from the initial parameters, restarted from them every kRestartSteps steps
// (so the timing covers a fixed stretch of training, whatever the harness's call count). loss[0]
// is the loss the first step computes (the initial parameters), loss[1] the second's (after one
// Adam update): the check that both sides ran the same step.
inline constexpr int kRestartSteps = 50;
struct TrainRun {
  Timing step;
  float loss[2] = {0, 0};
};

// Inference: the logits [size, 10] of the batch, and the time of one forward call.
struct InferRun {
  Timing call;
  std::vector<float> logits;
};

// Peak resident memory over a stretch of training, from /proc/self/status, in KiB: VmRSS just
// before the first step; VmHWM (the peak, reset to VmRSS just before the first step) after it;
// VmRSS then, and VmHWM (reset there again) after the last step. The first step is apart because
// it is where the one-off costs fall: kiln traces and compiles, LibTorch allocates the gradients
// and Adam's state.
struct MemoryUse {
  long rss_before_kb = 0;
  long peak_first_kb = 0;
  long rss_after_first_kb = 0;
  long peak_rest_kb = 0;
  // The figure: peak growth from just before the first step to the end.
  long growth_kb() const { return std::max(peak_first_kb, peak_rest_kb) - rss_before_kb; }
  // Peak growth over the later steps, from the resident size after the first.
  long steady_growth_kb() const { return peak_rest_kb - rss_after_first_kb; }
};

// One field of /proc/self/status ("VmRSS", "VmHWM") in KiB; -1 if absent.
inline long status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

// Resets VmHWM to the current VmRSS (proc(5): writing 5 to clear_refs), so that the peak read
// later is the peak of what ran since, not of the setup before it. False if the kernel refused.
inline bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// `steps` calls of step() measured as MemoryUse says; the same code for both sides.
template <class Step>
MemoryUse measure_memory(int steps, Step&& step) {
  MemoryUse m;
  m.rss_before_kb = status_kb("VmRSS");
  reset_peak_rss();
  step();
  m.peak_first_kb = status_kb("VmHWM");
  m.rss_after_first_kb = status_kb("VmRSS");
  reset_peak_rss();
  for (int i = 1; i < steps; ++i) step();
  m.peak_rest_kb = status_kb("VmHWM");
  return m;
}

// The LibTorch side. setup() first: it sets the intra-op thread count (at::set_num_threads).
void libtorch_setup(int threads, int* got_threads, const char** version);
TrainRun libtorch_mlp_train(const MlpParams& p, const Batch& b, Repetitions reps);
InferRun libtorch_mlp_infer(const MlpParams& p, const Batch& b, Repetitions reps);
TrainRun libtorch_cnn_train(const CnnParams& p, const Batch& b, Repetitions reps);
MemoryUse libtorch_mlp_memory(const MlpParams& p, const Batch& b, int steps);

}  // namespace kiln_bench::compare
