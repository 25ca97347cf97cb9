// The backend registry and devices. The cpu backend is always present; PJRT plugins named by the
// environment join it the first time platforms or devices are asked for.
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/pjrt/discovery.hpp"
#include "core/array_impl.hpp"
#include "kiln/array.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/ops.hpp"
#include "kiln/pjrt.hpp"
#include "kiln/tree.hpp"

namespace kiln {
namespace {

// KILN_CPU_DEVICES=N gives N logical cpu devices, as XLA's --xla_force_host_platform_device_count.
int cpu_device_count() {
  const char* env = std::getenv("KILN_CPU_DEVICES");
  if (env == nullptr || *env == '\0') return 1;
  char* end = nullptr;
  long n = std::strtol(env, &end, 10);
  if (*end != '\0' || n < 1 || n > 1024)
    throw ValueError(
        "KILN_CPU_DEVICES='" + std::string(env) +
        "' is not a device count; set it to a whole number from 1 to 1024, or unset it");
  return static_cast<int>(n);
}

// The cpu backend, created on first use; plugins are loaded separately (and later), so making an
// array never dlopens anything.
Backend& cpu_backend() {
  static std::unique_ptr<Backend> cpu = cpu::make_backend(cpu_device_count());
  return *cpu;
}

// cpu first, then the PJRT plugins the environment names (loaded on this first call).
std::vector<Backend*> all_backends() {
  std::vector<Backend*> out{&cpu_backend()};
  for (const auto& b : pjrt::plugin_backends()) out.push_back(b.get());
  return out;
}

// How each platform kiln knows of, but may not have, is made to appear; for a plugin that was
// registered but failed to load, why it failed.
std::string how_to_enable(std::string_view platform) {
  for (const pjrt::PluginFailure& f : pjrt::plugin_failures())
    if (f.spec.name == platform)
      return "Its PJRT plugin was registered but did not load: " + f.error;
  if (platform == "tt")
    return "tt devices come from Tenstorrent's PJRT plugin (pjrt_plugin_tt.so, from the tt-xla "
           "wheel): set TT_PJRT_PLUGIN_DIR=<directory holding it> or "
           "PJRT_NAMES_AND_LIBRARY_PATHS=tt:/path/to/pjrt_plugin_tt.so (docs/pjrt.md). Train and "
           "run on \"cpu\" meanwhile";
  if (platform == "cuda" || platform == "gpu")
    return "cuda devices come from XLA's CUDA PJRT plugin (xla_cuda_plugin.so); register it with "
           "PJRT_NAMES_AND_LIBRARY_PATHS=cuda:/path/to/xla_cuda_plugin.so (docs/pjrt.md)";
  return "kiln knows the platform \"cpu\" (built in) and PJRT plugins registered with "
         "PJRT_NAMES_AND_LIBRARY_PATHS=<name>:<path to plugin .so> (docs/pjrt.md)";
}

}  // namespace

std::string_view Device::platform() const {
  return backend_ ? backend_->platform() : std::string_view("none");
}
std::string Device::str() const {
  return backend_ ? backend_->device_str(id_) : "Device(none)";
}

std::string Executable::run_profiled(std::span<Buffer* const> inputs,
                                     std::span<Buffer* const> outputs) {
  const auto t0 = std::chrono::steady_clock::now();
  run(inputs, outputs);
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  return "profile: " + std::to_string(us) + " us (this backend does not time its steps)\n";
}

Backend* find_backend(std::string_view platform) {
  if (platform == "cpu") return &cpu_backend();
  for (Backend* b : all_backends())
    if (b->platform() == platform) return b;
  return nullptr;
}

std::vector<Backend*> backends() {
  return all_backends();
}

std::vector<std::string> platforms() {
  std::vector<std::string> out;
  for (Backend* b : all_backends()) out.emplace_back(b->platform());
  return out;
}

std::vector<Device> devices() {
  std::vector<Device> out;
  for (Backend* b : all_backends())
    for (int i = 0; i < b->device_count(); ++i) out.emplace_back(b, i);
  return out;
}

std::vector<Device> devices(std::string_view platform) {
  Backend* b = find_backend(platform);
  if (b == nullptr || b->device_count() == 0) {
    std::string present;
    for (const auto& p : platforms()) present += (present.empty() ? "" : ", ") + p;
    throw DeviceNotFound("no devices for platform \"" + std::string(platform) +
                         "\"; platforms present: " + present + ". " + how_to_enable(platform));
  }
  std::vector<Device> out;
  for (int i = 0; i < b->device_count(); ++i) out.emplace_back(b, i);
  return out;
}

Device default_device() {
  static Device d(&cpu_backend(), 0);
  return d;
}

Array device_put(const Array& x, Device device) {
  if (x.empty()) throw ValueError("device_put of an empty Array");
  if (x.is_tracer()) return x;  // placement of traced values is decided by the enclosing jit
  // A sharded array becomes one array on `device` (as jax.device_put): read whole, then copied.
  if (x.device() == device && !ArrayAccess::impl(x)->sharded) return x;
  const Buffer& src = *x.buffer();
  auto dst = device.backend()->allocate(src.bytes(), device);
  if (src.host_data() != nullptr) {
    device.backend()->from_host(src.host_data(), *dst);
  } else {
    std::vector<std::byte> staging(src.bytes());
    src.device().backend()->to_host(src, staging.data());
    device.backend()->from_host(staging.data(), *dst);
  }
  return Array::from_buffer(std::move(dst), x.dtype(), x.shape());
}

Tree device_put(const Tree& x, Device device) {
  return tree_map([&](const Array& a) { return device_put(a, device); }, x);
}

Array device_get(const Array& x) {
  return device_put(x, default_device());
}

}  // namespace kiln
