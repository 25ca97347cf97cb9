#include "backend/cpu/cpu_backend.hpp"

#include <oneapi/dnnl/dnnl.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cpu/fusion.hpp"
#include "backend/cpu/kernel_table.hpp"
#include "backend/cpu/schedule.hpp"
#include "backend/cpu/threads.hpp"
#include "backend/support_check.hpp"
#include "kiln/error.hpp"
#include "passes/constant_fills.hpp"
#include "passes/pipeline.hpp"

namespace kiln::cpu {
namespace {

// Whether every node of g, needed or not, is well-formed (the support check has accepted its
// dtypes). CpuExecutable reports the first that is not; the passes could drop (dead code) or hide
// (folding) that node, so such a graph is compiled as traced and the error stays the same.
bool runnable(const ir::Graph& g) {
  const size_t n = g.nodes.size();
  for (ir::ValueId v : g.outputs)
    if (v >= n) return false;
  for (ir::ValueId v : g.inputs)
    if (v >= n) return false;
  for (size_t i = 0; i < n; ++i)
    for (ir::ValueId u : g.nodes[i].inputs)
      if (u >= i) return false;
  return true;
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int num_devices) : num_devices_(num_devices) {
    (void)prim_row(ir::Prim::parameter);  // builds the kernel table now, checking it narrows
  }

  std::string_view platform() const override { return "cpu"; }
  int device_count() const override { return num_devices_; }
  std::string device_str(int id) const override {
    return "CpuDevice(id=" + std::to_string(id) + ")";
  }
  bool supports(ir::Prim p, DType t) const override { return prim_supports(p, t); }

  std::unique_ptr<Executable> compile(const ir::Graph& g, Device device,
                                      const CompileOptions& options = {}) override {
    check_device(device);
    check_supported(g, *this);  // every node, needed or not: the error names the user's line
    // The exact graph passes first (their results are bit-identical, so what runs is what was
    // traced); then fills are computed once here, not on every run (the tutorial's train step has
    // 45 of them).
    // Elementwise fusion is on (KILN_FUSION=0 turns it off) for nodes of 4096 elements or more
    // (docs/cpu-backend.md, "Elementwise fusion").
    static const bool fuse = [] {
      const char* v = std::getenv("KILN_FUSION");
      return v == nullptr || *v == '\0' || std::string(v) != "0";
    }();
    return std::make_unique<CpuExecutable>(
        passes::materialize_fills(runnable(g) ? passes::optimize(g) : g),
        ScheduleOptions{.fuse = fuse,
                        .min_fused_elements = kMinFusedElements,
                        .donated_inputs = options.donated_inputs});
  }

  std::shared_ptr<Buffer> allocate(size_t bytes, Device device) override {
    check_device(device);
    return allocate_host(bytes, device);
  }
  void to_host(const Buffer& src, void* dst) override {
    if (src.bytes() != 0) std::memcpy(dst, src.host_data(), src.bytes());
  }
  void from_host(const void* src, Buffer& dst) override {
    if (dst.bytes() != 0) std::memcpy(dst.host_data(), src, dst.bytes());
  }

 private:
  void check_device(Device device) const {
    if (device.id() < 0 || device.id() >= num_devices_) {
      throw DeviceNotFound("the cpu backend has devices 0.." + std::to_string(num_devices_ - 1) +
                           ", not " + std::to_string(device.id()) +
                           ". Set KILN_CPU_DEVICES to have more");
    }
  }

  int num_devices_;
};

}  // namespace

std::unique_ptr<Backend> make_backend(int num_devices) {
  return std::make_unique<CpuBackend>(num_devices < 1 ? 1 : num_devices);
}

}  // namespace kiln::cpu

namespace kiln {

std::string cpu_kernel_isa() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
      return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "unknown (oneDNN isa " + std::to_string(dnnl_get_effective_cpu_isa()) + ")";
  }
}

}  // namespace kiln
