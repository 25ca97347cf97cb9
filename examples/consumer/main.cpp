// A program of a project that is not kiln: it uses kiln through kiln::kiln (CMakeLists.txt beside
// this file shows the three ways to get it). It trains a one-layer model on y = x · [1, 2] + 0.5
// with Adam, saves the parameters in Flax's format, loads them back, predicts, and catches a
// kiln::Error thrown inside the library. scripts/consumer-check compares its printout with
// expected_output.txt.
#include <cstdio>
#include <filesystem>

#include "kiln/kiln.hpp"
#include "kiln/nn.hpp"
#include "kiln/optim.hpp"
#include "kiln/serialization.hpp"
#include "kiln/train_state.hpp"

using namespace kiln;

struct Line : nn::Module<Line> {
  Array operator()(nn::Scope& s, const Array& x) const {
    return nn::Dense({.features = 1, .kernel_init = nn::initializers::zeros()})(s, x);
  }
};

int main() {
  Array x = array({1, 2, 3, 4, 5, 6, 7, 8}, {4, 2});
  Array y = array({5.5f, 11.5f, 17.5f, 23.5f}, {4, 1});
  Line model;
  TrainState state =
      TrainState::create([model](const Tree& p, const Array& in) { return model.apply(p, in); },
                         model.init(random::key(0), x), optim::adam(0.1));

  auto loss = [](const TrainState& s, const Tree& p, const Array& x, const Array& y) {
    return mean(square(s.apply(p, x) - y));
  };
  auto train_step = jit(
      [&](const TrainState& s, const Array& x, const Array& y) {
        return s.apply_gradients(grad([&](const Tree& p) { return loss(s, p, x, y); })(s.params));
      },
      {.backend = "cpu"});
  for (int step = 1; step <= 300; ++step) {
    state = train_step(state, x, y);
    if (step % 100 == 0)
      std::printf("step %d, loss %.3f\n", step, loss(state, state.params, x, y).item<float>());
  }

  auto path = std::filesystem::temp_directory_path() / "kiln_consumer_params.msgpack";
  serialization::save(path, state.params);
  Tree loaded = serialization::load(path, model.init(random::key(0), x));
  std::filesystem::remove(path);
  Array prediction = model.apply(loaded, array({9.f, 10.f}, {1, 2}));
  std::printf("prediction for [9, 10]: %.2f (y = 29.5)\n", prediction.item<float>());

  try {
    (void)matmul(x, x);  // (4, 2) x (4, 2): a shape error, thrown inside libkiln
  } catch (const Error& e) {
    std::printf("caught kiln::Error from matmul\n");
  }
}
