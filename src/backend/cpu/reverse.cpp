// rev (lax.rev): a strided copy that walks the reversed dims backwards.
#include "backend/cpu/lowerings.hpp"
#include "backend/cpu/strided_copy.hpp"

namespace kiln::cpu {
namespace {

struct RevParams : KernelParams {
  StridedCopy copy;
};

void rev_kernel(const KernelArgs& a, const KernelParams& p) {
  run_strided_copy(static_cast<const RevParams&>(p).copy, a.in[0], a.out);
}

}  // namespace

Lowered lower_rev(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& s = in[0].shape;
  std::vector<int64_t> in_strides = strides_of(s);
  const std::vector<int64_t> out_strides = in_strides;
  int64_t offset = 0;
  for (int64_t d : node.attrs.dims) {
    const auto i = static_cast<size_t>(d);
    if (s[static_cast<int>(d)] > 0) offset += (s[static_cast<int>(d)] - 1) * in_strides[i];
    in_strides[i] = -in_strides[i];
  }
  auto params = std::make_unique<RevParams>();
  params->copy =
      make_strided_copy(s.dims(), in_strides, offset, out_strides, 0, itemsize(in[0].dtype));
  Lowered l;
  l.fn = &rev_kernel;
  l.params = std::move(params);
  return l;
}

}  // namespace kiln::cpu
