// optax.chain (optax/_src/combine.py): transformations applied in order, each feeding its updates
// to the next. optax's state is a tuple, which Flax's to_state_dict writes as {'0': s0, '1': s1,
// ...}; kiln keeps that dict directly so checkpoints match.
#include <memory>
#include <string>

#include "kiln/optim.hpp"

namespace kiln::optim {

GradientTransformation chain(std::vector<GradientTransformation> transforms) {
  auto ts = std::make_shared<const std::vector<GradientTransformation>>(std::move(transforms));
  GradientTransformation out;
  out.init = [ts](const Tree& params) {
    Tree state = Tree::dict();
    for (size_t i = 0; i < ts->size(); ++i) state.entry(std::to_string(i)) = (*ts)[i].init(params);
    return state;
  };
  out.update = [ts](const Tree& updates, const Tree& state, const Tree& params) {
    if (!state.is_dict() || state.size() != ts->size())
      throw ValueError(
          "chain of " + std::to_string(ts->size()) + " transformations given a state of " +
          std::to_string(state.size()) +
          " entries; pass the state made by this optimizer's init() (or returned by its update())");
    Tree u = updates;
    Tree next = Tree::dict();
    for (size_t i = 0; i < ts->size(); ++i) {
      // By key, not position: a state that went through jit comes back with sorted keys
      // ("0", "1", "10", "2", ...).
      std::string key = std::to_string(i);
      auto [new_u, new_s] = (*ts)[i].update(u, state[key], params);
      u = std::move(new_u);
      next.entry(key) = std::move(new_s);
    }
    return std::make_pair(std::move(u), std::move(next));
  };
  return out;
}

}  // namespace kiln::optim
