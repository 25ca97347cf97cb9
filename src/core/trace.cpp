// Dispatch of every primitive: recorded into the innermost active trace, or compiled (cached) and
// run at once when no trace is active. One path for eager ops, jit and grad.
#include "kiln/trace.hpp"

#include <atomic>
#include <unordered_map>

#include "core/array_impl.hpp"
#include "core/buffer_list.hpp"
#include "core/signature.hpp"
#include "kiln/backend.hpp"
#include "kiln/ops.hpp"
#include "kiln/tree.hpp"

namespace kiln {
namespace {

struct Trace {
  uint64_t id;
  ir::Graph graph;
  std::vector<Array> lifted;                                // outer tracers, in parameter order
  std::unordered_map<const ArrayImpl*, ir::ValueId> known;  // captured outer values -> their node
  std::vector<Array> keep_alive;                            // so `known`'s keys are never reused
};

std::atomic<uint64_t> g_next_trace_id{1};
thread_local std::vector<Trace*> g_traces;

bool on_stack(uint64_t id) {
  for (const Trace* t : g_traces)
    if (t->id == id) return true;
  return false;
}

[[noreturn]] void escaped(const ArrayImpl& impl, const Loc& loc) {
  throw TracerError(
      message("a traced value " + std::string(short_name(impl.dtype)) + "[" +
                  impl.shape.dims_str() + "] created at " + describe(impl.created) +
                  " was used after the jit/grad trace that made it ended",
              loc,
              "A tracer leaked out of its function (stored in a global or a captured variable); "
              "return values from the traced function instead of storing them"));
}

// The node of `t`'s graph that stands for `x`: its own tracer, a lifted outer tracer, or a
// constant.
ir::ValueId value_in(Trace& t, const Array& x, const Loc& loc) {
  if (x.empty()) throw ValueError(message("an empty kiln::Array was passed to an op", loc));
  const ArrayImpl& impl = *ArrayAccess::impl(x);
  if (impl.trace_id == t.id) return impl.value;
  if (auto it = t.known.find(&impl); it != t.known.end()) return it->second;
  ir::ValueId v;
  if (impl.trace_id != 0) {
    if (!on_stack(impl.trace_id)) escaped(impl, loc);
    v = t.graph.add_parameter({impl.dtype, impl.shape}, loc);
    t.lifted.push_back(x);
  } else {
    ir::Attrs a;
    Array host = live_buffer(impl, loc)->host_data() ? x : device_get(x);
    a.literal = host.buffer();
    t.graph.nodes.push_back(
        ir::Node{ir::Prim::constant, {}, std::move(a), {impl.dtype, impl.shape}, loc});
    v = static_cast<ir::ValueId>(t.graph.nodes.size() - 1);
  }
  t.known.emplace(&impl, v);
  t.keep_alive.push_back(x);
  return v;
}

Array make_tracer(const Trace& t, ir::ValueId v, const Loc& loc) {
  auto impl = std::make_shared<ArrayImpl>();
  impl->dtype = t.graph.nodes[v].type.dtype;
  impl->shape = t.graph.nodes[v].type.shape;
  impl->trace_id = t.id;
  impl->value = v;
  impl->created = loc;
  return ArrayAccess::wrap(std::move(impl));
}

// ---- eager execution: one cached executable per (primitive, attributes, operand types, device)
// ----

struct EagerKey {
  ir::Prim prim;
  ir::Attrs attrs;
  std::vector<ir::ValueType> types;
  Device device;
  bool operator==(const EagerKey&) const = default;
};

struct EagerEntry {
  EagerKey key;
  std::unique_ptr<Executable> exe;
};

// Bounded so that a loop over ever-new scalar constants cannot grow it without limit.
constexpr size_t kEagerCacheLimit = 4096;
thread_local std::unordered_multimap<size_t, EagerEntry> g_eager_cache;

Array run_eager(ir::Prim prim, std::span<const Array> inputs, ir::Attrs attrs, const Loc& loc) {
  Device device = default_device();
  std::vector<ir::ValueType> types;
  types.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Array& x = inputs[i];
    if (x.empty())
      throw ValueError(
          message("an empty kiln::Array was passed to " + std::string(ir::name(prim)), loc));
    const ArrayImpl& impl = *ArrayAccess::impl(x);
    if (impl.trace_id != 0) escaped(impl, loc);
    const Device on = live_buffer(impl, loc)->device();
    if (i == 0) {
      device = on;
    } else if (!(on == device)) {
      throw ValueError(message(std::string(ir::name(prim)) + " of arrays on different devices, " +
                                   device.str() + " and " + on.str(),
                               loc, "move one with kiln::device_put(x, device) first"));
    }
    types.push_back({impl.dtype, impl.shape});
  }
  ir::ValueType out_type = ir::infer_type(prim, types, attrs, loc);

  size_t h = attrs.hash();
  hash_combine(h, static_cast<size_t>(prim));
  for (const auto& t : types) hash_combine(h, hash_of(t));
  hash_combine(h, hash_of(device));
  EagerEntry* entry = nullptr;
  auto [lo, hi] = g_eager_cache.equal_range(h);
  for (auto it = lo; it != hi; ++it) {
    const EagerKey& k = it->second.key;
    if (k.prim == prim && k.device == device && k.types == types && k.attrs == attrs) {
      entry = &it->second;
      break;
    }
  }
  if (entry == nullptr) {
    ir::Graph g;
    g.name = std::string(ir::name(prim));
    std::vector<ir::ValueId> ins;
    for (const auto& t : types) ins.push_back(g.add_parameter(t, loc));
    g.outputs.push_back(g.add(prim, ins, attrs, loc));
    auto exe = device.backend()->compile(g, device);
    if (g_eager_cache.size() >= kEagerCacheLimit) g_eager_cache.clear();
    auto it = g_eager_cache.emplace(
        h, EagerEntry{EagerKey{prim, std::move(attrs), std::move(types), device}, std::move(exe)});
    entry = &it->second;
  }

  BufferList in_bufs(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i)
    in_bufs[i] = live_buffer(*ArrayAccess::impl(inputs[i]), loc).get();
  auto out = device.backend()->allocate(
      static_cast<size_t>(out_type.shape.numel()) * itemsize(out_type.dtype), device);
  Buffer* out_buf = out.get();
  entry->exe->run(in_bufs.span(), std::span<Buffer* const>(&out_buf, 1));
  return Array::from_buffer(std::move(out), out_type.dtype, out_type.shape);
}

class TraceScope {
 public:
  explicit TraceScope(Trace* t) { g_traces.push_back(t); }
  ~TraceScope() { g_traces.pop_back(); }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;
};

}  // namespace

bool tracing() {
  return !g_traces.empty();
}

ir::ValueType type_of(const Array& a) {
  return {a.dtype(), a.shape()};
}

Array bind(ir::Prim prim, std::span<const Array> inputs, ir::Attrs attrs, const Loc& loc) {
  if (g_traces.empty()) return run_eager(prim, inputs, std::move(attrs), loc);
  Trace& t = *g_traces.back();
  std::vector<ir::ValueId> ins;
  ins.reserve(inputs.size());
  for (const Array& x : inputs) ins.push_back(value_in(t, x, loc));
  ir::ValueId v = t.graph.add(prim, std::move(ins), std::move(attrs), loc);
  return make_tracer(t, v, loc);
}

Traced trace(std::span<const ir::ValueType> input_types, const TraceBody& body, const Loc& loc) {
  Trace t{g_next_trace_id.fetch_add(1), {}, {}, {}, {}};
  std::vector<Array> tracers;
  tracers.reserve(input_types.size());
  std::vector<Array> outs;
  {
    TraceScope scope(&t);
    for (const auto& type : input_types)
      tracers.push_back(make_tracer(t, t.graph.add_parameter(type, loc), loc));
    outs = body(tracers);
    for (size_t i = 0; i < outs.size(); ++i) {
      if (outs[i].empty())
        throw ValueError(
            message("output leaf " + std::to_string(i) +
                        " of the traced function is an empty kiln::Array; a traced function must "
                        "return a tree of arrays",
                    loc));
      t.graph.outputs.push_back(value_in(t, outs[i], loc));
    }
  }
  return Traced{std::move(t.graph), std::move(t.lifted)};
}

std::vector<Array> eval_graph_values(const ir::Graph& g, std::span<const Array> inputs) {
  if (inputs.size() != g.inputs.size())
    throw ValueError("eval_graph: " + std::to_string(inputs.size()) + " inputs for a graph of " +
                     std::to_string(g.inputs.size()));
  std::vector<Array> env(g.nodes.size());
  std::vector<Array> args;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (n.prim == ir::Prim::parameter) {
      env[i] = inputs[static_cast<size_t>(n.attrs.index)];
    } else if (n.prim == ir::Prim::constant) {
      env[i] = Array::from_buffer(std::const_pointer_cast<Buffer>(n.attrs.literal), n.type.dtype,
                                  n.type.shape);
    } else {
      args.clear();
      for (ir::ValueId v : n.inputs) args.push_back(env[v]);
      env[i] = bind(n.prim, args, n.attrs, n.loc);
    }
  }
  return env;
}

std::vector<Array> eval_graph(const ir::Graph& g, std::span<const Array> inputs) {
  std::vector<Array> env = eval_graph_values(g, inputs);
  std::vector<Array> outs;
  outs.reserve(g.outputs.size());
  for (ir::ValueId v : g.outputs) outs.push_back(env[v]);
  return outs;
}

}  // namespace kiln
