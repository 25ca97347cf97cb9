#include "backend/cpu/gemm.hpp"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/threads.hpp"
#include "kiln/error.hpp"

namespace kiln::cpu {
namespace {

// 16-bit floats accumulate in float32 (as XLA's CPU dot does); integers in 64-bit unsigned
// arithmetic, which wraps exactly like the narrower result dtype would.
template <class T>
using gemm_acc_t = std::conditional_t<std::is_same_v<T, double>, double,
                                      std::conditional_t<kIsFloat<T>, float, uint64_t>>;

template <class T>
gemm_acc_t<T> to_acc(T x) {
  if constexpr (kIsFloat<T>) {
    return load(x);
  } else {
    return static_cast<uint64_t>(static_cast<int64_t>(x));
  }
}

template <class T>
T from_acc(gemm_acc_t<T> x) {
  if constexpr (kIsFloat<T>) {
    return store<T>(static_cast<compute_t<T>>(x));
  } else {
    return static_cast<T>(x);
  }
}

// A kRows x kCols tile of C accumulates in registers across the whole k loop: kRows independent
// chains hide the add latency, and nothing is stored and reloaded per step of k.
template <class T, int kRows>
void gemm_tile(const GemmDims& d, const T* ar, int64_t sai, int64_t sap, const T* bc, int64_t sbp,
               T* cr) {
  using Acc = gemm_acc_t<T>;
  constexpr int kCols = 8;  // one AVX2 register of float32
  Acc acc[kRows][kCols] = {};
  for (int64_t p = 0; p < d.k; ++p) {
    const T* br = bc + p * sbp;
    Acc bv[kCols];
    for (int j = 0; j < kCols; ++j) bv[j] = to_acc(br[j]);
    for (int r = 0; r < kRows; ++r) {
      const Acc av = to_acc(ar[r * sai + p * sap]);
      for (int j = 0; j < kCols; ++j) acc[r][j] += av * bv[j];
    }
  }
  for (int r = 0; r < kRows; ++r) {
    for (int j = 0; j < kCols; ++j) cr[r * d.n + j] = from_acc<T>(acc[r][j]);
  }
}

}  // namespace

template <class T>
void direct_gemm(const GemmDims& d, const T* a, const T* b, T* c) {
  using Acc = gemm_acc_t<T>;
  constexpr int64_t kCols = 8;
  constexpr int64_t kRows = 4;
  const int64_t sai = d.trans_a ? 1 : d.lda, sap = d.trans_a ? d.lda : 1;
  const int64_t sbp = d.trans_b ? 1 : d.ldb, sbj = d.trans_b ? d.ldb : 1;
  // Full tiles need B's row contiguous; a transposed B goes through the dot-product loop.
  const int64_t tiled_n = sbj == 1 ? d.n / kCols * kCols : 0;
  for (int64_t batch = 0; batch < d.batch; ++batch) {
    const T* ab = a + batch * d.stride_a;
    const T* bb = b + batch * d.stride_b;
    T* cb = c + batch * d.m * d.n;
    for (int64_t j = 0; j < tiled_n; j += kCols) {
      int64_t i = 0;
      for (; i + kRows <= d.m; i += kRows) {
        gemm_tile<T, kRows>(d, ab + i * sai, sai, sap, bb + j, sbp, cb + i * d.n + j);
      }
      for (; i < d.m; ++i)
        gemm_tile<T, 1>(d, ab + i * sai, sai, sap, bb + j, sbp, cb + i * d.n + j);
    }
    // Leftover columns as dot products, kRows rows at a time for independent chains.
    for (int64_t j = tiled_n; j < d.n; ++j) {
      const T* bcol = bb + j * sbj;
      int64_t i = 0;
      for (; i + kRows <= d.m; i += kRows) {
        Acc s[kRows] = {};
        for (int64_t p = 0; p < d.k; ++p) {
          const Acc bv = to_acc(bcol[p * sbp]);
          for (int64_t r = 0; r < kRows; ++r) s[r] += to_acc(ab[(i + r) * sai + p * sap]) * bv;
        }
        for (int64_t r = 0; r < kRows; ++r) cb[(i + r) * d.n + j] = from_acc<T>(s[r]);
      }
      for (; i < d.m; ++i) {
        Acc s = 0;
        for (int64_t p = 0; p < d.k; ++p)
          s += to_acc(ab[i * sai + p * sap]) * to_acc(bcol[p * sbp]);
        cb[i * d.n + j] = from_acc<T>(s);
      }
    }
  }
}

template void direct_gemm<uint8_t>(const GemmDims&, const uint8_t*, const uint8_t*, uint8_t*);
template void direct_gemm<uint16_t>(const GemmDims&, const uint16_t*, const uint16_t*, uint16_t*);
template void direct_gemm<uint32_t>(const GemmDims&, const uint32_t*, const uint32_t*, uint32_t*);
template void direct_gemm<uint64_t>(const GemmDims&, const uint64_t*, const uint64_t*, uint64_t*);
template void direct_gemm<int8_t>(const GemmDims&, const int8_t*, const int8_t*, int8_t*);
template void direct_gemm<int16_t>(const GemmDims&, const int16_t*, const int16_t*, int16_t*);
template void direct_gemm<int32_t>(const GemmDims&, const int32_t*, const int32_t*, int32_t*);
template void direct_gemm<int64_t>(const GemmDims&, const int64_t*, const int64_t*, int64_t*);
template void direct_gemm<bf16>(const GemmDims&, const bf16*, const bf16*, bf16*);
template void direct_gemm<f16>(const GemmDims&, const f16*, const f16*, f16*);
template void direct_gemm<float>(const GemmDims&, const float*, const float*, float*);
template void direct_gemm<double>(const GemmDims&, const double*, const double*, double*);

int64_t sgemm_block_rows(int64_t n) {
  constexpr int64_t kBlockBytes = 256 * 1024;
  // Each call packs B again: blocks of fewer rows cost more than the chunks save (one thread, a
  // 512-row product as 128-row blocks: +3% at k=512, n=784; +15% at k=128, n=512; as 20-row blocks
  // at k=128, n=3136: +80%), so wider products run as one call.
  constexpr int64_t kMinBlockRows = 128;
  const int64_t rows = kBlockBytes / (std::max<int64_t>(n, 1) * int64_t{sizeof(float)});
  return rows >= kMinBlockRows ? rows : 0;
}

void sgemm(const GemmDims& d, const float* a, const float* b, float* c) {
  if (d.m == 0 || d.n == 0) return;
  if (d.k == 0) {
    std::memset(c, 0, static_cast<size_t>(d.batch * d.m * d.n) * sizeof(float));
    return;
  }
  // Each block picks its kernel by its own volume, so a chunk of a fused head and the same rows of
  // the whole product take the same path.
  const int64_t rows_per_block = sgemm_block_rows(d.n);
  const int64_t block = d.trans_a || rows_per_block == 0 ? d.m : rows_per_block;
  for (int64_t batch = 0; batch < d.batch; ++batch) {
    for (int64_t row = 0; row < d.m; row += block) {
      GemmDims part = d;
      part.batch = 1;
      part.m = std::min(block, d.m - row);
      const float* pa = a + batch * d.stride_a + row * (d.trans_a ? 1 : d.lda);
      const float* pb = b + batch * d.stride_b;
      float* pc = c + (batch * d.m + row) * d.n;
      if (part.m * d.n * d.k <= kDirectGemmMaxVolume) {
        direct_gemm(part, pa, pb, pc);
        continue;
      }
      use_threads();
      const dnnl_status_t st = dnnl_sgemm(d.trans_a ? 'T' : 'N', d.trans_b ? 'T' : 'N', part.m, d.n,
                                          d.k, 1.0f, pa, d.lda, pb, d.ldb, 0.0f, pc, d.n);
      if (st != dnnl_success) {
        throw Error("oneDNN sgemm failed with status " + std::to_string(static_cast<int>(st)) +
                    " on a " + std::to_string(part.m) + "x" + std::to_string(d.k) + "x" +
                    std::to_string(d.n) + " product. This is a kiln bug: please report it");
      }
    }
  }
}

}  // namespace kiln::cpu
