// Elementwise fusion: a chain of elementwise nodes of one element count runs as one step that
// walks the elements tile by tile (a few KiB, so a tile stays in L1) and, per tile, calls each
// node's own kernel in graph order. Values only the group reads live in per-thread tile buffers
// and never touch the arena; values read elsewhere (or graph outputs) are written to their places
// tile by tile. Because each node runs the very kernel it runs unfused (on a shorter range, with
// the same per-element arithmetic and rounding), the results are bit-identical to the unfused
// schedule. The scheduler (schedule.cpp) picks the groups and builds the params.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/cpu/kernel.hpp"
#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {

// Where a fused op's operand or result lives, per tile.
struct FusedOperand {
  enum class From : uint8_t {
    step,  // operand `index` of the fused step (its inputs, then its materialized results)
    tile,  // tile buffer `index` of the running thread
  };
  From from = From::step;
  uint32_t index = 0;
  // A dense step operand moves `itemsize` bytes per element with the tile; a broadcast source
  // (cyclic or scalar) is read from its start by every tile.
  bool advance = true;
  uint32_t itemsize = 0;
};

// One node of the group: its kernel, specialised for a full tile and for the last (shorter) one.
struct FusedOp {
  KernelFn fn = nullptr;
  std::unique_ptr<KernelParams> full_tile, last_tile;
  std::vector<FusedOperand> in;
  FusedOperand out;
};

struct FusedParams : KernelParams {
  int64_t numel = 0;
  int64_t tile = 0;  // elements per tile; a multiple of the group's broadcast period
  std::vector<FusedOp> ops;
  size_t tile_buffer_bytes = 0;  // one tile buffer (64-byte multiple)
  size_t buffers_per_thread = 0;
  int threads = 1;  // > 1: tiles are split over an OpenMP team
};

// The step's scratch bytes: every thread's tile buffers.
size_t fused_scratch_bytes(const FusedParams& p);
void fused_kernel(const KernelArgs& args, const KernelParams& params);

// Whether `node` (with `reads`, empty: all dense) may join a fused group: an elementwise node
// whose lowering is one of the flat or absorbed kernels, with a nonzero element count.
bool is_fusible(const ir::Node& node, std::span<const OperandRead> reads);
// The broadcast period of `reads` (0: no cyclic operand).
int64_t cyclic_period(std::span<const OperandRead> reads);
// `node`'s kernel for `count` of its elements (a tile); in: its operand types.
Lowered lower_tile(const ir::Node& node, std::span<const ir::ValueType> in,
                   std::span<const OperandRead> reads, int64_t count);

// The tile length for a group with broadcast period `period` (0: none).
int64_t tile_elements(int64_t period);
// Cyclic operands with periods above this are not fused (a tile must hold whole periods).
inline constexpr int64_t kMaxFusedPeriod = 16 * 1024;

}  // namespace kiln::cpu
