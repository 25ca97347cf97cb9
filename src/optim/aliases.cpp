// The popular optimizers as optax composes them (optax/_src/alias.py). The chain order fixes the
// state layout that checkpoints carry: adam -> {'0': adam state, '1': lr state}, and so on.
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

GradientTransformation sgd(ScalarOrSchedule learning_rate, std::optional<double> momentum,
                           bool nesterov) {
  // optax: chain(trace(momentum, nesterov) if momentum is not None else identity(), lr).
  return chain({momentum ? trace(*momentum, nesterov) : identity(),
                scale_by_learning_rate(std::move(learning_rate))});
}

GradientTransformation adam(ScalarOrSchedule learning_rate, double b1, double b2, double eps,
                            double eps_root) {
  return chain(
      {scale_by_adam(b1, b2, eps, eps_root), scale_by_learning_rate(std::move(learning_rate))});
}

GradientTransformation adamw(ScalarOrSchedule learning_rate, double b1, double b2, double eps,
                             double eps_root, double weight_decay,
                             std::optional<std::function<Tree(const Tree& params)>> mask) {
  // Decoupled weight decay: added after Adam's scaling, before the learning rate.
  return chain({scale_by_adam(b1, b2, eps, eps_root),
                add_decayed_weights(weight_decay, std::move(mask)),
                scale_by_learning_rate(std::move(learning_rate))});
}

GradientTransformation rmsprop(ScalarOrSchedule learning_rate, double decay, double eps,
                               double initial_scale, std::optional<double> momentum,
                               bool nesterov) {
  // optax (centered=False): chain(scale_by_rms, lr, trace(momentum) or identity). The momentum
  // trace comes after the learning rate, so it accumulates scaled steps.
  return chain({scale_by_rms(decay, eps, initial_scale),
                scale_by_learning_rate(std::move(learning_rate)),
                momentum ? trace(*momentum, nesterov) : identity()});
}

}  // namespace kiln::optim
