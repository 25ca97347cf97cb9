// dot_general and numpy's matmul/dot built on it.
#include "kiln/ops.hpp"
#include "ops/operands.hpp"

namespace kiln {

Array dot_general(const Array& a, const Array& b, ir::DotDims dims, Loc loc) {
  DType t = promote(a.dtype(), b.dtype());
  Array xs[2] = {astype(a, t, loc), astype(b, t, loc)};
  ir::Attrs at;
  at.dot = std::move(dims);
  return bind(ir::Prim::dot_general, xs, std::move(at), loc);
}

Array matmul(const Array& a, const Array& b, Loc loc) {
  if (a.ndim() == 0 || b.ndim() == 0)
    throw ShapeError(message("matmul of a 0-d array (shapes " + a.shape().str() + " and " +
                                 b.shape().str() + "); use * for scalars",
                             loc));
  // numpy: a 1-d lhs is a row vector, a 1-d rhs a column vector; the added dims are removed after.
  Array l = a.ndim() == 1 ? reshape(a, {1, a.shape()[0]}, loc) : a;
  Array r = b.ndim() == 1 ? reshape(b, {b.shape()[0], 1}, loc) : b;
  int64_t k = l.shape()[l.ndim() - 1];
  if (r.shape()[r.ndim() - 2] != k)
    throw ShapeError(message("matmul: contracting dimensions differ for shapes " + a.shape().str() +
                                 " and " + b.shape().str() + " (" + std::to_string(k) + " vs " +
                                 std::to_string(r.shape()[r.ndim() - 2]) + ")",
                             loc));
  // Leading (batch) dimensions broadcast against each other.
  Shape lb, rb;
  for (int i = 0; i < l.ndim() - 2; ++i) lb.push_back(l.shape()[i]);
  for (int i = 0; i < r.ndim() - 2; ++i) rb.push_back(r.shape()[i]);
  Shape batch = ops::broadcast_shapes({lb, rb}, loc);
  auto with_batch = [&](const Array& x) {
    std::vector<int64_t> s = batch.vec();
    s.push_back(x.shape()[x.ndim() - 2]);
    s.push_back(x.shape()[x.ndim() - 1]);
    return broadcast_to(x, Shape(s), loc);
  };
  ir::DotDims d;
  int nb = batch.rank();
  if (nb > 0) {
    l = with_batch(l);
    r = with_batch(r);
    for (int i = 0; i < nb; ++i) {
      d.lhs_batch.push_back(i);
      d.rhs_batch.push_back(i);
    }
  }
  d.lhs_contract = {nb + 1};
  d.rhs_contract = {nb};
  Array out = dot_general(l, r, std::move(d), loc);
  std::vector<int64_t> s = batch.vec();
  if (a.ndim() > 1) s.push_back(a.shape()[a.ndim() - 2]);
  if (b.ndim() > 1) s.push_back(b.shape()[b.ndim() - 1]);
  return reshape(out, std::move(s), loc);
}

Array dot(const Array& a, const Array& b, Loc loc) {
  if (a.ndim() > 2 || b.ndim() > 2)
    throw ShapeError(message("dot of arrays of rank > 2 (" + a.shape().str() + ", " +
                                 b.shape().str() + "); use matmul or dot_general",
                             loc));
  if (a.ndim() == 0 || b.ndim() == 0) return mul(a, b, loc);
  return matmul(a, b, loc);
}

}  // namespace kiln
