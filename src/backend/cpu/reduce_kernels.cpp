// reduce_sum/max/min/prod over any set of axes, and argmax/argmin. The input is read once in memory
// order and folded into an accumulator per result element (scratch in the arena), so every axis set
// costs the same streaming pass. Float sums accumulate in double: a float32 loss over a batch keeps
// its digits without pairwise tricks.
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {
namespace {

struct ReduceParams : KernelParams {
  static constexpr int kMaxRank = Shape::kMaxRank;
  int rank = 0;  // input dims after dropping 1s and merging neighbours
  std::array<int64_t, kMaxRank> dims{};
  std::array<int64_t, kMaxRank> out_strides{};  // 0 along reduced dims
  std::array<bool, kMaxRank> reduced{};
  int64_t in_numel = 0;
  int64_t out_numel = 0;
};

// complex sums accumulate in complex<double>, as real float sums do in double.
template <class T>
using sum_acc_t = std::conditional_t<
    kIsComplex<T>, std::complex<double>,
    std::conditional_t<kIsFloat<T>, double,
                       std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>>;

struct SumOp {
  template <class T>
  using acc_t = sum_acc_t<T>;
  template <class A>
  static A init() {
    return A{0};
  }
  template <class A, class C>
  static A fold(A acc, C x) {
    if constexpr (std::is_integral_v<A>) {
      // Wraps like the result dtype would.
      return static_cast<A>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(x));
    } else {
      return acc + static_cast<A>(x);
    }
  }
};

// Products accumulate like sums: floats in double (rounded once), integers wrapping.
struct ProdOp {
  template <class T>
  using acc_t = sum_acc_t<T>;
  template <class A>
  static A init() {
    return A{1};
  }
  template <class A, class C>
  static A fold(A acc, C x) {
    if constexpr (std::is_integral_v<A>) {
      return static_cast<A>(static_cast<uint64_t>(acc) * static_cast<uint64_t>(x));
    } else {
      return acc * static_cast<A>(x);
    }
  }
};

template <bool kMax>
struct ExtremumOp {
  template <class T>
  using acc_t = compute_t<T>;
  template <class A>
  static A init() {
    if constexpr (std::is_floating_point_v<A>) {
      return kMax ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
    } else {
      return kMax ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
    }
  }
  // A NaN operand wins and then stays; +0 wins over -0 for max, -0 over +0 for min.
  template <class A>
  static A fold(A acc, A x) {
    return kMax ? max_of(acc, x) : min_of(acc, x);
  }
};

template <class Op, class T>
void reduce_kernel(const KernelArgs& a, const KernelParams& p) {
  using A = typename Op::template acc_t<T>;
  const auto& rp = static_cast<const ReduceParams&>(p);
  const T* in = in_ptr<T>(a, 0);
  A* acc = reinterpret_cast<A*>(a.scratch);
  for (int64_t i = 0; i < rp.out_numel; ++i) acc[i] = Op::template init<A>();
  if (rp.in_numel > 0) {
    if (rp.rank == 0) {
      acc[0] = Op::fold(acc[0], static_cast<A>(load(in[0])));
    } else {
      const int inner = rp.rank - 1;
      const int64_t n = rp.dims[inner];
      std::array<int64_t, ReduceParams::kMaxRank> idx{};
      int64_t out_off = 0;
      for (int64_t row = 0; row < rp.in_numel; row += n, in += n) {
        if (rp.reduced[inner]) {
          A s = acc[out_off];
          for (int64_t j = 0; j < n; ++j) s = Op::fold(s, static_cast<A>(load(in[j])));
          acc[out_off] = s;
        } else {
          A* dst = acc + out_off;
          for (int64_t j = 0; j < n; ++j) dst[j] = Op::fold(dst[j], static_cast<A>(load(in[j])));
        }
        for (int k = inner - 1; k >= 0; --k) {
          out_off += rp.out_strides[k];
          if (++idx[k] < rp.dims[k]) break;
          out_off -= rp.out_strides[k] * rp.dims[k];
          idx[k] = 0;
        }
      }
    }
  }
  T* out = out_ptr<T>(a);
  for (int64_t i = 0; i < rp.out_numel; ++i) out[i] = store<T>(static_cast<compute_t<T>>(acc[i]));
}

template <class Op>
KernelFn pick_reduce(DType t, size_t* acc_size) {
  if (is_complex(t)) {
    if constexpr (!std::is_same_v<Op, SumOp>) {
      return nullptr;  // complex has no order: only reduce_sum admits it
    } else {
      return visit_complex(t, [&](auto tag) -> KernelFn {
        using T = decltype(tag);
        *acc_size = sizeof(sum_acc_t<T>);
        return &reduce_kernel<Op, T>;
      });
    }
  }
  return visit_dtype(t, [&](auto tag) -> KernelFn {
    using T = decltype(tag);
    if constexpr ((std::is_same_v<Op, SumOp> || std::is_same_v<Op, ProdOp>)&&kIsBool<T>) {
      return nullptr;  // sum and product of bool are not primitives (convert first)
    } else {
      *acc_size = sizeof(typename Op::template acc_t<T>);
      return &reduce_kernel<Op, T>;
    }
  });
}

struct ArgmaxParams : KernelParams {
  int64_t outer = 1, n = 1, inner = 1;
};

// The index of the first maximum (kMax) or minimum along the axis; a NaN counts as both.
template <class T, bool kMax>
void argmax_kernel(const KernelArgs& a, const KernelParams& p) {
  const auto& ap = static_cast<const ArgmaxParams&>(p);
  const T* in = in_ptr<T>(a, 0);
  int32_t* out = out_ptr<int32_t>(a);
  for (int64_t o = 0; o < ap.outer; ++o) {
    const T* block = in + o * ap.n * ap.inner;
    for (int64_t j = 0; j < ap.inner; ++j) {
      int32_t best_i = 0;
      if (ap.n > 0) {
        auto best = load(block[j]);
        for (int64_t i = 1; i < ap.n; ++i) {
          if constexpr (kIsFloat<T>) {
            if (std::isnan(best)) break;  // the first NaN is the maximum (and the minimum)
          }
          const auto x = load(block[i * ap.inner + j]);
          bool take = kMax ? x > best : x < best;
          if constexpr (kIsFloat<T>) take = take || std::isnan(x);
          if (take) {
            best = x;
            best_i = static_cast<int32_t>(i);
          }
        }
      }
      out[o * ap.inner + j] = best_i;
    }
  }
}

}  // namespace

Lowered lower_reduce(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& x = in[0].shape;
  std::vector<bool> is_reduced(static_cast<size_t>(x.rank()), false);
  for (int64_t d : node.attrs.dims) is_reduced[static_cast<size_t>(d)] = true;

  // Row-major strides of the result, spread over the input's kept dims.
  std::vector<int64_t> out_strides(static_cast<size_t>(x.rank()), 0);
  int64_t stride = 1;
  for (int i = x.rank() - 1; i >= 0; --i) {
    if (is_reduced[static_cast<size_t>(i)]) continue;
    out_strides[static_cast<size_t>(i)] = stride;
    stride *= x[i];
  }

  auto params = std::make_unique<ReduceParams>();
  for (int i = 0; i < x.rank(); ++i) {
    const auto u = static_cast<size_t>(i);
    if (x[i] == 1) continue;
    const int r = params->rank;
    if (r > 0 && params->reduced[r - 1] == is_reduced[u] &&
        params->out_strides[r - 1] == out_strides[u] * x[i]) {
      params->dims[r - 1] *= x[i];
      params->out_strides[r - 1] = out_strides[u];
      continue;
    }
    params->dims[r] = x[i];
    params->out_strides[r] = out_strides[u];
    params->reduced[r] = is_reduced[u];
    ++params->rank;
  }
  params->in_numel = x.numel();
  params->out_numel = node.type.shape.numel();

  size_t acc_size = 0;
  KernelFn fn = nullptr;
  switch (node.prim) {
    case ir::Prim::reduce_sum:
      fn = pick_reduce<SumOp>(in[0].dtype, &acc_size);
      break;
    case ir::Prim::reduce_max:
      fn = pick_reduce<ExtremumOp<true>>(in[0].dtype, &acc_size);
      break;
    case ir::Prim::reduce_min:
      fn = pick_reduce<ExtremumOp<false>>(in[0].dtype, &acc_size);
      break;
    case ir::Prim::reduce_prod:
      fn = pick_reduce<ProdOp>(in[0].dtype, &acc_size);
      break;
    default:
      break;
  }
  if (fn == nullptr) no_kernel(node, in[0].dtype);
  Lowered l;
  l.fn = fn;
  l.scratch_bytes = static_cast<size_t>(params->out_numel) * acc_size;
  l.params = std::move(params);
  return l;
}

Lowered lower_argmax(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& x = in[0].shape;
  const auto axis = static_cast<int>(node.attrs.axis);
  auto params = std::make_unique<ArgmaxParams>();
  for (int i = 0; i < axis; ++i) params->outer *= x[i];
  params->n = x[axis];
  for (int i = axis + 1; i < x.rank(); ++i) params->inner *= x[i];
  Lowered l;
  const bool is_max = node.prim == ir::Prim::argmax;
  l.fn = visit_dtype(in[0].dtype, [&](auto tag) -> KernelFn {
    return is_max ? &argmax_kernel<decltype(tag), true> : &argmax_kernel<decltype(tag), false>;
  });
  l.params = std::move(params);
  return l;
}

}  // namespace kiln::cpu
