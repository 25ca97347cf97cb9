// StableHLO import: MLIR text — what kiln::to_stablehlo writes, and the op subset JAX emits for
// MLPs and CNNs — parsed back into an ir::Graph that any backend compiles (docs/import.md).
//
//   ir::Graph g = kiln::from_stablehlo(text, "model.mlir");
//   auto exe = kiln::find_backend("cpu")->compile(g, kiln::devices("cpu")[0]);
//
// @main's arguments become the graph's inputs (in order), its results the outputs; calls of
// private functions are inlined. Malformed text or an op kiln has no primitive for is a kiln::Error
// naming `source_name:line:column`, the op, and what to do.
#pragma once

#include <string_view>

#include "kiln/ir.hpp"

namespace kiln {

[[nodiscard]] ir::Graph from_stablehlo(std::string_view text,
                                       std::string_view source_name = "<mlir>");

}  // namespace kiln
