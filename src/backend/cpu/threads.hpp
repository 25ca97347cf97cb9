// The CPU backend's one thread pool: OpenMP's. Debian's oneDNN runs its GEMM and convolutions on
// libgomp, so kiln's own parallel kernels use the same OpenMP threads instead of a pool of their
// own: two pools would each spin on both cores.
#pragma once

#include <cstdint>

namespace kiln::cpu {

// The thread count kernels run with: KILN_NUM_THREADS when set (≥ 1), else OpenMP's own count
// when the user configured OpenMP (OMP_NUM_THREADS), else 1 (docs/cpu-backend.md, "Threads").
// Read once per process.
int num_threads();
// Applies num_threads() to the calling thread's OpenMP setting, once per thread (the setting is
// per thread in OpenMP). Every kernel that enters oneDNN or an OpenMP region calls it first.
void use_threads();

// Elementwise work below this many elements per thread runs on one thread: forking the team costs
// a few microseconds, more than streaming 32K floats.
inline constexpr int64_t kMinParallelElementsPerThread = 32 * 1024;

}  // namespace kiln::cpu
