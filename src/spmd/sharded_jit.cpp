// jit with in_shardings / out_shardings: the partitioned call (kiln/jit.hpp JitCache).
#include <algorithm>

#include "core/array_impl.hpp"
#include "core/sharded_value.hpp"
#include "kiln/jit.hpp"
#include "spmd/partition.hpp"
#include "spmd/program.hpp"

namespace kiln {
namespace {

spmd::MeshAxes axes_of(const Mesh& mesh) {
  return {mesh.axis_names(), mesh.shape()};
}

spmd::Layout layout_of(const PartitionSpec& spec, int rank) {
  spmd::Layout l = spmd::Layout::replicated(rank);
  for (size_t d = 0; d < spec.size() && d < l.dims.size(); ++d) l.dims[d] = spec.entries()[d].axes;
  return l;
}

PartitionSpec spec_of(const spmd::Layout& l) {
  std::vector<PartitionSpec::Entry> entries;
  for (const auto& d : l.dims) entries.emplace_back(d);
  while (!entries.empty() && entries.back().axes.empty()) entries.pop_back();
  return PartitionSpec(std::move(entries));
}

// The mesh a PartitionSpec refers to: the first NamedSharding's, a sharded argument's, or
// use_mesh's.
std::optional<Mesh> find_mesh(const Shardings& s) {
  if (s.named()) return s.named()->mesh();
  for (const auto& [key, sub] : s.items())
    if (auto m = find_mesh(sub)) return m;
  return std::nullopt;
}

struct LeafSharding {
  std::optional<NamedSharding> named;  // nullopt: None (the leaf's own, else replicated)
  std::optional<PartitionSpec> spec;
};

// `s` applied to the leaves of one argument: a leaf sharding to all, or a dict walked alongside a
// Tree argument in flatten order (sorted keys), keys it lacks being None.
void expand(const Shardings& s, const Tree* tree, size_t count, std::vector<LeafSharding>& out,
            const Loc& loc) {
  if (!s.is_dict()) {
    for (size_t i = 0; i < count; ++i) out.push_back({s.named(), s.spec()});
    return;
  }
  if (tree == nullptr || !tree->is_dict())
    throw ValueError(message("jit: a dict in in_shardings for an argument that is not a dict Tree",
                             loc, "give a PartitionSpec for the whole argument"));
  std::vector<std::pair<std::string, const Tree*>> items;
  for (const auto& [key, sub] : tree->items()) items.emplace_back(key, &sub);
  std::sort(items.begin(), items.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // Not a structured binding: clang's OpenMP (the fuzz build) refuses a lambda capturing one.
  for (const auto& entry : s.items()) {
    const std::string& key = entry.first;
    if (!std::any_of(items.begin(), items.end(), [&](const auto& it) { return it.first == key; }))
      throw ValueError(message(
          "jit: in_shardings names key '" + key + "', which the argument's dict does not have", loc,
          "mirror the argument's keys"));
  }
  for (const auto& [key, sub] : items) {
    const size_t n = leaves(*sub).size();
    const Shardings* match = nullptr;
    for (const auto& [k, v] : s.items())
      if (k == key) match = &v;
    if (match != nullptr)
      expand(*match, sub, n, out, loc);
    else
      for (size_t i = 0; i < n; ++i) out.push_back({});
  }
}

}  // namespace

struct JitCache::PartitionedEntry {
  std::vector<ir::ValueType> types;
  std::vector<NamedSharding> in;
  size_t structure_hash = 0;
  std::vector<NamedSharding> out;
  std::shared_ptr<spmd::Program> program;
  std::shared_ptr<const void> output_template;
  ir::Graph global;  // as traced, with Graph::sharding
};

std::shared_ptr<JitCache::PartitionedEntry> JitCache::partitioned_entry(
    std::span<const Array> leaves, std::span<const size_t> arg_ends,
    std::span<const Tree* const> trees, size_t structure_hash, TraceFn trace_fn,
    const Loc& call_loc, std::vector<NamedSharding>& in) {
  if (!options_.in_shardings.empty() && options_.in_shardings.size() != arg_ends.size())
    throw ValueError(message("jit: " + std::to_string(options_.in_shardings.size()) +
                                 " in_shardings for a call with " +
                                 std::to_string(arg_ends.size()) + " arguments",
                             call_loc, "give one entry (None, a PartitionSpec, ...) per argument"));
  std::vector<LeafSharding> given;
  for (size_t k = 0; k < arg_ends.size(); ++k) {
    const size_t n = arg_ends[k] - (k == 0 ? 0 : arg_ends[k - 1]);
    if (options_.in_shardings.empty())
      for (size_t i = 0; i < n; ++i) given.push_back({});
    else
      expand(options_.in_shardings[k], trees[k], n, given, loc_);
  }

  // The mesh: a NamedSharding's, a sharded argument's, or use_mesh's.
  std::optional<Mesh> mesh;
  for (const Shardings& s : options_.in_shardings)
    if (!mesh) mesh = find_mesh(s);
  if (!mesh && options_.out_shardings) mesh = find_mesh(*options_.out_shardings);
  for (const Array& a : leaves)
    if (!mesh && ArrayAccess::impl(a)->sharded)
      mesh = ArrayAccess::impl(a)->sharded->sharding.mesh();
  if (!mesh) mesh = current_mesh();
  if (!mesh)
    throw ValueError(
        message("jit: in_shardings/out_shardings hold PartitionSpecs but no mesh is "
                "in scope",
                call_loc,
                "call inside `auto scope = kiln::use_mesh(mesh);` (JAX's `with "
                "mesh:`), or give NamedSharding(mesh, spec)"));

  in.clear();
  std::vector<ir::ValueType> types;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const Array& a = leaves[i];
    const LeafSharding& g = given[i];
    NamedSharding s = g.named                         ? *g.named
                      : g.spec                        ? NamedSharding(*mesh, *g.spec)
                      : ArrayAccess::impl(a)->sharded ? ArrayAccess::impl(a)->sharded->sharding
                                                      : NamedSharding(*mesh, P());
    if (!(s.mesh() == *mesh))
      throw ValueError(message("jit: argument leaf " + std::to_string(i) + " is placed on " +
                                   s.mesh().str() + ", other arguments on " + mesh->str(),
                               call_loc, "place every argument on one mesh"));
    s.check(a.shape(), call_loc);
    in.push_back(std::move(s));
    types.push_back(type_of(a));
  }

  std::shared_ptr<PartitionedEntry> entry;
  for (const auto& e : partitioned_entries_)
    if (e->structure_hash == structure_hash && e->types == types && e->in == in) entry = e;
  if (!entry) {
    entry = std::make_shared<PartitionedEntry>();
    entry->types = types;
    entry->in = in;
    entry->structure_hash = structure_hash;
    Traced t = trace(
        types,
        [&](std::span<const Array> tracers) { return trace_fn(tracers, entry->output_template); },
        loc_);
    t.graph.name = options_.name;
    const ir::Graph& g = t.graph;
    std::vector<spmd::Layout> in_layouts;
    for (size_t i = 0; i < in.size(); ++i)
      in_layouts.push_back(layout_of(in[i].spec(), types[i].shape.rank()));
    std::vector<std::optional<spmd::Layout>> out_layouts(g.outputs.size());
    if (options_.out_shardings) {
      const Shardings& o = *options_.out_shardings;
      if (o.is_dict())
        throw Unsupported(message("jit: a dict in out_shardings", loc_,
                                  "give one PartitionSpec or NamedSharding for every output"));
      for (size_t k = 0; k < g.outputs.size(); ++k) {
        if (o.is_none()) continue;
        const NamedSharding s = o.named() ? *o.named() : NamedSharding(*mesh, *o.spec());
        s.check(g.type(g.outputs[k]).shape, loc_);
        out_layouts[k] = layout_of(s.spec(), g.type(g.outputs[k]).shape.rank());
      }
    }
    const spmd::MeshAxes axes = axes_of(*mesh);
    spmd::Partitioned p = spmd::partition(g, axes, in_layouts, out_layouts);
    for (const spmd::Layout& l : p.outputs) entry->out.emplace_back(*mesh, spec_of(l));
    // The global graph, its layouts recorded for export (jit(...).lower(...)).
    entry->global = std::move(t.graph);
    ir::Graph::Sharding& sharding = entry->global.sharding.emplace();
    sharding.mesh = {axes.names, axes.sizes};
    for (const spmd::Layout& l : p.inputs) sharding.inputs.push_back({sharding.mesh, l.dims});
    for (const spmd::Layout& l : p.outputs) sharding.outputs.push_back({sharding.mesh, l.dims});
    entry->program = std::make_shared<spmd::Program>(std::move(p.local), *mesh);
    partitioned_entries_.push_back(entry);
  }
  return entry;
}

ir::Graph JitCache::lower_partitioned(std::span<const Array> leaves,
                                      std::span<const size_t> arg_ends,
                                      std::span<const Tree* const> trees, size_t structure_hash,
                                      TraceFn trace_fn) {
  std::lock_guard lock(mutex_);
  std::vector<NamedSharding> in;
  return partitioned_entry(leaves, arg_ends, trees, structure_hash, trace_fn, loc_, in)->global;
}

std::vector<Array> JitCache::call_partitioned(std::span<const Array> leaves,
                                              std::span<const size_t> arg_ends,
                                              std::span<const Tree* const> trees,
                                              size_t structure_hash, TraceFn trace_fn,
                                              std::shared_ptr<const void>& tmpl,
                                              const Loc& call_loc) {
  std::lock_guard lock(mutex_);
  std::vector<NamedSharding> in;
  std::shared_ptr<PartitionedEntry> entry =
      partitioned_entry(leaves, arg_ends, trees, structure_hash, trace_fn, call_loc, in);
  const Mesh& mesh = entry->program->mesh();
  tmpl = entry->output_template;

  std::vector<std::vector<Array>> shards;
  for (size_t i = 0; i < leaves.size(); ++i) shards.push_back(shards_for(leaves[i], in[i]));
  std::vector<std::vector<Array>> per_device = entry->program->run(shards);
  std::vector<Array> outs;
  for (size_t o = 0; o < per_device.size(); ++o) {
    const ir::ValueType& t = entry->program->graph().type(entry->program->graph().outputs[o]);
    std::vector<int64_t> global = t.shape.vec();
    const PartitionSpec& spec = entry->out[o].spec();
    for (size_t d = 0; d < spec.size(); ++d)
      for (const std::string& axis : spec.entries()[d].axes) global[d] *= mesh.axis_size(axis);
    outs.push_back(make_sharded(entry->out[o], std::move(per_device[o]), t.dtype, Shape(global)));
  }
  return outs;
}

}  // namespace kiln
