// Tracing: running a C++ function on tracers to record it as an ir::Graph, and replaying a graph.
// jit and grad are built from these two operations.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/ir.hpp"

namespace kiln {

// A function recorded as a graph. Graph inputs are the explicit arguments followed by `lifted`:
// tracers of enclosing traces that the function closed over (JAX's constvars), which the caller
// passes in again when it replays the graph.
struct Traced {
  ir::Graph graph;
  std::vector<Array> lifted;
};

using TraceBody = std::function<std::vector<Array>(std::span<const Array> tracers)>;

// Runs `body` on fresh tracers of `input_types` in a new trace and records what it computes.
// Concrete arrays it captures become constants; outputs of other traces are a TracerError.
Traced trace(std::span<const ir::ValueType> input_types, const TraceBody& body, const Loc& loc);

// Replays `g` on `inputs` in the current context: recorded into the enclosing trace, or run
// eagerly op by op when there is none.
std::vector<Array> eval_graph(const ir::Graph& g, std::span<const Array> inputs);
// The same replay, returning the value of every node (autodiff's forward pass keeps them all).
std::vector<Array> eval_graph_values(const ir::Graph& g, std::span<const Array> inputs);

// True while some trace is recording (inside jit or grad).
bool tracing();

// The type (dtype and shape) of an array or tracer.
ir::ValueType type_of(const Array& a);

}  // namespace kiln
