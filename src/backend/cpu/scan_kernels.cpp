// cumsum, cumprod, cummax, cummin: XLA's CPU answer, bit for bit.
//
// JAX writes a cumulative op as a reduce_window whose window spans the axis (padding n-1 before
// it, or after it for reverse=True). XLA's CPU compiler does not evaluate that window per output
// (n² operations): it rewrites it into a scan over tiles of 16 elements — a scan inside each tile,
// a scan (itself tiled the same way) of the tiles' totals, and each tile combined with the total
// of the tiles before it (after it, in reverse). Inside a tile, a forward scan is a running fold;
// a reverse one folds each output's window from its first element to the tile's end (the padding
// past the axis end included), as a naive reduce_window evaluates windows. Every operation
// rounds to the dtype (bfloat16: to bfloat16, as XLA's CPU does). kiln evaluates the same
// operations in the same order, so float sums and products equal XLA's in every bit (pinned by
// tests/corpus and tests/ops against JAX) rather than the exact sum's rounding (docs/primitives.md,
// "How sums round").
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {
namespace {

constexpr int64_t kTile = 16;  // XLA's ReduceWindowRewriter base length on CPU

struct ScanParams : KernelParams {
  int64_t outer = 1, n = 0, inner = 1;
  bool reverse = false;
};

enum class ScanOp { sum, prod, max, min };

template <class T, ScanOp kOp>
struct Combine {
  using C = compute_t<T>;
  static C identity() {
    if constexpr (kOp == ScanOp::sum) {
      return C(0);
    } else if constexpr (kOp == ScanOp::prod) {
      return C(1);
    } else if constexpr (std::numeric_limits<C>::has_infinity) {
      return kOp == ScanOp::max ? -std::numeric_limits<C>::infinity()
                                : std::numeric_limits<C>::infinity();
    } else {
      return kOp == ScanOp::max ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
    }
  }
  // acc op x, rounded to T (integers wrap; max/min propagate NaN).
  static C apply(C acc, C x) {
    C r;
    if constexpr (kOp == ScanOp::max || kOp == ScanOp::min) {
      r = kOp == ScanOp::max ? max_of(acc, x) : min_of(acc, x);
    } else if constexpr (kIsInt<T>) {
      const auto a = static_cast<uint64_t>(acc), b = static_cast<uint64_t>(x);
      r = static_cast<C>(kOp == ScanOp::sum ? a + b : a * b);
    } else {
      r = kOp == ScanOp::sum ? acc + x : acc * x;
    }
    return load(store<T>(r));
  }
};

// y[0..n) = the scan of x[0..n), as XLA's CPU computes it; `work` holds 2·ceil(n/16) elements
// per recursion level (at most 2n/15 in all).
template <class T, ScanOp kOp>
void tiled_scan(const compute_t<T>* x, compute_t<T>* y, int64_t n, bool reverse,
                compute_t<T>* work) {
  using Op = Combine<T, kOp>;
  using C = compute_t<T>;
  if (n == 0) return;
  const int64_t tiles = (n + kTile - 1) / kTile;
  C* totals = work;
  C* scanned = work + tiles;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t begin = t * kTile, end = std::min(begin + kTile, n);
    if (!reverse) {
      C acc = Op::identity();
      for (int64_t i = begin; i < end; ++i) y[i] = acc = Op::apply(acc, x[i]);
      totals[t] = acc;  // the last tile's is unused
    } else {
      for (int64_t i = begin; i < end; ++i) {
        C acc = Op::identity();
        for (int64_t k = i; k < begin + kTile; ++k)
          acc = Op::apply(acc, k < n ? x[k] : Op::identity());
        y[i] = acc;
      }
      totals[t] = y[begin];
    }
  }
  if (tiles == 1) {
    for (int64_t i = 0; i < n; ++i) y[i] = Op::apply(y[i], Op::identity());
    return;
  }
  tiled_scan<T, kOp>(totals, scanned, tiles, reverse, work + 2 * tiles);
  for (int64_t t = 0; t < tiles; ++t) {
    const bool edge = reverse ? t == tiles - 1 : t == 0;
    const C before = edge ? Op::identity() : scanned[reverse ? t + 1 : t - 1];
    const int64_t begin = t * kTile, end = std::min(begin + kTile, n);
    for (int64_t i = begin; i < end; ++i) y[i] = Op::apply(y[i], before);
  }
}

template <class T, ScanOp kOp>
void scan_kernel(const KernelArgs& a, const KernelParams& params) {
  const auto& p = static_cast<const ScanParams&>(params);
  using C = compute_t<T>;
  const T* in = in_ptr<T>(a, 0);
  T* out = out_ptr<T>(a);
  C* line = reinterpret_cast<C*>(a.scratch);
  C* result = line + p.n;
  C* work = result + p.n;
  for (int64_t o = 0; o < p.outer; ++o) {
    for (int64_t j = 0; j < p.inner; ++j) {
      const int64_t base = o * p.n * p.inner + j;
      for (int64_t i = 0; i < p.n; ++i) line[i] = load(in[base + i * p.inner]);
      tiled_scan<T, kOp>(line, result, p.n, p.reverse, work);
      for (int64_t i = 0; i < p.n; ++i) out[base + i * p.inner] = store<T>(result[i]);
    }
  }
}

template <ScanOp kOp>
KernelFn pick(const ir::Node& node, DType t) {
  return numeric_kernel(node, t, []<class T>() -> KernelFn { return &scan_kernel<T, kOp>; });
}

}  // namespace

Lowered lower_scan(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& x = in[0].shape;
  const auto axis = static_cast<int>(node.attrs.axis);
  auto params = std::make_unique<ScanParams>();
  for (int i = 0; i < axis; ++i) params->outer *= x[i];
  params->n = x[axis];
  for (int i = axis + 1; i < x.rank(); ++i) params->inner *= x[i];
  params->reverse = node.attrs.reverse;
  Lowered l;
  switch (node.prim) {
    case ir::Prim::cumsum:
      l.fn = pick<ScanOp::sum>(node, in[0].dtype);
      break;
    case ir::Prim::cumprod:
      l.fn = pick<ScanOp::prod>(node, in[0].dtype);
      break;
    case ir::Prim::cummax:
      l.fn = pick<ScanOp::max>(node, in[0].dtype);
      break;
    case ir::Prim::cummin:
      l.fn = pick<ScanOp::min>(node, in[0].dtype);
      break;
    default:
      no_kernel(node, in[0].dtype);
  }
  // line, result and the tiles' work space (2·ceil(n/16) per level < n in all), in the widest
  // compute type.
  l.scratch_bytes = static_cast<size_t>(3 * params->n + 16) * sizeof(double);
  l.params = std::move(params);
  return l;
}

}  // namespace kiln::cpu
