// Optimizers shaped like optax: a GradientTransformation is a pair of pure functions over trees,
// composed with chain(). Formulas, order of operations and state trees follow optax 0.2.x, so that
// numbers and checkpoints match (adam's state is {'0': {'count', 'mu', 'nu'}, '1': {}}).
//
//   auto tx = kiln::optim::adam(1e-3);
//   kiln::Tree state = tx.init(params);
//   auto [updates, next] = tx.update(grads, state, params);
//   params = kiln::optim::apply_updates(params, updates);
#pragma once

#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/tree.hpp"

namespace kiln::optim {

// A schedule maps the step count (an int32 scalar, possibly traced) to a float32 scalar.
using Schedule = std::function<Array(const Array& count)>;

// A learning rate (or other hyper-parameter) that is a constant or a schedule. With a schedule,
// the transformation keeps its own `count` in its state, as optax does.
class ScalarOrSchedule {
 public:
  ScalarOrSchedule(double v) : value_(v) {}
  ScalarOrSchedule(float v) : value_(v) {}
  ScalarOrSchedule(Schedule s) : schedule_(std::move(s)) {}
  bool is_schedule() const { return static_cast<bool>(schedule_); }
  double value() const { return value_; }
  const Schedule& schedule() const { return schedule_; }

 private:
  double value_ = 0;
  Schedule schedule_;
};

struct GradientTransformation {
  // The initial state for these parameters.
  std::function<Tree(const Tree& params)> init;
  // (updates, state, params) -> (new updates, new state). params may be none for
  // transformations that do not read them.
  std::function<std::pair<Tree, Tree>(const Tree& updates, const Tree& state, const Tree& params)>
      update;
};

// Applies transformations in order; state is {'0': state0, '1': state1, ...}.
GradientTransformation chain(std::vector<GradientTransformation> transforms);

// ---- building blocks ----
GradientTransformation scale(double step_size);
// scale by -learning_rate (a schedule keeps {'count'}).
GradientTransformation scale_by_learning_rate(ScalarOrSchedule learning_rate,
                                              bool flip_sign = true);
GradientTransformation scale_by_schedule(Schedule step_size_fn);
GradientTransformation scale_by_adam(double b1 = 0.9, double b2 = 0.999, double eps = 1e-8,
                                     double eps_root = 0.0);
GradientTransformation scale_by_rms(double decay = 0.9, double eps = 1e-8,
                                    double initial_scale = 0.0);
GradientTransformation trace(double decay, bool nesterov = false);
// u + weight_decay * p, where mask(params) marks (with a tree of bool scalars... or true leaves)
// the leaves to decay; no mask: all leaves.
GradientTransformation add_decayed_weights(
    double weight_decay = 0.0,
    std::optional<std::function<Tree(const Tree& params)>> mask = std::nullopt);
GradientTransformation clip_by_global_norm(double max_norm);

// ---- optimizers ----
GradientTransformation sgd(ScalarOrSchedule learning_rate,
                           std::optional<double> momentum = std::nullopt, bool nesterov = false);
GradientTransformation adam(ScalarOrSchedule learning_rate, double b1 = 0.9, double b2 = 0.999,
                            double eps = 1e-8, double eps_root = 0.0);
GradientTransformation adamw(
    ScalarOrSchedule learning_rate, double b1 = 0.9, double b2 = 0.999, double eps = 1e-8,
    double eps_root = 0.0, double weight_decay = 1e-4,
    std::optional<std::function<Tree(const Tree& params)>> mask = std::nullopt);
GradientTransformation rmsprop(ScalarOrSchedule learning_rate, double decay = 0.9,
                               double eps = 1e-8, double initial_scale = 0.0,
                               std::optional<double> momentum = std::nullopt,
                               bool nesterov = false);

// p + u for every leaf, cast back to p's dtype.
Tree apply_updates(const Tree& params, const Tree& updates);
// sqrt(sum of squares of every leaf), float32 scalar.
Array global_norm(const Tree& t);

// ---- schedules (optax.schedules) ----
Schedule constant_schedule(double value);
Schedule polynomial_schedule(double init_value, double end_value, double power,
                             int64_t transition_steps, int64_t transition_begin = 0);
Schedule linear_schedule(double init_value, double end_value, int64_t transition_steps,
                         int64_t transition_begin = 0);
Schedule exponential_decay(double init_value, int64_t transition_steps, double decay_rate,
                           int64_t transition_begin = 0, bool staircase = false,
                           std::optional<double> end_value = std::nullopt);
Schedule cosine_decay_schedule(double init_value, int64_t decay_steps, double alpha = 0.0,
                               double exponent = 1.0);
Schedule warmup_cosine_decay_schedule(double init_value, double peak_value, int64_t warmup_steps,
                                      int64_t decay_steps, double end_value = 0.0,
                                      double exponent = 1.0);
// schedules[i] runs from boundaries[i-1]; each sees the count minus its start boundary.
Schedule join_schedules(std::vector<Schedule> schedules, std::vector<int64_t> boundaries);

}  // namespace kiln::optim
