// All-reduce through kiln::distributed (Gloo's ring all-reduce behind kiln's own rendezvous), timed
// by the same harness as gloo_allreduce and mpi_allreduce: what kiln's training adds to Gloo.
//   kiln_allreduce <rank> <size> <coordinator HOST:PORT>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "allreduce_timing.hpp"
#include "kiln/distributed.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <rank> <size> <coordinator HOST:PORT>\n", argv[0]);
    return 2;
  }
  const int rank = std::atoi(argv[1]), size = std::atoi(argv[2]);
  kiln::distributed::initialize(argv[3], size, rank);
  time_allreduce(rank, size, [](float* data, size_t n) {
    kiln::distributed::all_reduce_sum(std::span<float>(data, n), "the benchmark");
  });
  kiln::distributed::shutdown();
  return 0;
}
