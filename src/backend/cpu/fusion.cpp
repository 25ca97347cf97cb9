#include "backend/cpu/fusion.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <numeric>

#include "backend/cpu/gemm.hpp"
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

// Where the head's chunk of results sits: tile `start` (an element index) is at
// buffer + (start - first) elements.
struct HeadChunk {
  std::byte* buffer = nullptr;
  int64_t first = 0;
};

// Adds a tile of `count` elements (whole periods) of a member's value to its sum's accumulators.
void fold_sum(const FusedSum& s, const float* x, int64_t count, double* acc) {
  for (int64_t i = 0; i < count; i += s.period) {
    for (int64_t j = 0; j < s.period; ++j) acc[j] = acc[j] + static_cast<double>(x[i + j]);
  }
}

// Runs tiles [t0, t1) with this thread's tile buffers.
void run_tiles(const KernelArgs& args, const FusedParams& p, int64_t t0, int64_t t1,
               std::byte* buffers, HeadChunk head) {
  std::array<const std::byte*, 4> ptrs{};
  auto resolve = [&](const FusedOperand& o, int64_t start) -> std::byte* {
    if (o.from == FusedOperand::From::tile) return buffers + o.index * p.tile_buffer_bytes;
    if (o.from == FusedOperand::From::head)
      return head.buffer + static_cast<size_t>(start - head.first) * o.itemsize;
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
    for (const FusedSum& s : p.sums) {
      fold_sum(s, reinterpret_cast<const float*>(resolve(s.in, start)),
               last ? p.numel - start : p.tile,
               reinterpret_cast<double*>(args.scratch + s.acc_offset));
    }
  }
}

// Tiles [t0, t1), split over the team when the group runs on more than one thread.
void run_tile_range(const KernelArgs& args, const FusedParams& p, int64_t t0, int64_t t1,
                    std::byte* scratch, HeadChunk head) {
  if (p.threads <= 1 || t1 - t0 < 2) {
    run_tiles(args, p, t0, t1, scratch, head);
    return;
  }
  use_threads();
  const size_t per_thread = p.tile_buffer_bytes * p.buffers_per_thread;
#pragma omp parallel num_threads(p.threads)
  {
    // Contiguous tile ranges, one per thread: each streams its own part of every operand.
    const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const int64_t n = t1 - t0;
    run_tiles(args, p, t0 + n * id / nt, t0 + n * (id + 1) / nt,
              scratch + static_cast<size_t>(id) * per_thread, head);
  }
}

// The head over each chunk of rows, then the group's tiles over that chunk.
void run_with_head(const KernelArgs& args, const FusedParams& p) {
  const FusedHead& h = *p.head;
  std::array<const std::byte*, 4> ptrs{};
  std::byte* buffer = args.scratch + h.buffer_offset;
  const int64_t tiles = (p.numel + p.tile - 1) / p.tile;
  const int64_t tiles_per_chunk = h.chunk_elements / p.tile;
  for (int64_t c = 0, row = 0; row < h.rows; ++c, row += h.chunk_rows) {
    for (size_t k = 0; k < h.inputs.size(); ++k) ptrs[k] = args.in[h.inputs[k]];
    ptrs[0] += static_cast<size_t>(c) * h.input0_chunk_bytes;
    const KernelArgs a{{ptrs.data(), h.inputs.size()}, buffer, args.scratch};
    h.fn(a, row + h.chunk_rows <= h.rows ? *h.full_chunk : *h.last_chunk);
    const int64_t t0 = c * tiles_per_chunk;
    const int64_t t1 = row + h.chunk_rows >= h.rows ? tiles : t0 + tiles_per_chunk;
    run_tile_range(args, p, t0, t1, args.scratch + h.tiles_offset, {buffer, c * h.chunk_elements});
  }
}

}  // namespace

size_t fused_tiles_end(const FusedParams& p) {
  const size_t tiles = p.tile_buffer_bytes * p.buffers_per_thread * static_cast<size_t>(p.threads);
  return p.head ? p.head->tiles_offset + tiles : tiles;
}

size_t fused_scratch_bytes(const FusedParams& p) {
  return p.sums.empty() ? fused_tiles_end(p) : p.sums_offset + p.sums_bytes;
}

void fused_kernel(const KernelArgs& args, const KernelParams& params) {
  const auto& p = static_cast<const FusedParams&>(params);
  for (const FusedSum& s : p.sums) {
    std::fill_n(reinterpret_cast<double*>(args.scratch + s.acc_offset), s.period, 0.0);
  }
  if (p.head) {
    run_with_head(args, p);
  } else {
    run_tile_range(args, p, 0, (p.numel + p.tile - 1) / p.tile, args.scratch, {});
  }
  for (const FusedSum& s : p.sums) {
    const auto* acc = reinterpret_cast<const double*>(args.scratch + s.acc_offset);
    auto* out = reinterpret_cast<float*>(const_cast<std::byte*>(args.in[s.out]));
    for (int64_t j = 0; j < s.period; ++j) out[j] = static_cast<float>(acc[j]);
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

bool can_head(const ir::Node& node, std::span<const ir::ValueType> in) {
  if (node.type.shape.rank() == 0 || node.type.shape.numel() == 0 || in.size() != 2 ||
      in[0].shape.rank() == 0)
    return false;
  if (node.prim == ir::Prim::dot_general) {
    // No batch dims and operand 0's leading dim free: it is the result's leading dim.
    const ir::DotDims& d = node.attrs.dot;
    return d.lhs_batch.empty() &&
           std::find(d.lhs_contract.begin(), d.lhs_contract.end(), 0) == d.lhs_contract.end();
  }
  if (node.prim == ir::Prim::convolution) {
    // The batch leads operand 0 and the result; each image's result reads that image only.
    const ir::ConvDims& c = node.attrs.conv;
    return c.batch_group_count == 1 && c.lhs_spec[0] == 0 && c.out_spec[0] == 0;
  }
  return false;
}

Lowered lower_head_chunk(const ir::Node& node, std::span<const ir::ValueType> in, int64_t rows) {
  ir::Node chunk = node;
  chunk.type.shape[0] = rows;
  std::vector<ir::ValueType> types(in.begin(), in.end());
  types[0].shape[0] = rows;
  return prim_row(node.prim).lower(chunk, types);
}

int64_t head_chunk_rows(const ir::Node& head, std::span<const ir::ValueType> in) {
  const int64_t rows = head.type.shape[0];
  // oneDNN's convolutions lose more at a few images per call than the cache traffic saves (the
  // Fashion-MNIST CNN's 14x14x32->64 layer at batch 128, 1 thread: 8.7 ms as one call plus its
  // epilogue, 12.2 ms in chunks of 2 images; docs/cpu-backend.md): one chunk.
  if (head.prim == ir::Prim::convolution) return rows;
  // The result is [m rows..., n columns...]: operand 0's free dims, then operand 1's.
  const int lhs_free = in[0].shape.rank() - static_cast<int>(head.attrs.dot.lhs_contract.size());
  int64_t gemm_rows_per_row = 1, n = 1;
  for (int i = 1; i < head.type.shape.rank(); ++i)
    (i < lhs_free ? gemm_rows_per_row : n) *= head.type.shape[i];
  // GEMM rows: 256 KiB of results, in L2 with the tile buffers while the group reads them. For
  // float32 a chunk is whole blocks of the product's sgemm calls (gemm.hpp), so that it gives the
  // whole product's bits: the fewest leading rows making a whole number of blocks.
  if (head.type.dtype == DType::float32) {
    const int64_t block = sgemm_block_rows(n);
    if (block == 0) return rows;  // one sgemm call: one chunk
    return std::min(block / std::gcd(block, gemm_rows_per_row), rows);
  }
  constexpr int64_t kChunkBytes = 256 * 1024;
  const int64_t row_bytes = gemm_rows_per_row * n * static_cast<int64_t>(itemsize(head.type.dtype));
  return std::clamp<int64_t>(kChunkBytes / std::max<int64_t>(row_bytes, 1), 1, rows);
}

int64_t head_tile_elements(int64_t period, int64_t chunk_elements) {
  const int64_t unit = std::max<int64_t>(period, 1);
  if (chunk_elements % unit != 0) return 0;
  for (int64_t tile = tile_elements(period); tile >= unit; tile -= unit) {
    if (chunk_elements % tile == 0) return tile;
  }
  return 0;
}

bool can_fold_sum(const ir::Node& sum, std::span<const ir::ValueType> in, int64_t tile) {
  if (sum.prim != ir::Prim::reduce_sum || in.size() != 1 || in[0].dtype != DType::float32 ||
      sum.type.dtype != DType::float32)
    return false;
  // The reduced axes are the leading ones: the result is a period of the operand's elements.
  std::vector<int64_t> axes = sum.attrs.dims;
  std::sort(axes.begin(), axes.end());
  for (size_t k = 0; k < axes.size(); ++k)
    if (axes[k] != static_cast<int64_t>(k)) return false;
  const int64_t period = sum.type.shape.numel();
  return period > 0 && period <= kMaxFusedPeriod && tile % period == 0;
}

}  // namespace kiln::cpu
