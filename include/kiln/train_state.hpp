// flax.training.train_state.TrainState: the step, the parameters and the optimizer state, with the
// apply function and the optimizer riding along as static fields. A tree inside jit.
#pragma once

#include <functional>
#include <memory>

#include "kiln/optim.hpp"
#include "kiln/tree.hpp"

namespace kiln {

using ApplyFn = std::function<Array(const Tree& variables, const Array& x)>;

struct TrainState {
  Array step;      // int32 scalar
  Tree params;     // the variables tree given to create(): {"params": {...}}
  Tree opt_state;  // the optimizer's state, in optax's layout
  std::shared_ptr<const ApplyFn> apply_fn;
  std::shared_ptr<const optim::GradientTransformation> tx;

  static TrainState create(ApplyFn apply_fn, Tree params, optim::GradientTransformation tx);
  // One optimizer step: updates params and opt_state, increments step.
  TrainState apply_gradients(const Tree& grads) const;
  // Calls apply_fn.
  Array apply(const Tree& params, const Array& x) const { return (*apply_fn)(params, x); }
  // jit keys its cache on the identity of the static fields.
  size_t tree_static_hash() const;
};

}  // namespace kiln

KILN_TREE(kiln::TrainState, step, params, opt_state);
