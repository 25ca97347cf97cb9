#include "backend/pjrt/plugin.hpp"

#include <dlfcn.h>

#include <cctype>
#include <cstring>
#include <span>
#include <utility>

#include "backend/pjrt/compile_options.hpp"
#include "kiln/error.hpp"

namespace kiln::pjrt {
namespace {

// Every slot kiln calls, so a truncated table is refused at load, naming the first one missing,
// instead of crashing on a call past its end.
struct Slot {
  const char* name;
  int index;
};
constexpr Slot kSlotsCalled[] = {
    {"PJRT_Error_Destroy", 0},
    {"PJRT_Error_Message", 1},
    {"PJRT_Error_GetCode", 2},
    {"PJRT_Plugin_Initialize", 3},
    {"PJRT_Event_Destroy", 5},
    {"PJRT_Event_IsReady", 6},
    {"PJRT_Event_Error", 7},
    {"PJRT_Event_Await", 8},
    {"PJRT_Client_Create", 10},
    {"PJRT_Client_Destroy", 11},
    {"PJRT_Client_PlatformName", 12},
    {"PJRT_Client_AddressableDevices", 16},
    {"PJRT_Client_Compile", 20},
    {"PJRT_Client_BufferFromHostBuffer", 22},
    {"PJRT_DeviceDescription_Id", 23},
    {"PJRT_DeviceDescription_Attributes", 25},
    {"PJRT_DeviceDescription_Kind", 26},
    {"PJRT_Device_GetDescription", 29},
    {"PJRT_Executable_Destroy", 40},
    {"PJRT_Executable_NumOutputs", 44},
    {"PJRT_LoadedExecutable_Destroy", 50},
    {"PJRT_LoadedExecutable_GetExecutable", 51},
    {"PJRT_LoadedExecutable_Execute", 55},
    {"PJRT_Buffer_Destroy", 58},
    {"PJRT_Buffer_ElementType", 59},
    {"PJRT_Buffer_Dimensions", 60},
    {"PJRT_Buffer_ToHostBuffer", 70},
};

const char* code_name(int code) {
  static const char* const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? names[code] : "UNKNOWN";
}

std::string version_str(int major, int minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

// JAX prints devices as "<Platform>Device(id=N)": TTDevice, CudaDevice. Short platform names are
// acronyms and upper-cased; "xla" is XlaDevice.
std::string device_prefix(const std::string& platform) {
  std::string p = platform;
  if (p.size() <= 2) {
    for (char& c : p) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  } else if (!p.empty()) {
    p[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(p[0])));
  }
  return p + "Device";
}

}  // namespace

std::shared_ptr<Plugin> Plugin::load(const PluginSpec& spec,
                                     const std::vector<CreateOption>& options) {
  const std::string who = "the PJRT plugin \"" + spec.name + "\" (" + spec.path + ")";
  std::shared_ptr<Plugin> p(new Plugin(spec));
  // RTLD_LOCAL: a plugin's own copies of LLVM, protobuf or kiln must not bind to the host's.
  p->library_ = dlopen(spec.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (p->library_ == nullptr) {
    const char* why = dlerror();
    throw PluginError(who + " could not be loaded: " + (why ? why : "dlopen failed") +
                          ". Check that the path names the plugin's shared library (.so) and that "
                          "the libraries it needs are installed",
                      0);
  }
  auto get_api = reinterpret_cast<capi::GetPjrtApiFn>(dlsym(p->library_, "GetPjrtApi"));
  if (get_api == nullptr)
    throw PluginError(who +
                          " exports no GetPjrtApi, so it is not a PJRT plugin. Register the "
                          "plugin's own .so (tt: pjrt_plugin_tt.so; cuda: xla_cuda_plugin.so)",
                      0);
  p->api_ = get_api();
  if (p->api_ == nullptr)
    throw PluginError(who + ": GetPjrtApi returned no function table. Rebuild/upgrade the plugin",
                      0);
  p->check_version();
  p->shutdown_ = reinterpret_cast<void (*)()>(dlsym(p->library_, "tt_pjrt_shutdown"));

  auto init = capi::args<capi::Plugin_Initialize_Args>();
  p->check(p->api_->PJRT_Plugin_Initialize(&init), "initialising the plugin");
  std::vector<capi::NamedValue> named;
  for (const CreateOption& o : options) {
    auto v = capi::args<capi::NamedValue>();
    v.name = o.name.c_str();
    v.name_size = o.name.size();
    v.type = capi::NamedValueType::int64;
    v.int64_value = o.value;
    v.value_size = 1;
    named.push_back(v);
  }
  auto create = capi::args<capi::Client_Create_Args>();
  create.create_options = named.data();
  create.num_options = named.size();
  p->check(p->api_->PJRT_Client_Create(&create), "creating a client");
  p->client_ = create.client;
  auto name = capi::args<capi::Client_PlatformName_Args>();
  name.client = p->client_;
  p->check(p->api_->PJRT_Client_PlatformName(&name), "asking for the platform name");
  p->platform_name_.assign(name.platform_name, name.platform_name_size);
  p->read_devices();
  return p;
}

Plugin::~Plugin() {
  if (client_ != nullptr) {
    auto destroy = capi::args<capi::Client_Destroy_Args>();
    destroy.client = client_;
    if (capi::Error* e = api_->PJRT_Client_Destroy(&destroy)) {
      auto d = capi::args<capi::Error_Destroy_Args>();
      d.error = e;
      api_->PJRT_Error_Destroy(&d);  // nothing to report to in a destructor
    }
  }
  if (shutdown_ != nullptr) shutdown_();
  // The library stays loaded: plugins keep threads and atexit handlers that outlive the client.
}

void Plugin::check_version() const {
  const std::string who = "the PJRT plugin \"" + spec_.name + "\" (" + spec_.path + ")";
  const int major = api_->pjrt_api_version.major_version;
  const int minor = api_->pjrt_api_version.minor_version;
  const std::string fix = ". Rebuild/upgrade the plugin against PJRT C API " +
                          version_str(capi::kApiMajor, capi::kOldestMinor) + " or newer";
  if (major != capi::kApiMajor)
    throw PluginError(who + " implements PJRT C API " + version_str(major, minor) +
                          ", whose major version differs from kiln's " +
                          version_str(capi::kApiMajor, capi::kApiMinor) +
                          " (the ABI is incompatible)" + fix,
                      0);
  if (minor < capi::kOldestMinor)
    throw PluginError(who + " implements PJRT C API " + version_str(major, minor) +
                          ", older than the " + version_str(capi::kApiMajor, capi::kOldestMinor) +
                          " kiln needs" + fix,
                      0);
  for (const Slot& s : kSlotsCalled) {
    if (api_->struct_size < capi::size_with_slot(s.index))
      throw PluginError(who + " reports a PJRT_Api table of " + std::to_string(api_->struct_size) +
                            " bytes (API " + version_str(major, minor) + "), which ends before " +
                            s.name + " (slot " + std::to_string(s.index) + ", bytes " +
                            std::to_string(capi::slot_offset(s.index)) + "-" +
                            std::to_string(capi::size_with_slot(s.index)) + ") that kiln calls" +
                            fix,
                        0);
    // A table of the right size can still hold NULL entries (a stub, a half-built plugin):
    // calling one would take the whole process down, so it is refused before any call.
    void* fn = nullptr;
    std::memcpy(&fn, reinterpret_cast<const char*>(api_) + capi::slot_offset(s.index), sizeof fn);
    if (fn == nullptr)
      throw PluginError(who + "'s PJRT_Api table has no " + s.name + " (slot " +
                            std::to_string(s.index) + " is NULL), a function kiln calls" + fix,
                        0);
  }
}

void Plugin::read_devices() {
  auto list = capi::args<capi::Client_AddressableDevices_Args>();
  list.client = client_;
  check(api_->PJRT_Client_AddressableDevices(&list), "listing its devices");
  for (size_t i = 0; i < list.num_addressable_devices; ++i) {
    PluginDevice d;
    d.handle = list.addressable_devices[i];
    auto desc = capi::args<capi::Device_GetDescription_Args>();
    desc.device = d.handle;
    check(api_->PJRT_Device_GetDescription(&desc), "describing a device");
    auto id = capi::args<capi::DeviceDescription_Id_Args>();
    id.device_description = desc.device_description;
    check(api_->PJRT_DeviceDescription_Id(&id), "asking for a device id");
    d.id = id.id;
    auto kind = capi::args<capi::DeviceDescription_Kind_Args>();
    kind.device_description = desc.device_description;
    check(api_->PJRT_DeviceDescription_Kind(&kind), "asking for a device kind");
    d.kind.assign(kind.device_kind, kind.device_kind_size);
    auto attrs = capi::args<capi::DeviceDescription_Attributes_Args>();
    attrs.device_description = desc.device_description;
    check(api_->PJRT_DeviceDescription_Attributes(&attrs), "asking for device attributes");
    // tt-xla describes the chip in "device_arch"; JAX shows it as arch=.
    std::string arch;
    for (size_t a = 0; a < attrs.num_attributes; ++a) {
      const capi::NamedValue& v = attrs.attributes[a];
      if (std::string_view(v.name, v.name_size) == "device_arch" &&
          v.type == capi::NamedValueType::string)
        arch.assign(v.string_value, v.value_size);
    }
    // Named after the platform the user registered, not the one the plugin reports: XLA's CPU
    // plugin calls itself "cpu", and its devices must not print as kiln's own CpuDevice(id=0).
    d.str = device_prefix(spec_.name) + "(id=" + std::to_string(d.id) +
            (arch.empty() ? "" : ", arch=" + arch) + ")";
    devices_.push_back(std::move(d));
  }
}

void Plugin::check(capi::Error* error, std::string_view doing) const {
  if (error == nullptr) return;
  auto msg = capi::args<capi::Error_Message_Args>();
  msg.error = error;
  api_->PJRT_Error_Message(&msg);
  std::string text(msg.message ? msg.message : "", msg.message ? msg.message_size : 0);
  auto code = capi::args<capi::Error_GetCode_Args>();
  code.error = error;
  int c = 2;  // UNKNOWN, when the plugin cannot even say
  if (capi::Error* e2 = api_->PJRT_Error_GetCode(&code)) {
    auto d = capi::args<capi::Error_Destroy_Args>();
    d.error = e2;
    api_->PJRT_Error_Destroy(&d);
  } else {
    c = static_cast<int>(code.code);
  }
  auto destroy = capi::args<capi::Error_Destroy_Args>();
  destroy.error = error;
  api_->PJRT_Error_Destroy(&destroy);
  throw PluginError("the PJRT plugin \"" + spec_.name + "\" failed " + std::string(doing) + " [" +
                        code_name(c) + "]: " + text,
                    c);
}

capi::LoadedExecutable* Plugin::compile(std::string_view mlir, const std::string& options,
                                        const std::string& what) const {
  auto program = capi::args<capi::Program>();
  program.code = mlir.data();
  program.code_size = mlir.size();
  program.format = "mlir";
  program.format_size = 4;
  auto compile = capi::args<capi::Client_Compile_Args>();
  compile.client = client_;
  compile.program = &program;
  compile.compile_options = options.data();
  compile.compile_options_size = options.size();
  check(api_->PJRT_Client_Compile(&compile), "compiling " + what);
  return compile.executable;
}

capi::LoadedExecutable* Plugin::compile_mlir(std::string_view mlir, std::string_view what,
                                             bool portable) const {
  // One device, no replication — the least every plugin accepts. Without `portable` it runs on
  // the plugin's first device only (XLA refuses another: "ExecuteShard attempted to execute on
  // device id 1 which is not addressable"), so executables for other devices are portable.
  return compile(mlir, compile_options(portable), std::string(what));
}

capi::LoadedExecutable* Plugin::compile_mlir_partitioned(
    std::string_view mlir, std::string_view what,
    std::span<const int64_t> partition_devices) const {
  return compile(
      mlir, compile_options(false, partition_devices),
      std::string(what) + " for " + std::to_string(partition_devices.size()) + " devices");
}

void Plugin::await(capi::Event* event, std::string_view doing) const {
  if (event == nullptr) return;
  auto wait = capi::args<capi::Event_Await_Args>();
  wait.event = event;
  capi::Error* error = api_->PJRT_Event_Await(&wait);
  auto destroy = capi::args<capi::Event_Destroy_Args>();
  destroy.event = event;
  capi::Error* destroy_error = api_->PJRT_Event_Destroy(&destroy);
  if (error != nullptr && destroy_error != nullptr) {
    auto d = capi::args<capi::Error_Destroy_Args>();
    d.error = destroy_error;
    api_->PJRT_Error_Destroy(&d);  // the event's own error is the one to report
    destroy_error = nullptr;
  }
  check(error, doing);
  check(destroy_error, "destroying an event");
}

}  // namespace kiln::pjrt
