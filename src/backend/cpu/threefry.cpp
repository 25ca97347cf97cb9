// threefry2x32 (Random123, 20 rounds) exactly as JAX's PRNG computes it: every random number in
// kiln comes out of this kernel, so keys and samples match JAX bit for bit.
#include <cstdint>

#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {
namespace {

constexpr uint32_t rotl(uint32_t x, int r) {
  return (x << r) | (x >> (32 - r));
}

// Facts from JAX's threefry2x32: key schedule ks2 = k0 ^ k1 ^ 0x1BD11BDA; rotations alternate
// [13,15,26,6] and [17,29,16,24]; key injection after every 4 rounds adds the group number.
inline void threefry2x32(uint32_t k0, uint32_t k1, uint32_t& x0, uint32_t& x1) {
  constexpr int kRot[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  const uint32_t ks[3] = {k0, k1, k0 ^ k1 ^ 0x1BD11BDAu};
  x0 += ks[0];
  x1 += ks[1];
  for (int group = 0; group < 5; ++group) {
    for (int r : kRot[group % 2]) {
      x0 += x1;
      x1 = rotl(x1, r) ^ x0;
    }
    x0 += ks[(group + 1) % 3];
    x1 += ks[(group + 2) % 3] + static_cast<uint32_t>(group + 1);
  }
}

void threefry_kernel(const KernelArgs& a, const KernelParams& p) {
  const int64_t n = static_cast<const CountParams&>(p).n;  // counter pairs
  const uint32_t* key = in_ptr<uint32_t>(a, 0);
  const uint32_t* counts = in_ptr<uint32_t>(a, 1);
  uint32_t* out = out_ptr<uint32_t>(a);
  const uint32_t k0 = key[0];
  const uint32_t k1 = key[1];
  for (int64_t i = 0; i < n; ++i) {
    uint32_t x0 = counts[i];
    uint32_t x1 = counts[n + i];
    threefry2x32(k0, k1, x0, x1);
    out[i] = x0;
    out[n + i] = x1;
  }
}

}  // namespace

Lowered lower_threefry2x32(const ir::Node& node, std::span<const ir::ValueType>) {
  Lowered l;
  l.fn = &threefry_kernel;
  l.params = std::make_unique<CountParams>(node.type.shape.numel() / 2);
  // Element i of the result reads only element i (and n+i) of the counts: safe in place.
  l.elementwise = true;
  return l;
}

}  // namespace kiln::cpu
