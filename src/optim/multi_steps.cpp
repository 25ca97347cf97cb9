// optax.MultiSteps (optax/transforms/_accumulation.py): gradient accumulation over every_k calls.
// Every call runs the inner optimizer on the accumulated gradients, as optax does, and keeps its
// result only on the k-th (emit):
//   acc = acc + (g - acc) / (mini_step + 1)     (use_grad_mean: Welford's running mean)
//   acc = acc + g                                (otherwise)
//   emit = mini_step == k - 1
//   mini_step = (mini_step + 1) % k;  gradient_step += emit
//   inner_opt_state = emit ? new : old;  acc_grads = (1 - emit) * acc;  updates = emit * inner's
// State MultiStepsState, written {'mini_step', 'gradient_step', 'inner_opt_state', 'acc_grads',
// 'skip_state'} (no should_skip_update_fn: skip_state is (), written {}).
#include <memory>
#include <utility>

#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "optim/tree_math.hpp"

namespace kiln::optim {

GradientTransformation multi_steps(GradientTransformation inner, int every_k, bool use_grad_mean) {
  if (every_k < 1)
    throw ValueError("optim::multi_steps: every_k must be at least 1, got " +
                     std::to_string(every_k));
  auto opt = std::make_shared<const GradientTransformation>(std::move(inner));
  GradientTransformation t;
  t.init = [opt](const Tree& params) {
    return Tree::dict({{"mini_step", tree_math::zero_count()},
                       {"gradient_step", tree_math::zero_count()},
                       {"inner_opt_state", opt->init(params)},
                       {"acc_grads", tree_math::tree_zeros_like(params)},
                       {"skip_state", Tree::dict()}});
  };
  t.update = [opt, every_k, use_grad_mean](const Tree& updates, const Tree& state,
                                           const Tree& params) {
    const Array& mini_step = state["mini_step"].leaf();
    Array n = add(mini_step, 1);
    Tree acc = tree_map(
        [&](const Array& g, const Array& a) {
          if (!use_grad_mean) return add(g, a);
          // float32 / int32 array: JAX promotes the count to the gradient's float type.
          return add(a, div(sub(g, a), astype(n, a.dtype())));
        },
        updates, state["acc_grads"]);
    auto [inner_updates, new_inner] = opt->update(acc, state["inner_opt_state"], params);
    Array emit = equal(mini_step, every_k - 1);
    auto emitted = [&](const Array& x) { return mul(astype(emit, x.dtype()), x); };
    Tree kept_inner = tree_map(
        [&](const Array& old_s, const Array& new_s) {
          return astype(where(emit, new_s, old_s), old_s.dtype());
        },
        state["inner_opt_state"], new_inner);
    Array not_emit = astype(logical_not(emit), int32);
    Tree next_acc =
        tree_map([&](const Array& a) { return mul(astype(not_emit, a.dtype()), a); }, acc);
    Array gradient_step = state["gradient_step"].leaf();
    Array next_gradient_step = where(emit, tree_math::safe_increment(gradient_step), gradient_step);
    return std::make_pair(
        tree_map(emitted, inner_updates),
        Tree::dict({{"mini_step", rem(tree_math::safe_increment(mini_step), every_k)},
                    {"gradient_step", std::move(next_gradient_step)},
                    {"inner_opt_state", std::move(kept_inner)},
                    {"acc_grads", std::move(next_acc)},
                    {"skip_state", Tree::dict()}}));
  };
  return t;
}

}  // namespace kiln::optim
