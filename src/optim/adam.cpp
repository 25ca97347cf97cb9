// optax.scale_by_adam (optax/_src/transform.py), with the moment and bias-correction helpers of
// optax/tree_utils/_tree_math.py. The order of operations is optax's, so float32 results match
// JAX's to the rounding of each elementwise op:
//   mu = (1 - b1) * g + b1 * mu
//   nu = (1 - b2) * g**2 + b2 * nu
//   count = safe_int32_increment(count)               (before the bias correction)
//   mu_hat = mu / (1 - b1**count);  nu_hat = nu / (1 - b2**count)
//   updates = mu_hat / (sqrt(nu_hat + eps_root) + eps)
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "optim/tree_math.hpp"

namespace kiln::optim {

GradientTransformation scale_by_adam(double b1, double b2, double eps, double eps_root) {
  GradientTransformation t;
  t.init = [](const Tree& params) {
    return Tree::dict({{"count", tree_math::zero_count()},
                       {"mu", tree_math::tree_zeros_like(params)},
                       {"nu", tree_math::tree_zeros_like(params)}});
  };
  t.update = [b1, b2, eps, eps_root](const Tree& updates, const Tree& state, const Tree&) {
    // (1 - b) is computed in double, as Python does, and rounded once to the moments' dtype.
    Tree mu =
        tree_map([b1](const Array& g, const Array& m) { return add(mul(1.0 - b1, g), mul(b1, m)); },
                 updates, state["mu"]);
    Tree nu = tree_map(
        [b2](const Array& g, const Array& v) { return add(mul(1.0 - b2, square(g)), mul(b2, v)); },
        updates, state["nu"]);
    Array count = tree_math::safe_increment(state["count"].leaf());
    Array c1 = tree_math::bias_correction(b1, count);
    Array c2 = tree_math::bias_correction(b2, count);
    // tree_bias_correction divides by the correction cast to each moment's dtype.
    Tree u = tree_map(
        [&](const Array&, const Array& m, const Array& v) {
          Array m_hat = div(m, astype(c1, m.dtype()));
          Array v_hat = div(v, astype(c2, v.dtype()));
          return div(m_hat, add(sqrt(add(v_hat, eps_root)), eps));
        },
        updates, mu, nu);
    return std::make_pair(
        std::move(u), Tree::dict({{"count", count}, {"mu", std::move(mu)}, {"nu", std::move(nu)}}));
  };
  return t;
}

}  // namespace kiln::optim
