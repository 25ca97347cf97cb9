// A PJRT plugin as a kiln Backend: compile = the support check, StableHLO export, PJRT compile;
// buffers are PJRT buffers.
//
// kiln's Buffer carries bytes, not a type, but PJRT buffers are typed, so a buffer filled from the
// host keeps its bytes staged until an executable run tells its type; it is uploaded then, once,
// and stays on the device. Outputs are device buffers from the start.
#include <algorithm>
#include <cstring>
#include <utility>

#include "backend/pjrt/buffer_types.hpp"
#include "backend/pjrt/plugin.hpp"
#include "backend/support_check.hpp"
#include "kiln/error.hpp"
#include "kiln/export.hpp"

namespace kiln::pjrt {
namespace {

std::vector<int64_t> dims_of(const Shape& s) {
  std::vector<int64_t> d;
  for (int64_t x : s.dims()) d.push_back(x);
  return d;
}

class PjrtBuffer final : public Buffer {
 public:
  PjrtBuffer(std::shared_ptr<Plugin> plugin, Device device, size_t bytes)
      : Buffer(device, bytes), plugin_(std::move(plugin)) {}
  ~PjrtBuffer() override { release(); }
  void* host_data() const override { return nullptr; }

  void from_host(const void* src) {
    release();
    staged_.assign(static_cast<const std::byte*>(src),
                   static_cast<const std::byte*>(src) + bytes());
  }

  void to_host(void* dst) const {
    if (handle_ == nullptr) {
      if (!staged_.empty()) std::memcpy(dst, staged_.data(), staged_.size());
      return;
    }
    const capi::Api& api = plugin_->api();
    // Twice, as the API asks: the size first, then the copy.
    auto query = capi::args<capi::Buffer_ToHostBuffer_Args>();
    query.src = handle_;
    plugin_->check(api.PJRT_Buffer_ToHostBuffer(&query), "sizing a device-to-host copy");
    if (query.dst_size != bytes())
      throw PluginError("the PJRT plugin \"" + plugin_->spec().name + "\" reports " +
                            std::to_string(query.dst_size) + " host bytes for a " + type_.str() +
                            " buffer of " + std::to_string(bytes()) +
                            " bytes. The plugin does not follow the dense layout kiln asked for",
                        0);
    auto copy = capi::args<capi::Buffer_ToHostBuffer_Args>();
    copy.src = handle_;
    copy.dst = dst;
    copy.dst_size = bytes();
    plugin_->check(api.PJRT_Buffer_ToHostBuffer(&copy), "copying a buffer to the host");
    plugin_->await(copy.event, "copying a buffer to the host");
  }

  // The device buffer holding these bytes as `type`, uploaded now if they are still on the host.
  capi::Buffer* on_device(const ir::ValueType& type, capi::Device* device) {
    if (handle_ != nullptr && type_ == type) return handle_;
    if (handle_ != nullptr) {  // the same bytes read as another type: round-trip through the host
      std::vector<std::byte> host(bytes());
      to_host(host.data());
      from_host(host.data());
    }
    const std::vector<int64_t> dims = dims_of(type.shape);
    auto up = capi::args<capi::Client_BufferFromHostBuffer_Args>();
    up.client = plugin_->client();
    up.data = staged_.data();
    up.type = buffer_type(type.dtype);
    up.dims = dims.data();
    up.num_dims = dims.size();
    up.host_buffer_semantics = capi::HostBufferSemantics::immutable_until_transfer_completes;
    up.device = device;
    plugin_->check(plugin_->api().PJRT_Client_BufferFromHostBuffer(&up),
                   "copying a " + type.str() + " buffer to the device");
    handle_ = up.buffer;
    type_ = type;
    plugin_->await(up.done_with_host_buffer, "copying a buffer to the device");
    staged_.clear();
    staged_.shrink_to_fit();
    return handle_;
  }

  // Takes ownership of an executable's output.
  void adopt(capi::Buffer* handle, const ir::ValueType& type) {
    release();
    handle_ = handle;
    type_ = type;
  }

 private:
  void release() {
    staged_.clear();
    if (handle_ == nullptr) return;
    auto d = capi::args<capi::Buffer_Destroy_Args>();
    d.buffer = std::exchange(handle_, nullptr);
    if (capi::Error* e = plugin_->api().PJRT_Buffer_Destroy(&d)) {
      auto ed = capi::args<capi::Error_Destroy_Args>();
      ed.error = e;
      plugin_->api().PJRT_Error_Destroy(&ed);  // a buffer that cannot be freed is only a leak
    }
  }

  std::shared_ptr<Plugin> plugin_;
  std::vector<std::byte> staged_;
  capi::Buffer* handle_ = nullptr;
  ir::ValueType type_;
};

PjrtBuffer& pjrt_buffer(Buffer* b, const Plugin& plugin) {
  auto* p = dynamic_cast<PjrtBuffer*>(b);
  if (p == nullptr)
    throw ValueError("a buffer on " + b->device().str() + " was given to an executable of the " +
                     plugin.spec().name + " platform. device_put the array there first");
  return *p;
}

class PjrtExecutable final : public Executable {
 public:
  PjrtExecutable(std::shared_ptr<Plugin> plugin, capi::LoadedExecutable* exe, const ir::Graph& g,
                 capi::Device* device, std::string mlir)
      : plugin_(std::move(plugin)), exe_(exe), device_(device), mlir_(std::move(mlir)) {
    for (ir::ValueId v : g.inputs) input_types_.push_back(g.type(v));
    for (ir::ValueId v : g.outputs) output_types_.push_back(g.type(v));
    try {
      count_outputs();
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~PjrtExecutable() override { destroy(); }

 private:
  void count_outputs() {
    const capi::Api& api = plugin_->api();
    auto get = capi::args<capi::LoadedExecutable_GetExecutable_Args>();
    get.loaded_executable = exe_;
    plugin_->check(api.PJRT_LoadedExecutable_GetExecutable(&get), "describing an executable");
    auto outs = capi::args<capi::Executable_NumOutputs_Args>();
    outs.executable = get.executable;
    capi::Error* e = api.PJRT_Executable_NumOutputs(&outs);
    auto destroy = capi::args<capi::Executable_Destroy_Args>();
    destroy.executable = get.executable;
    capi::Error* e2 = api.PJRT_Executable_Destroy(&destroy);
    plugin_->check(e, "counting an executable's outputs");
    plugin_->check(e2, "destroying an executable description");
    num_outputs_ = outs.num_outputs;
    if (num_outputs_ != output_types_.size())
      throw PluginError("the PJRT plugin \"" + plugin_->spec().name + "\" compiled " +
                            std::to_string(output_types_.size()) + " results into " +
                            std::to_string(num_outputs_) + " outputs. Report this to its vendor",
                        0);
  }
  void destroy() {
    auto d = capi::args<capi::LoadedExecutable_Destroy_Args>();
    d.executable = exe_;
    if (capi::Error* e = plugin_->api().PJRT_LoadedExecutable_Destroy(&d)) {
      auto ed = capi::args<capi::Error_Destroy_Args>();
      ed.error = e;
      plugin_->api().PJRT_Error_Destroy(&ed);
    }
  }

 public:
  void run(std::span<Buffer* const> inputs, std::span<Buffer* const> outputs) override {
    if (inputs.size() != input_types_.size() || outputs.size() != output_types_.size())
      throw ValueError("a " + plugin_->spec().name + " executable takes " +
                       std::to_string(input_types_.size()) + " inputs and " +
                       std::to_string(output_types_.size()) + " outputs, given " +
                       std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
    std::vector<capi::Buffer*> args;
    for (size_t i = 0; i < inputs.size(); ++i)
      args.push_back(pjrt_buffer(inputs[i], *plugin_).on_device(input_types_[i], device_));
    std::vector<capi::Buffer*> results(num_outputs_, nullptr);
    capi::Buffer* const* arg_list = args.data();
    capi::Buffer** result_list = results.data();
    capi::Event* done = nullptr;
    auto options = capi::args<capi::ExecuteOptions>();
    auto exec = capi::args<capi::LoadedExecutable_Execute_Args>();
    exec.executable = exe_;
    exec.options = &options;
    exec.argument_lists = &arg_list;
    exec.num_devices = 1;
    exec.num_args = args.size();
    exec.output_lists = &result_list;
    exec.device_complete_events = &done;
    // Compiled for "any device" (device_ordinal -1), an executable runs on the plugin's first
    // device unless told otherwise; not every plugin takes execute_device (nor portable
    // executables), so it is named only when it matters.
    if (device_ != plugin_->devices().front().handle) exec.execute_device = device_;
    plugin_->check(plugin_->api().PJRT_LoadedExecutable_Execute(&exec), "executing");
    for (size_t j = 0; j < outputs.size(); ++j)
      pjrt_buffer(outputs[j], *plugin_).adopt(results[j], output_types_[j]);
    plugin_->await(done, "executing");
    for (size_t j = 0; j < outputs.size(); ++j) check_output(results[j], j);
  }

  std::string describe() const override {
    return "PJRT executable on " + plugin_->spec().name + " compiled from:\n" + mlir_;
  }

 private:
  // An output whose element type or dims differ from the graph's would be read as garbage.
  void check_output(capi::Buffer* b, size_t j) const {
    const capi::Api& api = plugin_->api();
    auto type = capi::args<capi::Buffer_ElementType_Args>();
    type.buffer = b;
    plugin_->check(api.PJRT_Buffer_ElementType(&type), "reporting an output's element type");
    auto dims = capi::args<capi::Buffer_Dimensions_Args>();
    dims.buffer = b;
    plugin_->check(api.PJRT_Buffer_Dimensions(&dims), "reporting an output's dimensions");
    const ir::ValueType& want = output_types_[j];
    const std::vector<int64_t> want_dims = dims_of(want.shape);
    if (type.type != buffer_type(want.dtype) ||
        !std::equal(want_dims.begin(), want_dims.end(), dims.dims, dims.dims + dims.num_dims))
      throw PluginError("the PJRT plugin \"" + plugin_->spec().name + "\" returned output " +
                            std::to_string(j) + " with element type " +
                            std::to_string(static_cast<int>(type.type)) + " and " +
                            std::to_string(dims.num_dims) + " dims where the program declares " +
                            want.str() + ". Report this to its vendor",
                        0);
  }

  std::shared_ptr<Plugin> plugin_;
  capi::LoadedExecutable* exe_;
  capi::Device* device_;
  std::string mlir_;
  std::vector<ir::ValueType> input_types_;
  size_t num_outputs_ = 0;
};

class PjrtBackend final : public Backend {
 public:
  PjrtBackend(std::string name, std::shared_ptr<Plugin> plugin)
      : name_(std::move(name)), plugin_(std::move(plugin)) {}

  std::string_view platform() const override { return name_; }
  int device_count() const override { return static_cast<int>(plugin_->devices().size()); }
  std::string device_str(int id) const override {
    return id >= 0 && id < device_count() ? plugin_->devices()[id].str
                                          : name_ + "Device(id=" + std::to_string(id) + ")";
  }

  // What StableHLO export can express: every primitive but random bits.
  // tt-xla cannot legalize reduce_window (pooling) yet.
  bool supports(ir::Prim p, DType) const override {
    if (p == ir::Prim::threefry2x32) return false;
    if (ir::info(p).kind == ir::PrimKind::collective) return false;  // no multi-device export yet
    if (plugin_->platform_name() == "tt" &&
        (p == ir::Prim::reduce_window_sum || p == ir::Prim::reduce_window_max ||
         p == ir::Prim::select_and_scatter_add))
      return false;
    return true;
  }

  std::unique_ptr<Executable> compile(
      const ir::Graph& g, Device device,
      [[maybe_unused]] const CompileOptions& options = {}) override {
    capi::Device* d = handle(device);
    check_supported(g, *this);  // before anything reaches the plugin
    std::string mlir = to_stablehlo(g);
    // Not the first device: compiled portable, and run with execute_device (PjrtExecutable::run).
    capi::LoadedExecutable* exe =
        plugin_->compile_mlir(mlir, "\"" + g.name + "\" (StableHLO from kiln::to_stablehlo)",
                              d != plugin_->devices().front().handle);
    return std::make_unique<PjrtExecutable>(plugin_, exe, g, d, std::move(mlir));
  }

  std::shared_ptr<Buffer> allocate(size_t bytes, Device device) override {
    handle(device);
    return std::make_shared<PjrtBuffer>(plugin_, device, bytes);
  }
  void to_host(const Buffer& src, void* dst) override {
    pjrt_buffer(const_cast<Buffer*>(&src), *plugin_).to_host(dst);
  }
  void from_host(const void* src, Buffer& dst) override {
    pjrt_buffer(&dst, *plugin_).from_host(src);
  }

 private:
  capi::Device* handle(Device device) const {
    if (device.backend() != this || device.id() < 0 || device.id() >= device_count())
      throw DeviceNotFound("the " + name_ + " platform has devices 0.." +
                           std::to_string(device_count() - 1) + "; " + device.str() +
                           " is not one of them");
    return plugin_->devices()[device.id()].handle;
  }

  std::string name_;
  std::shared_ptr<Plugin> plugin_;
};

}  // namespace

std::unique_ptr<Backend> load_plugin(const PluginSpec& spec) {
  return std::make_unique<PjrtBackend>(spec.name, Plugin::load(spec));
}

}  // namespace kiln::pjrt
