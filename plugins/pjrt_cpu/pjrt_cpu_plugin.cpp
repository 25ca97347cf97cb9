// libkiln_pjrt_cpu.so — kiln's PJRT conformance plugin: the subset of the PJRT C API kiln's host
// calls, implemented over kiln's own cpu backend. Compile = kiln::from_stablehlo, then the cpu
// backend's compile; buffers are host buffers; events are ready at once but go through the whole
// event API. It lets the host be tested end to end on a machine with no accelerator.
//
// Test hooks, read each time GetPjrtApi / PJRT_Plugin_Initialize is called (docs/pjrt.md):
//   KILN_PJRT_TEST_API_MAJOR / _API_MINOR   the API version reported (as an older/newer plugin)
//   KILN_PJRT_TEST_STRUCT_SIZE              the PJRT_Api size reported (as a truncated table)
//   KILN_PJRT_TEST_INIT_ERROR               PJRT_Plugin_Initialize fails with this message
//   KILN_PJRT_TEST_PLATFORM_NAME            the platform name reported ("tt" to look like tt-xla)
//   KILN_PJRT_TEST_DEVICE_ARCH              a "device_arch" attribute on every device
//   KILN_PJRT_TEST_TRANSFER_ERROR           device-to-host events complete with this error
//   KILN_PJRT_TEST_WRONG_OUTPUT_TYPE        outputs report f64 whatever the program says
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/pjrt/buffer_types.hpp"
#include "backend/pjrt/c_api.hpp"
#include "kiln/error.hpp"
#include "kiln/import.hpp"

namespace capi = kiln::pjrt::capi;
using capi::ErrorCode;

// The opaque PJRT types, as this plugin defines them.
namespace kiln::pjrt::capi {
struct Error {
  ErrorCode code;
  std::string message;
};
struct Event {
  std::unique_ptr<Error> error;  // the outcome; nullptr: success
};
struct DeviceDescription {
  int id = 0;
  std::string kind = "cpu";
  std::string arch;
  std::vector<NamedValue> attributes;
};
struct Device {
  DeviceDescription description;
};
struct Client {
  std::string platform;
  std::unique_ptr<kiln::Backend> cpu;
  Device device;
  Device* devices[1] = {&device};
};
struct Buffer {
  BufferType type;
  std::vector<int64_t> dims;
  std::shared_ptr<kiln::Buffer> host;
};
struct LoadedExecutable {
  Client* client;
  std::unique_ptr<kiln::Executable> exe;
  std::vector<kiln::ir::ValueType> inputs;
};
struct Executable {
  size_t num_outputs;
};
}  // namespace kiln::pjrt::capi

namespace {

struct Hooks {
  std::string platform = "kilncpu";
  std::string device_arch;
  std::string init_error;
  std::string transfer_error;
  bool wrong_output_type = false;
};
Hooks hooks;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

capi::Error* fail(ErrorCode code, std::string message) {
  return new capi::Error{code, std::move(message)};
}

template <class Args>
capi::Error* too_small(const Args* args, const char* name) {
  if (args->struct_size >= sizeof(Args)) return nullptr;
  return fail(ErrorCode::invalid_argument,
              std::string(name) + " struct_size " + std::to_string(args->struct_size) +
                  " is smaller than " + std::to_string(sizeof(Args)) +
                  ": the plugin is built with a later version than the framework");
}

capi::Event* ready_event(std::unique_ptr<capi::Error> error = nullptr) {
  return new capi::Event{std::move(error)};
}

size_t element_size(capi::BufferType t) {
  auto d = kiln::pjrt::dtype_of(t);
  return d ? kiln::itemsize(*d) : 0;
}

// ---- errors ----
void error_destroy(capi::Error_Destroy_Args* a) {
  delete a->error;
}
void error_message(capi::Error_Message_Args* a) {
  a->message = a->error->message.data();
  a->message_size = a->error->message.size();
}
capi::Error* error_get_code(capi::Error_GetCode_Args* a) {
  a->code = a->error->code;
  return nullptr;
}

// ---- plugin and events ----
capi::Error* plugin_initialize(capi::Plugin_Initialize_Args* a) {
  if (auto* e = too_small(a, "PJRT_Plugin_Initialize_Args")) return e;
  hooks.init_error = env("KILN_PJRT_TEST_INIT_ERROR");
  hooks.transfer_error = env("KILN_PJRT_TEST_TRANSFER_ERROR");
  hooks.wrong_output_type = !env("KILN_PJRT_TEST_WRONG_OUTPUT_TYPE").empty();
  if (!hooks.init_error.empty()) return fail(ErrorCode::failed_precondition, hooks.init_error);
  return nullptr;
}
capi::Error* event_destroy(capi::Event_Destroy_Args* a) {
  delete a->event;
  return nullptr;
}
capi::Error* event_is_ready(capi::Event_IsReady_Args* a) {
  a->is_ready = true;  // work completes inside the call that returns the event
  return nullptr;
}
// Each call returns an independent copy, which the caller destroys.
capi::Error* event_error(capi::Event_Error_Args* a) {
  return a->event->error ? new capi::Error(*a->event->error) : nullptr;
}
capi::Error* event_await(capi::Event_Await_Args* a) {
  return a->event->error ? new capi::Error(*a->event->error) : nullptr;
}

// ---- client ----
capi::Error* client_create(capi::Client_Create_Args* a) {
  if (auto* e = too_small(a, "PJRT_Client_Create_Args")) return e;
  auto c = std::make_unique<capi::Client>();
  c->platform = hooks.platform;
  c->cpu = kiln::cpu::make_backend(1);
  auto& d = c->device.description;
  d.arch = hooks.device_arch;
  if (!d.arch.empty()) {
    capi::NamedValue v{};
    v.struct_size = sizeof(capi::NamedValue);
    v.name = "device_arch";
    v.name_size = std::strlen(v.name);
    v.type = capi::NamedValueType::string;
    v.string_value = d.arch.c_str();
    v.value_size = d.arch.size();
    d.attributes.push_back(v);
  }
  a->client = c.release();
  return nullptr;
}
capi::Error* client_destroy(capi::Client_Destroy_Args* a) {
  delete a->client;
  return nullptr;
}
capi::Error* client_platform_name(capi::Client_PlatformName_Args* a) {
  a->platform_name = a->client->platform.data();
  a->platform_name_size = a->client->platform.size();
  return nullptr;
}
capi::Error* client_addressable_devices(capi::Client_AddressableDevices_Args* a) {
  a->addressable_devices = a->client->devices;
  a->num_addressable_devices = 1;
  return nullptr;
}

capi::Error* client_compile(capi::Client_Compile_Args* a) {
  if (auto* e = too_small(a, "PJRT_Client_Compile_Args")) return e;
  const capi::Program& p = *a->program;
  std::string_view format(p.format, p.format_size);
  if (format != "mlir")
    return fail(ErrorCode::invalid_argument, "program format '" + std::string(format) +
                                                 "' is not supported; kilncpu "
                                                 "compiles 'mlir' (StableHLO text)");
  if (a->compile_options == nullptr || a->compile_options_size == 0)
    return fail(ErrorCode::invalid_argument, "no compile options (xla.CompileOptionsProto) given");
  try {
    kiln::ir::Graph g = kiln::from_stablehlo(std::string_view(p.code, p.code_size), "program");
    auto exe = std::make_unique<capi::LoadedExecutable>();
    exe->client = a->client;
    for (auto v : g.inputs) exe->inputs.push_back(g.type(v));
    exe->exe = a->client->cpu->compile(g, kiln::Device(a->client->cpu.get(), 0));
    a->executable = exe.release();
    return nullptr;
  } catch (const kiln::Unsupported& e) {
    return fail(ErrorCode::unimplemented, e.what());
  } catch (const kiln::Error& e) {
    return fail(ErrorCode::invalid_argument, e.what());
  } catch (const std::exception& e) {
    return fail(ErrorCode::internal, e.what());
  }
}

capi::Error* buffer_from_host(capi::Client_BufferFromHostBuffer_Args* a) {
  if (auto* e = too_small(a, "PJRT_Client_BufferFromHostBuffer_Args")) return e;
  const size_t item = element_size(a->type);
  if (item == 0)
    return fail(ErrorCode::unimplemented,
                "element type " + std::to_string(static_cast<int>(a->type)) + " is not supported");
  size_t n = 1;
  for (size_t i = 0; i < a->num_dims; ++i) {
    if (a->dims[i] < 0) return fail(ErrorCode::invalid_argument, "negative dimension");
    n *= static_cast<size_t>(a->dims[i]);
  }
  if (a->byte_strides != nullptr && a->num_byte_strides != 0) {
    int64_t dense = static_cast<int64_t>(item);
    for (size_t i = a->num_dims; i-- > 0;) {
      if (a->byte_strides[i] != dense)
        return fail(ErrorCode::unimplemented, "kilncpu takes dense row-major host buffers only");
      dense *= a->dims[i];
    }
  }
  auto b = std::make_unique<capi::Buffer>();
  b->type = a->type;
  b->dims.assign(a->dims, a->dims + a->num_dims);
  const size_t bytes = n * item;
  b->host = kiln::allocate_host(bytes, kiln::Device());
  if (bytes != 0) std::memcpy(b->host->host_data(), a->data, bytes);
  a->done_with_host_buffer = ready_event();
  a->buffer = b.release();
  return nullptr;
}

// ---- devices ----
capi::Error* description_id(capi::DeviceDescription_Id_Args* a) {
  a->id = a->device_description->id;
  return nullptr;
}
capi::Error* description_attributes(capi::DeviceDescription_Attributes_Args* a) {
  a->attributes = a->device_description->attributes.data();
  a->num_attributes = a->device_description->attributes.size();
  return nullptr;
}
capi::Error* description_kind(capi::DeviceDescription_Kind_Args* a) {
  a->device_kind = a->device_description->kind.data();
  a->device_kind_size = a->device_description->kind.size();
  return nullptr;
}
capi::Error* device_get_description(capi::Device_GetDescription_Args* a) {
  a->device_description = &a->device->description;
  return nullptr;
}

// ---- executables ----
capi::Error* executable_destroy(capi::Executable_Destroy_Args* a) {
  delete a->executable;
  return nullptr;
}
capi::Error* executable_num_outputs(capi::Executable_NumOutputs_Args* a) {
  a->num_outputs = a->executable->num_outputs;
  return nullptr;
}
capi::Error* loaded_destroy(capi::LoadedExecutable_Destroy_Args* a) {
  delete a->executable;
  return nullptr;
}
capi::Error* loaded_get_executable(capi::LoadedExecutable_GetExecutable_Args* a) {
  a->executable = new capi::Executable{a->loaded_executable->exe->output_types().size()};
  return nullptr;
}

capi::Error* execute(capi::LoadedExecutable_Execute_Args* a) {
  if (auto* e = too_small(a, "PJRT_LoadedExecutable_Execute_Args")) return e;
  if (a->options == nullptr) return fail(ErrorCode::invalid_argument, "options must not be NULL");
  if (auto* e = too_small(a->options, "PJRT_ExecuteOptions")) return e;
  if (a->num_devices != 1)
    return fail(ErrorCode::invalid_argument,
                "kilncpu has 1 device, not " + std::to_string(a->num_devices));
  capi::LoadedExecutable& le = *a->executable;
  if (a->num_args != le.inputs.size())
    return fail(ErrorCode::invalid_argument, "the executable takes " +
                                                 std::to_string(le.inputs.size()) +
                                                 " arguments, not " + std::to_string(a->num_args));
  std::vector<kiln::Buffer*> in;
  for (size_t i = 0; i < a->num_args; ++i) {
    const capi::Buffer& b = *a->argument_lists[0][i];
    const auto& t = le.inputs[i];
    std::vector<int64_t> want(t.shape.dims().begin(), t.shape.dims().end());
    if (b.type != kiln::pjrt::buffer_type(t.dtype) || b.dims != want)
      return fail(ErrorCode::invalid_argument, "argument " + std::to_string(i) +
                                                   " does not have the type " + t.str() +
                                                   " the program declares");
    in.push_back(b.host.get());
  }
  try {
    const auto& types = le.exe->output_types();
    std::vector<std::unique_ptr<capi::Buffer>> outs;
    std::vector<kiln::Buffer*> out;
    for (const auto& t : types) {
      auto b = std::make_unique<capi::Buffer>();
      b->type = kiln::pjrt::buffer_type(t.dtype);
      b->dims.assign(t.shape.dims().begin(), t.shape.dims().end());
      b->host = kiln::allocate_host(static_cast<size_t>(t.shape.numel()) * kiln::itemsize(t.dtype),
                                    kiln::Device(le.client->cpu.get(), 0));
      out.push_back(b->host.get());
      outs.push_back(std::move(b));
    }
    le.exe->run(in, out);
    for (size_t j = 0; j < outs.size(); ++j) {
      if (hooks.wrong_output_type) outs[j]->type = capi::BufferType::f64;
      a->output_lists[0][j] = outs[j].release();
    }
    if (a->device_complete_events != nullptr) a->device_complete_events[0] = ready_event();
    return nullptr;
  } catch (const std::exception& e) {
    return fail(ErrorCode::internal, e.what());
  }
}

// ---- buffers ----
capi::Error* buffer_destroy(capi::Buffer_Destroy_Args* a) {
  delete a->buffer;
  return nullptr;
}
capi::Error* buffer_element_type(capi::Buffer_ElementType_Args* a) {
  a->type = a->buffer->type;
  return nullptr;
}
capi::Error* buffer_dimensions(capi::Buffer_Dimensions_Args* a) {
  a->dims = a->buffer->dims.data();
  a->num_dims = a->buffer->dims.size();
  return nullptr;
}
capi::Error* buffer_to_host(capi::Buffer_ToHostBuffer_Args* a) {
  if (auto* e = too_small(a, "PJRT_Buffer_ToHostBuffer_Args")) return e;
  const size_t bytes = a->src->host->bytes();
  if (a->dst == nullptr) {
    a->dst_size = bytes;
    return nullptr;
  }
  if (a->host_layout != nullptr)
    return fail(ErrorCode::unimplemented, "kilncpu copies to dense row-major host buffers only");
  if (a->dst_size < bytes)
    return fail(ErrorCode::invalid_argument, "dst_size " + std::to_string(a->dst_size) +
                                                 " is smaller than the buffer's " +
                                                 std::to_string(bytes) + " bytes");
  if (!hooks.transfer_error.empty()) {
    a->event = ready_event(
        std::make_unique<capi::Error>(capi::Error{ErrorCode::data_loss, hooks.transfer_error}));
    return nullptr;
  }
  if (bytes) std::memcpy(a->dst, a->src->host->host_data(), bytes);
  a->event = ready_event();
  return nullptr;
}

capi::Api make_table() {
  capi::Api t{};
  t.PJRT_Error_Destroy = error_destroy;
  t.PJRT_Error_Message = error_message;
  t.PJRT_Error_GetCode = error_get_code;
  t.PJRT_Plugin_Initialize = plugin_initialize;
  t.PJRT_Event_Destroy = event_destroy;
  t.PJRT_Event_IsReady = event_is_ready;
  t.PJRT_Event_Error = event_error;
  t.PJRT_Event_Await = event_await;
  t.PJRT_Client_Create = client_create;
  t.PJRT_Client_Destroy = client_destroy;
  t.PJRT_Client_PlatformName = client_platform_name;
  t.PJRT_Client_AddressableDevices = client_addressable_devices;
  t.PJRT_Client_Compile = client_compile;
  t.PJRT_Client_BufferFromHostBuffer = buffer_from_host;
  t.PJRT_DeviceDescription_Id = description_id;
  t.PJRT_DeviceDescription_Attributes = description_attributes;
  t.PJRT_DeviceDescription_Kind = description_kind;
  t.PJRT_Device_GetDescription = device_get_description;
  t.PJRT_Executable_Destroy = executable_destroy;
  t.PJRT_Executable_NumOutputs = executable_num_outputs;
  t.PJRT_LoadedExecutable_Destroy = loaded_destroy;
  t.PJRT_LoadedExecutable_GetExecutable = loaded_get_executable;
  t.PJRT_LoadedExecutable_Execute = execute;
  t.PJRT_Buffer_Destroy = buffer_destroy;
  t.PJRT_Buffer_ElementType = buffer_element_type;
  t.PJRT_Buffer_Dimensions = buffer_dimensions;
  t.PJRT_Buffer_ToHostBuffer = buffer_to_host;
  return t;
}

int env_int(const char* name, int fallback) {
  std::string v = env(name);
  return v.empty() ? fallback : std::atoi(v.c_str());
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const capi::Api* GetPjrtApi() {
  static capi::Api table = make_table();
  table.struct_size = static_cast<size_t>(env_int("KILN_PJRT_TEST_STRUCT_SIZE", sizeof(capi::Api)));
  table.pjrt_api_version.struct_size = sizeof(capi::Api_Version);
  table.pjrt_api_version.major_version = env_int("KILN_PJRT_TEST_API_MAJOR", capi::kApiMajor);
  table.pjrt_api_version.minor_version = env_int("KILN_PJRT_TEST_API_MINOR", capi::kApiMinor);
  std::string platform = env("KILN_PJRT_TEST_PLATFORM_NAME");
  hooks.platform = platform.empty() ? "kilncpu" : platform;
  hooks.device_arch = env("KILN_PJRT_TEST_DEVICE_ARCH");
  return &table;
}
