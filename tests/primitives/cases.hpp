// The per-primitive harness's cases, generated from the registry (kiln/ir.hpp kPrimTable): for
// every primitive, every dtype its row accepts, shapes with size-0 and size-1 dims, and edge values
// (±0, NaN, ±inf, denormals, integer extremes); and the float64 / exact reference of each
// elementwise row. A new elementwise primitive gets its cases from its row and needs one line in
// references.cpp; a new primitive of another kind adds its case generator to cases.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/ir.hpp"

namespace kiln::harness {

// One operand: its elements as bit patterns of its dtype (low itemsize bytes of each word).
struct HostArray {
  DType dtype = DType::float32;
  Shape shape;
  std::vector<uint64_t> bits;
};

struct Case {
  ir::Prim prim;
  std::vector<HostArray> in;
  ir::Attrs attrs;
  std::string what;  // "float32[19] edge values", for failure messages
};

// Every case of p on dtype t (t in p's row); empty for parameter and constant, which every other
// case exercises.
std::vector<Case> cases(ir::Prim p, DType t);
// Cases for the VJP check: float64 operands in a smooth region (no ties, kinks or poles).
std::vector<Case> gradient_cases(ir::Prim p);

Array to_array(const HostArray& h, Device device);
HostArray to_host(const Array& a);

// The bits the reference gives for element i of the case's result, when p is elementwise.
std::optional<uint64_t> reference(const Case& c, DType out, size_t i);
// The result of a row with attributes, from its definition (structured_references.cpp), or
// nothing for a row without one (a failure: every row has one).
std::optional<std::vector<uint64_t>> structured_reference(const Case& c, const Shape& out);
// How many units in the last place of the result's dtype the reference may differ by.
int tolerance_ulps(ir::Prim p, DType t);
// Whether bits a and b of dtype t agree within ulps (NaNs agree with NaNs; results below the
// smallest normal agree within one normal: denormal flushing differs between libms).
bool close(uint64_t a, uint64_t b, DType t, int ulps);

// lgamma and digamma (operand bits x, results a and b): within an absolute error of a small
// multiple of the dtype's epsilon times max(1, |result|) (the Lanczos sum is absolutely, not
// relatively, accurate near the zeros of lgamma and digamma), scaled by |x| for negative x (the
// reflection's sin(π·x)); any result for a subnormal operand (XLA flushes them to 0).
bool lanczos_close(uint64_t x, uint64_t a, uint64_t b, DType t);

std::string bits_str(uint64_t bits, DType t);

// A dtype's element as bits: their width, the mask of that width, the sign-extended value of a
// signed integer, and the value as a double (exact for every integer up to 2^53 and every float).
inline int width(DType t) {
  return static_cast<int>(8 * itemsize(t));
}
inline uint64_t mask(DType t) {
  return width(t) == 64 ? ~0ull : (1ull << width(t)) - 1;
}
inline int64_t as_signed(uint64_t b, DType t) {
  const int s = 64 - width(t);
  return static_cast<int64_t>(b << s) >> s;
}
inline double as_double(uint64_t b, DType t) {
  if (is_floating(t)) return Scalar{t, b}.to_double();
  if (t == DType::bool_) return b != 0 ? 1.0 : 0.0;
  return is_unsigned(t) ? static_cast<double>(b) : static_cast<double>(as_signed(b, t));
}

}  // namespace kiln::harness
