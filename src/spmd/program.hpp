// An SPMD program: one per-device graph, holding collectives, run on every device of a mesh.
//
// The graph is cut at its collectives into stages. A stage is an ordinary one-device graph,
// compiled once by the cpu backend and run on each device in turn (its whole thread pool each
// time); between stages the cpu's collective kernels exchange the devices' values. So N devices of
// one process share the cores by taking turns, and every run is deterministic.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kiln/backend.hpp"
#include "kiln/sharding.hpp"

namespace kiln::spmd {

class Program {
 public:
  // g: the per-device graph; its collectives name axes of `mesh` with their sizes.
  Program(ir::Graph g, Mesh mesh);
  ~Program();

  // inputs[i][k]: graph input i on mesh device k. Returns outputs[o][k].
  std::vector<std::vector<Array>> run(const std::vector<std::vector<Array>>& inputs);

  const ir::Graph& graph() const { return graph_; }
  const Mesh& mesh() const { return mesh_; }
  // One line per stage and collective.
  std::string describe() const;

 private:
  struct Stage;
  ir::Graph graph_;
  Mesh mesh_;
  std::vector<Stage> stages_;
  std::mutex mutex_;  // the stages' executables are not re-entrant
};

}  // namespace kiln::spmd
