// optax.schedules (optax/schedules/_schedule.py, _join.py). A schedule maps an int32 step count —
// concrete, or a tracer inside jit — to a float32 scalar, with optax's formulas and dtypes: the
// count stays int32 through integer arithmetic (clip, minus a boundary) and becomes float32 where
// JAX's true division or a Python-float product would promote it.
#include <cmath>
#include <numbers>
#include <utility>

#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "optim/tree_math.hpp"

namespace kiln::optim {
namespace {

Schedule constant_value(double value) {
  return [value](const Array&) { return scalar(value, float32); };
}

Array as_f32(const Array& x) {
  return astype(x, float32);
}

}  // namespace

Schedule constant_schedule(double value) {
  return constant_value(value);
}

Schedule polynomial_schedule(double init_value, double end_value, double power,
                             int64_t transition_steps, int64_t transition_begin) {
  // optax: transition_steps <= 0 gives a constant init_value; a negative begin falls back to 0.
  if (transition_steps <= 0) return constant_value(init_value);
  if (transition_begin < 0) transition_begin = 0;
  return [=](const Array& count) {
    // init_val - end_val are float32 arrays (jnp.asarray) in optax, so their difference is a
    // float32 subtraction, not a double one.
    Array init_val = scalar(init_value, float32);
    Array end_val = scalar(end_value, float32);
    Array c = clip(sub(count, transition_begin), 0, transition_steps);  // int32
    Array frac = sub(1, div(c, transition_steps));                      // int / int -> float32
    return as_f32(add(mul(sub(init_val, end_val), tree_math::power(frac, power)), end_val));
  };
}

Schedule linear_schedule(double init_value, double end_value, int64_t transition_steps,
                         int64_t transition_begin) {
  // optax: polynomial_schedule with power=1 (a Python int, so frac**1 is frac itself).
  return polynomial_schedule(init_value, end_value, 1.0, transition_steps, transition_begin);
}

Schedule exponential_decay(double init_value, int64_t transition_steps, double decay_rate,
                           int64_t transition_begin, bool staircase,
                           std::optional<double> end_value) {
  if (transition_steps <= 0 || decay_rate == 0) return constant_value(init_value);
  if (transition_begin < 0) transition_begin = 0;
  return [=](const Array& count) {
    // optax: decreased_count = count - begin; p = decreased_count / steps (floored if staircase);
    // where(decreased_count <= 0, init, init * decay_rate**p), then clipped by end_value (a lower
    // bound when decaying, an upper bound when growing).
    Array decreased = sub(count, transition_begin);
    Array p = div(decreased, transition_steps);
    if (staircase) p = floor(p);
    Array decayed =
        where(less_equal(decreased, 0), init_value, mul(init_value, pow(decay_rate, p)));
    if (end_value)
      decayed = decay_rate < 1.0 ? maximum(decayed, *end_value) : minimum(decayed, *end_value);
    return as_f32(decayed);
  };
}

Schedule cosine_decay_schedule(double init_value, int64_t decay_steps, double alpha,
                               double exponent) {
  if (decay_steps <= 0)
    throw ValueError("cosine_decay_schedule requires positive decay_steps, got " +
                     std::to_string(decay_steps));
  return [=](const Array& count) {
    // optax: count = min(count, decay_steps); cosine = 0.5 * (1 + cos(pi * count / decay_steps));
    // decayed = (1 - alpha) * cosine**exponent + alpha; init * decayed. optax turns decay_steps
    // into a Python float to avoid int32 overflow, so the count is float32 from the minimum on.
    Array c = minimum(as_f32(count), static_cast<double>(decay_steps));
    Array cosine =
        mul(0.5, add(1, cos(div(mul(std::numbers::pi, c), static_cast<double>(decay_steps)))));
    Array decayed = add(mul(1.0 - alpha, tree_math::power(cosine, exponent)), alpha);
    return as_f32(mul(init_value, decayed));
  };
}

Schedule join_schedules(std::vector<Schedule> schedules, std::vector<int64_t> boundaries) {
  if (schedules.empty()) throw ValueError("join_schedules needs at least one schedule");
  if (boundaries.size() + 1 != schedules.size())
    throw ValueError("join_schedules: " + std::to_string(schedules.size()) + " schedules need " +
                     std::to_string(schedules.size() - 1) + " boundaries, got " +
                     std::to_string(boundaries.size()));
  return [schedules = std::move(schedules), boundaries = std::move(boundaries)](const Array& step) {
    // optax: output = schedules[0](step); then for each boundary b and later schedule s:
    // output = where(step < b, output, s(step - b)). Every schedule is evaluated (no branching on
    // a traced step); the last boundary passed wins.
    Array output = schedules[0](step);
    for (size_t i = 0; i < boundaries.size(); ++i)
      output = where(less(step, boundaries[i]), output, schedules[i + 1](sub(step, boundaries[i])));
    return as_f32(output);
  };
}

Schedule warmup_cosine_decay_schedule(double init_value, double peak_value, int64_t warmup_steps,
                                      int64_t decay_steps, double end_value, double exponent) {
  // optax: a linear warmup init -> peak over warmup_steps, then cosine decay from peak over the
  // remaining decay_steps - warmup_steps with alpha = end / peak, joined at warmup_steps.
  double alpha = peak_value == 0.0 ? 0.0 : end_value / peak_value;
  return join_schedules(
      {linear_schedule(init_value, peak_value, warmup_steps),
       cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)},
      {warmup_steps});
}

}  // namespace kiln::optim
