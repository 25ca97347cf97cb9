// gather, scatter, scatter_add/mul/min/max, dynamic_slice, dynamic_update_slice: strided copies
// (and, for the combining scatters, the elementwise binary kernels) whose offsets come from index
// operands read at run time. Out-of-bounds starts follow XLA, which JAX runs on: gather and the
// dynamic slices clamp each start so the slice stays inside the operand; a scatter drops an
// update window whose start would put any of it outside (FILL_OR_DROP, JAX's default).
#include <algorithm>
#include <cstring>
#include <limits>

#include "backend/cpu/lowerings.hpp"
#include "backend/cpu/strided_copy.hpp"

namespace kiln::cpu {
namespace {

using ir::Prim;

// Element i of an integer index buffer of dtype t, as int64 (uint64 above int64's range: its max,
// which clamps or drops like any out-of-range index).
int64_t read_index(const std::byte* p, DType t, int64_t i) {
  return visit_dtype(t, [&](auto tag) -> int64_t {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && !kIsBool<T>) {
      const T v = reinterpret_cast<const T*>(p)[i];
      if constexpr (std::is_same_v<T, uint64_t>) {
        return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                   ? std::numeric_limits<int64_t>::max()
                   : static_cast<int64_t>(v);
      } else {
        return static_cast<int64_t>(v);
      }
    } else {
      return 0;  // the type rule admits integer indices only
    }
  });
}

std::vector<int64_t> row_major(const Shape& s) {
  return strides_of(s);
}

bool contains(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Where a gather's or scatter's index vectors are and where each operand start comes from.
struct IndexWalk {
  DType index_dtype = DType::int32;
  std::vector<int64_t> batch_shape;        // the indices' dims without index_vector_dim
  std::vector<int64_t> batch_idx_strides;  // their element strides in the indices
  std::vector<int64_t> batch_res_strides;  // the strides of the matching result/updates dims
  int64_t vec_stride = 0, vec_size = 1;    // index_vector_dim's stride and size
  std::vector<int64_t> start_map;          // operand dim of index component k
  std::vector<std::pair<int64_t, size_t>> batching;  // (operand dim, position in batch_shape)
  std::vector<int64_t> operand_strides;
  std::vector<int64_t> limit;  // per operand dim: the largest start keeping the window inside
  int64_t batch_count() const {
    int64_t n = 1;
    for (int64_t d : batch_shape) n *= d;
    return n;
  }
};

// `res_batch_dims`: the result (gather) or updates (scatter) dims that hold the batch, in order.
IndexWalk index_walk(const ir::GatherDims& d, const ir::ValueType& operand,
                     const ir::ValueType& idx, const Shape& res,
                     const std::vector<int64_t>& res_batch_dims,
                     const std::vector<int64_t>& window_sizes) {
  IndexWalk w;
  w.index_dtype = idx.dtype;
  const std::vector<int64_t> is = row_major(idx.shape), rs = row_major(res);
  const int64_t ivd = d.index_vector_dim;
  size_t k = 0;
  for (int64_t i = 0; i < idx.shape.rank(); ++i) {
    if (i == ivd) continue;
    w.batch_shape.push_back(idx.shape[static_cast<int>(i)]);
    w.batch_idx_strides.push_back(is[static_cast<size_t>(i)]);
    w.batch_res_strides.push_back(rs[static_cast<size_t>(res_batch_dims[k++])]);
  }
  if (ivd < idx.shape.rank()) {
    w.vec_stride = is[static_cast<size_t>(ivd)];
    w.vec_size = idx.shape[static_cast<int>(ivd)];
  }
  w.start_map = d.start_index_map;
  for (size_t b = 0; b < d.operand_batching_dims.size(); ++b) {
    const int64_t id = d.start_indices_batching_dims[b];
    w.batching.emplace_back(d.operand_batching_dims[b],
                            static_cast<size_t>(id - (ivd < id ? 1 : 0)));
  }
  w.operand_strides = row_major(operand.shape);
  for (int i = 0; i < operand.shape.rank(); ++i)
    w.limit.push_back(operand.shape[i] - window_sizes[static_cast<size_t>(i)]);
  return w;
}

// Visits every index vector: f(operand offset of the window start, result/updates offset of
// the batch position, in_bounds) — in_bounds: no start needed clamping.
template <class F>
void walk(const IndexWalk& w, const std::byte* idx, F&& f) {
  const size_t nb = w.batch_shape.size();
  std::vector<int64_t> pos(nb, 0);
  const int64_t count = w.batch_count();
  for (int64_t n = 0; n < count; ++n) {
    int64_t idx_off = 0, res_off = 0, op_off = 0;
    for (size_t i = 0; i < nb; ++i) {
      idx_off += pos[i] * w.batch_idx_strides[i];
      res_off += pos[i] * w.batch_res_strides[i];
    }
    bool in_bounds = true;
    for (size_t k = 0; k < w.start_map.size(); ++k) {
      const auto dim = static_cast<size_t>(w.start_map[k]);
      const int64_t s =
          read_index(idx, w.index_dtype, idx_off + static_cast<int64_t>(k) * w.vec_stride);
      const int64_t c = std::clamp<int64_t>(s, 0, w.limit[dim]);
      in_bounds = in_bounds && c == s;
      op_off += c * w.operand_strides[dim];
    }
    for (const auto& [dim, b] : w.batching)
      op_off += pos[b] * w.operand_strides[static_cast<size_t>(dim)];
    f(op_off, res_off, in_bounds);
    for (size_t i = nb; i-- > 0;) {  // the odometer over the batch positions
      if (++pos[i] < w.batch_shape[i]) break;
      pos[i] = 0;
    }
  }
}

// The operand dims a slice or window spans (neither collapsed/inserted nor batching).
std::vector<int64_t> window_dims(const ir::GatherDims& d, int rank) {
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < rank; ++i)
    if (!contains(d.collapsed_slice_dims, i) && !contains(d.operand_batching_dims, i))
      dims.push_back(i);
  return dims;
}

std::vector<int64_t> complement(const std::vector<int64_t>& dims, int rank) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < rank; ++i)
    if (!contains(dims, i)) out.push_back(i);
  return out;
}

// ---- gather ---------------------------------------------------------------------------------

struct GatherParams : KernelParams {
  IndexWalk walk;
  StridedCopy window;  // operand window -> result, offsets added per index vector
};

void gather_kernel(const KernelArgs& a, const KernelParams& pp) {
  const auto& p = static_cast<const GatherParams&>(pp);
  const size_t width = p.window.width;
  walk(p.walk, a.in[1], [&](int64_t op_off, int64_t res_off, bool) {
    run_strided_copy(p.window, a.in[0] + op_off * static_cast<int64_t>(width),
                     a.out + res_off * static_cast<int64_t>(width));
  });
}

// ---- scatter --------------------------------------------------------------------------------

struct ScatterParams : KernelParams {
  IndexWalk walk;
  StridedCopy window;  // updates window -> operand window (merged dims)
  size_t operand_bytes = 0;
  // The combining scatters: the elementwise kernel of their combiner on `run` and on 1 element.
  KernelFn combine = nullptr;
  std::unique_ptr<KernelParams> run_params, one_params;
  bool contiguous_run = false;  // the window's inner dim is contiguous in updates and operand
};

void scatter_window(const ScatterParams& p, const std::byte* upd, std::byte* out) {
  const StridedCopy& c = p.window;
  if (c.empty) return;
  if (p.combine == nullptr) {
    run_strided_copy(c, upd, out);
    return;
  }
  const auto width = static_cast<int64_t>(c.width);
  auto apply = [&](const std::byte* u, std::byte* o, const KernelParams& params) {
    const std::byte* ins[2] = {o, u};
    p.combine(KernelArgs{ins, o, nullptr}, params);
  };
  if (c.rank == 0) {
    apply(upd, out, *p.one_params);
    return;
  }
  const int last = c.rank - 1;
  std::array<int64_t, StridedCopy::kMaxRank> pos{};
  for (;;) {
    int64_t in_off = 0, out_off = 0;
    for (int k = 0; k < last; ++k) {
      in_off += pos[k] * c.in_strides[k];
      out_off += pos[k] * c.out_strides[k];
    }
    if (p.contiguous_run) {
      apply(upd + in_off * width, out + out_off * width, *p.run_params);
    } else {
      for (int64_t i = 0; i < c.dims[last]; ++i)
        apply(upd + (in_off + i * c.in_strides[last]) * width,
              out + (out_off + i * c.out_strides[last]) * width, *p.one_params);
    }
    int k = last - 1;
    for (; k >= 0; --k) {
      if (++pos[k] < c.dims[k]) break;
      pos[k] = 0;
    }
    if (k < 0) return;
  }
}

void scatter_kernel(const KernelArgs& a, const KernelParams& pp) {
  const auto& p = static_cast<const ScatterParams&>(pp);
  if (p.operand_bytes != 0 && a.out != a.in[0]) std::memcpy(a.out, a.in[0], p.operand_bytes);
  const auto width = static_cast<int64_t>(p.window.width);
  walk(p.walk, a.in[1], [&](int64_t op_off, int64_t upd_off, bool in_bounds) {
    if (in_bounds) scatter_window(p, a.in[2] + upd_off * width, a.out + op_off * width);
  });
}

Prim combiner(Prim scatter) {
  switch (scatter) {
    case Prim::scatter_add:
      return Prim::add;
    case Prim::scatter_mul:
      return Prim::mul;
    case Prim::scatter_min:
      return Prim::min;
    case Prim::scatter_max:
      return Prim::max;
    default:
      return Prim::scatter;  // replace: no combiner
  }
}

// ---- dynamic slices -------------------------------------------------------------------------

struct DynamicSliceParams : KernelParams {
  StridedCopy copy;  // slice (or update) <-> operand, offset added at run time
  std::vector<int64_t> operand_strides, limit;
  DType index_dtype = DType::int32;
  size_t first_index = 1;  // the operand position of the first start index
  size_t operand_bytes = 0;
};

int64_t dynamic_offset(const DynamicSliceParams& p, const KernelArgs& a) {
  int64_t off = 0;
  for (size_t i = 0; i < p.limit.size(); ++i) {
    const int64_t s = read_index(a.in[p.first_index + i], p.index_dtype, 0);
    off += std::clamp<int64_t>(s, 0, p.limit[i]) * p.operand_strides[i];
  }
  return off;
}

void dynamic_slice_kernel(const KernelArgs& a, const KernelParams& pp) {
  const auto& p = static_cast<const DynamicSliceParams&>(pp);
  const auto width = static_cast<int64_t>(p.copy.width);
  run_strided_copy(p.copy, a.in[0] + dynamic_offset(p, a) * width, a.out);
}

void dynamic_update_slice_kernel(const KernelArgs& a, const KernelParams& pp) {
  const auto& p = static_cast<const DynamicSliceParams&>(pp);
  if (p.operand_bytes != 0 && a.out != a.in[0]) std::memcpy(a.out, a.in[0], p.operand_bytes);
  const auto width = static_cast<int64_t>(p.copy.width);
  run_strided_copy(p.copy, a.in[1], a.out + dynamic_offset(p, a) * width);
}

}  // namespace

Lowered lower_gather(const ir::Node& node, std::span<const ir::ValueType> in) {
  const ir::GatherDims& d = node.attrs.gather;
  const Shape& out = node.type.shape;
  const int rank = in[0].shape.rank();
  auto params = std::make_unique<GatherParams>();
  params->walk =
      index_walk(d, in[0], in[1], out, complement(d.offset_dims, out.rank()), d.slice_sizes);
  // The window: operand dim window[k] of slice_sizes[window[k]] elements -> result offset_dims[k].
  const std::vector<int64_t> wd = window_dims(d, rank);
  const std::vector<int64_t> xs = row_major(in[0].shape), os = row_major(out);
  std::vector<int64_t> sizes, in_strides, out_strides;
  for (size_t k = 0; k < wd.size(); ++k) {
    sizes.push_back(d.slice_sizes[static_cast<size_t>(wd[k])]);
    in_strides.push_back(xs[static_cast<size_t>(wd[k])]);
    out_strides.push_back(os[static_cast<size_t>(d.offset_dims[k])]);
  }
  params->window = make_strided_copy(sizes, in_strides, 0, out_strides, 0, itemsize(in[0].dtype));
  Lowered l;
  l.fn = &gather_kernel;
  // An empty operand dim (slice size 0) or an empty index batch: nothing to read.
  if (out.numel() == 0) params->walk.batch_shape.assign(1, 0);
  l.params = std::move(params);
  return l;
}

Lowered lower_scatter(const ir::Node& node, std::span<const ir::ValueType> in) {
  const ir::GatherDims& d = node.attrs.gather;
  const ir::ValueType &x = in[0], &upd = in[2];
  const int rank = x.shape.rank();
  const std::vector<int64_t> wd = window_dims(d, rank);
  std::vector<int64_t> window_sizes(static_cast<size_t>(rank), 1);
  const std::vector<int64_t> us = row_major(upd.shape), xs = row_major(x.shape);
  std::vector<int64_t> sizes, in_strides, out_strides;
  for (size_t k = 0; k < wd.size(); ++k) {
    const int64_t n = upd.shape[static_cast<int>(d.offset_dims[k])];
    window_sizes[static_cast<size_t>(wd[k])] = n;
    sizes.push_back(n);
    in_strides.push_back(us[static_cast<size_t>(d.offset_dims[k])]);
    out_strides.push_back(xs[static_cast<size_t>(wd[k])]);
  }
  auto params = std::make_unique<ScatterParams>();
  params->walk =
      index_walk(d, x, in[1], upd.shape, complement(d.offset_dims, upd.shape.rank()), window_sizes);
  params->window = make_strided_copy(sizes, in_strides, 0, out_strides, 0, itemsize(x.dtype));
  params->operand_bytes = static_cast<size_t>(x.shape.numel()) * itemsize(x.dtype);
  if (upd.shape.numel() == 0) params->walk.batch_shape.assign(1, 0);
  const Prim op = combiner(node.prim);
  if (op != Prim::scatter) {
    const StridedCopy& c = params->window;
    const int64_t run = c.rank > 0 ? c.dims[c.rank - 1] : 1;
    params->contiguous_run =
        c.rank > 0 && c.in_strides[c.rank - 1] == 1 && c.out_strides[c.rank - 1] == 1;
    // The elementwise kernel of the combiner (the same functor as add/mul/min/max: the same
    // rounding of bfloat16/float16 and the same NaN rule), over one run and over one element.
    auto binary = [&](int64_t n) {
      ir::Node b{op, {}, {}, ir::ValueType{x.dtype, Shape{n}}, node.loc};
      const ir::ValueType types[2] = {b.type, b.type};
      return lower_binary(b, types);
    };
    Lowered one = binary(1), whole = binary(run);
    params->combine = one.fn;
    params->one_params = std::move(one.params);
    params->run_params = std::move(whole.params);
  }
  Lowered l;
  l.fn = &scatter_kernel;
  l.params = std::move(params);
  return l;
}

Lowered lower_dynamic_slice(const ir::Node& node, std::span<const ir::ValueType> in) {
  const bool update = node.prim == Prim::dynamic_update_slice;
  const ir::ValueType& x = in[0];
  const Shape& sizes = update ? in[1].shape : node.type.shape;
  auto params = std::make_unique<DynamicSliceParams>();
  params->operand_strides = row_major(x.shape);
  for (int i = 0; i < x.shape.rank(); ++i) params->limit.push_back(x.shape[i] - sizes[i]);
  params->first_index = update ? 2 : 1;
  if (in.size() > params->first_index) params->index_dtype = in[params->first_index].dtype;
  const size_t width = itemsize(x.dtype);
  if (update) {
    params->copy =
        make_strided_copy(sizes.dims(), row_major(sizes), 0, params->operand_strides, 0, width);
    params->operand_bytes = static_cast<size_t>(x.shape.numel()) * width;
  } else {
    params->copy =
        make_strided_copy(sizes.dims(), params->operand_strides, 0, row_major(sizes), 0, width);
  }
  Lowered l;
  l.fn = update ? &dynamic_update_slice_kernel : &dynamic_slice_kernel;
  l.params = std::move(params);
  return l;
}

}  // namespace kiln::cpu
