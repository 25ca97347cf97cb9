#include "passes/constant_fills.hpp"

#include <cstring>
#include <map>
#include <tuple>

#include "kiln/backend.hpp"
#include "kiln/device.hpp"

namespace kiln::passes {

ir::Graph materialize_fills(const ir::Graph& g, size_t max_bytes) {
  ir::Graph out = g;
  // Keyed by what determines a fill's bytes: dtype, value bits and shape.
  std::map<std::tuple<DType, uint64_t, std::vector<int64_t>>, std::shared_ptr<const Buffer>>
      literals;
  for (ir::Node& n : out.nodes) {
    if (n.prim != ir::Prim::full) continue;
    const size_t item = itemsize(n.type.dtype);
    const size_t count = static_cast<size_t>(n.type.shape.numel());
    if (count * item > max_bytes) continue;
    auto key = std::make_tuple(n.type.dtype, n.attrs.value.bits, n.type.shape.vec());
    auto& lit = literals[key];
    if (!lit) {
      auto buf = allocate_host(count * item, default_device());
      auto* dst = static_cast<std::byte*>(buf->host_data());
      // Scalar keeps the value in the dtype's own encoding in its low bytes (little-endian).
      for (size_t i = 0; i < count; ++i) std::memcpy(dst + i * item, &n.attrs.value.bits, item);
      lit = std::move(buf);
    }
    ir::Attrs a;
    a.literal = lit;
    n.prim = ir::Prim::constant;
    n.attrs = std::move(a);
  }
  return out;
}

}  // namespace kiln::passes
