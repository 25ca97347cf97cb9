// All-reduce on MPI (Debian's Open MPI): MPI_Allreduce in place, processes started by mpirun on
// one machine (Open MPI then uses its shared-memory transport unless told otherwise: run.sh times
// both shared memory and TCP on loopback).
//   mpirun -np 2 mpi_allreduce
#include <mpi.h>

#include "allreduce_timing.hpp"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  time_allreduce(rank, size, [&](float* data, size_t n) {
    MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  });
  MPI_Finalize();
  return 0;
}
