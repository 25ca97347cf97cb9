// nn::Embed, as flax.linen.Embed (flax/linen/linear.py): a lookup table of `num_embeddings`
// vectors of `features`, param "embedding" (num_embeddings, features).
//
//   Array h = nn::Embed({.num_embeddings = vocab, .features = 64})(s, token_ids);  // (..., 64)
//
// ids must be integers. Out-of-range ids behave as Flax's jnp.take (mode "fill"): an id in
// [-num_embeddings, 0) counts from the end, any other id outside [0, num_embeddings) gives a row
// of NaN. (With num_embeddings == 1, as Flax, every id but 0 gives NaN.)
#pragma once

#include <optional>
#include <string>

#include "kiln/nn.hpp"

namespace kiln::nn {

struct Embed : Module<Embed> {
  struct Options {
    int64_t num_embeddings = 0;
    int64_t features = 0;
    std::optional<DType> dtype = std::nullopt;  // of the result (default: param_dtype)
    DType param_dtype = float32;
    // Flax's default_embed_init: variance_scaling(1.0, 'fan_in', 'normal', out_axis=0), so
    // stddev = 1/sqrt(features).
    Initializer embedding_init = initializers::variance_scaling(1.0, "fan_in", "normal", -2, 0);
    std::optional<std::string> name = std::nullopt;  // default: Embed_<n>
  };
  Options options;

  explicit Embed(Options o) : options(std::move(o)) {}
  // ids of any shape -> embeddings of shape ids.shape + (features,).
  Array operator()(Scope& scope, const Array& ids, Loc loc = Loc::current()) const;
  // In `own` itself: Embed as the top-level module (nn.hpp, run_at_root).
  Array in_scope(Scope& own, const Array& ids, Loc loc = Loc::current()) const;
};

}  // namespace kiln::nn
