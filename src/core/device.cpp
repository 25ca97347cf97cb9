// The backend registry and devices. The cpu backend is always present; other platforms (PJRT
// plugins) register here when they are found.
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "backend/cpu/cpu_backend.hpp"
#include "core/array_impl.hpp"
#include "kiln/array.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/ops.hpp"
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

std::vector<std::unique_ptr<Backend>>& registry() {
  static std::vector<std::unique_ptr<Backend>> r = [] {
    std::vector<std::unique_ptr<Backend>> v;
    v.push_back(cpu::make_backend(cpu_device_count()));
    return v;
  }();
  return r;
}

// How each platform kiln knows of, but may not have, is made to appear.
std::string how_to_enable(std::string_view platform) {
  if (platform == "tt")
    return "tt devices come from Tenstorrent's PJRT plugin (pjrt_plugin_tt.so, from the tt-xla "
           "wheel); kiln "
           "will load it from TT_PJRT_PLUGIN_DIR=<directory holding it> or "
           "PJRT_NAMES_AND_LIBRARY_PATHS=tt:/path/to/pjrt_plugin_tt.so once its PJRT host lands "
           "(this build has "
           "no PJRT host yet). Train and run on \"cpu\" meanwhile";
  if (platform == "cuda" || platform == "gpu")
    return "cuda devices come from XLA's CUDA PJRT plugin (xla_cuda_plugin.so); register it with "
           "PJRT_NAMES_AND_LIBRARY_PATHS=cuda:/path/to/xla_cuda_plugin.so once kiln's PJRT host "
           "lands (this "
           "build has no PJRT host yet)";
  return "kiln knows the platform \"cpu\" (built in) and PJRT plugins registered with "
         "PJRT_NAMES_AND_LIBRARY_PATHS=<name>:<path to plugin .so>";
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
  for (auto& b : registry())
    if (b->platform() == platform) return b.get();
  return nullptr;
}

std::vector<Backend*> backends() {
  std::vector<Backend*> out;
  for (auto& b : registry()) out.push_back(b.get());
  return out;
}

std::vector<std::string> platforms() {
  std::vector<std::string> out;
  for (auto& b : registry()) out.emplace_back(b->platform());
  return out;
}

std::vector<Device> devices() {
  std::vector<Device> out;
  for (auto& b : registry())
    for (int i = 0; i < b->device_count(); ++i) out.emplace_back(b.get(), i);
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
  static Device d(registry().front().get(), 0);
  return d;
}

Array device_put(const Array& x, Device device) {
  if (x.empty()) throw ValueError("device_put of an empty Array");
  if (x.is_tracer()) return x;  // placement of traced values is decided by the enclosing jit
  if (x.device() == device) return x;
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
