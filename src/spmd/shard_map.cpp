// shard_map and the collectives' API (kiln/shard_map.hpp).
#include "kiln/shard_map.hpp"

#include "core/array_impl.hpp"
#include "core/sharded_value.hpp"
#include "kiln/ops.hpp"
#include "kiln/trace.hpp"
#include "spmd/program.hpp"

namespace kiln {
namespace {

// The meshes of the shard_map bodies being traced, innermost last: collectives look their axes
// up here.
thread_local std::vector<const Mesh*> g_axis_env;

class AxisEnvScope {
 public:
  explicit AxisEnvScope(const Mesh& m) { g_axis_env.push_back(&m); }
  ~AxisEnvScope() { g_axis_env.pop_back(); }
  AxisEnvScope(const AxisEnvScope&) = delete;
  AxisEnvScope& operator=(const AxisEnvScope&) = delete;
};

std::string names_str(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
  return s;
}

// The collective's attributes for `axes`, checked against the enclosing shard_map's mesh.
ir::Attrs collective_attrs(const char* what, const AxisNames& axes, const Loc& loc) {
  if (g_axis_env.empty())
    throw ValueError(message(std::string(what) + " over axis " + names_str(axes.names) +
                                 " outside of shard_map: collectives need the mesh whose axes "
                                 "they name",
                             loc,
                             "call it inside a function given to kiln::shard_map(f, mesh, "
                             "in_specs, out_specs)"));
  const Mesh& mesh = *g_axis_env.back();
  if (axes.names.empty())
    throw ValueError(message(std::string(what) + " names no mesh axis", loc,
                             "name one of " + names_str(mesh.axis_names())));
  ir::Attrs a;
  a.collective.axes = axes.names;
  for (const std::string& n : axes.names) {
    if (!mesh.has_axis(n))
      throw ValueError(message(std::string(what) + " over axis '" + n +
                                   "', which the shard_map's " + mesh.str() + " does not have",
                               loc, "name one of its axes: " + names_str(mesh.axis_names())));
    a.collective.axis_size *= mesh.axis_size(n);
  }
  return a;
}

Array collective(ir::Prim p, const Array& x, ir::Attrs a, const Loc& loc) {
  return bind(p, std::span<const Array>(&x, 1), std::move(a), loc);
}

}  // namespace

Array psum(const Array& x, const AxisNames& axes, Loc loc) {
  return collective(ir::Prim::psum, x, collective_attrs("psum", axes, loc), loc);
}

Array pmean(const Array& x, const AxisNames& axes, Loc loc) {
  ir::Attrs a = collective_attrs("pmean", axes, loc);
  const auto n = static_cast<double>(a.collective.axis_size);
  return div(collective(ir::Prim::psum, x, std::move(a), loc), n, loc);
}

Array pmax(const Array& x, const AxisNames& axes, Loc loc) {
  return collective(ir::Prim::pmax, x, collective_attrs("pmax", axes, loc), loc);
}

Array all_gather(const Array& x, const AxisNames& axes, int axis, bool tiled, Loc loc) {
  ir::Attrs a = collective_attrs("all_gather", axes, loc);
  a.collective.dimension = axis;
  a.collective.tiled = tiled;
  return collective(ir::Prim::all_gather, x, std::move(a), loc);
}

Array psum_scatter(const Array& x, const AxisNames& axes, int scatter_dimension, bool tiled,
                   Loc loc) {
  ir::Attrs a = collective_attrs("psum_scatter", axes, loc);
  a.collective.dimension = scatter_dimension;
  a.collective.tiled = tiled;
  return collective(ir::Prim::psum_scatter, x, std::move(a), loc);
}

Array all_to_all(const Array& x, const AxisNames& axes, int split_axis, int concat_axis, bool tiled,
                 Loc loc) {
  ir::Attrs a = collective_attrs("all_to_all", axes, loc);
  const int rank = x.ndim();
  if (split_axis < 0 || split_axis >= rank || concat_axis < 0 || concat_axis >= rank)
    throw ShapeError(message("all_to_all: split_axis " + std::to_string(split_axis) +
                                 " or concat_axis " + std::to_string(concat_axis) +
                                 " is out of range for an array of rank " + std::to_string(rank),
                             loc));
  if (tiled) {
    a.collective.dimension = split_axis;
    a.collective.concat_dimension = concat_axis;
    return collective(ir::Prim::all_to_all, x, std::move(a), loc);
  }
  // JAX's untiled form: a new dimension at concat_axis gathers the blocks, split_axis goes.
  if (x.shape()[split_axis] != a.collective.axis_size)
    throw ShapeError(message("all_to_all (untiled) needs dimension " + std::to_string(split_axis) +
                                 " of " + x.shape().str() + " to equal the axis size " +
                                 std::to_string(a.collective.axis_size),
                             loc, "pass tiled=true to split it into blocks instead"));
  if (split_axis == concat_axis) {
    a.collective.dimension = a.collective.concat_dimension = split_axis;
    return collective(ir::Prim::all_to_all, x, std::move(a), loc);
  }
  std::vector<int64_t> dims = x.shape().vec();
  int split = split_axis, concat = concat_axis;
  if (split < concat)
    ++concat;
  else
    ++split;
  dims.insert(dims.begin() + concat, 1);
  a.collective.dimension = split;
  a.collective.concat_dimension = concat;
  Array y = collective(ir::Prim::all_to_all, reshape(x, dims, loc), std::move(a), loc);
  std::vector<int64_t> out = y.shape().vec();
  out.erase(out.begin() + split);
  return reshape(y, out, loc);
}

Array ppermute(const Array& x, const AxisNames& axes, std::vector<std::pair<int64_t, int64_t>> perm,
               Loc loc) {
  ir::Attrs a = collective_attrs("ppermute", axes, loc);
  a.collective.perm = std::move(perm);
  return collective(ir::Prim::ppermute, x, std::move(a), loc);
}

Array axis_index(const AxisNames& axes, Loc loc) {
  ir::Attrs a = collective_attrs("axis_index", axes, loc);
  a.dtype = DType::int32;
  return bind(ir::Prim::axis_index, {}, std::move(a), loc);
}

namespace detail {

struct ShardMapCache {
  struct Entry {
    std::vector<ir::ValueType> types;
    size_t structure_hash;
    std::shared_ptr<spmd::Program> program;
    std::shared_ptr<const void> output_template;
  };
  std::mutex mutex;
  std::vector<Entry> entries;
};

std::shared_ptr<ShardMapCache> make_shard_map_cache() {
  return std::make_shared<ShardMapCache>();
}

std::vector<Array> shard_map_call(ShardMapCache& cache, const Mesh& mesh, const Specs& in_specs,
                                  const Specs& out_specs, std::span<const Array> leaves,
                                  std::span<const size_t> arg_ends, size_t structure_hash,
                                  ShardMapTrace trace_fn, std::shared_ptr<const void>& tmpl,
                                  const Loc& def_loc, const Loc& call_loc) {
  const Loc& loc = call_loc;
  if (in_specs.specs.size() != 1 && in_specs.specs.size() != arg_ends.size())
    throw ValueError(message("shard_map: " + std::to_string(in_specs.specs.size()) +
                                 " in_specs for a call with " + std::to_string(arg_ends.size()) +
                                 " arguments",
                             loc, "give one PartitionSpec per argument, or one for all"));
  // Each leaf's block on each device.
  std::vector<std::vector<Array>> shards;
  std::vector<ir::ValueType> local_types;
  size_t arg = 0;
  for (size_t i = 0; i < leaves.size(); ++i) {
    while (arg < arg_ends.size() && i >= arg_ends[arg]) ++arg;
    const Array& x = leaves[i];
    if (x.empty()) throw ValueError(message("shard_map: an argument holds an empty Array", loc));
    if (x.is_tracer())
      throw Unsupported(message(
          "shard_map called inside jit or grad: kiln runs shard_map on concrete arrays only, so "
          "far",
          loc,
          "call the shard_map outside the jitted or differentiated function (grad inside the "
          "function given to shard_map works)"));
    const NamedSharding sharding(
        mesh, in_specs.specs.size() == 1 ? in_specs.specs[0] : in_specs.specs[arg]);
    sharding.check(x.shape(), loc);
    shards.push_back(shards_for(x, sharding));
    local_types.push_back({x.dtype(), sharding.shard_shape(x.shape())});
  }

  std::shared_ptr<spmd::Program> program;
  {
    std::lock_guard lock(cache.mutex);
    for (const auto& e : cache.entries)
      if (e.structure_hash == structure_hash && e.types == local_types) {
        program = e.program;
        tmpl = e.output_template;
      }
    if (!program) {
      Traced t = [&] {
        AxisEnvScope env(mesh);
        return trace(
            local_types, [&](std::span<const Array> tracers) { return trace_fn(tracers, tmpl); },
            def_loc);
      }();
      if (!t.lifted.empty())
        throw Unsupported(message(
            "shard_map: the function closes over a traced value of an enclosing jit or grad", loc,
            "pass it as an argument instead"));
      t.graph.name = "shard_map";
      program = std::make_shared<spmd::Program>(std::move(t.graph), mesh);
      cache.entries.push_back({local_types, structure_hash, program, tmpl});
    }
  }

  const std::vector<std::vector<Array>> per_device = program->run(shards);
  if (out_specs.specs.size() != 1 && out_specs.specs.size() != per_device.size())
    throw ValueError(message("shard_map: " + std::to_string(out_specs.specs.size()) +
                                 " out_specs for a function with " +
                                 std::to_string(per_device.size()) + " results",
                             loc, "give one PartitionSpec per result, or one for all"));
  std::vector<Array> outs;
  for (size_t o = 0; o < per_device.size(); ++o) {
    const PartitionSpec& spec =
        out_specs.specs.size() == 1 ? out_specs.specs[0] : out_specs.specs[o];
    const ir::ValueType& local = program->graph().type(program->graph().outputs[o]);
    if (static_cast<int>(spec.size()) > local.shape.rank())
      throw ValueError(message("shard_map: out_specs " + spec.str() +
                                   " is longer than the rank of "
                                   "result " +
                                   std::to_string(o) + ", " + local.str(),
                               loc, "use P() for a scalar result, or give fewer entries"));
    std::vector<int64_t> global = local.shape.vec();
    for (size_t d = 0; d < spec.size(); ++d)
      for (const std::string& axis : spec.entries()[d].axes) global[d] *= mesh.axis_size(axis, loc);
    NamedSharding sharding(mesh, spec);
    sharding.check(Shape(global), loc);
    outs.push_back(make_sharded(std::move(sharding), per_device[o], local.dtype, Shape(global)));
  }
  return outs;
}

}  // namespace detail
}  // namespace kiln
