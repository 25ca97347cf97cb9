#include "backend/cpu/fusion.hpp"

#include <omp.h>

#include <algorithm>
#include <array>

#include "backend/cpu/kernel_table.hpp"
#include "backend/cpu/threads.hpp"

namespace kiln::cpu {
namespace {

// 1024 elements: 4 KiB per float32 tile buffer, so a chain's few live buffers and the tile's
// slices of its operands stay in L1 (32 KiB here); each kernel call still covers enough elements
// that the per-call cost (a few ns) is noise. 256 to 16384 measured within noise of each other on
// the MLP train step's Adam update.
constexpr int64_t kTileElements = 1024;

bool flat_elementwise(ir::Prim p) {
  const LowerFn f = prim_row(p).lower;
  return f == &lower_unary || f == &lower_binary || f == &lower_compare || f == &lower_select ||
         f == &lower_convert;
}

// Runs tiles [t0, t1) with this thread's tile buffers.
void run_tiles(const KernelArgs& args, const FusedParams& p, int64_t t0, int64_t t1,
               std::byte* buffers) {
  std::array<const std::byte*, 4> ptrs{};
  auto resolve = [&](const FusedOperand& o, int64_t start) -> std::byte* {
    if (o.from == FusedOperand::From::tile) return buffers + o.index * p.tile_buffer_bytes;
    // Results the group materializes are trailing step operands: the kernel writes them.
    auto* base = const_cast<std::byte*>(args.in[o.index]);
    return o.advance ? base + static_cast<size_t>(start) * o.itemsize : base;
  };
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t start = t * p.tile;
    const bool last = start + p.tile > p.numel;
    for (const FusedOp& op : p.ops) {
      for (size_t k = 0; k < op.in.size(); ++k) ptrs[k] = resolve(op.in[k], start);
      const KernelArgs a{{ptrs.data(), op.in.size()}, resolve(op.out, start), nullptr};
      op.fn(a, last ? *op.last_tile : *op.full_tile);
    }
  }
}

}  // namespace

size_t fused_scratch_bytes(const FusedParams& p) {
  return p.tile_buffer_bytes * p.buffers_per_thread * static_cast<size_t>(p.threads);
}

void fused_kernel(const KernelArgs& args, const KernelParams& params) {
  const auto& p = static_cast<const FusedParams&>(params);
  const int64_t tiles = (p.numel + p.tile - 1) / p.tile;
  if (p.threads <= 1 || tiles < 2) {
    run_tiles(args, p, 0, tiles, args.scratch);
    return;
  }
  use_threads();
  const size_t per_thread = p.tile_buffer_bytes * p.buffers_per_thread;
#pragma omp parallel num_threads(p.threads)
  {
    // Contiguous tile ranges, one per thread: each streams its own part of every operand.
    const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t t0 = tiles * id / nt, t1 = tiles * (id + 1) / nt;
    run_tiles(args, p, t0, t1, args.scratch + static_cast<size_t>(id) * per_thread);
  }
}

bool is_fusible(const ir::Node& node, std::span<const OperandRead> reads) {
  if (node.type.shape.numel() <= 0) return false;
  if (reads.empty()) return flat_elementwise(node.prim);
  const int64_t period = cyclic_period(reads);
  return period <= kMaxFusedPeriod;
}

int64_t cyclic_period(std::span<const OperandRead> reads) {
  int64_t period = 0;
  for (const OperandRead& r : reads) {
    if (r.kind == OperandRead::Kind::cyclic) period = r.period;
  }
  return period;
}

Lowered lower_tile(const ir::Node& node, std::span<const ir::ValueType> in,
                   std::span<const OperandRead> reads, int64_t count) {
  // The lowerings read the element count from the result type only; a tile is the same node over
  // `count` elements (a whole number of periods, so cyclic operands restart at each tile).
  ir::Node tile = node;
  tile.type.shape = Shape{count};
  if (reads.empty()) return prim_row(node.prim).lower(tile, in);
  return lower_absorbing(tile, in, reads);
}

int64_t tile_elements(int64_t period) {
  if (period <= 0) return kTileElements;
  return period * std::max<int64_t>(1, kTileElements / period);
}

}  // namespace kiln::cpu
