#include "backend/cpu/threads.hpp"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace kiln::cpu {
namespace {

// KILN_NUM_THREADS taken at its word only within reason: more threads than the CPUs this process
// may run on only make them wait for each other (1000 on 2 cores took an evaluation from 0.4 s to
// 61 s), and a value that is not a number must not pass for 1 silently. Either is said once.
int threads_from_env(const char* v) {
  cpu_set_t set;
  const int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || errno != 0 || n < 1) {
    std::fprintf(stderr,
                 "kiln: KILN_NUM_THREADS=%s is not a whole number of threads >= 1; using 1\n", v);
    return 1;
  }
  if (n > cpus) {
    std::fprintf(
        stderr,
        "kiln: KILN_NUM_THREADS=%s is more than the %d CPUs this process may run on; using %d\n", v,
        cpus, cpus);
    return cpus;
  }
  return static_cast<int>(n);
}

}  // namespace

// One thread by default: on the shared 2-core machine this backend was measured on, two spinning
// OpenMP threads took 24-36 ms for a 1.5 ms forward pass when another process held the second
// core (docs/cpu-backend.md). KILN_NUM_THREADS=2 asks for both cores.
int num_threads() {
  static const int n = [] {
    if (const char* v = std::getenv("KILN_NUM_THREADS")) return threads_from_env(v);
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
