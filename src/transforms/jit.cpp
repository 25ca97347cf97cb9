// jit's cache and hot path: flatten (in the template), hash the signature, find, run.
#include "kiln/jit.hpp"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/array_impl.hpp"
#include "core/buffer_list.hpp"
#include "transforms/output_pool.hpp"

namespace kiln {
namespace {

Device resolve_device(const JitOptions& o) {
  std::vector<Device> ds = devices(o.backend);  // DeviceNotFound names the platforms present
  if (!o.device) return ds.front();
  if (o.device->platform() != o.backend)
    throw ValueError("jit: device " + o.device->str() + " is not on backend \"" + o.backend + "\"");
  return *o.device;
}

ir::Graph trace_graph(std::span<const Array> leaves, const JitOptions& options, const Loc& loc,
                      JitCache::TraceFn trace_fn, std::shared_ptr<const void>& tmpl) {
  std::vector<ir::ValueType> types;
  types.reserve(leaves.size());
  for (const Array& a : leaves) types.push_back(type_of(a));
  Traced t = trace(
      types, [&](std::span<const Array> tracers) { return trace_fn(tracers, tmpl); }, loc);
  t.graph.name = options.name;
  return std::move(t.graph);
}

// KILN_DEBUG_NANS=1, as JAX's jax_debug_nans: every jitted call checks its outputs for NaN, and a
// call that made one is replayed op by op to name the first primitive that did, with the user's
// source line. Read once; unset, the hot path pays one predictable branch per call.
bool debug_nans() {
  static const bool on = [] {
    const char* v = std::getenv("KILN_DEBUG_NANS");
    return v != nullptr && *v != '\0' && std::string_view(v) != "0";
  }();
  return on;
}

Array host_copy(const Array& a) {
  std::vector<uint8_t> bytes(static_cast<size_t>(a.size()) * itemsize(a.dtype()));
  if (!bytes.empty()) a.copy_to_host(bytes.data(), a.dtype());
  return Array::from_bytes(bytes.data(), bytes.size(), a.dtype(), a.shape(), default_device());
}

bool has_nan(const Array& a) {
  if (!is_floating(a.dtype()) || a.size() == 0) return false;
  std::vector<double> v(static_cast<size_t>(a.size()));
  a.copy_to_host(v.data(), DType::float64);
  for (double x : v)
    if (std::isnan(x)) return true;
  return false;
}

[[noreturn]] void throw_first_nan(const ir::Graph& g, std::span<const Array> inputs,
                                  const std::string& function, const Loc& jit_loc) {
  const std::vector<Array> values = eval_graph_values(g, inputs);
  for (size_t v = 0; v < values.size(); ++v) {
    if (!has_nan(values[v])) continue;
    const ir::Node& n = g.nodes[v];
    const std::string type =
        std::string(short_name(n.type.dtype)) + "[" + n.type.shape.dims_str() + "]";
    if (n.prim == ir::Prim::parameter)
      throw FloatingPointError(message("KILN_DEBUG_NANS: an argument of jitted function '" +
                                           function + "' (" + type + ") already holds a NaN",
                                       jit_loc,
                                       "the NaN came from an earlier call or from the data"));
    throw FloatingPointError(message("KILN_DEBUG_NANS: primitive " + std::string(ir::name(n.prim)) +
                                         " made the first NaN (" + type + ") in jitted function '" +
                                         function + "'",
                                     n.loc, "its inputs held no NaN"));
  }
  throw FloatingPointError(message("KILN_DEBUG_NANS: jitted function '" + function +
                                       "' returned a NaN that an op-by-op replay does not make",
                                   jit_loc,
                                   "the compiled kernels and the replay round differently"));
}

}  // namespace

Array take_output(std::span<std::shared_ptr<ArrayImpl>> slots, const ir::ValueType& t,
                  Device device) {
  std::shared_ptr<ArrayImpl>* empty = nullptr;
  for (auto& slot : slots) {
    if (!slot) {
      empty = &slot;
    } else if (slot.use_count() == 1 && slot->buffer.use_count() == 1) {
      // The other thread's last release happened before this reuse of its bytes.
      std::atomic_thread_fence(std::memory_order_acquire);
      return ArrayAccess::wrap(slot);
    }
  }
  auto buffer =
      device.backend()->allocate(static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype), device);
  Array a = Array::from_buffer(std::move(buffer), t.dtype, t.shape);
  if (empty != nullptr)
    *empty = ArrayAccess::impl(a);  // all slots live: the user keeps them, so this one
                                    // is not pooled
  return a;
}

Compiled Lowered::compile() const {
  return Compiled(std::shared_ptr<Executable>(device_.backend()->compile(graph_, device_)),
                  device_);
}

struct JitCache::Entry {
  std::vector<ir::ValueType> input_types;
  size_t structure_hash = 0;
  std::shared_ptr<Executable> executable;
  std::shared_ptr<const void> output_template;  // OutputTemplate<R> of the first traced output
  // Per output, kOutputPoolDepth arrays this entry returned before; one whose last reference is
  // the pool's is written again instead of allocating (see take_output).
  std::vector<std::shared_ptr<ArrayImpl>> output_pool;
  // The traced graph, kept only under KILN_DEBUG_NANS: replayed op by op to find the first
  // primitive that made a NaN.
  std::shared_ptr<const ir::Graph> graph;
};

JitCache::~JitCache() = default;

JitCache::JitCache(JitOptions options, Loc loc)
    : options_(std::move(options)), loc_(loc), device_(resolve_device(options_)) {}

ir::Graph JitCache::lower(std::span<const Array> leaves, std::span<const size_t> arg_ends,
                          std::span<const Tree* const> trees, size_t structure_hash,
                          TraceFn trace_fn) {
  bool partitioned = has_shardings();
  for (const Array& a : leaves) partitioned = partitioned || ArrayAccess::impl(a)->sharded;
  if (partitioned) return lower_partitioned(leaves, arg_ends, trees, structure_hash, trace_fn);
  std::shared_ptr<const void> tmpl;
  return trace_graph(leaves, options_, loc_, trace_fn, tmpl);
}

// The output written in place of donated input `i`. The input's buffer becomes the output's and
// the input array reads as donated from then on — unless the buffer is not the input's alone (a
// view shares it, another argument is the same buffer, or it was copied to this device for the
// call): then the output starts as a copy and the input stays valid.
Array take_donated(std::span<const Array> leaves, size_t i, BufferList& in, const ir::ValueType& t,
                   Device device, const Loc& loc) {
  ArrayImpl& impl = *ArrayAccess::impl(leaves[i]);
  bool alone = impl.buffer.get() == in[i] && impl.buffer.use_count() == 1;
  for (size_t k = 0; alone && k < leaves.size(); ++k) alone = k == i || in[k] != in[i];
  if (alone) {
    Array out = Array::from_buffer(std::move(impl.buffer), t.dtype, t.shape);
    impl.buffer = nullptr;
    impl.donated_to = loc;
    return out;
  }
  auto copy = device.backend()->allocate(in[i]->bytes(), device);
  if (copy->host_data() == nullptr || in[i]->host_data() == nullptr)
    throw Unsupported(message("donating an argument on " + device.str() +
                                  " whose buffer is shared needs a device copy kiln cannot make",
                              loc, "do not donate it, or do not share its buffer"));
  std::memcpy(copy->host_data(), in[i]->host_data(), in[i]->bytes());
  in[i] = copy.get();
  return Array::from_buffer(std::move(copy), t.dtype, t.shape);
}

// Which leaves belong to the donated arguments.
std::vector<bool> donated_leaves(const std::vector<int>& donate_argnums,
                                 std::span<const size_t> arg_ends, const Loc& loc) {
  std::vector<bool> donated(arg_ends.empty() ? 0 : arg_ends.back(), false);
  for (int argnum : donate_argnums) {
    if (argnum < 0 || static_cast<size_t>(argnum) >= arg_ends.size())
      throw ValueError(message("donate_argnums names argument " + std::to_string(argnum) +
                                   " of a function called with " + std::to_string(arg_ends.size()) +
                                   " arguments",
                               loc, "argument numbers start at 0"));
    const size_t begin = argnum == 0 ? 0 : arg_ends[static_cast<size_t>(argnum) - 1];
    for (size_t i = begin; i < arg_ends[static_cast<size_t>(argnum)]; ++i) donated[i] = true;
  }
  return donated;
}

std::pair<std::vector<Array>, const void*> JitCache::call(std::span<const Array> leaves,
                                                          std::span<const size_t> arg_ends,
                                                          size_t structure_hash, TraceFn trace_fn,
                                                          const Loc& call_loc) {
  std::lock_guard lock(mutex_);
  for (const Array& a : leaves) {
    if (a.empty())
      throw ValueError(
          message("an argument of a jitted function holds an empty kiln::Array", call_loc));
    const ArrayImpl& impl = *ArrayAccess::impl(a);
    if (impl.trace_id != 0)
      throw TracerError(
          message("a traced value (created at " + describe(impl.created) +
                      ") was passed to a jitted function outside of any trace",
                  call_loc,
                  "it escaped the jit/grad that created it; return it from that function instead"));
    if (impl.sharded) return {{}, nullptr};  // the partitioned call's (sharded_jit.cpp)
  }

  // A function has a few signatures at most: comparing each entry's types directly is cheaper
  // than hashing every leaf's type first.
  Entry* entry = nullptr;
  for (auto& e : entries_) {
    if (e->structure_hash != structure_hash || e->input_types.size() != leaves.size()) continue;
    bool same = true;
    for (size_t i = 0; same && i < leaves.size(); ++i)
      same = e->input_types[i].dtype == ArrayAccess::impl(leaves[i])->dtype &&
             e->input_types[i].shape == ArrayAccess::impl(leaves[i])->shape;
    if (same) {
      entry = e.get();
      break;
    }
  }
  if (entry == nullptr) {
    auto e = std::make_unique<Entry>();
    for (const Array& a : leaves) e->input_types.push_back(type_of(a));
    e->structure_hash = structure_hash;
    ir::Graph g = trace_graph(leaves, options_, loc_, trace_fn, e->output_template);
    CompileOptions compile_options;
    if (!options_.donate_argnums.empty())
      compile_options.donated_inputs = donated_leaves(options_.donate_argnums, arg_ends, loc_);
    e->executable = device_.backend()->compile(g, device_, compile_options);
    if (debug_nans()) e->graph = std::make_shared<const ir::Graph>(std::move(g));
    entry = e.get();
    entries_.push_back(std::move(e));
  }

  // Arguments are committed to the jit's device: copy the ones that live elsewhere.
  BufferList in(leaves.size());
  std::vector<Array> moved;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const ArrayImpl& impl = *ArrayAccess::impl(leaves[i]);
    const std::shared_ptr<Buffer>& buffer = live_buffer(impl, call_loc);
    if (buffer->device() == device_) {
      in[i] = buffer.get();
    } else {
      moved.push_back(device_put(leaves[i], device_));
      in[i] = ArrayAccess::impl(moved.back())->buffer.get();
    }
  }

  // Under KILN_DEBUG_NANS, the arguments as they were: the replay needs them, and donation
  // (below) takes their buffers.
  std::vector<Array> before;
  if (debug_nans())
    for (const Array& a : leaves) before.push_back(host_copy(a));

  const auto& out_types = entry->executable->output_types();
  const auto& aliases = entry->executable->output_aliases();
  entry->output_pool.resize(out_types.size() * kOutputPoolDepth);
  std::vector<Array> outs;
  outs.reserve(out_types.size());
  BufferList out(out_types.size());
  for (size_t i = 0; i < out_types.size(); ++i) {
    if (!aliases.empty() && aliases[i] >= 0) {
      outs.push_back(take_donated(leaves, static_cast<size_t>(aliases[i]), in, out_types[i],
                                  device_, call_loc));
      out[i] = ArrayAccess::impl(outs.back())->buffer.get();
      continue;
    }
    std::span<std::shared_ptr<ArrayImpl>> slots(entry->output_pool);
    outs.push_back(
        take_output(slots.subspan(i * kOutputPoolDepth, kOutputPoolDepth), out_types[i], device_));
    out[i] = ArrayAccess::impl(outs.back())->buffer.get();
  }
  leaf_count_hint_ = leaves.size();
  if (debug_nans()) {
    entry->executable->run(in.span(), out.span());
    for (const Array& o : outs)
      if (has_nan(o)) throw_first_nan(*entry->graph, before, options_.name, loc_);
    return {std::move(outs), entry->output_template.get()};
  }
  entry->executable->run(in.span(), out.span());
  return {std::move(outs), entry->output_template.get()};
}

}  // namespace kiln
