// The tutorial's train step (examples/tutorial.cpp) as a workload, shared by tutorial_bench and
// bench/compare so both time the same step the same way: kiln's side here, LibTorch's in
// peer_tutorial_libtorch.cpp (declared below, defined only when CMake finds Torch).
//
// The step: SimpleMLP 4 -> 8 -> relu -> 1 with every weight and bias initialised to 0.01,
// adam(1e-3), the MSE of the model on x = ones(16, 4) against y = sum(x, 1, keepdims), its
// gradient and TrainState::apply_gradients in one kiln::jit pinned to the cpu backend.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "kiln/backend.hpp"
#include "kiln/ir.hpp"
#include "kiln/kiln.hpp"
#include "kiln/nn.hpp"
#include "kiln/optim.hpp"
#include "kiln/train_state.hpp"

namespace kiln_bench {

// The LibTorch side (peer_tutorial_libtorch.cpp). Plain types only, so the two translation units
// share no library types; a mismatch of this declaration with the definition fails at link time.
// Fills loss_after_step[0 .. steps) with the loss after each of the first `steps` steps, then
// times the step over restarted `steps`-step loops.
Timing run_libtorch_tutorial_step(int steps, float* loss_after_step, int* threads,
                                  const char** version, Repetitions reps);

namespace tutorial {

inline constexpr int kSteps = 100;  // the tutorial's loop: for step in range(100)

// The tutorial's printout (DESIGN.md §8; LibTorch and float32 numpy agree on it to 4 decimals):
// the loss after the update of steps 0, 20, 40, 60 and 80.
inline constexpr std::pair<int, float> kReference[] = {
    {0, 15.8735f}, {20, 15.4278f}, {40, 14.6043f}, {60, 13.3201f}, {80, 11.5956f}};
// Half a unit in the 4th decimal, plus room for float32 summation order differing between
// libraries.
inline constexpr float kTolerance = 2e-4f;

// Sections 1-3 of examples/tutorial.cpp, unchanged, so that the step timed is the tutorial's.
struct SimpleMLP : kiln::nn::Module<SimpleMLP> {
  int64_t features = 8;

  kiln::Array operator()(kiln::nn::Scope& s, kiln::Array x) const {
    auto const_init = kiln::nn::initializers::constant(0.01);
    x = kiln::nn::Dense({.features = features, .kernel_init = const_init, .bias_init = const_init})(
        s, x);
    x = kiln::relu(x);
    x = kiln::nn::Dense({.features = 1, .kernel_init = const_init, .bias_init = const_init})(s, x);
    return x;
  }
};

inline kiln::TrainState create_train_state(const kiln::Array& rng, const SimpleMLP& model,
                                           double learning_rate, const kiln::Shape& input_shape) {
  kiln::Tree params = model.init(rng, kiln::ones(input_shape));
  auto tx = kiln::optim::adam(learning_rate);
  return kiln::TrainState::create(
      [model](const kiln::Tree& p, const kiln::Array& x) { return model.apply(p, x); }, params, tx);
}

inline kiln::Array mse_loss(const kiln::Tree& params, const kiln::TrainState& state,
                            const kiln::Array& x, const kiln::Array& y) {
  kiln::Array preds = state.apply(params, x);
  return kiln::mean(kiln::square(preds - y));
}

// False (and says where, prefixed with `who`) unless `loss` matches the tutorial's printout.
inline bool matches_reference(const char* who, const char* side, const std::vector<float>& loss) {
  bool ok = true;
  for (auto [step, ref] : kReference) {
    if (!(std::fabs(loss[step] - ref) <= kTolerance)) {  // written so that NaN fails too
      std::fprintf(stderr, "%s: %s loss after step %d is %.4f, the tutorial's is %.4f\n", who, side,
                   step, loss[step], ref);
      ok = false;
    }
  }
  return ok;
}

struct KilnResult {
  std::vector<float> loss;   // after each of the kSteps steps
  Timing step;               // one jit call of the train step
  Timing run;                // the compiled step alone (Executable::run on preallocated outputs)
  double first_call_us = 0;  // trace + compile + one step
  int64_t schedule_steps = 0;
};

// Trains the tutorial's kSteps steps recording the loss after each, then times the step.
inline KilnResult run_kiln(Repetitions reps) {
  using kiln::Array;
  const SimpleMLP model;
  const kiln::Shape input_shape = {16, 4};
  const kiln::TrainState initial =
      create_train_state(kiln::random::key(0), model, /*learning_rate=*/0.001, input_shape);
  const Array x_train = kiln::ones(input_shape);
  const Array y_train = kiln::sum(x_train, /*axes=*/1, /*keepdims=*/true);

  // Pinned to the cpu backend, as in the tutorial.
  auto train_step = kiln::jit(
      [](const kiln::TrainState& state, const Array& x, const Array& y) {
        auto loss_fn = [&](const kiln::Tree& params) { return mse_loss(params, state, x, y); };
        kiln::Tree grads = kiln::grad(loss_fn)(state.params);
        return state.apply_gradients(grads);
      },
      {.backend = "cpu", .name = "train_step"});

  // The tutorial's loop, recording the loss after every step (the tutorial prints it after the
  // update of every 20th). The first call traces and compiles; it happens once per signature, so
  // it is reported apart from the per-step cost.
  KilnResult r;
  kiln::TrainState state = initial;
  r.loss.resize(kSteps);
  for (int step = 0; step < kSteps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    state = train_step(state, x_train, y_train);
    if (step == 0) {
      r.first_call_us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
    r.loss[static_cast<size_t>(step)] =
        mse_loss(state.params, state, x_train, y_train).item<float>();
  }

  // Each timed call is one step of the tutorial's loop; every 100 steps the loop starts again from
  // the initial state, so the timing covers the same steps, in the same numeric regime, as the
  // tutorial, however many calls the harness makes (Adam run for 10^5 steps would drift
  // elsewhere). The restart is a copy of a few array handles, amortised over 100 steps.
  int64_t calls = 0;
  auto one_step = [&] {
    if (calls++ % kSteps == 0) state = initial;
    state = train_step(state, x_train, y_train);
  };
  r.step = time_per_call(one_step, reps);

  // The same graph compiled apart and run on preallocated outputs: the kernels' share of a step,
  // so the rest of the row above is the jit call itself (flatten, look up, allocate the outputs,
  // rebuild the TrainState). Always from the initial state: it updates nothing.
  const kiln::Compiled compiled = train_step.lower(initial, x_train, y_train).compile();
  std::vector<Array> in_leaves = kiln::tree_leaves(initial);
  in_leaves.push_back(x_train);
  in_leaves.push_back(y_train);
  std::vector<kiln::Buffer*> in_buffers;
  for (const Array& a : in_leaves) in_buffers.push_back(a.buffer().get());
  std::vector<std::shared_ptr<kiln::Buffer>> out_owned;
  std::vector<kiln::Buffer*> out_buffers;
  for (const kiln::ir::ValueType& t : compiled.executable()->output_types()) {
    const size_t bytes = static_cast<size_t>(t.shape.numel()) * kiln::itemsize(t.dtype);
    out_owned.push_back(compiled.device().backend()->allocate(bytes, compiled.device()));
    out_buffers.push_back(out_owned.back().get());
  }
  r.run = time_per_call([&] { compiled.executable()->run(in_buffers, out_buffers); }, reps);
  const std::string schedule = compiled.text();
  r.schedule_steps = std::count(schedule.begin(), schedule.end(), '\n');
  return r;
}

}  // namespace tutorial
}  // namespace kiln_bench
