#include "spmd/partition.hpp"

#include <algorithm>

#include "kiln/error.hpp"
#include "spmd/sharding_rule.hpp"

namespace kiln::spmd {
namespace {

using ir::Prim;
using ir::ValueId;

class Partitioner {
 public:
  Partitioner(const ir::Graph& g, const MeshAxes& mesh) : g_(g), mesh_(mesh) {
    local_.resize(g.nodes.size());
    layout_.resize(g.nodes.size());
    resharded_.resize(g.nodes.size());
    out_.name = g.name;
  }

  Partitioned run(std::vector<Layout> in, const std::vector<std::optional<Layout>>& want) {
    for (size_t i = 0; i < g_.nodes.size(); ++i) visit(static_cast<ValueId>(i), in);
    Partitioned p;
    p.inputs = std::move(in);
    for (size_t o = 0; o < g_.outputs.size(); ++o) {
      const ValueId v = g_.outputs[o];
      Layout target = want[o] ? *want[o] : layout_[v];
      target.partial.clear();
      out_.outputs.push_back(reshard(v, target));
      p.outputs.push_back(std::move(target));
    }
    p.local = std::move(out_);
    return p;
  }

 private:
  const ir::Node& node(ValueId v) const { return g_.nodes[v]; }
  const ir::ValueType& global(ValueId v) const { return g_.nodes[v].type; }

  ValueId emit(Prim p, std::vector<ValueId> ins, ir::Attrs attrs, const Loc& loc) {
    return out_.add(p, std::move(ins), std::move(attrs), loc);
  }

  ValueId collective(Prim p, ValueId x, const std::vector<std::string>& axes, const Loc& loc,
                     int64_t dimension = 0) {
    ir::Attrs a;
    a.collective.axes = axes;
    a.collective.axis_size = mesh_.size_of(axes);
    a.collective.dimension = dimension;
    a.collective.tiled = true;
    if (p == Prim::axis_index) return emit(p, {}, std::move(a), loc);
    return emit(p, {x}, std::move(a), loc);
  }

  // This device's index along `axes`, one node for the whole graph.
  ValueId axis_index(const std::vector<std::string>& axes, const Loc& loc) {
    for (const auto& [a, v] : axis_index_)
      if (a == axes) return v;
    const ValueId v = collective(Prim::axis_index, 0, axes, loc);
    axis_index_.emplace_back(axes, v);
    return v;
  }

  ValueId full(const Shape& shape, DType t, Scalar value, const Loc& loc) {
    ir::Attrs a;
    a.shape = shape;
    a.dtype = t;
    a.value = value;
    return emit(Prim::full, {}, std::move(a), loc);
  }

  // This device's block of x along dimension d (whole on every device) split over `axes`: the
  // blocks sliced statically, the one at axis_index chosen by selects.
  ValueId local_block(ValueId x, int d, const std::vector<std::string>& axes, const Loc& loc) {
    const ir::ValueType t = out_.type(x);
    const int64_t n = mesh_.size_of(axes);
    const int64_t size = t.shape[d] / n;
    const ValueId index = axis_index(axes, loc);
    ValueId result = 0;
    for (int64_t k = 0; k < n; ++k) {
      ir::Attrs s;
      s.start.assign(static_cast<size_t>(t.shape.rank()), 0);
      s.limit = t.shape.vec();
      s.stride.assign(static_cast<size_t>(t.shape.rank()), 1);
      s.start[static_cast<size_t>(d)] = k * size;
      s.limit[static_cast<size_t>(d)] = (k + 1) * size;
      const ValueId piece = emit(Prim::slice, {x}, std::move(s), loc);
      if (k == 0) {
        result = piece;
        continue;
      }
      const ValueId is_k = emit(
          Prim::eq, {index, full(Shape{}, DType::int32, Scalar::from_int(k, DType::int32), loc)},
          {}, loc);
      ir::Attrs b;
      b.shape = out_.type(piece).shape;
      const ValueId mask = emit(Prim::broadcast_in_dim, {is_k}, std::move(b), loc);
      result = emit(Prim::select, {mask, piece, result}, {}, loc);
    }
    return result;
  }

  // v's value (a value of g_) laid out as `to`, made once for all its users: a gradient that Adam
  // reads three times is psum'd once.
  ValueId reshard(ValueId v, const Layout& to) {
    if (layout_[v] == to) return local_[v];
    for (const auto& [layout, value] : resharded_[v])
      if (layout == to) return value;
    const ValueId x = make_reshard(v, to);
    resharded_[v].emplace_back(to, x);
    return x;
  }

  ValueId make_reshard(ValueId v, const Layout& to) {
    Layout from = layout_[v];
    const ir::Node& n = node(v);
    const Loc& loc = n.loc;
    // Partial sums wanted of a value (a scatter-add's operand, its updates split): the value on
    // the first device of each group, zeros on the others — or the value itself where it is 0.
    if (!to.partial.empty()) {
      Layout summed = to;
      summed.partial.clear();
      const ValueId x = reshard(v, summed);
      if (n.prim == Prim::full && n.attrs.value.to_double() == 0.0) return x;
      const ir::ValueType t = out_.type(x);
      const ValueId first =
          emit(Prim::eq,
               {axis_index(to.partial, loc),
                full(Shape{}, DType::int32, Scalar::from_int(0, DType::int32), loc)},
               {}, loc);
      ir::Attrs b;
      b.shape = t.shape;
      const ValueId mask = emit(Prim::broadcast_in_dim, {first}, std::move(b), loc);
      return emit(Prim::select,
                  {mask, x, full(t.shape, t.dtype, Scalar::from_int(0, t.dtype), loc)}, {}, loc);
    }
    // A fill, or a broadcast of a whole value into dimensions it does not have, is made again at
    // the layout wanted rather than cut down from the whole.
    if (from.is_replicated() && n.prim == Prim::full) {
      ir::Attrs a = n.attrs;
      a.shape = to.local_shape(n.type.shape, mesh_);
      return emit(Prim::full, {}, std::move(a), loc);
    }
    if (from.is_replicated() && n.prim == Prim::broadcast_in_dim &&
        layout_[n.inputs[0]].is_replicated()) {
      const Shape& operand = global(n.inputs[0]).shape;
      bool splits_only_new = true;
      for (size_t i = 0; i < n.attrs.dims.size(); ++i) {
        const auto d = static_cast<size_t>(n.attrs.dims[i]);
        if (!to.dims[d].empty() &&
            operand[static_cast<int>(i)] == n.type.shape[static_cast<int>(d)])
          splits_only_new = false;
      }
      if (splits_only_new) {
        ir::Attrs a = n.attrs;
        a.shape = to.local_shape(n.type.shape, mesh_);
        return emit(Prim::broadcast_in_dim, {local_[n.inputs[0]]}, std::move(a), loc);
      }
    }
    ValueId x = local_[v];
    if (!from.partial.empty()) {
      x = collective(Prim::psum, x, from.partial, loc);
      from.partial.clear();
    }
    for (size_t d = 0; d < from.dims.size(); ++d)
      if (from.dims[d] != to.dims[d] && !from.dims[d].empty()) {
        x = collective(Prim::all_gather, x, from.dims[d], loc, static_cast<int64_t>(d));
        from.dims[d].clear();
      }
    for (size_t d = 0; d < to.dims.size(); ++d)
      if (from.dims[d] != to.dims[d]) x = local_block(x, static_cast<int>(d), to.dims[d], loc);
    return x;
  }

  void visit(ValueId v, const std::vector<Layout>& in) {
    const ir::Node& n = node(v);
    const int rank = n.type.shape.rank();
    if (n.prim == Prim::parameter) {
      const Layout& l = in[static_cast<size_t>(n.attrs.index)];
      layout_[v] = l;
      local_[v] = out_.add_parameter({n.type.dtype, l.local_shape(n.type.shape, mesh_)}, n.loc);
      return;
    }
    if (n.inputs.empty()) {  // constants, fills, iotas: whole on every device
      out_.nodes.push_back(n);
      local_[v] = static_cast<ValueId>(out_.nodes.size() - 1);
      layout_[v] = Layout::replicated(rank);
      return;
    }
    std::vector<ir::ValueType> types;
    std::vector<Layout> current;
    for (ValueId u : n.inputs) {
      types.push_back(global(u));
      Layout l = layout_[u];
      l.partial.clear();  // rules see whole values: partial sums are added first
      current.push_back(std::move(l));
    }
    const ir::ShardingRule* rule = sharding_rule(n.prim);
    ir::ShardingRule::Choice choice;
    if (rule != nullptr) {
      choice = rule->propagate(n, types, current, mesh_);
    } else {
      for (const ir::ValueType& t : types)
        choice.operands.push_back(Layout::replicated(t.shape.rank()));
      choice.result = Layout::replicated(rank);
    }
    std::vector<ValueId> ins;
    for (size_t i = 0; i < n.inputs.size(); ++i)
      ins.push_back(reshard(n.inputs[i], choice.operands[i]));
    if (n.prim == Prim::sharding_constraint) {  // an identity once its operand is resharded
      local_[v] = ins[0];
      layout_[v] = std::move(choice.result);
      return;
    }
    const Shape want = choice.result.local_shape(n.type.shape, mesh_);
    ir::Attrs attrs = rule != nullptr && rule->local_attrs != nullptr
                          ? rule->local_attrs(n, {n.type.dtype, want})
                          : n.attrs;
    local_[v] = emit(n.prim, std::move(ins), std::move(attrs), n.loc);
    if (!(out_.type(local_[v]).shape == want))
      throw Error("kiln bug: the sharding rule of " + std::string(ir::name(n.prim)) + " gave " +
                  choice.result.str() + " (per-device " + want.str() + ") but the per-device " +
                  "node has shape " + out_.type(local_[v]).shape.str());
    layout_[v] = std::move(choice.result);
  }

  const ir::Graph& g_;
  const MeshAxes& mesh_;
  ir::Graph out_;
  std::vector<ValueId> local_;
  std::vector<Layout> layout_;
  std::vector<std::vector<std::pair<Layout, ValueId>>> resharded_;  // per value: made, by layout
  std::vector<std::pair<std::vector<std::string>, ValueId>> axis_index_;
};

}  // namespace

Partitioned partition(const ir::Graph& g, const MeshAxes& mesh, std::vector<Layout> in,
                      const std::vector<std::optional<Layout>>& out) {
  return Partitioner(g, mesh).run(std::move(in), out);
}

}  // namespace kiln::spmd
