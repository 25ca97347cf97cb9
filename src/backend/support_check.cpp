#include "backend/support_check.hpp"

#include <string>

#include "kiln/error.hpp"

namespace kiln {
namespace {

// What to do instead, for the primitives accelerators are known to lack.
std::string remedy(const ir::Node& node, DType t, const Backend& backend) {
  const std::string platform(backend.platform());
  if (node.prim == ir::Prim::threefry2x32)
    return "Random numbers are not generated on " + std::string(platform) +
           ": initialise on the cpu and device_put the parameters, as the tutorial does "
           "(model.init(...) on the cpu, then kiln::device_put(params, device))";
  if (is_complex(t))
    return std::string(name(t)) +
           " is storage only in kiln: keep complex arrays out of the computation (split real and "
           "imaginary parts)";
  std::string runs_on;
  for (int d = 0; d < kNumDTypes; ++d)
    if (backend.supports(node.prim, static_cast<DType>(d)))
      runs_on += (runs_on.empty() ? "" : ", ") + std::string(name(static_cast<DType>(d)));
  const std::string on_cpu = "Run this computation on the cpu (jit with .backend = \"cpu\")";
  if (runs_on.empty())  // no dtype helps: converting would only move the error
    return platform + " has no " + std::string(ir::name(node.prim)) + " at all. " + on_cpu;
  return on_cpu + ", or convert the operand with kiln::astype: " + platform + " runs " +
         std::string(ir::name(node.prim)) + " on " + runs_on;
}

}  // namespace

void check_supported(const ir::Graph& g, const Backend& backend) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& node = g.nodes[i];
    auto refuse = [&](DType t) {
      throw Unsupported(message("the " + std::string(backend.platform()) + " backend cannot run " +
                                    std::string(ir::name(node.prim)) + " on " +
                                    std::string(name(t)) + " (value %" + std::to_string(i) + ")",
                                node.loc, remedy(node, t, backend)));
    };
    if (!backend.supports(node.prim, node.type.dtype)) refuse(node.type.dtype);
    for (ir::ValueId in : node.inputs)
      if (in < g.nodes.size() && !backend.supports(node.prim, g.nodes[in].type.dtype))
        refuse(g.nodes[in].type.dtype);
  }
}

}  // namespace kiln
