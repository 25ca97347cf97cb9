// jit's cache and hot path: flatten (in the template), hash the signature, find, run.
#include "kiln/jit.hpp"

#include "core/array_impl.hpp"
#include "core/buffer_list.hpp"
#include "core/signature.hpp"

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

}  // namespace

Compiled Lowered::compile() const {
  return Compiled(std::shared_ptr<Executable>(device_.backend()->compile(graph_, device_)),
                  device_);
}

JitCache::JitCache(JitOptions options, Loc loc)
    : options_(std::move(options)), loc_(loc), device_(resolve_device(options_)) {}

ir::Graph JitCache::lower(std::span<const Array> leaves, TraceFn trace_fn) {
  std::shared_ptr<const void> tmpl;
  return trace_graph(leaves, options_, loc_, trace_fn, tmpl);
}

std::pair<std::vector<Array>, const JitCache::Entry*> JitCache::call(std::span<const Array> leaves,
                                                                     size_t structure_hash,
                                                                     TraceFn trace_fn) {
  std::lock_guard lock(mutex_);
  size_t h = structure_hash;
  for (const Array& a : leaves) {
    if (a.empty())
      throw ValueError(
          message("an argument of a jitted function holds an empty kiln::Array", loc_));
    const ArrayImpl& impl = *a.impl();
    if (impl.trace_id != 0)
      throw TracerError(message(
          "a traced value (created at " + describe(impl.created) +
              ") was passed to a jitted function outside of any trace",
          loc_, "it escaped the jit/grad that created it; return it from that function instead"));
    hash_combine(h, hash_of(ir::ValueType{impl.dtype, impl.shape}));
  }

  Entry* entry = nullptr;
  for (auto& [eh, e] : index_) {
    if (eh != h || e->structure_hash != structure_hash || e->input_types.size() != leaves.size())
      continue;
    bool same = true;
    for (size_t i = 0; same && i < leaves.size(); ++i)
      same = e->input_types[i].dtype == leaves[i].impl()->dtype &&
             e->input_types[i].shape == leaves[i].impl()->shape;
    if (same) {
      entry = e;
      break;
    }
  }
  if (entry == nullptr) {
    auto e = std::make_unique<Entry>();
    for (const Array& a : leaves) e->input_types.push_back(type_of(a));
    e->structure_hash = structure_hash;
    ir::Graph g = trace_graph(leaves, options_, loc_, trace_fn, e->output_template);
    e->executable = device_.backend()->compile(g, device_);
    entry = e.get();
    index_.emplace_back(h, entry);
    entries_.push_back(std::move(e));
  }

  // Arguments are committed to the jit's device: copy the ones that live elsewhere.
  BufferList in(leaves.size());
  std::vector<Array> moved;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const ArrayImpl& impl = *leaves[i].impl();
    if (impl.buffer->device() == device_) {
      in[i] = impl.buffer.get();
    } else {
      moved.push_back(device_put(leaves[i], device_));
      in[i] = moved.back().impl()->buffer.get();
    }
  }

  const auto& out_types = entry->executable->output_types();
  std::vector<Array> outs;
  outs.reserve(out_types.size());
  BufferList out(out_types.size());
  for (size_t i = 0; i < out_types.size(); ++i) {
    const auto& t = out_types[i];
    auto buf = device_.backend()->allocate(static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype),
                                           device_);
    out[i] = buf.get();
    outs.push_back(Array::from_buffer(std::move(buf), t.dtype, t.shape));
  }
  entry->executable->run(in.span(), out.span());
  return {std::move(outs), entry};
}

}  // namespace kiln
