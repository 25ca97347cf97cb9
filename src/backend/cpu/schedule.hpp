// A graph compiled for the CPU: a linear schedule of kernel calls over one pre-planned arena.
// run() resolves a fixed table of base pointers (inputs, outputs, arena, constants) and steps
// through the calls; it allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/kernel.hpp"
#include "kiln/backend.hpp"

namespace kiln::cpu {

// Where an operand lives at run time: a base pointer, picked per run from the base table, plus a
// byte offset fixed at compile time.
struct Slot {
  uint32_t base = 0;
  size_t offset = 0;
};

// One kernel call. A fused elementwise loop or a threaded kernel is the same thing with another
// fn and params, so the schedule does not change when they arrive.
struct Step {
  KernelFn fn = nullptr;
  std::unique_ptr<KernelParams> params;
  uint32_t first_input = 0;  // into CpuExecutable's operand-slot table
  uint32_t num_inputs = 0;
  Slot out;
  Slot scratch;
  size_t scratch_bytes = 0;
};

struct ScheduleOptions {
  // Elementwise fusion (fusion.hpp). Off: every node is its own step, as the reference the fused
  // schedule's results are compared with bit for bit. compile() turns it on unless KILN_FUSION=0
  // (cpu_backend.cpp).
  bool fuse = true;
  // Nodes over fewer elements stay unfused steps: their values live in L1 anyway, and the fused
  // loop's per-op cost exceeds what it saves (the tutorial's 16x8 train step ran 1.6 µs unfused,
  // 2.7 µs fused). compile() sets kMinFusedElements; tests fuse everything.
  int64_t min_fused_elements = 0;
  // Threads of kiln's own parallel kernels; 0: num_threads() (KILN_NUM_THREADS). oneDNN's GEMM and
  // convolutions always use num_threads().
  int threads = 0;
  // Inputs the caller donates (kiln::CompileOptions::donated_inputs): an output computed by an
  // unfused step after the input's last read is written into it (Executable::output_aliases).
  std::vector<bool> donated_inputs = {};
};

struct Plan;
struct Lowering;
struct Placement;

// The last pass of the compile: the steps, from the plan (schedule_plan.hpp), each step's kernel
// (schedule_lowering.hpp) and the places of values and scratch (schedule_placement.hpp), with
// describe()'s text. It decides nothing: CpuExecutable takes it over.
struct Emitted {
  std::vector<Step> steps;
  std::vector<Slot> operand_slots;
  std::vector<std::string> step_text;
  std::vector<std::shared_ptr<const Buffer>> constants;
  std::vector<int> output_aliases;  // empty: no input is donated
  size_t max_operands = 1;
  size_t arena_bytes = 0;
  size_t fused_groups = 0;
};

Emitted emit_steps(const ir::Graph& g, const Plan& plan, Lowering lowering,
                   const Placement& placement);

class CpuExecutable final : public Executable {
 public:
  // Runs the compile's passes over a graph the backend's support check has passed: planning
  // (schedule_plan.hpp), lowering (schedule_lowering.hpp), placement (schedule_placement.hpp)
  // and step emission (emit_steps).
  explicit CpuExecutable(const ir::Graph& graph, const ScheduleOptions& options = {});

  // Inputs and outputs must be distinct host buffers of (at least) the graph's byte sizes.
  void run(std::span<Buffer* const> inputs, std::span<Buffer* const> outputs) override;
  std::string run_profiled(std::span<Buffer* const> inputs,
                           std::span<Buffer* const> outputs) override;
  std::string describe() const override;
  size_t peak_bytes() const override;

  size_t arena_bytes() const { return arena_bytes_; }
  size_t num_steps() const { return steps_.size(); }
  size_t num_fused_groups() const { return fused_groups_; }

 private:
  std::vector<Step> steps_;
  std::vector<Slot> operand_slots_;
  std::vector<std::string> step_text_;  // describe(), one line per step

  // Binds the run's buffers into the base table (checking counts, sizes and host memory).
  void bind(std::span<Buffer* const> inputs, std::span<Buffer* const> outputs);
  void run_step(const Step& s);

  // Base table: [inputs | outputs | arena | constants].
  std::vector<std::byte*> bases_;
  std::vector<const std::byte*> operand_ptrs_;  // per-step gather buffer, sized at compile time
  size_t num_inputs_ = 0;
  std::vector<size_t> input_bytes_, output_bytes_;
  size_t arena_bytes_ = 0;
  std::shared_ptr<Buffer> arena_;
  std::vector<std::shared_ptr<const Buffer>> constants_;  // literals stay alive with the executable
  size_t constant_bytes_ = 0;
  int threads_ = 1;
  size_t fused_groups_ = 0;
  int64_t runs_ = 0;  // counted only under KILN_PROFILE (its run number is profiled)
  std::string name_;
};

}  // namespace kiln::cpu
