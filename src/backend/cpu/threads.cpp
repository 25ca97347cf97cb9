#include "backend/cpu/threads.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>

namespace kiln::cpu {

// One thread by default: on the shared 2-core machine this backend was measured on, two spinning
// OpenMP threads took 24-36 ms for a 1.5 ms forward pass when another process held the second
// core (docs/cpu-backend.md). KILN_NUM_THREADS=2 asks for both cores.
int num_threads() {
  static const int n = [] {
    if (const char* v = std::getenv("KILN_NUM_THREADS")) return std::max(1, std::atoi(v));
    if (std::getenv("OMP_NUM_THREADS") != nullptr) return std::max(1, omp_get_max_threads());
    return 1;
  }();
  return n;
}

void use_threads() {
  thread_local bool done = false;
  if (done) return;
  done = true;
  omp_set_num_threads(num_threads());
}

}  // namespace kiln::cpu
