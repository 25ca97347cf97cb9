#include "pjrt/xla_plugin.hpp"

#include <cstdlib>
#include <string>
#include <utility>

#include "backend/pjrt/buffer_types.hpp"
#include "kiln/error.hpp"

namespace kiln::testing {
namespace capi = pjrt::capi;

std::shared_ptr<pjrt::Plugin> xla_plugin() {
  static std::shared_ptr<pjrt::Plugin> plugin =
      pjrt::Plugin::load({"xla", xla_cpu_plugin()}, {{"cpu_device_count", kXlaDevices}});
  return plugin;
}

namespace {

// Owns what one run creates, so an exception in the middle frees all of it.
class Run {
 public:
  explicit Run(std::shared_ptr<pjrt::Plugin> p) : p_(std::move(p)) {}
  ~Run() {
    for (capi::Buffer* b : buffers_) {
      auto d = capi::args<capi::Buffer_Destroy_Args>();
      d.buffer = b;
      drop(p_->api().PJRT_Buffer_Destroy(&d));
    }
    if (exe_ != nullptr) {
      auto d = capi::args<capi::LoadedExecutable_Destroy_Args>();
      d.executable = exe_;
      drop(p_->api().PJRT_LoadedExecutable_Destroy(&d));
    }
  }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  void compile(std::string_view mlir, bool portable) {
    exe_ = p_->compile_mlir(mlir, "a test's module", portable);
  }
  void compile_partitioned(std::string_view mlir, std::span<const int64_t> devices) {
    exe_ = p_->compile_mlir_partitioned(mlir, "a test's module", devices);
  }

  size_t num_outputs() {
    auto get = capi::args<capi::LoadedExecutable_GetExecutable_Args>();
    get.loaded_executable = exe_;
    p_->check(p_->api().PJRT_LoadedExecutable_GetExecutable(&get), "describing an executable");
    auto n = capi::args<capi::Executable_NumOutputs_Args>();
    n.executable = get.executable;
    capi::Error* e = p_->api().PJRT_Executable_NumOutputs(&n);
    auto d = capi::args<capi::Executable_Destroy_Args>();
    d.executable = get.executable;
    drop(p_->api().PJRT_Executable_Destroy(&d));
    p_->check(e, "counting outputs");
    return n.num_outputs;
  }

  capi::Buffer* upload(const Array& a, capi::Device* device) {
    std::vector<uint8_t> bytes(static_cast<size_t>(a.size()) * itemsize(a.dtype()));
    a.copy_to_host(bytes.data(), a.dtype());
    std::vector<int64_t> dims(a.shape().dims().begin(), a.shape().dims().end());
    auto up = capi::args<capi::Client_BufferFromHostBuffer_Args>();
    up.client = p_->client();
    up.data = bytes.data();
    up.type = pjrt::buffer_type(a.dtype());
    up.dims = dims.data();
    up.num_dims = dims.size();
    up.host_buffer_semantics = capi::HostBufferSemantics::immutable_until_transfer_completes;
    up.device = device;
    p_->check(p_->api().PJRT_Client_BufferFromHostBuffer(&up), "uploading an input");
    buffers_.push_back(up.buffer);
    p_->await(up.done_with_host_buffer, "uploading an input");
    return up.buffer;
  }

  std::vector<Array> execute(std::vector<capi::Buffer*> args, capi::Device* device) {
    return execute_on({std::move(args)}, device)[0];
  }

  // args[k]: device k's argument list; returns out[k][o]. `device`: the one device of a
  // one-device run (nullptr: the executable's own devices).
  std::vector<std::vector<Array>> execute_on(const std::vector<std::vector<capi::Buffer*>>& args,
                                             capi::Device* device = nullptr) {
    const size_t n = args.size(), outputs = num_outputs();
    std::vector<std::vector<capi::Buffer*>> results(n, std::vector<capi::Buffer*>(outputs));
    std::vector<capi::Buffer* const*> arg_lists;
    std::vector<capi::Buffer**> result_lists;
    for (size_t k = 0; k < n; ++k) {
      arg_lists.push_back(args[k].data());
      result_lists.push_back(results[k].data());
    }
    std::vector<capi::Event*> done(n, nullptr);
    auto options = capi::args<capi::ExecuteOptions>();
    auto exec = capi::args<capi::LoadedExecutable_Execute_Args>();
    exec.executable = exe_;
    exec.options = &options;
    exec.argument_lists = arg_lists.data();
    exec.num_devices = n;
    exec.num_args = args[0].size();
    exec.output_lists = result_lists.data();
    exec.device_complete_events = done.data();
    if (device != nullptr && device != p_->devices().front().handle) exec.execute_device = device;
    p_->check(p_->api().PJRT_LoadedExecutable_Execute(&exec), "executing");
    for (const auto& list : results)
      for (capi::Buffer* b : list) buffers_.push_back(b);
    for (capi::Event* e : done) p_->await(e, "executing");
    std::vector<std::vector<Array>> out(n);
    for (size_t k = 0; k < n; ++k)
      for (capi::Buffer* b : results[k]) out[k].push_back(download(b));
    return out;
  }

 private:
  Array download(capi::Buffer* b) {
    const capi::Api& api = p_->api();
    auto type = capi::args<capi::Buffer_ElementType_Args>();
    type.buffer = b;
    p_->check(api.PJRT_Buffer_ElementType(&type), "reporting an output's type");
    auto dims = capi::args<capi::Buffer_Dimensions_Args>();
    dims.buffer = b;
    p_->check(api.PJRT_Buffer_Dimensions(&dims), "reporting an output's dims");
    const std::optional<DType> dtype = pjrt::dtype_of(type.type);
    if (!dtype)
      throw ValueError("XLA returned an output of PJRT element type " +
                       std::to_string(static_cast<int>(type.type)) +
                       ", which kiln has no dtype for");
    const Shape shape(std::vector<int64_t>(dims.dims, dims.dims + dims.num_dims));
    auto query = capi::args<capi::Buffer_ToHostBuffer_Args>();
    query.src = b;
    p_->check(api.PJRT_Buffer_ToHostBuffer(&query), "sizing a copy");
    std::vector<uint8_t> host(query.dst_size);
    auto copy = capi::args<capi::Buffer_ToHostBuffer_Args>();
    copy.src = b;
    copy.dst = host.data();
    copy.dst_size = host.size();
    p_->check(api.PJRT_Buffer_ToHostBuffer(&copy), "copying an output");
    p_->await(copy.event, "copying an output");
    return Array::from_bytes(host.data(), host.size(), *dtype, shape);
  }

  void drop(capi::Error* e) const {
    if (e == nullptr) return;
    auto d = capi::args<capi::Error_Destroy_Args>();
    d.error = e;
    p_->api().PJRT_Error_Destroy(&d);
  }

  std::shared_ptr<pjrt::Plugin> p_;
  capi::LoadedExecutable* exe_ = nullptr;
  std::vector<capi::Buffer*> buffers_;
};

}  // namespace

void compile_on_xla(std::string_view mlir) {
  // A partitioned module (mhlo.num_partitions = n > 1) is compiled for devices 0..n-1.
  const std::string_view key = "mhlo.num_partitions = ";
  const size_t at = mlir.find(key);
  const int n = at == std::string_view::npos
                    ? 1
                    : std::atoi(std::string(mlir.substr(at + key.size(), 4)).c_str());
  Run run(xla_plugin());
  if (n <= 1) return run.compile(mlir, false);
  std::vector<int64_t> ids;
  for (int k = 0; k < n; ++k) ids.push_back(xla_plugin()->devices().at(static_cast<size_t>(k)).id);
  run.compile_partitioned(mlir, ids);
}

std::vector<Array> run_on_xla(std::string_view mlir, const std::vector<Array>& inputs, int device) {
  std::shared_ptr<pjrt::Plugin> p = xla_plugin();
  if (device < 0 || device >= static_cast<int>(p->devices().size()))
    throw DeviceNotFound("XLA's CPU plugin has " + std::to_string(p->devices().size()) +
                         " devices; device " + std::to_string(device) + " is not one of them");
  capi::Device* d = p->devices()[static_cast<size_t>(device)].handle;
  Run run(p);
  run.compile(mlir, device != 0);
  std::vector<capi::Buffer*> args;
  for (const Array& a : inputs) args.push_back(run.upload(a, d));
  return run.execute(std::move(args), d);
}

}  // namespace kiln::testing

namespace kiln::testing {

std::vector<std::vector<Array>> run_partitioned_on_xla(
    std::string_view mlir, const std::vector<std::vector<Array>>& inputs) {
  std::shared_ptr<pjrt::Plugin> p = xla_plugin();
  const size_t n = inputs.size();
  if (n == 0 || n > p->devices().size())
    throw DeviceNotFound("a partitioned run on " + std::to_string(n) + " devices; XLA's CPU " +
                         "plugin has " + std::to_string(p->devices().size()));
  std::vector<int64_t> ids;
  for (size_t k = 0; k < n; ++k) ids.push_back(p->devices()[k].id);
  Run run(p);
  run.compile_partitioned(mlir, ids);
  std::vector<std::vector<capi::Buffer*>> args(n);
  for (size_t k = 0; k < n; ++k)
    for (const Array& a : inputs[k]) args[k].push_back(run.upload(a, p->devices()[k].handle));
  const std::vector<std::vector<Array>> per_device = run.execute_on(args);
  std::vector<std::vector<Array>> out(per_device[0].size());
  for (size_t o = 0; o < out.size(); ++o)
    for (size_t k = 0; k < n; ++k) out[o].push_back(per_device[k][o]);
  return out;
}

}  // namespace kiln::testing
