// The popular optimizers as optax composes them (optax/_src/alias.py). The chain order fixes the
// state layout that checkpoints carry: adam -> {'0': adam state, '1': lr state}, and so on. Each
// takes an options struct (optax's keyword arguments); the positional forms forward to it.
#include "kiln/optim.hpp"

namespace kiln::optim {
namespace {

// optax.identity(): updates unchanged, EmptyState (written {}).
GradientTransformation identity() {
  GradientTransformation t;
  t.init = [](const Tree&) { return Tree::dict(); };
  t.update = [](const Tree& updates, const Tree& state, const Tree&) {
    return std::make_pair(updates, state);
  };
  return t;
}

}  // namespace

GradientTransformation sgd(SgdOptions o) {
  // optax: chain(trace(momentum, nesterov) if momentum is not None else identity(), lr).
  return chain({o.momentum ? trace(*o.momentum, o.nesterov) : identity(),
                scale_by_learning_rate(std::move(o.learning_rate))});
}

GradientTransformation sgd(ScalarOrSchedule learning_rate, std::optional<double> momentum,
                           bool nesterov) {
  return sgd(
      {.learning_rate = std::move(learning_rate), .momentum = momentum, .nesterov = nesterov});
}

GradientTransformation adam(AdamOptions o) {
  return chain({scale_by_adam(o.b1, o.b2, o.eps, o.eps_root),
                scale_by_learning_rate(std::move(o.learning_rate))});
}

GradientTransformation adam(ScalarOrSchedule learning_rate, double b1, double b2, double eps,
                            double eps_root) {
  return adam({.learning_rate = std::move(learning_rate),
               .b1 = b1,
               .b2 = b2,
               .eps = eps,
               .eps_root = eps_root});
}

GradientTransformation adamw(AdamWOptions o) {
  // Decoupled weight decay: added after Adam's scaling, before the learning rate.
  return chain({scale_by_adam(o.b1, o.b2, o.eps, o.eps_root),
                add_decayed_weights(o.weight_decay, std::move(o.mask)),
                scale_by_learning_rate(std::move(o.learning_rate))});
}

GradientTransformation adamw(ScalarOrSchedule learning_rate, double b1, double b2, double eps,
                             double eps_root, double weight_decay, std::optional<Mask> mask) {
  return adamw({.learning_rate = std::move(learning_rate),
                .b1 = b1,
                .b2 = b2,
                .eps = eps,
                .eps_root = eps_root,
                .weight_decay = weight_decay,
                .mask = std::move(mask)});
}

GradientTransformation rmsprop(RmspropOptions o) {
  // optax (centered=False): chain(scale_by_rms, lr, trace(momentum) or identity). The momentum
  // trace comes after the learning rate, so it accumulates scaled steps.
  return chain({scale_by_rms(o.decay, o.eps, o.initial_scale),
                scale_by_learning_rate(std::move(o.learning_rate)),
                o.momentum ? trace(*o.momentum, o.nesterov) : identity()});
}

GradientTransformation rmsprop(ScalarOrSchedule learning_rate, double decay, double eps,
                               double initial_scale, std::optional<double> momentum,
                               bool nesterov) {
  return rmsprop({.learning_rate = std::move(learning_rate),
                  .decay = decay,
                  .eps = eps,
                  .initial_scale = initial_scale,
                  .momentum = momentum,
                  .nesterov = nesterov});
}

GradientTransformation lion(LionOptions o) {
  return chain({scale_by_lion(o.b1, o.b2), add_decayed_weights(o.weight_decay, std::move(o.mask)),
                scale_by_learning_rate(std::move(o.learning_rate))});
}

GradientTransformation lamb(LambOptions o) {
  return chain({scale_by_adam(o.b1, o.b2, o.eps, o.eps_root),
                add_decayed_weights(o.weight_decay, std::move(o.mask)), scale_by_trust_ratio(),
                scale_by_learning_rate(std::move(o.learning_rate))});
}

GradientTransformation adafactor(AdafactorOptions o) {
  // optax: the factored rescaling, then each optional piece in this order, then scale(-1).
  std::vector<GradientTransformation> tx = {
      scale_by_factored_rms({.factored = o.factored,
                             .decay_rate = o.decay_rate,
                             .step_offset = o.decay_offset,
                             .min_dim_size_to_factor = o.min_dim_size_to_factor,
                             .epsilon = o.eps})};
  if (o.clipping_threshold) tx.push_back(clip_by_block_rms(*o.clipping_threshold));
  if (o.learning_rate.is_set())
    tx.push_back(scale_by_learning_rate(std::move(o.learning_rate), /*flip_sign=*/false));
  if (o.multiply_by_parameter_scale) tx.push_back(scale_by_param_block_rms());
  if (o.momentum) tx.push_back(ema(*o.momentum, /*debias=*/false, o.dtype_momentum));
  if (o.weight_decay_rate)
    tx.push_back(add_decayed_weights(*o.weight_decay_rate, std::move(o.weight_decay_mask)));
  tx.push_back(scale(-1));
  return chain(std::move(tx));
}

}  // namespace kiln::optim
