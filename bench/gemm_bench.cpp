// gemm_bench: the float32 GEMM table of docs/cpu-backend.md — oneDNN's dnnl_sgemm, OpenBLAS's
// cblas_sgemm and kiln's direct loop (src/backend/cpu/gemm.cpp), row-major C = A·B, 1 thread.
//
//   gemm_bench [--markdown] [MxKxN ...]
//
// Without shapes it times the doc's table (the tutorial's products, a Fashion-MNIST MLP's, a large
// square one) and the shapes around kDirectGemmMaxVolume that chose the threshold. Each time is the
// median of many samples, in µs per product.
#include <cblas.h>
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/gemm.hpp"

namespace {

struct GemmShape {
  int64_t m, k, n;
};

// The table of docs/cpu-backend.md: the tutorial's two products (16x4 @ 4x8, 16x8 @ 8x1), two
// small squares, the 784->512 and 512->10 layers of an MLP at batch 128, and a large square.
const GemmShape kTableShapes[] = {{16, 4, 8},      {16, 8, 1},     {32, 32, 32},   {64, 64, 64},
                                  {128, 784, 512}, {128, 512, 10}, {512, 512, 512}};
// Square-ish products on either side of kDirectGemmMaxVolume, where the direct loop and oneDNN
// trade places: the evidence for the threshold.
const GemmShape kThresholdShapes[] = {{16, 16, 16}, {32, 16, 8}, {20, 20, 20}};

// Debian's oneDNN runs on OpenMP, and OpenMP reads OMP_NUM_THREADS only when it starts (before
// main), so the count is set through the runtime instead. libgomp comes with oneDNN; looking the
// setter up, as src/backend/cpu/gemm.cpp does, avoids linking OpenMP here.
void use_one_thread() {
  using SetNumThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads")))
    set(1);
  openblas_set_num_threads(1);
}

// A tiny product takes ~50 ns, below what one steady_clock reading resolves reliably, so a sample
// times `calls` back-to-back products. The calls are opaque to the optimizer (a shared library,
// another translation unit), so none is elided.
template <class F>
double median_us(F&& product, int samples, int calls) {
  for (int i = 0; i < 5 * calls; ++i) product();  // warm caches, page in, let libraries set up
  std::vector<double> us(static_cast<size_t>(samples));
  for (double& t : us) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) product();
    t = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        calls;
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

struct Row {
  GemmShape s;
  double onednn_us, openblas_us, direct_us;
  double max_diff;  // the largest |difference| between the three results
};

Row measure(const GemmShape& s) {
  const int64_t m = s.m, k = s.k, n = s.n;
  std::mt19937 gen(42);
  std::uniform_real_distribution<float> dist(-0.5f, 0.5f);
  std::vector<float> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n));
  for (float& x : a) x = dist(gen);
  for (float& x : b) x = dist(gen);
  std::vector<float> c_dnnl(static_cast<size_t>(m * n)), c_blas(c_dnnl.size()),
      c_direct(c_dnnl.size());

  kiln::cpu::GemmDims d;
  d.m = m;
  d.n = n;
  d.k = k;
  d.lda = k;
  d.ldb = n;

  auto onednn = [&] {
    dnnl_sgemm('N', 'N', m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c_dnnl.data(), n);
  };
  const auto bm = static_cast<blasint>(m), bn = static_cast<blasint>(n),
             bk = static_cast<blasint>(k);
  auto openblas = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bm, bn, bk, 1.0f, a.data(), bk, b.data(),
                bn, 0.0f, c_blas.data(), bn);
  };
  auto direct = [&] { kiln::cpu::direct_gemm(d, a.data(), b.data(), c_direct.data()); };

  // Many samples of 1000 calls for tiny products; fewer samples for large ones, and fewest for
  // the direct loop there (up to 7 ms a call), so the whole table takes seconds.
  const double flops = 2.0 * static_cast<double>(m * n * k);
  const int calls = flops < 1e6 ? 1000 : 1;
  const int samples = flops < 1e8 ? 201 : 51;
  Row r{s, 0, 0, 0, 0};
  r.onednn_us = median_us(onednn, samples, calls);
  r.openblas_us = median_us(openblas, samples, calls);
  r.direct_us = median_us(direct, flops < 1e8 ? samples : 11, calls);
  for (size_t i = 0; i < c_dnnl.size(); ++i) {
    r.max_diff = std::max<double>(
        {r.max_diff, std::fabs(c_dnnl[i] - c_blas[i]), std::fabs(c_dnnl[i] - c_direct[i])});
  }
  return r;
}

// What kiln's CPU backend calls for a float32 product of this shape (src/backend/cpu/gemm.cpp).
const char* kiln_uses(const GemmShape& s) {
  return s.m * s.n * s.k <= kiln::cpu::kDirectGemmMaxVolume ? "direct loop" : "oneDNN";
}

std::string name(const GemmShape& s) {
  return std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n);
}

void print_table(const std::vector<Row>& rows, bool markdown) {
  if (markdown) {
    std::printf(
        "| M×K×N | oneDNN µs | OpenBLAS µs | direct loop µs | oneDNN GFLOP/s | OpenBLAS GFLOP/s "
        "| kiln uses |\n|---|---:|---:|---:|---:|---:|---|\n");
  } else {
    std::printf("%-14s %11s %12s %10s %10s %11s  %s\n", "MxKxN", "oneDNN us", "OpenBLAS us",
                "direct us", "oneDNN GF", "OpenBLAS GF", "kiln uses");
  }
  for (const Row& r : rows) {
    const double flops = 2.0 * static_cast<double>(r.s.m * r.s.n * r.s.k);
    // flops / µs / 1e3 = GFLOP/s
    const double gf_dnnl = flops / r.onednn_us / 1e3, gf_blas = flops / r.openblas_us / 1e3;
    std::string shape = name(r.s);
    if (markdown) {
      size_t x;
      while ((x = shape.find('x')) != std::string::npos) shape.replace(x, 1, "×");
      std::printf("| %s | %.3f | %.3f | %.3f | %.1f | %.1f | %s |\n", shape.c_str(), r.onednn_us,
                  r.openblas_us, r.direct_us, gf_dnnl, gf_blas, kiln_uses(r.s));
    } else {
      std::printf("%-14s %11.3f %12.3f %10.3f %10.1f %11.1f  %s\n", shape.c_str(), r.onednn_us,
                  r.openblas_us, r.direct_us, gf_dnnl, gf_blas, kiln_uses(r.s));
    }
  }
}

bool parse_shape(const char* text, GemmShape& s) {
  long long m = 0, k = 0, n = 0;
  char tail = 0;
  if (std::sscanf(text, "%lldx%lldx%lld%c", &m, &k, &n, &tail) != 3) return false;
  if (m <= 0 || k <= 0 || n <= 0 || m > 8192 || k > 8192 || n > 8192) return false;
  s = {m, k, n};
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool markdown = false;
  std::vector<GemmShape> custom;
  for (int i = 1; i < argc; ++i) {
    GemmShape s{};
    if (std::strcmp(argv[i], "--markdown") == 0) {
      markdown = true;
    } else if (parse_shape(argv[i], s)) {
      custom.push_back(s);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--markdown] [MxKxN ...]\n"
                   "  MxKxN: C[M,N] = A[M,K] · B[K,N], each dimension 1..8192 (default: the "
                   "table of docs/cpu-backend.md)\n",
                   argv[0]);
      return 2;
    }
  }
  use_one_thread();

  const dnnl_version_t* v = dnnl_version();
  std::printf("float32 row-major C = A·B, 1 thread, median µs per product\n");
  std::printf("oneDNN %d.%d.%d (%s); %s\n", v->major, v->minor, v->patch,
              v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other threading",
              openblas_get_config());
  std::printf("kiln: direct loop for products with M·K·N <= %lld, oneDNN above\n\n",
              static_cast<long long>(kiln::cpu::kDirectGemmMaxVolume));

  // The three implementations must agree before their times mean anything: float32 sums of K
  // products of values in [-0.5, 0.5) differ by rounding order only, well within 1e-5·K + 1e-4.
  auto run = [&](const std::vector<GemmShape>& shapes) {
    std::vector<Row> rows;
    for (const GemmShape& s : shapes) {
      rows.push_back(measure(s));
      const double tolerance = 1e-5 * static_cast<double>(s.k) + 1e-4;
      if (rows.back().max_diff > tolerance) {
        std::fprintf(stderr, "gemm_bench: %s: the results differ by %g (tolerance %g)\n",
                     name(s).c_str(), rows.back().max_diff, tolerance);
        std::exit(1);
      }
    }
    print_table(rows, markdown);
  };
  if (!custom.empty()) {
    run(custom);
    return 0;
  }
  run({std::begin(kTableShapes), std::end(kTableShapes)});
  std::printf("\naround the threshold, M·K·N = %lld:\n",
              static_cast<long long>(kiln::cpu::kDirectGemmMaxVolume));
  run({std::begin(kThresholdShapes), std::end(kThresholdShapes)});
  return 0;
}
