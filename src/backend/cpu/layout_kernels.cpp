// Shape primitives (broadcast_in_dim, transpose, slice, pad, concatenate) as strided copies whose
// strides are fixed at compile time, and the generators full and iota.
#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"
#include "backend/cpu/strided_copy.hpp"

namespace kiln::cpu {
namespace {

struct CopyParams : KernelParams {
  StridedCopy copy;
};

void strided_copy_kernel(const KernelArgs& a, const KernelParams& p) {
  run_strided_copy(static_cast<const CopyParams&>(p).copy, a.in[0], a.out);
}

Lowered one_copy(StridedCopy copy) {
  auto params = std::make_unique<CopyParams>();
  params->copy = copy;
  Lowered l;
  l.fn = &strided_copy_kernel;
  l.params = std::move(params);
  return l;
}

// Fills n elements of width W with one value.
template <size_t W>
void fill(std::byte* out, int64_t n, const void* value) {
  word_t<W> v;
  std::memcpy(&v, value, W);
  auto* dst = reinterpret_cast<word_t<W>*>(out);
  for (int64_t i = 0; i < n; ++i) dst[i] = v;
}

struct PadParams : KernelParams {
  StridedCopy copy;  // operand -> its place in the result
  int64_t out_numel = 0;
};

template <size_t W>
void pad_kernel(const KernelArgs& a, const KernelParams& p) {
  const auto& pp = static_cast<const PadParams&>(p);
  fill<W>(a.out, pp.out_numel, a.in[1]);
  run_strided_copy(pp.copy, a.in[0], a.out);
}

struct ConcatParams : KernelParams {
  std::vector<StridedCopy> copies;  // one per operand
};

void concatenate_kernel(const KernelArgs& a, const KernelParams& p) {
  const auto& cp = static_cast<const ConcatParams&>(p);
  for (size_t i = 0; i < cp.copies.size(); ++i) run_strided_copy(cp.copies[i], a.in[i], a.out);
}

struct FillParams : KernelParams {
  int64_t n = 0;
  uint64_t value = 0;  // the element's bytes
};

template <size_t W>
void full_kernel(const KernelArgs& a, const KernelParams& p) {
  const auto& fp = static_cast<const FillParams&>(p);
  fill<W>(a.out, fp.n, &fp.value);
}

struct IotaParams : KernelParams {
  int64_t n = 0;
  int64_t axis_size = 1;
  int64_t inner = 1;  // elements per step along the axis
};

template <class T>
void iota_kernel(const KernelArgs& a, const KernelParams& p) {
  const auto& ip = static_cast<const IotaParams&>(p);
  T* out = out_ptr<T>(a);
  int64_t i = 0;
  while (i < ip.n) {
    for (int64_t k = 0; k < ip.axis_size; ++k) {
      const T v = store<T>(static_cast<compute_t<T>>(k));
      for (int64_t j = 0; j < ip.inner; ++j) out[i++] = v;
    }
  }
}

std::vector<int64_t> row_major(const Shape& s) {
  return strides_of(s);
}

}  // namespace

Lowered lower_broadcast_in_dim(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& out = node.type.shape;
  const Shape& x = in[0].shape;
  std::vector<int64_t> x_strides = row_major(x);
  std::vector<int64_t> in_strides(static_cast<size_t>(out.rank()), 0);
  for (int i = 0; i < x.rank(); ++i) {
    const auto j = static_cast<size_t>(node.attrs.dims[static_cast<size_t>(i)]);
    if (x[i] != 1) in_strides[j] = x_strides[static_cast<size_t>(i)];
  }
  return one_copy(
      make_strided_copy(out.dims(), in_strides, 0, row_major(out), 0, itemsize(in[0].dtype)));
}

Lowered lower_transpose(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& out = node.type.shape;
  std::vector<int64_t> x_strides = row_major(in[0].shape);
  std::vector<int64_t> in_strides;
  for (int64_t d : node.attrs.dims) in_strides.push_back(x_strides[static_cast<size_t>(d)]);
  return one_copy(
      make_strided_copy(out.dims(), in_strides, 0, row_major(out), 0, itemsize(in[0].dtype)));
}

Lowered lower_slice(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& out = node.type.shape;
  const ir::Attrs& at = node.attrs;
  std::vector<int64_t> x_strides = row_major(in[0].shape);
  std::vector<int64_t> in_strides;
  int64_t offset = 0;
  for (size_t i = 0; i < x_strides.size(); ++i) {
    const int64_t step = at.stride.empty() ? 1 : at.stride[i];
    in_strides.push_back(x_strides[i] * step);
    offset += at.start[i] * x_strides[i];
  }
  return one_copy(
      make_strided_copy(out.dims(), in_strides, offset, row_major(out), 0, itemsize(in[0].dtype)));
}

// Negative low/high padding crops: along each dim only the operand elements whose place
// low + i·(interior + 1) falls inside the result are copied.
Lowered lower_pad(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& out = node.type.shape;
  const Shape& x = in[0].shape;
  const ir::Attrs& at = node.attrs;
  std::vector<int64_t> o_strides = row_major(out), x_strides = row_major(x);
  std::vector<int64_t> dims, out_strides;
  int64_t in_offset = 0, out_offset = 0;
  for (size_t i = 0; i < o_strides.size(); ++i) {
    const int64_t step = (at.interior.empty() ? 0 : at.interior[i]) + 1;
    const int64_t low = at.low[i], n = x[static_cast<int>(i)], size = out[static_cast<int>(i)];
    const int64_t first = low >= 0 ? 0 : (-low + step - 1) / step;  // first kept element
    const int64_t last = size - 1 - low < 0 ? -1 : std::min(n - 1, (size - 1 - low) / step);
    dims.push_back(std::max<int64_t>(0, last - first + 1));
    out_strides.push_back(o_strides[i] * step);
    in_offset += first * x_strides[i];
    out_offset += (low + first * step) * o_strides[i];
  }
  auto params = std::make_unique<PadParams>();
  const size_t width = itemsize(in[0].dtype);
  params->copy = make_strided_copy(dims, x_strides, in_offset, out_strides, out_offset, width);
  params->out_numel = out.numel();
  Lowered l;
  l.fn = visit_width(width, []<size_t W>() -> KernelFn { return &pad_kernel<W>; });
  l.params = std::move(params);
  return l;
}

Lowered lower_concatenate(const ir::Node& node, std::span<const ir::ValueType> in) {
  const Shape& out = node.type.shape;
  const auto axis = static_cast<int>(node.attrs.axis);
  std::vector<int64_t> o_strides = row_major(out);
  auto params = std::make_unique<ConcatParams>();
  int64_t at = 0;
  for (const ir::ValueType& t : in) {
    params->copies.push_back(make_strided_copy(t.shape.dims(), row_major(t.shape), 0, o_strides,
                                               at * o_strides[static_cast<size_t>(axis)],
                                               itemsize(t.dtype)));
    at += t.shape[axis];
  }
  Lowered l;
  l.fn = &concatenate_kernel;
  l.params = std::move(params);
  return l;
}

uint64_t fill_bits(const ir::Node& full) {
  const DType t = full.type.dtype;
  Scalar v = full.attrs.value;
  // A value given in another dtype is converted the way Scalar converts.
  if (v.dtype != t)
    v = is_floating(t) ? Scalar::from_double(v.to_double(), t) : Scalar::from_int(v.to_int(), t);
  return v.bits;
}

Lowered lower_full(const ir::Node& node, std::span<const ir::ValueType>) {
  const DType t = node.type.dtype;
  auto params = std::make_unique<FillParams>();
  params->n = node.type.shape.numel();
  params->value = fill_bits(node);
  Lowered l;
  l.fn = visit_width(itemsize(t), []<size_t W>() -> KernelFn { return &full_kernel<W>; });
  l.params = std::move(params);
  return l;
}

Lowered lower_iota(const ir::Node& node, std::span<const ir::ValueType>) {
  const Shape& s = node.type.shape;
  auto params = std::make_unique<IotaParams>();
  params->n = s.numel();
  if (s.rank() > 0) {
    const auto axis = static_cast<int>(node.attrs.axis);
    params->axis_size = s[axis];
    for (int i = axis + 1; i < s.rank(); ++i) params->inner *= s[i];
  }
  Lowered l;
  l.fn =
      numeric_kernel(node, node.type.dtype, []<class T>() -> KernelFn { return &iota_kernel<T>; });
  l.params = std::move(params);
  return l;
}

}  // namespace kiln::cpu
