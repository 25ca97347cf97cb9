// nn::Embed, as flax.linen.Embed (flax/linen/linear.py):
//   embedding = param('embedding', embedding_init, (num_embeddings, features), param_dtype)
//   (embedding,) = promote_dtype(embedding, dtype=dtype, inexact=False)
//   if num_embeddings == 1: where(ids[..., None] == 0, embedding, nan)
//   else: jnp.take(embedding, ids, axis=0)      # mode "fill": negative ids wrap, others are NaN
//
// kiln has no gather primitive, so the lookup is a one-hot product: onehot[..., n] = (id == n) in
// the embedding's dtype, then dot_general over n. It is exact: each output element is
// 1·e[id, f] plus zeros (0·e for the other rows), and x + 0 == x — the only differences from a
// gather are a -0.0 entry coming out as +0.0, and an inf/NaN anywhere in the column spreading to
// every id (0·inf is NaN). The cost is ids × num_embeddings × features multiply-adds, fine for the
// vocabularies this is meant for; a gather primitive would make it ids × features. The gradient
// w.r.t. the table is onehotᵀ · cotangent: each row gets the sum of the cotangents of its ids.
#include "kiln/nn/embed.hpp"

#include <limits>
#include <string>

#include "kiln/ops.hpp"

namespace kiln::nn {

Array Embed::operator()(Scope& scope, const Array& ids, Loc loc) const {
  return in_scope(scope.child("Embed", options.name, loc), ids, loc);
}

Array Embed::in_scope(Scope& own, const Array& ids, Loc loc) const {
  if (options.num_embeddings <= 0 || options.features <= 0)
    throw ValueError(message("nn::Embed: num_embeddings and features must be positive, got " +
                                 std::to_string(options.num_embeddings) + " and " +
                                 std::to_string(options.features),
                             loc));
  if (ids.empty()) throw ValueError(message("nn::Embed: the ids are an empty Array", loc));
  if (!is_integer(ids.dtype()))
    throw DTypeError(
        message(std::string("nn::Embed: the ids must be integers, got ") +
                    std::string(short_name(ids.dtype())),
                loc, "Flax's Embed takes integer ids too; convert with astype(ids, int32)"));
  if (ids.ndim() + 1 > Shape::kMaxRank)
    throw ShapeError(message("nn::Embed: ids of rank " + std::to_string(ids.ndim()) +
                                 " give embeddings above kiln's maximum rank",
                             loc));
  Scope& s = own;
  const int64_t n = options.num_embeddings;
  Array table = s.param("embedding", options.embedding_init, Shape{n, options.features},
                        options.param_dtype, loc);
  if (options.dtype && *options.dtype != table.dtype()) table = astype(table, *options.dtype, loc);
  const DType dt = table.dtype();

  // ids at least 32-bit, so that comparing them with num_embeddings cannot overflow; negative ids
  // wrap, as take's index normalisation does.
  Array id = ids;
  if (itemsize(id.dtype()) < 4) id = astype(id, int32, loc);
  if (n > 1 && is_signed(id.dtype())) id = where(less(id, 0, loc), add(id, n, loc), id, loc);
  Shape onehot_shape = ids.shape();
  onehot_shape.push_back(n);
  Array rows = iota(id.dtype(), onehot_shape, ids.ndim(), loc);
  Array hit = kiln::equal(expand_dims(id, ids.ndim(), loc), rows, loc);  // (..., n)
  ir::DotDims dims;
  dims.lhs_contract = {ids.ndim()};
  dims.rhs_contract = {0};
  Array out = dot_general(astype(hit, dt, loc), table, dims, loc);  // (..., features)
  // take's "fill" mode: a NaN row for an id outside the table.
  Array valid = n > 1 ? bitwise_and(greater_equal(id, 0, loc), less(id, n, loc), loc)
                      : kiln::equal(id, 0, loc);
  return where(expand_dims(valid, ids.ndim(), loc), out, std::numeric_limits<double>::quiet_NaN(),
               loc);
}

}  // namespace kiln::nn
