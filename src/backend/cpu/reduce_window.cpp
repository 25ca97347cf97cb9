// reduce_window_sum/max/min/prod and select_and_scatter_add (the max pool's VJP). Trailing
// dims that the window passes through unchanged (window 1, stride 1, no padding: the features of
// an NHWC pool) form one contiguous inner run, so a pool is a tight loop over channels per window
// position; other forms are the same loop with a run of one.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {
namespace {

struct WindowParams : KernelParams {
  size_t rank = 0;                           // outer dims (the pass-through run excluded)
  std::vector<int64_t> in_dims, in_strides;  // strides in units of the inner run
  std::vector<int64_t> out_dims, window, stride, low;
  int64_t inner = 1;  // elements of the pass-through run
  int64_t out_outer = 1, in_numel = 0;
  std::vector<int64_t> window_index;  // every window position, rank entries each
  bool windows_disjoint = false;      // stride >= window on every dim: no element in two windows
  bool windows_tile_operand = false;  // and every operand element is in exactly one window
};

// The operand elements (in units of the run) a window at output index `out` covers, in window
// order, skipping padding. Returns the count written to `offsets`.
size_t window_offsets(const WindowParams& p, const std::vector<int64_t>& out, int64_t* offsets) {
  const size_t nw = p.window_index.size() / std::max<size_t>(p.rank, 1);
  size_t count = 0;
  for (size_t w = 0; w < (p.rank == 0 ? 1 : nw); ++w) {
    int64_t off = 0;
    bool inside = true;
    for (size_t i = 0; i < p.rank && inside; ++i) {
      const int64_t pos = out[i] * p.stride[i] + p.window_index[w * p.rank + i] - p.low[i];
      inside = pos >= 0 && pos < p.in_dims[i];
      off += pos * p.in_strides[i];
    }
    if (inside) offsets[count++] = off;
  }
  return count;
}

void next(std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  for (size_t i = idx.size(); i-- > 0;) {
    if (++idx[i] < dims[i]) return;
    idx[i] = 0;
  }
}

size_t window_size(const WindowParams& p) {
  return p.rank == 0 ? 1 : p.window_index.size() / p.rank;
}

// The combiner of a windowed reduction.
enum class WindowOp { sum, max, min, prod };

template <class T, WindowOp kOp>
void reduce_window_kernel(const KernelArgs& args, const KernelParams& params) {
  const auto& p = static_cast<const WindowParams&>(params);
  using C = compute_t<T>;
  const T* in = in_ptr<T>(args, 0);
  T* out = out_ptr<T>(args);
  auto* acc = reinterpret_cast<C*>(args.scratch);
  auto* offsets = reinterpret_cast<int64_t*>(args.scratch + p.inner * sizeof(double));
  constexpr bool kMax = kOp == WindowOp::max, kMin = kOp == WindowOp::min;
  C init;
  if constexpr (kOp == WindowOp::sum) {
    init = C(0);
  } else if constexpr (kOp == WindowOp::prod) {
    init = C(1);
  } else if constexpr (std::numeric_limits<C>::has_infinity) {
    init = kMax ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity();
  } else {
    init = kMax ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
  }
  std::vector<int64_t> idx(p.rank, 0);
  for (int64_t o = 0; o < p.out_outer; ++o, next(idx, p.out_dims)) {
    for (int64_t c = 0; c < p.inner; ++c) acc[c] = init;
    const size_t n = window_offsets(p, idx, offsets);
    for (size_t w = 0; w < n; ++w) {
      const T* src = in + offsets[w] * p.inner;
      for (int64_t c = 0; c < p.inner; ++c) {
        const C x = load(src[c]);
        if constexpr (kMax || kMin) {
          // max and min as the primitives (NaN propagates, -0 below +0); selects only, so the
          // loop over channels vectorizes.
          acc[c] = kMax ? max_of(acc[c], x) : min_of(acc[c], x);
        } else if constexpr (kIsBool<T>) {
          acc[c] = acc[c] || x;
        } else if constexpr (kOp == WindowOp::prod) {
          if constexpr (kIsInt<T>) {  // wraps like the dtype
            acc[c] = static_cast<C>(static_cast<uint64_t>(acc[c]) * static_cast<uint64_t>(x));
          } else {
            acc[c] = static_cast<C>(acc[c] * x);
          }
        } else {
          acc[c] = static_cast<C>(acc[c] + x);
        }
      }
    }
    T* dst = out + o * p.inner;
    for (int64_t c = 0; c < p.inner; ++c) dst[c] = store<T>(acc[c]);
  }
}

// XLA's SelectAndScatter with select = `>=` (what JAX's max pool VJP binds): a window keeps its
// first element unless a later one is not <= it, so the cotangent goes to the first maximum.
//
// Windows that do not overlap (stride >= window on every dim: the usual 2x2 pool) scatter each
// operand element at most once, so the sum an element receives is 0 + g for its window's winner
// and 0 otherwise: tiled_select_and_scatter writes exactly that, per window, with the winner kept
// as a window number in a branch-free loop over the channels (vectorized), and skips zeroing when
// the windows tile the operand exactly. Same comparisons in the same order, so the same bits.
template <class T>
void tiled_select_and_scatter(const WindowParams& p, const KernelArgs& args) {
  const T* source = in_ptr<T>(args, 0);
  const T* operand = in_ptr<T>(args, 1);
  T* out = out_ptr<T>(args);
  auto* best = reinterpret_cast<T*>(args.scratch);
  auto* winner = reinterpret_cast<int32_t*>(args.scratch + p.inner * sizeof(double));
  auto* offsets = reinterpret_cast<int64_t*>(args.scratch + p.inner * (sizeof(double) + 8));
  if (!p.windows_tile_operand) std::fill(out, out + p.in_numel, T(0));
  std::vector<int64_t> idx(p.rank, 0);
  for (int64_t o = 0; o < p.out_outer; ++o, next(idx, p.out_dims)) {
    const size_t n = window_offsets(p, idx, offsets);
    if (n == 0) continue;
    const T* first = operand + offsets[0] * p.inner;
    for (int64_t c = 0; c < p.inner; ++c) {
      best[c] = first[c];
      winner[c] = 0;
    }
    for (size_t w = 1; w < n; ++w) {
      const T* src = operand + offsets[w] * p.inner;
      const auto wi = static_cast<int32_t>(w);
      for (int64_t c = 0; c < p.inner; ++c) {
        const T x = src[c];
        const bool take = !(best[c] >= x);
        best[c] = take ? x : best[c];
        winner[c] = take ? wi : winner[c];
      }
    }
    // The winner's 0 + g, else +0 (all bits clear), through an integer mask: with a ?: on floats
    // GCC branches per element instead of vectorizing.
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    const T* g = source + o * p.inner;
    for (size_t w = 0; w < n; ++w) {
      T* dst = out + offsets[w] * p.inner;
      const auto wi = static_cast<int32_t>(w);
      for (int64_t c = 0; c < p.inner; ++c) {
        const Bits mask = Bits{0} - static_cast<Bits>(winner[c] == wi);
        dst[c] = std::bit_cast<T>(static_cast<Bits>(std::bit_cast<Bits>(T(0) + g[c]) & mask));
      }
    }
  }
}

template <class T>
void select_and_scatter_add_kernel(const KernelArgs& args, const KernelParams& params) {
  const auto& p = static_cast<const WindowParams&>(params);
  if constexpr (std::is_floating_point_v<T>) {
    if (p.windows_disjoint) {
      tiled_select_and_scatter<T>(p, args);
      return;
    }
  }
  using C = compute_t<T>;
  const T* source = in_ptr<T>(args, 0);
  const T* operand = in_ptr<T>(args, 1);
  T* out = out_ptr<T>(args);
  auto* best = reinterpret_cast<C*>(args.scratch);
  auto* where = reinterpret_cast<int64_t*>(args.scratch + p.inner * sizeof(double));
  auto* offsets = where + p.inner;
  // Sums gather in the compute type (float for 16-bit floats) and are rounded once at the end.
  C* sums = kIsHalf<T> ? reinterpret_cast<C*>(offsets + window_size(p)) : reinterpret_cast<C*>(out);
  for (int64_t i = 0; i < p.in_numel; ++i) sums[i] = C(0);
  std::vector<int64_t> idx(p.rank, 0);
  for (int64_t o = 0; o < p.out_outer; ++o, next(idx, p.out_dims)) {
    const size_t n = window_offsets(p, idx, offsets);
    if (n == 0) continue;
    const T* first = operand + offsets[0] * p.inner;
    for (int64_t c = 0; c < p.inner; ++c) {
      best[c] = load(first[c]);
      where[c] = offsets[0] * p.inner + c;
    }
    for (size_t w = 1; w < n; ++w) {
      const T* src = operand + offsets[w] * p.inner;
      for (int64_t c = 0; c < p.inner; ++c) {
        const C x = load(src[c]);
        if (!(best[c] >= x)) {
          best[c] = x;
          where[c] = offsets[w] * p.inner + c;
        }
      }
    }
    const T* g = source + o * p.inner;
    for (int64_t c = 0; c < p.inner; ++c) sums[where[c]] += load(g[c]);
  }
  if constexpr (kIsHalf<T>) {
    for (int64_t i = 0; i < p.in_numel; ++i) out[i] = store<T>(sums[i]);
  }
}

std::unique_ptr<WindowParams> window_params(const ir::Attrs& a, const Shape& in, const Shape& out) {
  auto p = std::make_unique<WindowParams>();
  int rank = in.rank();
  // The trailing pass-through run.
  while (rank > 0) {
    const auto d = static_cast<size_t>(rank - 1);
    if (a.window[d] != 1 || a.stride[d] != 1 || a.low[d] != 0 || a.high[d] != 0) break;
    p->inner *= in[rank - 1];
    --rank;
  }
  p->rank = static_cast<size_t>(rank);
  std::vector<int64_t> strides(p->rank, 1);
  for (size_t i = p->rank; i-- > 1;) strides[i - 1] = strides[i] * in[static_cast<int>(i)];
  p->in_strides = strides;
  for (size_t i = 0; i < p->rank; ++i) {
    p->in_dims.push_back(in[static_cast<int>(i)]);
    p->out_dims.push_back(out[static_cast<int>(i)]);
    p->out_outer *= out[static_cast<int>(i)];
    p->window.push_back(a.window[i]);
    p->stride.push_back(a.stride[i]);
    p->low.push_back(a.low[i]);
  }
  if (p->inner == 0) p->out_outer = 0;
  p->windows_disjoint = true;
  p->windows_tile_operand = true;
  for (size_t i = 0; i < p->rank; ++i) {
    p->windows_disjoint = p->windows_disjoint && p->stride[i] >= p->window[i];
    p->windows_tile_operand = p->windows_tile_operand && p->stride[i] == p->window[i] &&
                              p->low[i] == 0 && p->out_dims[i] * p->stride[i] == p->in_dims[i];
  }
  p->windows_tile_operand = p->windows_tile_operand && p->windows_disjoint;
  p->in_numel = in.numel();
  std::vector<int64_t> w(p->rank, 0);
  int64_t count = 1;
  for (int64_t d : p->window) count *= d;
  for (int64_t i = 0; i < count && p->rank > 0; ++i, next(w, p->window))
    p->window_index.insert(p->window_index.end(), w.begin(), w.end());
  return p;
}

}  // namespace

Lowered lower_reduce_window(const ir::Node& node, std::span<const ir::ValueType> in) {
  (void)ir::infer_type(node.prim, in, node.attrs, node.loc);  // attrs are indexed per dim below
  auto params = window_params(node.attrs, in[0].shape, node.type.shape);
  const ir::Prim prim = node.prim;
  Lowered l;
  l.scratch_bytes =
      static_cast<size_t>(params->inner) * sizeof(double) + window_size(*params) * sizeof(int64_t);
  l.fn = visit_dtype(in[0].dtype, [&](auto tag) -> KernelFn {
    using T = decltype(tag);
    if (prim == ir::Prim::reduce_window_max) return &reduce_window_kernel<T, WindowOp::max>;
    if (prim == ir::Prim::reduce_window_min) return &reduce_window_kernel<T, WindowOp::min>;
    if constexpr (kIsBool<T>) {
      return nullptr;
    } else if (prim == ir::Prim::reduce_window_prod) {
      return &reduce_window_kernel<T, WindowOp::prod>;
    } else {
      return &reduce_window_kernel<T, WindowOp::sum>;
    }
  });
  if (l.fn == nullptr) no_kernel(node, in[0].dtype);
  l.params = std::move(params);
  return l;
}

Lowered lower_select_and_scatter_add(const ir::Node& node, std::span<const ir::ValueType> in) {
  (void)ir::infer_type(node.prim, in, node.attrs, node.loc);
  auto params = window_params(node.attrs, in[1].shape, in[0].shape);
  Lowered l;
  l.scratch_bytes = static_cast<size_t>(params->inner) * (sizeof(double) + sizeof(int64_t)) +
                    window_size(*params) * sizeof(int64_t);
  if (is_floating(in[1].dtype) && itemsize(in[1].dtype) == 2)
    l.scratch_bytes += static_cast<size_t>(params->in_numel) * sizeof(float);
  l.fn = numeric_kernel(node, in[1].dtype,
                        []<class T>() -> KernelFn { return &select_and_scatter_add_kernel<T>; });
  l.params = std::move(params);
  return l;
}

}  // namespace kiln::cpu
