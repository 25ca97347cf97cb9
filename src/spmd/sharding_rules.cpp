// The sharding rules of the primitives the partitioner splits (sharding_rule.hpp): the elementwise
// kinds', the reductions', the shape primitives' (reshape's among them), the windows', the
// cumulative ops', convolution's, gather's, scatter_add's, the dynamic slices', broadcast_in_dim's,
// dot_general's and with_sharding_constraint's.
// Every other primitive is computed whole on every device.
#include <algorithm>

#include "kiln/error.hpp"
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

// reshape: operand and result dimensions fall into groups of equal products (merged dimensions,
// split ones, kept ones). A group's row-major elements are in the same order on both sides, so a
// split of its major-most dimension (of size > 1) — contiguous blocks of the group — stays a split
// of the result group's major-most dimension when that dimension's size is a multiple of the
// device count: (8, 4) split on rows is (32,) split, (32,) split is (8, 4) split on rows. Splits
// of the other dimensions are made whole.
ShardingRule::Choice reshape(const Node& node, std::span<const ValueType> in,
                             std::span<const Layout> operands, const MeshAxes& mesh) {
  const Shape& from = in[0].shape;
  const Shape& to = node.type.shape;
  Layout operand = Layout::replicated(from.rank()), result = Layout::replicated(to.rank());
  if (from.numel() == 0) return {{operand}, result};
  int i = 0, j = 0;
  while (i < from.rank() || j < to.rank()) {
    std::vector<int> ins, outs;  // one group
    int64_t pi = 1, pj = 1;
    auto take_in = [&] {
      ins.push_back(i);
      pi *= from[i++];
    };
    auto take_out = [&] {
      outs.push_back(j);
      pj *= to[j++];
    };
    if (i < from.rank()) take_in();
    if (j < to.rank()) take_out();
    while (pi != pj) {
      if (pi < pj && i < from.rank())
        take_in();
      else if (pj < pi && j < to.rank())
        take_out();
      else
        return {{Layout::replicated(from.rank())}, Layout::replicated(to.rank())};
    }
    auto major = [](const std::vector<int>& dims, const Shape& shape) {
      for (int d : dims)
        if (shape[d] > 1) return d;
      return -1;
    };
    const int a = major(ins, from), b = major(outs, to);
    if (a < 0 || b < 0) continue;
    const std::vector<std::string>& axes = operands[0].dims[static_cast<size_t>(a)];
    if (!axes.empty() && to[b] % mesh.size_of(axes) == 0) {
      operand.dims[static_cast<size_t>(a)] = axes;
      result.dims[static_cast<size_t>(b)] = axes;
    }
  }
  return {{operand}, result};
}

// Shape primitives: a dimension that moves keeps its split (transpose); one whose elements change
// place within it — sliced, padded, reversed, concatenated along — is made whole; the rest keep
// their splits. reshape keeps the splits of the dimensions that lead their groups (above).
ShardingRule::Choice shape_op(const Node& node, std::span<const ValueType> in,
                              std::span<const Layout> operands, const MeshAxes& mesh) {
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
    case ir::Prim::reshape:
      return reshape(node, in, operands, mesh);
    default: {  // any shape primitive this rule does not know: whole
      std::vector<Layout> all;
      for (const ValueType& t : in) all.push_back(Layout::replicated(t.shape.rank()));
      return {all, Layout::replicated(node.type.shape.rank())};
    }
  }
}

// A slice keeps a split dimension only when it takes all of it: its limit is then the block's.
// A reshape names its result shape.
ir::Attrs shape_local_attrs(const Node& node, const ValueType& local) {
  ir::Attrs a = node.attrs;
  if (node.prim == ir::Prim::slice)
    for (size_t d = 0; d < a.limit.size(); ++d)
      if (a.start[d] == 0 && a.stride[d] == 1) a.limit[d] = local.shape[static_cast<int>(d)];
  if (node.prim == ir::Prim::reshape) a.shape = local.shape;
  return a;
}

// Windows (reduce_window_*, select_and_scatter_add): a dimension the window does not span — size
// 1, stride 1, no padding, as pooling's batch and channels — keeps its split (the first split
// operand's); the others are made whole. Per shard it is the same window over fewer rows.
ShardingRule::Choice window(const Node& node, std::span<const ValueType> in,
                            std::span<const Layout> operands, const MeshAxes&) {
  const ir::Attrs& a = node.attrs;
  Layout target = Layout::replicated(in[0].shape.rank());
  for (const Layout& l : operands)
    if (!l.is_replicated()) {
      target = l;
      break;
    }
  for (size_t d = 0; d < target.dims.size(); ++d) {
    const bool trivial =
        a.window.at(d) == 1 && a.stride.at(d) == 1 && a.low.at(d) == 0 && a.high.at(d) == 0;
    if (!trivial) target.dims[d].clear();
  }
  return {std::vector<Layout>(operands.size(), target), target};
}

// gather from a whole operand (an embedding lookup, take along an axis): each device gathers the
// rows its block of indices names. The indices keep the splits of their batch dimensions (all but
// index_vector_dim), which become the splits of the result's batch dimensions (those not in
// offset_dims, in order); the operand and the index vectors are whole. A gather with batching
// dimensions (operand_batching_dims) is computed whole.
ShardingRule::Choice gather(const Node& node, std::span<const ValueType> in,
                            std::span<const Layout> operands, const MeshAxes&) {
  const ir::GatherDims& g = node.attrs.gather;
  const int rank = node.type.shape.rank();
  Layout operand = Layout::replicated(in[0].shape.rank());
  Layout indices = Layout::replicated(in[1].shape.rank()), result = Layout::replicated(rank);
  if (!g.operand_batching_dims.empty()) return {{operand, indices}, result};
  std::vector<size_t> batch;  // the result's batch dimensions, in order
  for (int d = 0; d < rank; ++d)
    if (std::count(g.offset_dims.begin(), g.offset_dims.end(), d) == 0)
      batch.push_back(static_cast<size_t>(d));
  size_t k = 0;
  for (int d = 0; d < in[1].shape.rank(); ++d) {
    if (d == g.index_vector_dim) continue;
    if (k < batch.size()) {
      indices.dims[static_cast<size_t>(d)] = operands[1].dims[static_cast<size_t>(d)];
      result.dims[batch[k]] = indices.dims[static_cast<size_t>(d)];
    }
    ++k;
  }
  return {{operand, indices}, result};
}

// scatter_add of split updates: each device adds its block of updates (and of indices, split
// alike along the scatter dimensions: the indices' batch dimensions, the updates' dimensions not
// in update_window_dims) into its share of the operand — the operand on the first device of the
// group, zeros on the others (an embedding's gradient scatters into zeros: nothing to select) —
// so the result is partial sums over those axes, added where a whole value is needed. Window
// dimensions are whole; with batching dimensions it is computed whole.
ShardingRule::Choice scatter_add(const Node& node, std::span<const ValueType> in,
                                 std::span<const Layout> operands, const MeshAxes&) {
  const ir::GatherDims& g = node.attrs.gather;  // offset_dims: the updates' window dimensions
  Layout operand = Layout::replicated(in[0].shape.rank());
  Layout indices = Layout::replicated(in[1].shape.rank());
  Layout updates = Layout::replicated(in[2].shape.rank());
  Layout result = Layout::replicated(node.type.shape.rank());
  if (!g.operand_batching_dims.empty()) return {{operand, indices, updates}, result};
  std::vector<size_t> scatter_dims;  // the updates' dimensions that follow the indices
  for (int d = 0; d < in[2].shape.rank(); ++d)
    if (std::count(g.offset_dims.begin(), g.offset_dims.end(), d) == 0)
      scatter_dims.push_back(static_cast<size_t>(d));
  std::vector<std::string> used;
  size_t k = 0;
  for (int d = 0; d < in[1].shape.rank() && k < scatter_dims.size(); ++d) {
    if (d == g.index_vector_dim) continue;
    const auto i = static_cast<size_t>(d);
    std::vector<std::string> axes =
        !operands[1].dims[i].empty() ? operands[1].dims[i] : operands[2].dims[scatter_dims[k]];
    if (!disjoint(axes, used)) axes.clear();
    indices.dims[i] = updates.dims[scatter_dims[k]] = axes;
    used.insert(used.end(), axes.begin(), axes.end());
    ++k;
  }
  operand.partial = result.partial = used;
  return {{operand, indices, updates}, result};
}

// dynamic_slice and dynamic_update_slice: a dimension the slice (the update) spans whole keeps its
// split — its start is clamped to 0 on every device, whatever it is — and the others are whole.
ShardingRule::Choice dynamic_slice(const Node& node, std::span<const ValueType> in,
                                   std::span<const Layout> operands, const MeshAxes&) {
  const bool update = node.prim == ir::Prim::dynamic_update_slice;
  const Shape& whole = in[0].shape;
  const Shape& part = update ? in[1].shape : node.attrs.shape;
  Layout target = operands[0];
  if (update && target.is_replicated()) target = operands[1];
  for (int d = 0; d < whole.rank(); ++d)
    if (part[d] != whole[d]) target.dims[static_cast<size_t>(d)].clear();
  std::vector<Layout> wanted(operands.size(), Layout::replicated(0));  // the starts: scalars
  wanted[0] = target;
  if (update) wanted[1] = target;
  return {wanted, target};
}

ir::Attrs dynamic_slice_local_attrs(const Node& node, const ValueType& local) {
  ir::Attrs a = node.attrs;
  if (node.prim == ir::Prim::dynamic_slice) a.shape = local.shape;
  return a;
}

// Cumulative ops (cumsum ... cummin): the accumulated axis is whole, the others keep their splits.
ShardingRule::Choice scan(const Node& node, std::span<const ValueType>,
                          std::span<const Layout> operands, const MeshAxes&) {
  Layout operand = operands[0];
  operand.dims[static_cast<size_t>(node.attrs.axis)].clear();
  return {{operand}, operand};
}

// Convolution, as dot_general: a split batch dimension of the input is a convolution per shard
// (no halo: every output row reads its own input row); a kernel split by output feature is a
// convolution per block of output features; an input feature dimension split alike on both sides
// (the kernel's gradient contracts the batch this way) leaves per-device partial sums. Spatial
// splits are made whole. Grouped convolutions keep only the batch split.
ShardingRule::Choice convolution(const Node& node, std::span<const ValueType> in,
                                 std::span<const Layout> operands, const MeshAxes&) {
  const ir::ConvDims& c = node.attrs.conv;
  Layout lhs = Layout::replicated(in[0].shape.rank()), rhs = Layout::replicated(in[1].shape.rank());
  Layout result = Layout::replicated(node.type.shape.rank());
  const bool grouped = c.feature_group_count != 1 || c.batch_group_count != 1;
  const auto lb = static_cast<size_t>(c.lhs_spec[0]), lf = static_cast<size_t>(c.lhs_spec[1]);
  const auto ro = static_cast<size_t>(c.rhs_spec[0]), ri = static_cast<size_t>(c.rhs_spec[1]);
  std::vector<std::string> used;
  auto take = [&](std::vector<std::string> axes) {
    if (!disjoint(axes, used)) axes.clear();
    used.insert(used.end(), axes.begin(), axes.end());
    return axes;
  };
  const std::vector<std::string> batch =
      take(c.batch_group_count == 1 ? operands[0].dims[lb] : std::vector<std::string>{});
  lhs.dims[lb] = result.dims[static_cast<size_t>(c.out_spec[0])] = batch;
  const std::vector<std::string> features =
      take(grouped ? std::vector<std::string>{} : operands[1].dims[ro]);
  rhs.dims[ro] = result.dims[static_cast<size_t>(c.out_spec[1])] = features;
  if (!grouped) {
    const std::vector<std::string> contracted =
        take(!operands[0].dims[lf].empty() ? operands[0].dims[lf] : operands[1].dims[ri]);
    lhs.dims[lf] = rhs.dims[ri] = contracted;
    result.partial = contracted;
  }
  return {{lhs, rhs}, result};
}

// "('x': 2, 'y': 4)"
std::string axes_text(const std::vector<std::string>& names, const std::vector<int64_t>& sizes) {
  std::string s = "(";
  for (size_t i = 0; i < names.size() && i < sizes.size(); ++i)
    s += (i ? ", '" : "'") + names[i] + "': " + std::to_string(sizes[i]);
  return s + ")";
}

// with_sharding_constraint: the operand is resharded to the layout asked; the result has it.
ShardingRule::Choice sharding_constraint(const Node& node, std::span<const ValueType> in,
                                         std::span<const Layout>, const MeshAxes& mesh) {
  const ir::MeshSplit& split = node.attrs.split;
  if (split.mesh.names != mesh.names || split.mesh.sizes != mesh.sizes)
    throw ValueError(message("with_sharding_constraint names a mesh of axes " +
                                 axes_text(split.mesh.names, split.mesh.sizes) +
                                 " inside a jit partitioned over the mesh " +
                                 axes_text(mesh.names, mesh.sizes),
                             node.loc, "constrain to the mesh the jit's shardings use"));
  Layout l = Layout::replicated(in[0].shape.rank());
  for (size_t d = 0; d < split.dims.size() && d < l.dims.size(); ++d) l.dims[d] = split.dims[d];
  return {{l}, l};
}

const ShardingRule kElementwise{&elementwise};
const ShardingRule kShape{&shape_op, &shape_local_attrs};
const ShardingRule kReduce{&reduce};
const ShardingRule kWindow{&window};
const ShardingRule kScan{&scan};
const ShardingRule kConvolution{&convolution};
const ShardingRule kGather{&gather};
const ShardingRule kDynamicSlice{&dynamic_slice, &dynamic_slice_local_attrs};
const ShardingRule kScatterAdd{&scatter_add};

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
    case ir::PrimKind::window:
      return &kWindow;
    case ir::PrimKind::scan:
      return &kScan;
    case ir::PrimKind::convolution:
      return &kConvolution;
    case ir::PrimKind::indexing:  // the other scatters are computed whole
      if (p == ir::Prim::gather) return &kGather;
      if (p == ir::Prim::scatter_add) return &kScatterAdd;
      if (p == ir::Prim::dynamic_slice || p == ir::Prim::dynamic_update_slice)
        return &kDynamicSlice;
      return nullptr;
    default:
      return nullptr;
  }
}

}  // namespace kiln::spmd

namespace kiln::ir {
const ShardingRule kBroadcastInDimSharding{&spmd::broadcast_in_dim, &spmd::with_local_shape};
const ShardingRule kDotGeneralSharding{&spmd::dot_general};
const ShardingRule kShardingConstraintSharding{&spmd::sharding_constraint};
}  // namespace kiln::ir
