// Turning API arguments into primitive operands: JAX type promotion and numpy broadcasting.
#pragma once

#include <vector>

#include "kiln/ops.hpp"

namespace kiln::ops {

// The dtype all of `xs` take under JAX promotion (weak scalars adapt to arrays).
DType result_dtype(std::initializer_list<const Operand*> xs);
// numpy broadcasting of shapes; ShapeError naming all shapes and `loc` when they are incompatible.
Shape broadcast_shapes(const std::vector<Shape>& shapes, const Loc& loc);
// The operand as an array of `dtype` and `shape` (converted, broadcast, or filled for a scalar).
Array coerce(const Operand& x, DType dtype, const Shape& shape, const Loc& loc);
// Shape of an operand (scalars: rank 0).
Shape shape_of(const Operand& x);
// The dtype jnp.prod and jnp.cumsum accumulate a `t` operand in: bool and integers narrower than
// 32 bits widen to int32 (unsigned: uint32); others stay.
DType accumulation_dtype(DType t);
// Normalises a possibly negative axis for an array of rank `rank`.
int64_t normalize_axis(int64_t axis, int rank, const Loc& loc);

}  // namespace kiln::ops
