#include "kiln/backend.hpp"
#include "kiln/ops.hpp"

namespace kiln {

// A complex fill is the real fill converted: a full node holds one real Scalar (8 bytes), which
// every pass reads as the element's bits; convert makes (value, 0) exactly.
Array full(const Shape& shape, double value, DType dtype, Loc loc) {
  if (is_complex(dtype)) return astype(full(shape, value, real_dtype(dtype), loc), dtype, loc);
  ir::Attrs a;
  a.shape = shape;
  a.dtype = dtype;
  a.value = Scalar::from_double(value, dtype);
  return bind(ir::Prim::full, {}, std::move(a), loc);
}

Array zeros(const Shape& shape, DType dtype, Loc loc) {
  return full(shape, 0.0, dtype, loc);
}
Array ones(const Shape& shape, DType dtype, Loc loc) {
  return full(shape, 1.0, dtype, loc);
}
Array full_like(const Array& x, double value, Loc loc) {
  return full(x.shape(), value, x.dtype(), loc);
}
Array zeros_like(const Array& x, Loc loc) {
  return full(x.shape(), 0.0, x.dtype(), loc);
}
Array ones_like(const Array& x, Loc loc) {
  return full(x.shape(), 1.0, x.dtype(), loc);
}

Array iota(DType dtype, const Shape& shape, int64_t axis, Loc loc) {
  ir::Attrs a;
  a.shape = shape;
  a.dtype = dtype;
  a.axis = axis;
  return bind(ir::Prim::iota, {}, std::move(a), loc);
}

Array arange(int64_t n, DType dtype, Loc loc) {
  if (n < 0) throw ValueError(message("arange of a negative length " + std::to_string(n), loc));
  return iota(dtype, Shape{n}, 0, loc);
}

namespace {
template <class T>
Array host_array(std::span<const T> values, const Shape& shape, const Loc& loc) {
  Shape s =
      shape.rank() == 0 && values.size() != 1 ? Shape{static_cast<int64_t>(values.size())} : shape;
  if (static_cast<size_t>(s.numel()) != values.size())
    throw ShapeError(
        message(std::to_string(values.size()) + " values cannot fill shape " + s.str(), loc));
  return Array::from_data(values, s);
}
}  // namespace

Array array(std::initializer_list<float> values, const Shape& shape, Loc loc) {
  return host_array(std::span<const float>(values.begin(), values.size()), shape, loc);
}
Array array(std::span<const float> values, const Shape& shape, Loc loc) {
  return host_array(values, shape, loc);
}
Array array(std::span<const double> values, const Shape& shape, Loc loc) {
  return host_array(values, shape, loc);
}
Array array(std::span<const int32_t> values, const Shape& shape, Loc loc) {
  return host_array(values, shape, loc);
}
Array array(std::span<const uint32_t> values, const Shape& shape, Loc loc) {
  return host_array(values, shape, loc);
}

Array scalar(double value, DType dtype, Loc loc) {
  return full(Shape{}, value, dtype, loc);
}

}  // namespace kiln
