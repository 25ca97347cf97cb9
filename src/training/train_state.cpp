#include "kiln/train_state.hpp"

#include "kiln/ops.hpp"

namespace kiln {

TrainState TrainState::create(ApplyFn apply_fn, Tree params, optim::GradientTransformation tx) {
  TrainState s;
  s.step = zeros({}, int32);
  s.opt_state = tx.init(params);
  s.params = std::move(params);
  s.apply_fn = std::make_shared<const ApplyFn>(std::move(apply_fn));
  s.tx = std::make_shared<const optim::GradientTransformation>(std::move(tx));
  return s;
}

TrainState TrainState::apply_gradients(const Tree& grads) const {
  auto [updates, new_opt_state] = tx->update(grads, opt_state, params);
  TrainState next = *this;
  next.step = step + 1;
  next.params = optim::apply_updates(params, updates);
  next.opt_state = std::move(new_opt_state);
  return next;
}

size_t TrainState::tree_static_hash() const {
  size_t h = reinterpret_cast<size_t>(apply_fn.get());
  hash_combine(h, reinterpret_cast<size_t>(tx.get()));
  return h;
}

}  // namespace kiln
