#include "ops/operands.hpp"

#include <algorithm>

namespace kiln::ops {

DType result_dtype(std::initializer_list<const Operand*> xs) {
  bool have_array = false;
  DType t = DType::bool_;
  WeakKind strongest_weak = WeakKind::none;
  for (const Operand* x : xs) {
    if (x->is_scalar()) {
      strongest_weak = std::max(strongest_weak, x->weak());
    } else {
      t = have_array ? promote(t, x->array().dtype()) : x->array().dtype();
      have_array = true;
    }
  }
  if (!have_array) return strongest_weak == WeakKind::floating ? DType::float32 : DType::int32;
  return promote_weak(t, strongest_weak);
}

Shape broadcast_shapes(const std::vector<Shape>& shapes, const Loc& loc) {
  int rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.rank());
  Shape out;
  for (int i = 0; i < rank; ++i) out.push_back(1);
  for (const auto& s : shapes) {
    for (int i = 0; i < s.rank(); ++i) {
      int o = rank - s.rank() + i;
      if (s[i] == out[o] || s[i] == 1) continue;
      if (out[o] == 1) {
        out[o] = s[i];
        continue;
      }
      std::string all;
      for (const auto& x : shapes) all += (all.empty() ? "" : " and ") + x.str();
      throw ShapeError(message(
          "incompatible shapes for broadcasting: " + all, loc,
          "numpy broadcasting aligns trailing dimensions, which must be equal or 1; reshape "
          "or transpose an operand"));
    }
  }
  return out;
}

Shape shape_of(const Operand& x) {
  return x.is_scalar() ? Shape{} : x.array().shape();
}

Array coerce(const Operand& x, DType dtype, const Shape& shape, const Loc& loc) {
  if (x.is_scalar()) {
    if (is_complex(dtype))  // (value, 0): a full of the parts' dtype, converted (creation.cpp)
      return full(shape,
                  x.weak() == WeakKind::floating ? x.value() : static_cast<double>(x.ivalue()),
                  dtype, loc);
    ir::Attrs a;
    a.shape = shape;
    a.dtype = dtype;
    a.value = x.weak() == WeakKind::floating ? Scalar::from_double(x.value(), dtype)
                                             : Scalar::from_int(x.ivalue(), dtype);
    return bind(ir::Prim::full, {}, std::move(a), loc);
  }
  Array a = x.array().dtype() == dtype ? x.array() : astype(x.array(), dtype, loc);
  if (a.shape() == shape) return a;
  return broadcast_to(a, shape, loc);
}

int64_t normalize_axis(int64_t axis, int rank, const Loc& loc) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw ValueError(message("axis " + std::to_string(axis) +
                                 " is out of range for an array of rank " + std::to_string(rank),
                             loc));
  return a;
}

DType accumulation_dtype(DType t) {
  if (t == DType::bool_) return DType::int32;
  if (is_integer(t) && itemsize(t) < 4) return is_unsigned(t) ? DType::uint32 : DType::int32;
  return t;
}

}  // namespace kiln::ops
