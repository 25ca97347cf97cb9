// optax.inject_hyperparams (optax/schedules/_inject.py): the optimizer is rebuilt every step from
// hyper-parameters kept in its state, so they can be read and changed between steps. A number
// becomes a float32 scalar in the state; a schedule is wrapped (optax's WrappedSchedule: its own
// {'count'}) and its value at that count is written beside the numbers.
// State InjectStatefulHyperparamsState, written {'count', 'hyperparams': {name: value},
// 'hyperparams_states': {schedule name: {'count'}}, 'inner_state'}; kiln orders the names
// alphabetically.
#include <memory>
#include <utility>

#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "optim/tree_math.hpp"

namespace kiln::optim {

GradientTransformation inject_hyperparams(
    std::function<GradientTransformation(const Hyperparams&)> make,
    std::map<std::string, ScalarOrSchedule> hyperparams) {
  for (const auto& [name, value] : hyperparams)
    if (!value.is_set())
      throw ValueError("optim::inject_hyperparams: the hyper-parameter '" + name +
                       "' has no value");
  auto factory = std::make_shared<const std::function<GradientTransformation(const Hyperparams&)>>(
      std::move(make));
  auto hps =
      std::make_shared<const std::map<std::string, ScalarOrSchedule>>(std::move(hyperparams));
  // The hyper-parameters' values now: numbers from the state (or, in init, as given), schedules at
  // their counts. optax casts them to the params' highest float dtype; kiln's params are float32.
  auto values = [hps](const Tree* state) {
    Hyperparams h;
    for (const auto& [name, v] : *hps) {
      if (v.is_schedule()) {
        Array count =
            state ? (*state)["hyperparams_states"][name]["count"].leaf() : tree_math::zero_count();
        h[name] = astype(v.schedule()(count), float32);
      } else if (state) {
        h[name] = (*state)["hyperparams"][name].leaf();
      } else {
        h[name] = v.is_array() ? astype(v.array(), float32) : scalar(v.value(), float32);
      }
    }
    return h;
  };
  auto as_tree = [](const Hyperparams& h) {
    Tree t = Tree::dict();
    for (const auto& [name, a] : h) t.entry(name) = a;
    return t;
  };
  GradientTransformation t;
  t.init = [factory, hps, values, as_tree](const Tree& params) {
    Hyperparams h = values(nullptr);
    Tree schedule_states = Tree::dict();
    for (const auto& [name, v] : *hps)
      if (v.is_schedule())
        schedule_states.entry(name) = Tree::dict({{"count", tree_math::zero_count()}});
    return Tree::dict({{"count", tree_math::zero_count()},
                       {"hyperparams", as_tree(h)},
                       {"hyperparams_states", std::move(schedule_states)},
                       {"inner_state", (*factory)(h).init(params)}});
  };
  t.update = [factory, hps, values, as_tree](const Tree& updates, const Tree& state,
                                             const Tree& params) {
    Hyperparams h = values(&state);
    Tree schedule_states = Tree::dict();
    for (const auto& [name, v] : *hps)
      if (v.is_schedule())
        schedule_states.entry(name) = Tree::dict(
            {{"count",
              tree_math::safe_increment(state["hyperparams_states"][name]["count"].leaf())}});
    auto [u, inner] = (*factory)(h).update(updates, state["inner_state"], params);
    return std::make_pair(std::move(u),
                          Tree::dict({{"count", tree_math::safe_increment(state["count"].leaf())},
                                      {"hyperparams", as_tree(h)},
                                      {"hyperparams_states", std::move(schedule_states)},
                                      {"inner_state", std::move(inner)}}));
  };
  return t;
}

}  // namespace kiln::optim
