// nn::Conv, as flax.linen.Conv (flax/linen/linear.py): a channels-last convolution with kernel
// (*kernel_size, in_features / feature_group_count, features) and bias (features,).
//
//   x = nn::Conv({.features = 32, .kernel_size = {3, 3}})(s, x);  // x: (N, H, W, C), SAME padding
//
// The input is (*batch_dims, *spatial, features) with one spatial dim per kernel_size entry:
// several batch dims are flattened into one and restored, none (an unbatched (H, W, C) image) is
// added and removed, as in Flax.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/nn.hpp"

namespace kiln::nn {

struct Conv : Module<Conv> {
  struct Options {
    int64_t features = 0;
    std::vector<int64_t> kernel_size = {};
    std::vector<int64_t> strides = {};  // empty: 1 per spatial dim; one entry: broadcast
    // "SAME", "SAME_LOWER", "VALID", "CIRCULAR" (wrap-around) or "CAUSAL" (1-d, left padding only);
    // ignored when explicit_padding is given.
    std::string padding = "SAME";
    std::vector<std::pair<int64_t, int64_t>> explicit_padding = {};  // (low, high) per spatial dim
    std::vector<int64_t> input_dilation = {}, kernel_dilation = {};  // empty: 1; one: broadcast
    int64_t feature_group_count = 1;
    bool use_bias = true;
    Initializer kernel_init = initializers::lecun_normal();
    Initializer bias_init = initializers::zeros();
    std::optional<DType> dtype = std::nullopt;  // computation dtype (default: promoted)
    DType param_dtype = float32;
    std::optional<std::string> name = std::nullopt;  // default: Conv_<n>
  };
  Options options;

  explicit Conv(Options o) : options(std::move(o)) {}
  Array operator()(Scope& scope, const Array& x, Loc loc = Loc::current()) const;
  // In `own` itself: Conv as the top-level module (nn.hpp, run_at_root).
  Array in_scope(Scope& own, const Array& x, Loc loc = Loc::current()) const;
};

}  // namespace kiln::nn
