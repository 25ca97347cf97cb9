// StableHLO export: a traced graph as MLIR text in the form `jax.jit(f).lower(...).as_text()`
// prints it (docs/export.md), for PJRT plugins and MLIR tools.
//
//   std::string mlir = kiln::export_stablehlo(kiln::jit(apply, {.name = "mlp"}), params, x);
//   // module @jit_mlp attributes {...} { func.func public @main(%arg0: ...) -> (...) { ... } }
//
// Every graph input becomes an argument of @main (in flattening order), every output a result.
// Refused, as kiln::Unsupported naming the primitive and the user's source line: threefry2x32
// (initialise on the cpu and device_put).
#pragma once

#include <string>

#include "kiln/ir.hpp"
#include "kiln/jit.hpp"

namespace kiln {

// The module `module @jit_<graph.name>` with one public function @main.
[[nodiscard]] std::string to_stablehlo(const ir::Graph& graph);

// Traces `f` for these arguments (as f.lower(args...)) and converts the graph.
template <class F, class... Args>
std::string export_stablehlo(const Jitted<F>& f, const Args&... args) {
  return to_stablehlo(f.lower(args...).graph());
}

}  // namespace kiln
