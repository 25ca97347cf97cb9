// dot_general as a batched GEMM. Each operand is viewed as [B, M, K] / [B, K, N] straight from its
// buffer when its axes already come in that order (or with M/K or K/N swapped, which the GEMM's
// transpose flags absorb); only other layouts are first copied into arena scratch.
#include <algorithm>
#include <numeric>
#include <vector>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/gemm.hpp"
#include "backend/cpu/lowerings.hpp"
#include "backend/cpu/strided_copy.hpp"

namespace kiln::cpu {
namespace {

struct DotParams : KernelParams {
  GemmDims gemm;
  bool copy_lhs = false, copy_rhs = false;
  StridedCopy lhs_copy, rhs_copy;  // into scratch, canonical order
  size_t rhs_scratch_offset = 0;
};

// complex64 / complex128: a reference loop accumulating in the parts' precision (as XLA's CPU dot
// does), each step adding the exact terms' products: correctness first, no blocking.
template <class C>
void complex_gemm(const GemmDims& d, const C* a, const C* b, C* c) {
  using P = typename C::value_type;
  const int64_t sai = d.trans_a ? 1 : d.lda, sap = d.trans_a ? d.lda : 1;
  const int64_t sbp = d.trans_b ? 1 : d.ldb, sbj = d.trans_b ? d.ldb : 1;
  for (int64_t batch = 0; batch < d.batch; ++batch) {
    const C* ab = a + batch * d.stride_a;
    const C* bb = b + batch * d.stride_b;
    C* cb = c + batch * d.m * d.n;
    for (int64_t i = 0; i < d.m; ++i) {
      for (int64_t j = 0; j < d.n; ++j) {
        P re = 0, im = 0;
        for (int64_t p = 0; p < d.k; ++p) {
          const C x = ab[i * sai + p * sap], y = bb[p * sbp + j * sbj];
          re += x.real() * y.real() - x.imag() * y.imag();
          im += x.real() * y.imag() + x.imag() * y.real();
        }
        cb[i * d.n + j] = C(re, im);
      }
    }
  }
}

template <class T>
void dot_kernel(const KernelArgs& args, const KernelParams& p) {
  const auto& dp = static_cast<const DotParams&>(p);
  const T* a = in_ptr<T>(args, 0);
  const T* b = in_ptr<T>(args, 1);
  if (dp.copy_lhs) {
    run_strided_copy(dp.lhs_copy, args.in[0], args.scratch);
    a = reinterpret_cast<const T*>(args.scratch);
  }
  if (dp.copy_rhs) {
    std::byte* dst = args.scratch + dp.rhs_scratch_offset;
    run_strided_copy(dp.rhs_copy, args.in[1], dst);
    b = reinterpret_cast<const T*>(dst);
  }
  if constexpr (std::is_same_v<T, float>) {
    sgemm(dp.gemm, a, b, out_ptr<float>(args));
  } else if constexpr (kIsComplex<T>) {
    complex_gemm(dp.gemm, a, b, out_ptr<T>(args));
  } else {
    direct_gemm(dp.gemm, a, b, out_ptr<T>(args));
  }
}

int64_t product(const Shape& s, const std::vector<int64_t>& axes) {
  int64_t n = 1;
  for (int64_t a : axes) n *= s[static_cast<int>(a)];
  return n;
}

std::vector<int64_t> concat(std::initializer_list<const std::vector<int64_t>*> parts) {
  std::vector<int64_t> out;
  for (const auto* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

// Whether reading the operand's axes in `order` walks its buffer in memory order (size-1 axes
// can sit anywhere).
bool in_memory_order(const Shape& s, const std::vector<int64_t>& order) {
  int64_t last = -1;
  for (int64_t axis : order) {
    if (s[static_cast<int>(axis)] == 1) continue;
    if (axis < last) return false;
    last = axis;
  }
  return true;
}

std::vector<int64_t> free_axes(int rank, const std::vector<int64_t>& batch,
                               const std::vector<int64_t>& contract) {
  std::vector<int64_t> out;
  for (int64_t a = 0; a < rank; ++a) {
    if (std::find(batch.begin(), batch.end(), a) == batch.end() &&
        std::find(contract.begin(), contract.end(), a) == contract.end()) {
      out.push_back(a);
    }
  }
  return out;
}

// A copy of operand `s` into scratch with its axes in `order` (row-major).
StridedCopy permuting_copy(const Shape& s, const std::vector<int64_t>& order, size_t width) {
  std::vector<int64_t> strides = strides_of(s);
  std::vector<int64_t> dims, in_strides;
  for (int64_t axis : order) {
    dims.push_back(s[static_cast<int>(axis)]);
    in_strides.push_back(strides[static_cast<size_t>(axis)]);
  }
  std::vector<int64_t> out_strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) out_strides[i - 1] = out_strides[i] * dims[i];
  return make_strided_copy(dims, in_strides, 0, out_strides, 0, width);
}

size_t align64(size_t n) {
  return (n + 63) & ~size_t{63};
}

}  // namespace

Lowered lower_dot_general(const ir::Node& node, std::span<const ir::ValueType> in) {
  if (node.type.dtype != in[0].dtype) return lower_widened(node, in, &lower_dot_general);
  const ir::DotDims& dd = node.attrs.dot;
  const Shape& ls = in[0].shape;
  const Shape& rs = in[1].shape;
  const size_t width = itemsize(in[0].dtype);
  const std::vector<int64_t> lfree = free_axes(ls.rank(), dd.lhs_batch, dd.lhs_contract);
  const std::vector<int64_t> rfree = free_axes(rs.rank(), dd.rhs_batch, dd.rhs_contract);

  auto params = std::make_unique<DotParams>();
  GemmDims& g = params->gemm;
  g.batch = product(ls, dd.lhs_batch);
  g.m = product(ls, lfree);
  g.k = product(ls, dd.lhs_contract);
  g.n = product(rs, rfree);
  g.stride_a = g.m * g.k;
  g.stride_b = g.k * g.n;

  const auto lhs_mk = concat({&dd.lhs_batch, &lfree, &dd.lhs_contract});
  const auto lhs_km = concat({&dd.lhs_batch, &dd.lhs_contract, &lfree});
  size_t scratch = 0;
  if (in_memory_order(ls, lhs_mk)) {
    g.lda = g.k;
  } else if (in_memory_order(ls, lhs_km)) {
    g.trans_a = true;
    g.lda = g.m;
  } else {
    params->copy_lhs = true;
    params->lhs_copy = permuting_copy(ls, lhs_mk, width);
    g.lda = g.k;
    scratch = align64(static_cast<size_t>(ls.numel()) * width);
  }

  const auto rhs_kn = concat({&dd.rhs_batch, &dd.rhs_contract, &rfree});
  const auto rhs_nk = concat({&dd.rhs_batch, &rfree, &dd.rhs_contract});
  if (in_memory_order(rs, rhs_kn)) {
    g.ldb = g.n;
  } else if (in_memory_order(rs, rhs_nk)) {
    g.trans_b = true;
    g.ldb = g.k;
  } else {
    params->copy_rhs = true;
    params->rhs_copy = permuting_copy(rs, rhs_kn, width);
    params->rhs_scratch_offset = scratch;
    g.ldb = g.n;
    scratch += align64(static_cast<size_t>(rs.numel()) * width);
  }
  // BLAS requires leading dimensions ≥ 1 even for empty matrices.
  g.lda = std::max<int64_t>(g.lda, 1);
  g.ldb = std::max<int64_t>(g.ldb, 1);

  Lowered l;
  if (is_complex(in[0].dtype)) {
    l.fn =
        visit_complex(in[0].dtype, [](auto tag) -> KernelFn { return &dot_kernel<decltype(tag)>; });
  } else {
    l.fn = numeric_kernel(node, in[0].dtype, []<class T>() -> KernelFn { return &dot_kernel<T>; });
  }
  l.params = std::move(params);
  l.scratch_bytes = scratch;
  return l;
}

}  // namespace kiln::cpu
