// optax.scale_by_lion (optax/_src/transform.py, mode 'hard', the default):
//   updates = sign((1 - b1) * g + b1 * mu)
//   mu = (1 - b2) * g + b2 * mu            (optax.tree.update_moment, order 1)
//   count = safe_increment(count)
// State ScaleByLionState(count, mu), written {'count', 'mu'}.
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "optim/tree_math.hpp"

namespace kiln::optim {

GradientTransformation scale_by_lion(double b1, double b2) {
  GradientTransformation t;
  t.init = [](const Tree& params) {
    return Tree::dict(
        {{"count", tree_math::zero_count()}, {"mu", tree_math::tree_zeros_like(params)}});
  };
  t.update = [b1, b2](const Tree& updates, const Tree& state, const Tree&) {
    Tree u = tree_map(
        [b1](const Array& g, const Array& m) { return sign(add(mul(1.0 - b1, g), mul(b1, m))); },
        updates, state["mu"]);
    Tree mu =
        tree_map([b2](const Array& g, const Array& m) { return add(mul(1.0 - b2, g), mul(b2, m)); },
                 updates, state["mu"]);
    return std::make_pair(std::move(u),
                          Tree::dict({{"count", tree_math::safe_increment(state["count"].leaf())},
                                      {"mu", std::move(mu)}}));
  };
  return t;
}

}  // namespace kiln::optim
