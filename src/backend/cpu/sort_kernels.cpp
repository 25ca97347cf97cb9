// sort and top_k. Each element of a key becomes an unsigned 64-bit number whose order is the
// order the primitive sorts by, so one comparison of integers serves every dtype:
//   sort (JAX's comparator): -0.0 equals +0.0 and every NaN equals every other and follows +inf;
//   top_k (XLA's total order): -NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN.
// The sorts are stable (std::stable_sort of positions), as JAX's is_stable = true asks.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {
namespace {

// The total order of doubles as unsigned integers: negative numbers reversed below positive ones.
uint64_t total_order(double d) {
  const auto b = std::bit_cast<uint64_t>(d);
  return (b >> 63) != 0 ? ~b : b | (uint64_t{1} << 63);
}

// The order key of element i of an array of dtype t; `canonical`: JAX's sort comparator (-0 and
// +0 equal, all NaNs one value after +inf), else XLA's total order.
uint64_t order_key(DType t, const std::byte* data, int64_t i, bool canonical) {
  return visit_dtype(t, [&](auto tag) -> uint64_t {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, data + static_cast<size_t>(i) * sizeof(T), sizeof(T));
    if constexpr (kIsFloat<T>) {
      auto d = static_cast<double>(load(v));
      if (canonical) {
        if (d == 0) d = 0.0;
        if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
      }
      return total_order(d);
    } else if constexpr (kIsBool<T>) {
      return v ? 1 : 0;
    } else if constexpr (std::is_signed_v<T>) {
      return static_cast<uint64_t>(static_cast<int64_t>(v)) ^ (uint64_t{1} << 63);
    } else {
      return static_cast<uint64_t>(v);
    }
  });
}

struct SortParams : KernelParams {
  int64_t outer = 1, n = 0, inner = 1;
  std::vector<DType> keys;  // the dtypes of operands 0..num_keys-1
  size_t result = 0;        // the operand this node returns
  size_t width = 0;         // its itemsize
};

// The stable order of positions 0..n-1 of one line by `keys` (key k of position i at
// keys[k * n + i]), lexicographically (ascending), or descending for top_k.
void order_line(std::vector<int64_t>& perm, const std::vector<uint64_t>& keys, size_t num_keys,
                int64_t n, bool descending) {
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
    for (size_t k = 0; k < num_keys; ++k) {
      const uint64_t ka = keys[k * static_cast<size_t>(n) + static_cast<size_t>(a)];
      const uint64_t kb = keys[k * static_cast<size_t>(n) + static_cast<size_t>(b)];
      if (ka != kb) return descending ? ka > kb : ka < kb;
    }
    return false;
  });
}

void sort_kernel(const KernelArgs& a, const KernelParams& params) {
  const auto& p = static_cast<const SortParams&>(params);
  std::vector<int64_t> perm(static_cast<size_t>(p.n));
  std::vector<uint64_t> keys(p.keys.size() * static_cast<size_t>(p.n));
  const std::byte* src = a.in[p.result];
  for (int64_t o = 0; o < p.outer; ++o) {
    for (int64_t j = 0; j < p.inner; ++j) {
      const int64_t base = o * p.n * p.inner + j;
      for (size_t k = 0; k < p.keys.size(); ++k)
        for (int64_t i = 0; i < p.n; ++i)
          keys[k * static_cast<size_t>(p.n) + static_cast<size_t>(i)] =
              order_key(p.keys[k], a.in[k], base + i * p.inner, true);
      order_line(perm, keys, p.keys.size(), p.n, false);
      for (int64_t i = 0; i < p.n; ++i)
        std::memcpy(
            a.out + static_cast<size_t>(base + i * p.inner) * p.width,
            src + static_cast<size_t>(base + perm[static_cast<size_t>(i)] * p.inner) * p.width,
            p.width);
    }
  }
}

struct TopKParams : KernelParams {
  int64_t rows = 0, n = 0, k = 0;
  DType dtype = DType::float32;
  bool indices = false;  // result 1
};

void top_k_kernel(const KernelArgs& a, const KernelParams& params) {
  const auto& p = static_cast<const TopKParams&>(params);
  std::vector<int64_t> perm(static_cast<size_t>(p.n));
  std::vector<uint64_t> keys(static_cast<size_t>(p.n));
  const size_t width = itemsize(p.dtype);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t i = 0; i < p.n; ++i)
      keys[static_cast<size_t>(i)] = order_key(p.dtype, a.in[0], r * p.n + i, false);
    order_line(perm, keys, 1, p.n, true);
    for (int64_t i = 0; i < p.k; ++i) {
      const int64_t from = perm[static_cast<size_t>(i)];
      if (p.indices) {
        out_ptr<int32_t>(a)[r * p.k + i] = static_cast<int32_t>(from);
      } else {
        std::memcpy(a.out + static_cast<size_t>(r * p.k + i) * width,
                    a.in[0] + static_cast<size_t>(r * p.n + from) * width, width);
      }
    }
  }
}

}  // namespace

Lowered lower_sort(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& x = in[0].shape;
  const auto axis = static_cast<int>(node.attrs.axis);
  auto params = std::make_unique<SortParams>();
  for (int i = 0; i < axis; ++i) params->outer *= x[i];
  params->n = x[axis];
  for (int i = axis + 1; i < x.rank(); ++i) params->inner *= x[i];
  for (int64_t k = 0; k < node.attrs.num_keys; ++k)
    params->keys.push_back(in[static_cast<size_t>(k)].dtype);
  params->result = static_cast<size_t>(node.attrs.result);
  params->width = itemsize(in[params->result].dtype);
  Lowered l;
  l.fn = &sort_kernel;
  l.params = std::move(params);
  return l;
}

Lowered lower_top_k(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& x = in[0].shape;
  auto params = std::make_unique<TopKParams>();
  params->n = x[x.rank() - 1];
  params->rows = params->n == 0 ? 0 : x.numel() / params->n;
  params->k = node.attrs.k;
  params->dtype = in[0].dtype;
  params->indices = node.attrs.result == 1;
  Lowered l;
  l.fn = &top_k_kernel;
  l.params = std::move(params);
  return l;
}

}  // namespace kiln::cpu
