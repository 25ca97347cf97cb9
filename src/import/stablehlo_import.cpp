// Placeholder until the StableHLO parser lands: the interface is fixed so that its users (the
// conformance PJRT plugin) build against it.
#include "kiln/error.hpp"
#include "kiln/import.hpp"

namespace kiln {

ir::Graph from_stablehlo(std::string_view, std::string_view source_name) {
  throw Unsupported("StableHLO import is not implemented yet (reading " + std::string(source_name) +
                    ")");
}

}  // namespace kiln
