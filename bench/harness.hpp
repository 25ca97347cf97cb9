// The timing harness shared by kiln's half of dispatch_bench and its LibTorch peer, so both are
// measured by the same loop. Plain steady_clock batches rather than Google Benchmark: the peer is a
// separate translation unit and the numbers must come from one identical method.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace kiln_bench {

// How a workload was timed: the median over `batches` batches of `calls` calls each.
struct Timing {
  double median_ns = 0;  // per call
  double min_ns = 0;     // per call, the fastest batch
  int64_t calls = 0;     // per batch
  int batches = 0;
};

inline constexpr int kBatches = 21;
// Long enough that the clock's resolution and one preemption do not matter; short enough that
// the whole program runs in a few seconds.
inline constexpr double kBatchSeconds = 0.01;

template <class F>
double seconds_for(F& fn, int64_t calls) {
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < calls; ++i) fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// How many batches, of how long: the default is the suite's; `bench/compare --quick` asks for fewer
// and shorter ones, a smoke test rather than a measurement.
struct Repetitions {
  int batches = kBatches;
  double batch_seconds = kBatchSeconds;
};

// ns per call of fn(), as the median of `reps.batches` batches. The calls per batch are calibrated
// first, which doubles as warm-up (caches, allocator, lazily built kernels).
template <class F>
Timing time_per_call(F&& fn, Repetitions reps) {
  int64_t calls = 1;
  double s = seconds_for(fn, calls);
  while (s < reps.batch_seconds / 4 && calls < (int64_t{1} << 26)) {
    calls *= 2;
    s = seconds_for(fn, calls);
  }
  calls = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(calls) * reps.batch_seconds / s));

  std::vector<double> per_call(static_cast<size_t>(reps.batches));
  for (double& t : per_call) t = seconds_for(fn, calls) * 1e9 / static_cast<double>(calls);
  std::sort(per_call.begin(), per_call.end());
  return {per_call[per_call.size() / 2], per_call.front(), calls, reps.batches};
}

template <class F>
Timing time_per_call(F&& fn) {
  return time_per_call(fn, Repetitions{});
}

// The LibTorch peer's results (peer_libtorch.cpp, compiled only when CMake finds Torch). Plain
// types only, so the two translation units share no library types.
struct PeerTimes {
  Timing forward16;           // the MLP on x = 16x4
  Timing forward1;            // the MLP on x = 1x4
  Timing add;                 // one eager add of two 16x4 arrays
  float forward16_value = 0;  // an output element, to check both computed the same thing
  float add_value = 0;
  int threads = 0;
  const char* version = "";  // "1.13.0", TORCH_VERSION
};
PeerTimes run_libtorch_peer();

}  // namespace kiln_bench
