#include "passes/fold_constants.hpp"

#include "backend/cpu/schedule.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "passes/graph_copy.hpp"

namespace kiln::passes {
namespace {

size_t byte_size(const ir::ValueType& t) {
  return static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype);
}

bool is_literal(const ir::Node& n) {
  return n.prim == ir::Prim::constant || n.prim == ir::Prim::full;
}

bool foldable(const ir::Graph& g, const ir::Node& n, size_t max_bytes) {
  switch (n.prim) {
    case ir::Prim::parameter:
    case ir::Prim::constant:
    case ir::Prim::full:
    case ir::Prim::broadcast_in_dim:
      return false;
    default:
      break;
  }
  if (n.type.shape.numel() == 0 || byte_size(n.type) > max_bytes) return false;
  for (ir::ValueId u : n.inputs) {
    const ir::Node& in = g.nodes[u];
    if (!is_literal(in) || byte_size(in.type) > max_bytes) return false;
  }
  return true;
}

}  // namespace

// n's value, computed by a CPU executable of n alone (its literal inputs copied in as nodes).
// Built directly, not through Backend::compile: compile runs this pass, and the one-node graph
// needs no passes.
std::shared_ptr<Buffer> evaluate_on_literals(const ir::Graph& g, const ir::Node& n) {
  ir::Graph one;
  one.name = "fold";
  ir::Node node = n;
  for (ir::ValueId& u : node.inputs) {
    ir::Node in = g.nodes[u];
    one.nodes.push_back(std::move(in));
    u = static_cast<ir::ValueId>(one.nodes.size() - 1);
  }
  one.nodes.push_back(std::move(node));
  one.outputs = {static_cast<ir::ValueId>(one.nodes.size() - 1)};
  cpu::CpuExecutable exe(one);
  std::shared_ptr<Buffer> out = allocate_host(byte_size(n.type), default_device());
  Buffer* outs[] = {out.get()};
  exe.run({}, outs);
  return out;
}

ir::Graph fold_constants(const ir::Graph& g, size_t max_bytes) {
  detail::GraphCopy c(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node n = c.renamed(static_cast<ir::ValueId>(i));
    if (foldable(c.out, n, max_bytes)) {
      try {
        ir::Attrs a;
        a.literal = evaluate_on_literals(c.out, n);
        n.prim = ir::Prim::constant;
        n.inputs.clear();
        n.attrs = std::move(a);
      } catch (const Error&) {
        // Unsupported here is unsupported in the real compile too, which reports it in context.
      }
    }
    c.map[i] = c.append(std::move(n));
  }
  return c.finish();
}

}  // namespace kiln::passes
