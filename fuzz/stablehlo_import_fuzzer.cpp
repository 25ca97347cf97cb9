// libFuzzer target: StableHLO import (kiln::from_stablehlo) on arbitrary text, and the exporter on
// what it imports.
//
// Properties:
//  1. from_stablehlo returns a graph or throws kiln::Error; anything else is a bug.
//  2. An imported graph verifies, exports, and its text is a fixed point: importing it and
//     exporting again gives the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "kiln/error.hpp"
#include "kiln/export.hpp"
#include "kiln/import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  kiln::ir::Graph g;
  try {
    g = kiln::from_stablehlo(text, "fuzz.mlir");
  } catch (const kiln::Error&) {
    return 0;
  }
  std::string first;
  try {
    g.verify();
    first = kiln::to_stablehlo(g);
  } catch (const kiln::Error& e) {
    kiln_fuzz::property_failed(std::string("an imported graph does not verify or export: ") +
                               e.what());
  }
  try {
    const std::string second = kiln::to_stablehlo(kiln::from_stablehlo(first, "exported.mlir"));
    if (second != first)
      kiln_fuzz::property_failed("export -> import -> export changed the text:\n" + first +
                                 "\n---\n" + second);
  } catch (const kiln::Error& e) {
    kiln_fuzz::property_failed(std::string("the exporter's text does not import: ") + e.what() +
                               "\n" + first);
  }
  return 0;
}
