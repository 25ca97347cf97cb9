#include "passes/simplify.hpp"

#include <cstring>
#include <optional>

#include "kiln/backend.hpp"
#include "kiln/error.hpp"
#include "passes/graph_copy.hpp"

namespace kiln::passes {
namespace {

using ir::Prim;
using ir::ValueId;

uint64_t low_bits(uint64_t bits, DType t) {
  const size_t n = itemsize(t);
  return n >= 8 ? bits : bits & ((uint64_t{1} << (8 * n)) - 1);
}

// The bits of every element of v, when v is a splat: a full, a one-element constant, or a
// broadcast_in_dim of either.
std::optional<uint64_t> splat_bits(const ir::Graph& g, ValueId v) {
  const ir::Node* n = &g.nodes[v];
  const DType t = n->type.dtype;
  if (itemsize(t) > sizeof(uint64_t)) return std::nullopt;  // complex128: no 8-byte splat
  if (n->prim == Prim::broadcast_in_dim) {
    n = &g.nodes[n->inputs[0]];
    if (n->type.dtype != t || n->type.shape.numel() != 1) return std::nullopt;
  }
  if (n->prim == Prim::full) return low_bits(n->attrs.value.bits, t);
  if (n->prim == Prim::constant && n->type.shape.numel() == 1 && n->attrs.literal &&
      n->attrs.literal->host_data() != nullptr) {
    uint64_t bits = 0;  // little-endian: the element's bytes are the low bytes
    std::memcpy(&bits, n->attrs.literal->host_data(), itemsize(t));
    return bits;
  }
  return std::nullopt;
}

bool is_splat(const ir::Graph& g, ValueId v, double value) {
  const DType t = g.nodes[v].type.dtype;
  auto bits = splat_bits(g, v);
  return bits && *bits == low_bits(Scalar::from_double(value, t).bits, t);
}

bool is_identity(const std::vector<int64_t>& dims) {
  for (size_t k = 0; k < dims.size(); ++k)
    if (dims[k] != static_cast<int64_t>(k)) return false;
  return true;
}

// The operand that n (inputs already renamed into g) is exactly equal to, if any.
std::optional<ValueId> same_as_operand(const ir::Graph& g, const ir::Node& n) {
  auto operand_if = [&](ValueId x) -> std::optional<ValueId> {
    if (g.nodes[x].type == n.type) return x;
    return std::nullopt;
  };
  const DType t = n.type.dtype;
  const bool real = is_floating(t), integer = is_integer(t);
  switch (n.prim) {
    case Prim::reshape:
    case Prim::convert:
      return operand_if(n.inputs[0]);
    case Prim::transpose:
      if (is_identity(n.attrs.dims)) return operand_if(n.inputs[0]);
      return std::nullopt;
    case Prim::broadcast_in_dim:
      if (is_identity(n.attrs.dims)) return operand_if(n.inputs[0]);
      return std::nullopt;
    case Prim::mul:
      if (!real && !integer) return std::nullopt;
      if (is_splat(g, n.inputs[1], 1.0)) return operand_if(n.inputs[0]);
      if (is_splat(g, n.inputs[0], 1.0)) return operand_if(n.inputs[1]);
      return std::nullopt;
    case Prim::sub:
      if ((real || integer) && is_splat(g, n.inputs[1], 0.0)) return operand_if(n.inputs[0]);
      return std::nullopt;
    case Prim::add: {
      if (!real && !integer) return std::nullopt;
      const double zero = real ? -0.0 : 0.0;  // -0 is the float additive identity, +0 is not
      if (is_splat(g, n.inputs[1], zero)) return operand_if(n.inputs[0]);
      if (is_splat(g, n.inputs[0], zero)) return operand_if(n.inputs[1]);
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

// Folds a shape op into the same op it reads: reshape/transpose/broadcast_in_dim of its own kind
// becomes one op on the inner operand. Returns false when n does not read its own kind.
bool compose_chain(const ir::Graph& g, ir::Node& n) {
  if (n.prim != Prim::reshape && n.prim != Prim::transpose && n.prim != Prim::broadcast_in_dim)
    return false;
  const ir::Node& inner = g.nodes[n.inputs[0]];
  if (inner.prim != n.prim) return false;
  ir::Attrs a = n.attrs;
  if (n.prim == Prim::transpose) {
    // Result dim k is the inner result's dim p2[k], which is x's dim p1[p2[k]].
    for (int64_t& d : a.dims) d = inner.attrs.dims[static_cast<size_t>(d)];
  } else if (n.prim == Prim::broadcast_in_dim) {
    // x's dim k goes to the inner result's dim d1[k], which goes to the result's d2[d1[k]].
    std::vector<int64_t> dims = inner.attrs.dims;
    for (int64_t& d : dims) d = n.attrs.dims[static_cast<size_t>(d)];
    a.dims = std::move(dims);
  }
  const ValueId x = inner.inputs[0];
  try {
    // The composed op must type-check to the same result; otherwise keep the chain.
    const ir::ValueType in[] = {g.nodes[x].type};
    if (!(ir::infer_type(n.prim, in, a, n.loc) == n.type)) return false;
  } catch (const Error&) {
    return false;
  }
  n.inputs[0] = x;
  n.attrs = std::move(a);
  return true;
}

}  // namespace

ir::Graph simplify(const ir::Graph& g) {
  detail::GraphCopy c(g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node n = c.renamed(static_cast<ValueId>(i));
    while (compose_chain(c.out, n)) {
    }
    if (auto x = same_as_operand(c.out, n)) {
      c.map[i] = *x;
    } else {
      c.map[i] = c.append(std::move(n));
    }
  }
  return c.finish();
}

}  // namespace kiln::passes
