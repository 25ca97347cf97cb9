// Batched row-major matrix products: C[b] = op(A[b]) · op(B[b]), C dense [batch, m, n].
// float32 goes to oneDNN's sgemm except for tiny products, where its fixed call cost dominates
// (docs/cpu-backend.md has the measurement); other dtypes use a direct loop.
#pragma once

#include <cstdint>

namespace kiln::cpu {

struct GemmDims {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  bool trans_a = false;                // A stored [k, m] instead of [m, k]
  bool trans_b = false;                // B stored [n, k] instead of [k, n]
  int64_t lda = 0, ldb = 0;            // row pitch of A and B as stored, in elements
  int64_t stride_a = 0, stride_b = 0;  // elements between batch entries
};

// Products with m·n·k at or below this run the direct loop even for float32.
inline constexpr int64_t kDirectGemmMaxVolume = 4096;

// A float32 product whose A is stored [m, k] (not transposed) runs as one oneDNN call per block of
// sgemm_block_rows(n) rows, the last block shorter. oneDNN's AVX2 kernels give a row other bits
// when the call has another row count (its AVX-512 kernels do not), so calls whose row counts
// depend on the shape alone are what make a fused group's chunks (fusion.hpp, whole blocks each)
// give the bits of the product run whole, on every processor. Blocks hold 256 KiB of results,
// the chunk size of a fused head, and at least 128 rows: for wider products (n > 512) this returns
// 0, and they run as one call, as does a product with a transposed A (never chunked).
int64_t sgemm_block_rows(int64_t n);

void sgemm(const GemmDims& d, const float* a, const float* b, float* c);
// The direct loop for any numeric storage type T (float32 included, for tiny products and tests).
template <class T>
void direct_gemm(const GemmDims& d, const T* a, const T* b, T* c);

}  // namespace kiln::cpu
