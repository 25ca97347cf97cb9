// The sharding rules of the primitives the partitioner splits (sharding_rule.hpp): the elementwise
// kinds', the reductions', the shape primitives', broadcast_in_dim's and dot_general's. Every
// other primitive is computed whole on every device.
#include <algorithm>

#include "spmd/sharding_rule.hpp"

namespace kiln::spmd {
namespace {

using ir::Node;
using ir::ShardingRule;
using ir::ValueType;

bool disjoint(const std::vector<std::string>& a, const std::vector<std::string>& used) {
  for (const std::string& x : a)
    if (std::find(used.begin(), used.end(), x) != used.end()) return false;
  return true;
}

// Elementwise: the result is split as the first split operand; the others follow it.
ShardingRule::Choice elementwise(const Node&, std::span<const ValueType> in,
                                 std::span<const Layout> operands, const MeshAxes&) {
  Layout target = Layout::replicated(in.empty() ? 0 : in.back().shape.rank());
  for (const Layout& l : operands)
    if (!l.is_replicated()) {
      target = l;
      break;
    }
  return {std::vector<Layout>(operands.size(), target), target};
}

// broadcast_in_dim: a kept dimension stays split as it was; a broadcast (size-1) one and the new
// dimensions are whole.
ShardingRule::Choice broadcast_in_dim(const Node& node, std::span<const ValueType> in,
                                      std::span<const Layout> operands, const MeshAxes&) {
  const Shape& from = in[0].shape;
  const Shape& to = node.type.shape;
  Layout operand = operands[0];
  Layout result = Layout::replicated(to.rank());
  for (int i = 0; i < from.rank(); ++i) {
    const auto d = static_cast<size_t>(node.attrs.dims[static_cast<size_t>(i)]);
    if (from[i] != to[static_cast<int>(d)]) operand.dims[static_cast<size_t>(i)].clear();
    result.dims[d] = operand.dims[static_cast<size_t>(i)];
  }
  return {{operand}, result};
}

ir::Attrs with_local_shape(const Node& node, const ValueType& local) {
  ir::Attrs a = node.attrs;
  a.shape = local.shape;
  return a;
}

// dot_general: batch dimensions split alike on both sides, free dimensions keep their splits
// (an axis already used drops out), and a contracted dimension split alike on both sides leaves
// per-device partial sums (the result is partial over its axes).
ShardingRule::Choice dot_general(const Node& node, std::span<const ValueType> in,
                                 std::span<const Layout> operands, const MeshAxes&) {
  const ir::DotDims& dd = node.attrs.dot;
  const Layout& l = operands[0];
  const Layout& r = operands[1];
  Layout lw = Layout::replicated(in[0].shape.rank()), rw = Layout::replicated(in[1].shape.rank());
  std::vector<std::string> used;
  Layout result;
  for (size_t k = 0; k < dd.lhs_batch.size(); ++k) {
    const auto lb = static_cast<size_t>(dd.lhs_batch[k]), rb = static_cast<size_t>(dd.rhs_batch[k]);
    std::vector<std::string> axes = !l.dims[lb].empty() ? l.dims[lb] : r.dims[rb];
    if (!disjoint(axes, used)) axes.clear();
    lw.dims[lb] = rw.dims[rb] = axes;
    used.insert(used.end(), axes.begin(), axes.end());
    result.dims.push_back(axes);
  }
  auto free_dims = [&](const Layout& from, Layout& want, int rank,
                       const std::vector<int64_t>& batch, const std::vector<int64_t>& contract) {
    for (int d = 0; d < rank; ++d) {
      if (std::count(batch.begin(), batch.end(), d) ||
          std::count(contract.begin(), contract.end(), d))
        continue;
      std::vector<std::string> axes = from.dims[static_cast<size_t>(d)];
      if (!disjoint(axes, used)) axes.clear();
      want.dims[static_cast<size_t>(d)] = axes;
      used.insert(used.end(), axes.begin(), axes.end());
      result.dims.push_back(axes);
    }
  };
  free_dims(l, lw, in[0].shape.rank(), dd.lhs_batch, dd.lhs_contract);
  free_dims(r, rw, in[1].shape.rank(), dd.rhs_batch, dd.rhs_contract);
  for (size_t k = 0; k < dd.lhs_contract.size(); ++k) {
    const auto lc = static_cast<size_t>(dd.lhs_contract[k]);
    const auto rc = static_cast<size_t>(dd.rhs_contract[k]);
    std::vector<std::string> axes;
    if (!l.dims[lc].empty() && disjoint(l.dims[lc], used))
      axes = l.dims[lc];
    else if (!r.dims[rc].empty() && disjoint(r.dims[rc], used))
      axes = r.dims[rc];
    lw.dims[lc] = rw.dims[rc] = axes;
    used.insert(used.end(), axes.begin(), axes.end());
    result.partial.insert(result.partial.end(), axes.begin(), axes.end());
  }
  return {{lw, rw}, result};
}

// Reductions: kept dimensions keep their splits. A split dimension reduce_sum reduces leaves
// per-device partial sums (the result is partial over its axes); the other reductions need the
// reduced dimensions whole.
ShardingRule::Choice reduce(const Node& node, std::span<const ValueType> in,
                            std::span<const Layout> operands, const MeshAxes&) {
  const std::vector<int64_t> reduced =
      node.prim == ir::Prim::argmax ? std::vector<int64_t>{node.attrs.axis} : node.attrs.dims;
  Layout operand = operands[0];
  Layout result;
  for (int d = 0; d < in[0].shape.rank(); ++d) {
    std::vector<std::string>& axes = operand.dims[static_cast<size_t>(d)];
    if (std::count(reduced.begin(), reduced.end(), d) == 0) {
      result.dims.push_back(axes);
    } else if (node.prim == ir::Prim::reduce_sum) {
      result.partial.insert(result.partial.end(), axes.begin(), axes.end());
    } else {
      axes.clear();
    }
  }
  return {{operand}, result};
}

// Shape primitives: a dimension that moves keeps its split (transpose); one whose elements change
// place within it — sliced, padded, reversed, concatenated along — is made whole; the rest keep
// their splits. reshape keeps the splits of the leading dimensions it leaves as they are (a batch
// split through [B] -> [B, 1] or [B, 28, 28, 1] -> [B, 784]) and makes the others whole (no rule
// for merged and split dimensions yet).
ShardingRule::Choice shape_op(const Node& node, std::span<const ValueType> in,
                              std::span<const Layout> operands, const MeshAxes&) {
  const ir::Attrs& a = node.attrs;
  const int rank = in[0].shape.rank();
  Layout operand = operands[0];
  auto whole = [&](int64_t d) { operand.dims[static_cast<size_t>(d)].clear(); };
  switch (node.prim) {
    case ir::Prim::transpose: {
      Layout result;
      for (int64_t d : a.dims) result.dims.push_back(operand.dims[static_cast<size_t>(d)]);
      return {{operand}, result};
    }
    case ir::Prim::slice:
      for (int d = 0; d < rank; ++d) {
        const auto i = static_cast<size_t>(d);
        if (a.start[i] != 0 || a.limit[i] != in[0].shape[d] || a.stride[i] != 1) whole(d);
      }
      return {{operand}, operand};
    case ir::Prim::pad: {
      for (int d = 0; d < rank; ++d) {
        const auto i = static_cast<size_t>(d);
        if (a.low[i] != 0 || a.high[i] != 0 || a.interior[i] != 0) whole(d);
      }
      return {{operand, Layout::replicated(0)}, operand};
    }
    case ir::Prim::rev:
      for (int64_t d : a.dims) whole(d);
      return {{operand}, operand};
    case ir::Prim::concatenate: {
      whole(a.axis);
      return {std::vector<Layout>(operands.size(), operand), operand};
    }
    case ir::Prim::reshape: {
      const Shape& to = node.type.shape;
      Layout result = Layout::replicated(to.rank());
      bool kept = true;  // dimensions 0..d are the same on both sides
      for (int d = 0; d < rank; ++d) {
        kept = kept && d < to.rank() && in[0].shape[d] == to[d];
        if (kept)
          result.dims[static_cast<size_t>(d)] = operand.dims[static_cast<size_t>(d)];
        else
          whole(d);
      }
      return {{operand}, result};
    }
    default: {  // reshape, and any shape primitive this rule does not know: whole
      std::vector<Layout> all;
      for (const ValueType& t : in) all.push_back(Layout::replicated(t.shape.rank()));
      return {all, Layout::replicated(node.type.shape.rank())};
    }
  }
}

// A slice keeps a split dimension only when it takes all of it: its limit is then the block's. A
// reshape makes the per-device shape.
ir::Attrs shape_local_attrs(const Node& node, const ValueType& local) {
  ir::Attrs a = node.attrs;
  if (node.prim == ir::Prim::reshape) a.shape = local.shape;
  if (node.prim == ir::Prim::slice)
    for (size_t d = 0; d < a.limit.size(); ++d)
      if (a.start[d] == 0 && a.stride[d] == 1) a.limit[d] = local.shape[static_cast<int>(d)];
  return a;
}

const ShardingRule kElementwise{&elementwise};
const ShardingRule kShape{&shape_op, &shape_local_attrs};
const ShardingRule kReduce{&reduce};

}  // namespace

const ir::ShardingRule* sharding_rule(ir::Prim p) {
  const ir::PrimInfo& row = ir::info(p);
  if (row.sharding != nullptr) return row.sharding;
  switch (row.kind) {
    case ir::PrimKind::unary:
    case ir::PrimKind::binary:
    case ir::PrimKind::compare:
    case ir::PrimKind::select:
      return p == ir::Prim::bitcast_convert ? nullptr : &kElementwise;
    case ir::PrimKind::reduce:
      return &kReduce;
    case ir::PrimKind::shape:  // broadcast_in_dim has its row's
      return &kShape;
    default:
      return nullptr;
  }
}

}  // namespace kiln::spmd

namespace kiln::ir {
const ShardingRule kBroadcastInDimSharding{&spmd::broadcast_in_dim, &spmd::with_local_shape};
const ShardingRule kDotGeneralSharding{&spmd::dot_general};
}  // namespace kiln::ir
