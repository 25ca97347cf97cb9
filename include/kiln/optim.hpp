// Optimizers shaped like optax: a GradientTransformation is a pair of pure functions over trees,
// composed with chain(). Formulas, order of operations and state trees follow optax 0.2.x, so that
// numbers and checkpoints match (adam's state is {'0': {'count', 'mu', 'nu'}, '1': {}}).
//
//   auto tx = kiln::optim::adam(1e-3);
//   kiln::Tree state = tx.init(params);
//   auto [updates, next] = tx.update(grads, state, params);
//   params = kiln::optim::apply_updates(params, updates);
//
// Every optimizer also takes an options struct, as optax's keyword arguments and the nn modules:
//
//   auto tx = kiln::optim::adamw({.learning_rate = 1e-3, .weight_decay = 1e-2});
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/tree.hpp"

namespace kiln::optim {

// A schedule maps the step count (an int32 scalar, possibly traced) to a float32 scalar.
using Schedule = std::function<Array(const Array& count)>;

// A learning rate (or other hyper-parameter) that is a constant or a schedule. With a schedule,
// the transformation keeps its own `count` in its state, as optax does.
// Default-constructed it is unset: an options struct whose learning_rate was not given (the
// optimizer then says it is required). An Array is a float scalar that may be traced, as
// inject_hyperparams passes its hyper-parameters.
class ScalarOrSchedule {
 public:
  ScalarOrSchedule() = default;
  ScalarOrSchedule(double v) : value_(v), set_(true) {}
  ScalarOrSchedule(float v) : value_(v), set_(true) {}
  ScalarOrSchedule(Schedule s) : schedule_(std::move(s)), set_(static_cast<bool>(schedule_)) {}
  ScalarOrSchedule(Array a) : array_(std::move(a)), set_(true) {}
  bool is_set() const { return set_; }
  bool is_schedule() const { return static_cast<bool>(schedule_); }
  bool is_array() const { return !array_.empty(); }
  double value() const { return value_; }
  const Schedule& schedule() const { return schedule_; }
  const Array& array() const { return array_; }

 private:
  double value_ = 0;
  Schedule schedule_;
  Array array_;
  bool set_ = false;
};

// Marks, for a params tree, which leaves a transformation applies to: a tree of the same
// structure with bool scalar (or true/false) leaves.
using Mask = std::function<Tree(const Tree& params)>;

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
GradientTransformation add_decayed_weights(double weight_decay = 0.0,
                                           std::optional<Mask> mask = std::nullopt);
GradientTransformation clip_by_global_norm(double max_norm);
// optax.scale_by_lion: sign((1 - b1)·g + b1·mu), then mu = (1 - b2)·g + b2·mu (state {'count',
// 'mu'}).
GradientTransformation scale_by_lion(double b1 = 0.9, double b2 = 0.99);
// optax.scale_by_trust_ratio (LAMB's layer-wise step): u · ||p|| / ||u|| per leaf (1 where either
// norm is 0), the norms floored at min_norm.
GradientTransformation scale_by_trust_ratio(double min_norm = 0.0, double trust_coefficient = 1.0,
                                            double eps = 0.0);
// optax.scale_by_factored_rms (Adafactor's second moments; optax/_src/factorized.py).
struct FactoredRmsOptions {
  bool factored = true;
  double decay_rate = 0.8;
  int64_t step_offset = 0;
  int64_t min_dim_size_to_factor = 128;
  double epsilon = 1e-30;
};
GradientTransformation scale_by_factored_rms(FactoredRmsOptions options = {});
// optax.ema (debias=false when not asked): mu = (1 - decay)·u + decay·mu, kept in
// accumulator_dtype (state {'count', 'ema'}); with debias the update is mu / (1 - decay^count).
GradientTransformation ema(double decay, bool debias = true, DType accumulator_dtype = float32);
// optax.clip: each element clamped to [-max_delta, max_delta].
GradientTransformation clip(double max_delta);
// optax.scale_by_param_block_rms: u · max(rms(p), min_scale) per leaf.
GradientTransformation scale_by_param_block_rms(double min_scale = 1e-3);
// optax.clip_by_block_rms: u / max(1, rms(u) / threshold) per leaf.
GradientTransformation clip_by_block_rms(double threshold);

// ---- optimizers ----
// Positional (as optax's arguments in order) or with an options struct (as its keywords). A
// learning_rate is required.
struct SgdOptions {
  ScalarOrSchedule learning_rate = {};
  std::optional<double> momentum = std::nullopt;
  bool nesterov = false;
};
GradientTransformation sgd(SgdOptions options);
GradientTransformation sgd(ScalarOrSchedule learning_rate,
                           std::optional<double> momentum = std::nullopt, bool nesterov = false);

struct AdamOptions {
  ScalarOrSchedule learning_rate = {};
  double b1 = 0.9;
  double b2 = 0.999;
  double eps = 1e-8;
  double eps_root = 0.0;
};
GradientTransformation adam(AdamOptions options);
GradientTransformation adam(ScalarOrSchedule learning_rate, double b1 = 0.9, double b2 = 0.999,
                            double eps = 1e-8, double eps_root = 0.0);

struct AdamWOptions {
  ScalarOrSchedule learning_rate = {};
  double b1 = 0.9;
  double b2 = 0.999;
  double eps = 1e-8;
  double eps_root = 0.0;
  double weight_decay = 1e-4;
  std::optional<Mask> mask = std::nullopt;  // which leaves decay (default: all)
};
GradientTransformation adamw(AdamWOptions options);
GradientTransformation adamw(ScalarOrSchedule learning_rate, double b1 = 0.9, double b2 = 0.999,
                             double eps = 1e-8, double eps_root = 0.0, double weight_decay = 1e-4,
                             std::optional<Mask> mask = std::nullopt);

struct RmspropOptions {
  ScalarOrSchedule learning_rate = {};
  double decay = 0.9;
  double eps = 1e-8;
  double initial_scale = 0.0;
  std::optional<double> momentum = std::nullopt;
  bool nesterov = false;
};
GradientTransformation rmsprop(RmspropOptions options);
GradientTransformation rmsprop(ScalarOrSchedule learning_rate, double decay = 0.9,
                               double eps = 1e-8, double initial_scale = 0.0,
                               std::optional<double> momentum = std::nullopt,
                               bool nesterov = false);

// optax.lion: chain(scale_by_lion(b1, b2), add_decayed_weights(weight_decay, mask), lr).
struct LionOptions {
  ScalarOrSchedule learning_rate = {};
  double b1 = 0.9;
  double b2 = 0.99;
  double weight_decay = 1e-3;
  std::optional<Mask> mask = std::nullopt;
};
GradientTransformation lion(LionOptions options);

// optax.lamb: chain(scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(weight_decay, mask),
// scale_by_trust_ratio(), lr).
struct LambOptions {
  ScalarOrSchedule learning_rate = {};
  double b1 = 0.9;
  double b2 = 0.999;
  double eps = 1e-6;
  double eps_root = 0.0;
  double weight_decay = 0.0;
  std::optional<Mask> mask = std::nullopt;
};
GradientTransformation lamb(LambOptions options);

// optax.adafactor (optax/_src/alias.py): factored second moments, update clipping, scaling by the
// parameters' scale, optional momentum and weight decay. learning_rate may be left unset (optax's
// None: no learning-rate step, as the paper's relative step sizes).
struct AdafactorOptions {
  ScalarOrSchedule learning_rate = {};
  int64_t min_dim_size_to_factor = 128;
  double decay_rate = 0.8;
  int64_t decay_offset = 0;
  bool multiply_by_parameter_scale = true;
  std::optional<double> clipping_threshold = 1.0;
  std::optional<double> momentum = std::nullopt;
  DType dtype_momentum = float32;
  std::optional<double> weight_decay_rate = std::nullopt;
  double eps = 1e-30;
  bool factored = true;
  std::optional<Mask> weight_decay_mask = std::nullopt;
};
GradientTransformation adafactor(AdafactorOptions options = {});

// ---- wrappers (optax/_src/combine.py, transforms/_accumulation.py, schedules/_inject.py) ----

// optax.MultiSteps: gradient accumulation. Updates are zero for every_k - 1 calls while the
// gradients accumulate (their mean with use_grad_mean, else their sum); the k-th call runs
// `inner` on them. State {'acc_grads', 'gradient_step', 'inner_opt_state', 'mini_step',
// 'skip_state'} as optax's MultiStepsState.
GradientTransformation multi_steps(GradientTransformation inner, int every_k,
                                   bool use_grad_mean = true);

// optax.multi_transform (optax.partition): each leaf is updated by the transformation its label
// names; `label(path)` gives the label of the leaf at `path` ("params/Dense_0/bias", as
// flax.traverse_util.path_aware_map sees it). State {'inner_states': {label: {'inner_state': s}}},
// each inner state made on the params with the other labels' leaves masked out (an empty dict
// there, as Flax writes optax's MaskedNode).
GradientTransformation multi_transform(std::map<std::string, GradientTransformation> transforms,
                                       std::function<std::string(const std::string& path)> label);

// optax.inject_hyperparams: the hyper-parameters live in the state ({'count', 'hyperparams':
// {name: float32 scalar}, 'inner_state'}), so they can be read and changed between steps, and
// a schedule among them is evaluated at the count. `make(hyperparams)` builds the optimizer from
// them each step: inject_hyperparams([](auto& h) { return adam(h.at("learning_rate")); },
// {{"learning_rate", 1e-3}}).
using Hyperparams = std::map<std::string, Array>;
GradientTransformation inject_hyperparams(
    std::function<GradientTransformation(const Hyperparams&)> make,
    std::map<std::string, ScalarOrSchedule> hyperparams);

// p + u for every leaf, cast back to p's dtype.
[[nodiscard]] Tree apply_updates(const Tree& params, const Tree& updates);
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
