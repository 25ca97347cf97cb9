// Devices: where arrays live and computations run. Printed as JAX prints them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln {

class Backend;
class Array;
class Tree;

class Device {
 public:
  Device() = default;
  Device(Backend* backend, int id) : backend_(backend), id_(id) {}

  Backend* backend() const { return backend_; }
  int id() const { return id_; }
  std::string_view platform() const;
  // "CpuDevice(id=0)"
  std::string str() const;
  bool operator==(const Device&) const = default;

 private:
  Backend* backend_ = nullptr;
  int id_ = 0;
};

// All devices of every platform present, cpu first.
std::vector<Device> devices();
// The devices of one platform. Throws DeviceNotFound, listing the platforms present and how to make
// the missing one appear, when there are none.
std::vector<Device> devices(std::string_view platform);
// The platforms present ("cpu", ...).
std::vector<std::string> platforms();
// The first cpu device, where arrays are created by default.
Device default_device();
// The instruction set the cpu backend's oneDNN kernels (GEMMs, convolutions) dispatch to on this
// processor, in oneDNN's names: "avx2", "avx512_core", "avx512_core_amx", ... The environment
// variable ONEDNN_MAX_CPU_ISA caps it (ONEDNN_MAX_CPU_ISA=AVX2 runs the AVX2 kernels on an AVX-512
// machine). Results that are bit for bit the same across schedules hold on each; across
// instruction sets float32 products may differ in the last bits (docs/cpu-backend.md).
std::string cpu_kernel_isa();

// Copies an array (or every leaf of a tree) to `device`. A no-op when it is there already.
Array device_put(const Array& x, Device device);
Tree device_put(const Tree& x, Device device);
// The array as a host (cpu) array.
Array device_get(const Array& x);

}  // namespace kiln
