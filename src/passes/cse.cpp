#include "passes/cse.hpp"

#include <cstring>
#include <string_view>
#include <unordered_map>

#include "kiln/backend.hpp"
#include "passes/graph_copy.hpp"

namespace kiln::passes {
namespace {

std::string_view literal_bytes(const ir::Node& n) {
  if (!n.attrs.literal || n.attrs.literal->bytes() == 0) return {};
  return {static_cast<const char*>(n.attrs.literal->host_data()), n.attrs.literal->bytes()};
}

size_t mix(size_t h, size_t v) {
  return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

size_t node_hash(const ir::Node& n) {
  size_t h = static_cast<size_t>(n.prim);
  if (n.prim == ir::Prim::constant) {
    // By bytes, not by buffer identity: two captures of equal arrays are one constant.
    h = mix(h, std::hash<std::string_view>{}(literal_bytes(n)));
  } else {
    h = mix(h, n.attrs.hash());
  }
  for (ir::ValueId u : n.inputs) h = mix(h, u);
  h = mix(h, static_cast<size_t>(n.type.dtype));
  for (int64_t d : n.type.shape.vec()) h = mix(h, static_cast<size_t>(d));
  return h;
}

bool same_value(const ir::Node& a, const ir::Node& b) {
  if (a.prim != b.prim || a.inputs != b.inputs || !(a.type == b.type)) return false;
  if (a.prim == ir::Prim::constant) return literal_bytes(a) == literal_bytes(b);
  return a.attrs == b.attrs;
}

}  // namespace

ir::Graph common_subexpression_elimination(const ir::Graph& g) {
  detail::GraphCopy c(g);
  std::unordered_multimap<size_t, ir::ValueId> seen;  // hash -> node of c.out
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node n = c.renamed(static_cast<ir::ValueId>(i));
    if (n.prim == ir::Prim::parameter) {
      c.map[i] = c.append(std::move(n));
      continue;
    }
    const size_t h = node_hash(n);
    bool merged = false;
    auto [lo, hi] = seen.equal_range(h);
    for (auto it = lo; it != hi && !merged; ++it) {
      if (same_value(c.out.nodes[it->second], n)) {
        c.map[i] = it->second;
        merged = true;
      }
    }
    if (merged) continue;
    c.map[i] = c.append(std::move(n));
    seen.emplace(h, c.map[i]);
  }
  return c.finish();
}

}  // namespace kiln::passes
