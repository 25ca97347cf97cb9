// The spmd tests' devices: the first n of kiln's cpu devices. ctest runs these tests as
// Spmd.EightCpuDevices with KILN_CPU_DEVICES=8; in a process with fewer they skip.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "kiln/device.hpp"

namespace kiln::testing {

// The first n cpu devices, or none when the process has fewer.
inline std::vector<Device> first_cpu_devices(size_t n) {
  std::vector<Device> d = devices("cpu");
  if (d.size() < n) return {};
  d.resize(n);
  return d;
}

}  // namespace kiln::testing

#define SKIP_WITHOUT_EIGHT_DEVICES()                                                 \
  if (::kiln::testing::first_cpu_devices(8).empty())                                 \
  GTEST_SKIP() << "needs 8 cpu devices: ctest runs it as Spmd.EightCpuDevices with " \
                  "KILN_CPU_DEVICES=8"
