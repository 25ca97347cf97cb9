// `kiln export --model tutorial|mlp|cnn [--params FILE] --batch N -o FILE.mlir`: a built-in model's
// inference function as StableHLO MLIR text (docs/export.md).
#pragma once

#include <cstdint>
#include <string>

namespace kiln_tool {

struct ExportArgs {
  std::string model = "mlp";
  std::string params;  // empty: the model's initial parameters (from random::key(0))
  int64_t batch = 1;
  std::string out;
  bool force = false;  // replace a read-only output
};
int export_model(const ExportArgs& args);

}  // namespace kiln_tool
