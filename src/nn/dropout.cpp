// nn::Dropout, as flax.linen.Dropout (flax/linen/stochastic.py), step for step:
//   deterministic = merge_param('deterministic', self.deterministic, deterministic)
//   if rate == 0 or deterministic: return inputs
//   if rate == 1: return zeros_like(inputs)          # no 0/0 in the gradient
//   keep_prob = 1 - rate
//   mask = bernoulli(make_rng('dropout'), keep_prob, shape with broadcast_dims set to 1)
//   return select(broadcast_to(mask, inputs.shape), inputs / keep_prob, zeros_like(inputs))
// keep_prob is a Python float, so `inputs / keep_prob` divides in the input's dtype by keep_prob
// rounded to it — what a weakly typed kiln scalar does too.
#include "kiln/nn/dropout.hpp"

#include <string>

#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln::nn {

Array Dropout::operator()(Scope& scope, const Array& x, std::optional<bool> deterministic,
                          const std::optional<Array>& rng, Loc loc) const {
  return in_scope(scope.child("Dropout", options.name, loc), x, deterministic, rng, loc);
}

Array Dropout::in_scope(Scope& own, const Array& x, std::optional<bool> deterministic,
                        const std::optional<Array>& rng, Loc loc) const {
  if (options.deterministic && deterministic)
    throw ValueError(
        message("nn::Dropout: 'deterministic' was given both in the options and at the call", loc,
                "give it once (Flax's merge_param)"));
  if (!options.deterministic && !deterministic)
    throw ValueError(
        message("nn::Dropout: 'deterministic' must be given in the options or at the call", loc,
                "pass it at the call: Dropout({.rate = r})(s, x, /*deterministic=*/!train)"));
  const bool det = options.deterministic ? *options.deterministic : *deterministic;
  const double rate = options.rate;
  if (!(rate >= 0.0 && rate <= 1.0))
    throw ValueError(
        message("nn::Dropout: rate must be in [0, 1] (the probability of dropping), got " +
                    std::to_string(rate),
                loc));
  if (x.empty()) throw ValueError(message("nn::Dropout: the input is an empty Array", loc));
  // A submodule in Flax whether or not it draws: the name Dropout_<n> is taken either way, and
  // its make_rng counts within its own scope.
  Scope& s = own;
  if (rate == 0.0 || det) return x;
  if (rate == 1.0) return zeros_like(x, loc);
  if (!is_floating(x.dtype()))
    throw DTypeError(message(std::string("nn::Dropout: the input must be floating point, got ") +
                                 std::string(short_name(x.dtype())),
                             loc, "convert it with astype first"));

  Shape mask_shape = x.shape();
  for (int64_t d : options.broadcast_dims) {
    const int64_t a = d < 0 ? d + x.ndim() : d;
    if (a < 0 || a >= x.ndim())
      throw ValueError(message("nn::Dropout: broadcast_dims holds " + std::to_string(d) +
                                   ", out of range for an input of shape " + x.shape().str(),
                               loc));
    mask_shape[static_cast<int>(a)] = 1;
  }
  const double keep_prob = 1.0 - rate;
  const Array key = rng ? *rng : s.make_rng(options.rng_collection, loc);
  // A batch that is rows of a larger one draws the whole one's mask and keeps its rows, so that
  // splitting a batch over processes does not change the masks (nn::BatchRows).
  const BatchRows& rows = s.batch_rows();
  Array mask;
  if (rows.total > 0 && x.ndim() > 0 && mask_shape[0] == x.shape()[0]) {
    const int64_t b = mask_shape[0];
    if (rows.start < 0 || rows.start + b > rows.total)
      throw ValueError(message("nn::Dropout: batch_rows [" + std::to_string(rows.start) + ", " +
                                   std::to_string(rows.start + b) + ") lie outside a batch of " +
                                   std::to_string(rows.total) + " rows",
                               loc));
    Shape whole = mask_shape;
    whole[0] = rows.total;
    std::vector<int64_t> begin(static_cast<size_t>(x.ndim()), 0), end;
    for (int i = 0; i < mask_shape.rank(); ++i) end.push_back(mask_shape[i]);
    begin[0] = rows.start;
    end[0] = rows.start + b;
    mask = slice(random::bernoulli(key, keep_prob, whole, loc), begin, end);
  } else {
    mask = random::bernoulli(key, keep_prob, mask_shape, loc);
  }
  if (!(mask_shape == x.shape())) mask = broadcast_to(mask, x.shape(), loc);
  return where(mask, div(x, keep_prob, loc), zeros_like(x, loc), loc);
}

}  // namespace kiln::nn
