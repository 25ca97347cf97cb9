// Elementwise fusion: a chain of elementwise nodes of one element count runs as one step that
// walks the elements tile by tile (a few KiB, so a tile stays in L1) and, per tile, calls each
// node's own kernel in graph order. Values only the group reads live in per-thread tile buffers
// and never touch the arena; values read elsewhere (or graph outputs) are written to their places
// tile by tile. Because each node runs the very kernel it runs unfused (on a shorter range, with
// the same per-element arithmetic and rounding), the results are bit-identical to the unfused
// schedule. The planner (schedule_plan.cpp) picks the groups; the lowering pass
// (schedule_lowering.cpp) builds their params.
//
// A group may also take a head: the GEMM or convolution whose result only the group reads (a
// layer's bias and activation are its epilogue). The step then runs the head over a chunk of its
// result's leading dim (rows of a GEMM) into a scratch buffer of a few hundred KiB, and the
// group's tiles over that chunk while it is still in cache, chunk after chunk: the head's result
// is never written to memory whole and read back. A chunk is the same node over fewer rows,
// lowered by its own lowering; each result row depends on its own rows of operand 0 only. A
// float32 GEMM's chunk is whole blocks of the sgemm calls the product makes unfused (gemm.hpp), so
// the chunks give the whole product's bits on every instruction set (oneDNN's AVX2 kernels give a
// row other bits in a call of another row count; pinned by tests/backend/fusion_test.cpp). A
// convolution heads its group as one chunk (head_chunk_rows).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
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
    head,  // the head's chunk buffer (FusedHead)
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

// The producer a group runs ahead of its tiles, one chunk of result rows at a time.
struct FusedHead {
  KernelFn fn = nullptr;
  std::unique_ptr<KernelParams> full_chunk, last_chunk;  // lowered for chunk_rows / the rest
  int64_t rows = 0;                                      // the result's leading dim
  int64_t chunk_rows = 0;                                // rows per chunk
  int64_t chunk_elements = 0;     // result elements per chunk: a whole number of tiles
  std::vector<uint32_t> inputs;   // step operand of each of its inputs; inputs[0] is chunked
  size_t input0_chunk_bytes = 0;  // how far operand 0 advances per chunk
  size_t scratch_bytes = 0;       // its own scratch: the start of the step's scratch
  size_t buffer_offset = 0;       // then the chunk buffer (its result)
  size_t tiles_offset = 0;        // then the tile buffers
  uint32_t itemsize = 0;
};

// Reduction fusion: a reduce_sum over the leading dims of a member's value (a bias gradient) that
// the group folds in tile by tile instead of reading the value back from memory afterwards. Its
// double accumulators take the tiles in order, element for element what the unfused kernel
// (reduce_kernels.cpp) adds in what order, so the sum has the same bits; for that order the group
// runs on one thread.
struct FusedSum {
  FusedOperand in;        // the member's value, per tile
  uint32_t out = 0;       // step operand of the result (float32, `period` elements)
  int64_t period = 0;     // result elements; every tile holds whole periods
  size_t acc_offset = 0;  // its double accumulators in the step's scratch
};

struct FusedParams : KernelParams {
  int64_t numel = 0;
  int64_t tile = 0;  // elements per tile; a multiple of the group's broadcast period
  std::vector<FusedOp> ops;
  size_t tile_buffer_bytes = 0;  // one tile buffer (64-byte multiple)
  size_t buffers_per_thread = 0;
  int threads = 1;  // > 1: tiles are split over an OpenMP team
  std::optional<FusedHead> head;
  std::vector<FusedSum> sums;  // only with threads == 1
  size_t sums_offset = 0;      // where the accumulators start in the step's scratch
  size_t sums_bytes = 0;
};

// Where the tile buffers end in the step's scratch (after the head's scratch and chunk buffer);
// the sums' accumulators follow.
size_t fused_tiles_end(const FusedParams& p);
// The step's scratch bytes: the head's, every thread's tile buffers, the sums' accumulators.
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

// Whether `node` can head a fused group: a dot_general or convolution whose result's leading dim
// comes from operand 0's leading dim, each result row from its own rows, so that a chunk of rows
// is the same node over a slice of operand 0 (see the top of this file).
bool can_head(const ir::Node& node, std::span<const ir::ValueType> in);
// `node` lowered for `rows` rows of its result's leading dim.
Lowered lower_head_chunk(const ir::Node& node, std::span<const ir::ValueType> in, int64_t rows);
// Rows per chunk of `head`'s result (in: its operand types): a few hundred KiB, in cache while
// the group's tiles read them; for float32 GEMMs whole blocks of its sgemm calls (gemm.hpp); all
// rows for a convolution.
int64_t head_chunk_rows(const ir::Node& head, std::span<const ir::ValueType> in);
// A tile length for a group with broadcast period `period` that divides `chunk_elements`, or 0
// when none does (the group then takes no head).
int64_t head_tile_elements(int64_t period, int64_t chunk_elements);

// Whether `sum` (a reduce_sum of a value of a one-thread group with tiles of `tile` elements) can
// be folded into the group: float32, over leading dims, a result of whole-tile periods.
bool can_fold_sum(const ir::Node& sum, std::span<const ir::ValueType> in, int64_t tile);
// What compile() fuses: nodes of at least this many elements (16 KiB of float32).
inline constexpr int64_t kMinFusedElements = 4096;
// Cyclic operands with periods above this are not fused (a tile must hold whole periods).
inline constexpr int64_t kMaxFusedPeriod = 16 * 1024;

}  // namespace kiln::cpu
