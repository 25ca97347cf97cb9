#include "backend/support_check.hpp"

#include <string>

#include "kiln/error.hpp"

namespace kiln {
namespace {

std::string dtype_list(ir::DTypeMask mask) {
  std::string out;
  for (int d = 0; d < kNumDTypes; ++d)
    if ((mask & ir::dtype_bit(static_cast<DType>(d))) != 0)
      out += (out.empty() ? "" : ", ") + std::string(name(static_cast<DType>(d)));
  return out;
}

// What to do instead, for the primitives accelerators are known to lack.
std::string remedy(const ir::Node& node, const Backend& backend) {
  const std::string platform(backend.platform());
  const bool cpu = platform == "cpu";
  if (node.prim == ir::Prim::threefry2x32 && !cpu)
    return "Random numbers are not generated on " + std::string(platform) +
           ": initialise on the cpu and device_put the parameters, as the tutorial does "
           "(model.init(...) on the cpu, then kiln::device_put(params, device))";
  if (ir::info(node.prim).kind == ir::PrimKind::collective)
    return std::string(ir::name(node.prim)) +
           " exchanges between devices: call it inside kiln::shard_map over a Mesh, whose axes it "
           "names (docs/multi-device.md)";
  ir::DTypeMask runs = 0;
  for (int d = 0; d < kNumDTypes; ++d)
    if (backend.supports(node.prim, static_cast<DType>(d)))
      runs |= ir::dtype_bit(static_cast<DType>(d));
  const std::string prim(ir::name(node.prim));
  const std::string on_cpu = "Run this computation on the cpu (jit with .backend = \"cpu\")";
  if (runs == 0)  // no dtype helps: converting would only move the error
    return platform + " has no " + prim + " at all" + (cpu ? "" : ". " + on_cpu);
  return (cpu ? "Convert" : on_cpu + ", or convert") +
         std::string(" the operand with kiln::astype: ") + platform + " runs " + prim + " on " +
         dtype_list(runs);
}

}  // namespace

void check_supported(const ir::Graph& g, const Backend& backend) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& node = g.nodes[i];
    auto refuse = [&](DType t) {
      throw Unsupported(message("the " + std::string(backend.platform()) + " backend cannot run " +
                                    std::string(ir::name(node.prim)) + " on " +
                                    std::string(name(t)) + " (value %" + std::to_string(i) + ")",
                                node.loc, remedy(node, backend)));
    };
    // real, imag and complex change the dtype class: their rows name their operands' dtypes.
    const bool result_in_row = node.prim != ir::Prim::real && node.prim != ir::Prim::imag &&
                               node.prim != ir::Prim::complex;
    if (result_in_row && !backend.supports(node.prim, node.type.dtype)) refuse(node.type.dtype);
    for (ir::ValueId in : node.inputs)
      if (in < g.nodes.size() && !backend.supports(node.prim, g.nodes[in].type.dtype))
        refuse(g.nodes[in].type.dtype);
  }
}

}  // namespace kiln

namespace kiln {

void check_narrows(ir::Prim p, ir::DTypeMask kernels, std::string_view platform) {
  const ir::DTypeMask extra = kernels & static_cast<ir::DTypeMask>(~ir::info(p).dtypes);
  if (extra != 0)
    throw Error("kiln bug: the " + std::string(platform) + " kernel table runs " +
                std::string(ir::name(p)) + " on " + dtype_list(extra) +
                ", which its registry row (kiln/ir.hpp kPrimTable) refuses: a kernel table may "
                "only narrow the row's dtypes (" +
                dtype_list(ir::info(p).dtypes) + ")");
}

}  // namespace kiln
