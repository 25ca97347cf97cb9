// Several processes, on one machine or many, as jax.distributed: each process calls initialize
// once with the coordinator's address (process 0's host and a free port), the process count and
// its own id, and then takes part in collectives over all processes (Gloo's TCP transport).
//
//   kiln::distributed::initialize("10.0.0.1:7777", 4, rank);  // or initialize(): from the env
//   ... distributed::process_index(), distributed::process_count() ...
//   grads = distributed::all_reduce_sum(grads, "the gradient all-reduce of step 37");
//   kiln::distributed::shutdown();
//
// Process 0 serves a small key-value store on the coordinator's port (as JAX's coordination
// service), through which the processes check each other's settings and exchange their Gloo
// addresses: no shared file system or Redis server is needed. Every wait is bounded
// (Options::timeout): a coordinator that never answers, a process that never joins, a peer that
// stops answering during a collective are each a kiln::Error saying which, never a hang.
// docs/multi-process.md has the launch recipes.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "kiln/tree.hpp"

namespace kiln::distributed {

struct Options {
  // The longest any step of the rendezvous or any collective waits for another process.
  // KILN_DISTRIBUTED_TIMEOUT (seconds), when set, takes precedence (so a launcher can set it).
  std::chrono::milliseconds timeout = std::chrono::seconds(60);
  // The address this process's Gloo transport listens on; empty: the address this process reaches
  // the coordinator from (the right interface on every machine that can reach process 0).
  std::string local_address = {};
};

// Joins the processes. Any argument left out (empty, -1) is read from the environment:
// KILN_COORDINATOR_ADDRESS (host:port), KILN_NUM_PROCESSES, KILN_PROCESS_ID, falling back to the
// launchers' own variables for the count and id (Open MPI's OMPI_COMM_WORLD_SIZE/RANK, Slurm's
// SLURM_NTASKS/SLURM_PROCID). A missing value, an id out of range, an id another process took,
// a count that differs from process 0's, a coordinator that does not answer within the timeout:
// kiln::ValueError or kiln::Error saying what to fix. Without Gloo in the build: Unsupported.
void initialize(const std::string& coordinator_address = "", int num_processes = -1,
                int process_id = -1, const Options& options = {});
// Leaves: closes the connections (and, in process 0, the store). Safe to call when not
// initialized; initialize may be called again afterwards.
void shutdown();

bool is_initialized();
int process_index();  // this process's id; 0 when not initialized
int process_count();  // 1 when not initialized
// Whether this build has Gloo (libgloo-dev was found when kiln was configured).
bool available();

// Sums `values` elementwise over all processes, in place (Gloo's ring all-reduce). `what` names
// the operation in the error a failed peer gives ("... stopped answering during <what>").
void all_reduce_sum(std::span<float> values, const std::string& what);
// Every float32 leaf of `tree` summed over all processes: one all-reduce of all the leaves laid
// end to end. Other dtypes are a DTypeError. Not initialized: `tree` itself.
Tree all_reduce_sum(const Tree& tree, const std::string& what);
// Process 0's bytes in every process (the sizes must agree).
void broadcast(std::span<uint8_t> bytes, const std::string& what);
// Process 0's `tree` (its leaves' bytes) in every process; the structure, shapes and dtypes must
// be the same everywhere (checked: a difference is a ValueError naming the first one).
Tree broadcast(const Tree& tree, const std::string& what);
// Throws ValueError in every process if `value` differs between them ("the processes disagree on
// <what>: process 0 has ..., process 1 has ..."): e.g. that every process was given the same
// training settings.
void check_same(const std::string& what, const std::string& value);

}  // namespace kiln::distributed
