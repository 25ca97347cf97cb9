// One loaded PJRT plugin: its library, function table, client and devices. Every PJRT_Error its
// calls return becomes a kiln::PluginError (and is destroyed); every event is awaited and
// destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/pjrt/c_api.hpp"
#include "kiln/pjrt.hpp"

namespace kiln::pjrt {

struct PluginDevice {
  capi::Device* handle = nullptr;
  int id = 0;
  std::string kind;
  std::string str;  // as JAX prints it: "TTDevice(id=0, arch=Wormhole_b0)"
};

// A client create option the plugin reads (PJRT_NamedValue of type int64): XLA's CPU plugin takes
// its device count as {"cpu_device_count", N}.
struct CreateOption {
  std::string name;
  int64_t value = 0;
};

class Plugin {
 public:
  // dlopen, GetPjrtApi, version and table-size checks, PJRT_Plugin_Initialize, client create (with
  // `options`), platform name and devices. Throws PluginError naming the plugin and what to do.
  static std::shared_ptr<Plugin> load(const PluginSpec& spec,
                                      const std::vector<CreateOption>& options = {});
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const capi::Api& api() const { return *api_; }
  capi::Client* client() const { return client_; }
  const PluginSpec& spec() const { return spec_; }
  const std::string& platform_name() const { return platform_name_; }
  const std::vector<PluginDevice>& devices() const { return devices_; }

  // Throws PluginError ("<doing> ... <plugin's message>") when `error` is not null; destroys it.
  void check(capi::Error* error, std::string_view doing) const;
  // PJRT_Client_Compile of MLIR text (format "mlir") with kiln's minimal compile options: for the
  // first device, or `portable` (compile_portable_executable) to run on the device named at
  // execute.
  capi::LoadedExecutable* compile_mlir(std::string_view mlir, std::string_view what,
                                       bool portable = false) const;
  // The same for a module partitioned over several devices (mhlo.num_partitions = n and
  // mhlo.sharding attributes): SPMD partitioning, partition k on the device whose PJRT id is
  // partition_devices[k]. Execute it with one argument list per device, in that order.
  capi::LoadedExecutable* compile_mlir_partitioned(
      std::string_view mlir, std::string_view what,
      std::span<const int64_t> partition_devices) const;
  // Waits for `event`, destroys it, and throws as check() when it carried an error.
  void await(capi::Event* event, std::string_view doing) const;

 private:
  explicit Plugin(PluginSpec spec) : spec_(std::move(spec)) {}
  void check_version() const;
  capi::LoadedExecutable* compile(std::string_view mlir, const std::string& options,
                                  const std::string& what) const;
  void read_devices();

  PluginSpec spec_;
  void* library_ = nullptr;
  const capi::Api* api_ = nullptr;
  capi::Client* client_ = nullptr;
  void (*shutdown_)() = nullptr;  // tt-xla's tt_pjrt_shutdown, when exported
  std::string platform_name_;
  std::vector<PluginDevice> devices_;
};

}  // namespace kiln::pjrt
