// The backend contract: a platform's devices, its memory, what it supports, and how it compiles a
// graph into an Executable. The CPU backend is built in; PJRT plugins will implement the same.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/device.hpp"
#include "kiln/ir.hpp"

namespace kiln {

// A block of device memory holding one array's elements.
class Buffer {
 public:
  Buffer(Device device, size_t bytes) : device_(device), bytes_(bytes) {}
  virtual ~Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  Device device() const { return device_; }
  size_t bytes() const { return bytes_; }
  // The elements, when the host can address them directly (CPU); nullptr otherwise.
  virtual void* host_data() const = 0;

 private:
  Device device_;
  size_t bytes_;
};

// A host buffer, 64-byte aligned (for AVX-512 loads), owned by the shared_ptr that holds it.
std::shared_ptr<Buffer> allocate_host(size_t bytes, Device device);

// What a compile is told beyond the graph.
struct CompileOptions {
  // donated_inputs[i]: input i's buffer may be overwritten by an output of the same byte size
  // (jit's donate_argnums), so that an optimizer updates its state in place. The executable says
  // which donations it used (Executable::output_aliases); a backend may use none.
  std::vector<bool> donated_inputs = {};
};

class Executable {
 public:
  virtual ~Executable() = default;
  // Runs on buffers of the graph's input types; writes into caller-allocated outputs.
  // Not re-entrant: an executable owns one scratch arena.
  virtual void run(std::span<Buffer* const> inputs, std::span<Buffer* const> outputs) = 0;
  const std::vector<ir::ValueType>& output_types() const { return output_types_; }
  // The compiled schedule, one line per step.
  virtual std::string describe() const = 0;
  // Per output, the donated input whose buffer run() must be given as that output (the schedule
  // writes it in place), or -1; empty when no output aliases an input.
  const std::vector<int>& output_aliases() const { return output_aliases_; }
  // Runs once like run() and returns the time of each step, slowest first, with the step's text
  // (a backend without per-step timing returns only the total).
  virtual std::string run_profiled(std::span<Buffer* const> inputs,
                                   std::span<Buffer* const> outputs);
  // Bytes live during a run: the executable's own (scratch, constants) plus its inputs and
  // outputs; 0 when the backend does not know.
  virtual size_t peak_bytes() const { return 0; }

 protected:
  std::vector<ir::ValueType> output_types_;
  std::vector<int> output_aliases_;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view platform() const = 0;
  virtual int device_count() const = 0;
  // JAX's device repr: "CpuDevice(id=0)".
  virtual std::string device_str(int id) const = 0;
  virtual bool supports(ir::Prim p, DType t) const = 0;
  virtual std::unique_ptr<Executable> compile(const ir::Graph& g, Device device,
                                              const CompileOptions& options = {}) = 0;
  virtual std::shared_ptr<Buffer> allocate(size_t bytes, Device device) = 0;
  virtual void to_host(const Buffer& src, void* dst) = 0;
  virtual void from_host(const void* src, Buffer& dst) = 0;
};

// The registered backend of a platform ("cpu", ...); nullptr if none is registered.
Backend* find_backend(std::string_view platform);
// Every registered backend, cpu first.
std::vector<Backend*> backends();

}  // namespace kiln
