// nn::Dropout, as flax.linen.Dropout (flax/linen/stochastic.py).
//
//   x = nn::Dropout({.rate = 0.5})(s, x, /*deterministic=*/!train);
//   // training: model.apply_with({.rngs = {{"dropout", key}}}, variables, x, true)
//
// rate 0 or deterministic: x unchanged; rate 1: zeros; else keep = random::bernoulli(
// make_rng("dropout"), 1 - rate, shape) and where(keep, x / (1 - rate), 0) — the same mask Flax
// draws for the same key, since kiln's random is bit-exact with JAX's.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kiln/nn.hpp"

namespace kiln::nn {

struct Dropout : Module<Dropout> {
  struct Options {
    double rate = 0.5;  // the probability of dropping, not of keeping
    std::vector<int64_t> broadcast_dims =
        {};  // axes that share one mask value (size 1 in the mask)
    // Set here or at the call, not both (Flax's merge_param); true returns x as it is.
    std::optional<bool> deterministic = std::nullopt;
    std::string rng_collection = "dropout";          // the stream make_rng draws from
    std::optional<std::string> name = std::nullopt;  // default: Dropout_<n>
  };
  Options options;

  explicit Dropout(Options o) : options(std::move(o)) {}
  // `rng`, when given, is used instead of make_rng(rng_collection), as Flax's `rng` argument.
  Array operator()(Scope& scope, const Array& x, std::optional<bool> deterministic = std::nullopt,
                   const std::optional<Array>& rng = std::nullopt, Loc loc = Loc::current()) const;
  // In `own` itself: Dropout as the top-level module (nn.hpp, run_at_root).
  Array in_scope(Scope& own, const Array& x, std::optional<bool> deterministic = std::nullopt,
                 const std::optional<Array>& rng = std::nullopt, Loc loc = Loc::current()) const;
};

}  // namespace kiln::nn
