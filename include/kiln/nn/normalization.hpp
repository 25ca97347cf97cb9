// nn::BatchNorm and nn::LayerNorm, as flax.linen's (flax/linen/normalization.py): same variable
// names, shapes, defaults and order of operations.
//
//   x = nn::BatchNorm({.momentum = 0.9})(s, x, /*use_running_average=*/!train);
//   // training: model.apply_with({.mutable_collections = {"batch_stats"}}, variables, x, true)
//   x = nn::LayerNorm({})(s, x);
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kiln/nn.hpp"

namespace kiln::nn {

// Normalizes over every axis but `axis` with the batch's statistics (training) or the running
// averages in the "batch_stats" collection (evaluation).
//   params:      "scale" (ones), "bias" (zeros), shape (features,)
//   batch_stats: "mean" (zeros), "var" (ones), shape (features,), float32
// Training (use_running_average false) outside init updates the running averages:
//   ra = momentum · ra + (1 − momentum) · batch statistic,
// which needs "batch_stats" mutable in apply (else ValueError naming the collection). init does
// not update them.
struct BatchNorm : Module<BatchNorm> {
  struct Options {
    // Set here or at the call, not both (Flax's merge_param).
    std::optional<bool> use_running_average = std::nullopt;
    int axis = -1;  // the feature axis
    double momentum = 0.99;
    double epsilon = 1e-5;
    std::optional<DType> dtype = std::nullopt;  // of the result (default: promoted input/params)
    DType param_dtype = float32;
    bool use_bias = true;
    bool use_scale = true;
    Initializer bias_init = initializers::zeros();
    Initializer scale_init = initializers::ones();
    // var = max(0, mean(x²) − mean(x)²) (Flax's default); false: mean((x − mean(x))²).
    bool use_fast_variance = true;
    // Statistics (and the running averages) in at least float32, whatever the input dtype.
    bool force_float32_reductions = true;
    std::optional<std::string> name = std::nullopt;  // default: BatchNorm_<n>
  };
  Options options;

  explicit BatchNorm(Options o) : options(std::move(o)) {}
  Array operator()(Scope& scope, const Array& x,
                   std::optional<bool> use_running_average = std::nullopt,
                   Loc loc = Loc::current()) const;
  // In `own` itself: BatchNorm as the top-level module (nn.hpp, run_at_root).
  Array in_scope(Scope& own, const Array& x, std::optional<bool> use_running_average = std::nullopt,
                 Loc loc = Loc::current()) const;
};

// Normalizes each example over `reduction_axes` (default the last), then scales and shifts over
// `feature_axes`: params "scale" (ones) and "bias" (zeros) of the feature axes' shape.
struct LayerNorm : Module<LayerNorm> {
  struct Options {
    double epsilon = 1e-6;
    std::optional<DType> dtype = std::nullopt;  // of the result (default: promoted input/params)
    DType param_dtype = float32;
    bool use_bias = true;
    bool use_scale = true;
    Initializer bias_init = initializers::zeros();
    Initializer scale_init = initializers::ones();
    std::vector<int64_t> reduction_axes = {-1};
    std::vector<int64_t> feature_axes = {-1};
    bool use_fast_variance = true;
    bool force_float32_reductions = true;
    std::optional<std::string> name = std::nullopt;  // default: LayerNorm_<n>
  };
  Options options;

  explicit LayerNorm(Options o) : options(std::move(o)) {}
  Array operator()(Scope& scope, const Array& x, Loc loc = Loc::current()) const;
  // In `own` itself: LayerNorm as the top-level module (nn.hpp, run_at_root).
  Array in_scope(Scope& own, const Array& x, Loc loc = Loc::current()) const;
};

}  // namespace kiln::nn
