// nn::Embed, as flax.linen.Embed (flax/linen/linear.py):
//   embedding = param('embedding', embedding_init, (num_embeddings, features), param_dtype)
//   (embedding,) = promote_dtype(embedding, dtype=dtype, inexact=False)
//   if num_embeddings == 1: where(ids[..., None] == 0, embedding, nan)
//   else: jnp.take(embedding, ids, axis=0)      # mode "fill": negative ids wrap, others are NaN
//
// The lookup is a gather of rows (kiln::take, mode "fill"), so its cost is ids × features whatever
// the vocabulary; its gradient w.r.t. the table is a scatter-add of the cotangents onto the rows
// the ids name (gather's VJP).
#include "kiln/nn/embed.hpp"

#include <limits>
#include <string>

#include "kiln/indexing.hpp"
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
  if (n > 1) return take(table, ids, 0, TakeMode::fill, loc);
  // Flax's num_embeddings == 1 case: where(ids[..., None] == 0, embedding, nan).
  Shape out_shape = ids.shape();
  out_shape.push_back(options.features);
  Array row = broadcast_to(reshape(table, {options.features}, loc), out_shape, loc);
  Array valid = expand_dims(kiln::equal(ids, 0, loc), ids.ndim(), loc);
  return where(valid, row, std::numeric_limits<double>::quiet_NaN(), loc);
}

}  // namespace kiln::nn
