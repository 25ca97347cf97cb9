// What both all-reduce benchmarks print: for each size, the median time of an in-place float32
// sum all-reduce over all processes and its bandwidth (bytes reduced per second, and the bus
// bandwidth 2(n-1)/n times it, NCCL-tests' measure of what each link carried).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

template <class AllReduce>
void time_allreduce(int rank, int size, AllReduce&& allreduce) {
  if (rank == 0)
    std::printf("%12s %12s %12s %12s\n", "bytes", "median_us", "algbw_GBps", "busbw_GBps");
  for (size_t bytes = 1024; bytes <= (64u << 20); bytes *= 4) {
    std::vector<float> data(bytes / sizeof(float), 1.0f);
    const int reps = bytes <= (1u << 20) ? 200 : 20;
    for (int i = 0; i < 5; ++i) allreduce(data.data(), data.size());  // warm up, connect
    std::vector<double> us;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      allreduce(data.data(), data.size());
      us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
    const double med = us[us.size() / 2];
    const double algbw = static_cast<double>(bytes) / med / 1e3;
    if (rank == 0)
      std::printf("%12zu %12.1f %12.3f %12.3f\n", bytes, med, algbw,
                  algbw * 2.0 * (size - 1) / size);
  }
}
