// Products with a preferred_element_type wider than their operands (int8 -> int32, bfloat16 ->
// float32): the operands are converted into scratch and the product of the wide type runs on
// them. The conversions are exact, and the wide type's products of converted values are exact
// too (8-bit × 8-bit integers in 32 bits; bfloat16/float16 products in float32), so this
// accumulates in the wide type exactly as XLA's mixed-precision dot does. Products without a
// preferred type never come here: their kernels are unchanged.
#include <vector>

#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {
namespace {

size_t align64(size_t n) {
  return (n + 63) & ~size_t{63};
}

struct WidenedParams : KernelParams {
  Lowered convert[2];     // operand k -> the wide type
  size_t offset[2] = {};  // where converted operand k lives in scratch
  Lowered product;        // the product of the wide type
  size_t product_scratch = 0;
};

void widened_kernel(const KernelArgs& a, const KernelParams& p) {
  const auto& wp = static_cast<const WidenedParams&>(p);
  const std::byte* wide[2];
  for (size_t k = 0; k < 2; ++k) {
    std::byte* dst = a.scratch + wp.offset[k];
    const std::byte* src[1] = {a.in[k]};
    wp.convert[k].fn(KernelArgs{src, dst, nullptr}, *wp.convert[k].params);
    wide[k] = dst;
  }
  wp.product.fn(KernelArgs{wide, a.out, a.scratch + wp.product_scratch}, *wp.product.params);
}

}  // namespace

Lowered lower_widened(const ir::Node& node, std::span<const ir::ValueType> in, LowerFn product) {
  const DType wide = node.type.dtype;
  auto params = std::make_unique<WidenedParams>();
  std::vector<ir::ValueType> wide_in;
  size_t scratch = 0;
  for (size_t k = 0; k < 2; ++k) {
    const ir::ValueType t{wide, in[k].shape};
    ir::Attrs to;
    to.dtype = wide;
    const ir::Node convert{ir::Prim::convert, {}, std::move(to), t, node.loc};
    params->convert[k] = lower_convert(convert, in.subspan(k, 1));
    params->offset[k] = scratch;
    scratch += align64(static_cast<size_t>(in[k].shape.numel()) * itemsize(wide));
    wide_in.push_back(t);
  }
  ir::Node same = node;
  same.attrs.preferred_element_type.reset();
  params->product = product(same, wide_in);
  params->product_scratch = scratch;
  Lowered l;
  l.fn = &widened_kernel;
  l.scratch_bytes = scratch + params->product.scratch_bytes;
  l.params = std::move(params);
  return l;
}

}  // namespace kiln::cpu
