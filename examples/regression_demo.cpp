// kiln's first demo: fit y = 3·x0 − 2·x1 + 0.5 by gradient descent, with the train step jitted for
// the cpu backend and its gradient taken by kiln::value_and_grad. Prints the loss as it falls.
#include <cstdio>
#include <utility>

#include "kiln/kiln.hpp"

using kiln::Array;
using kiln::Tree;

namespace {

Array predict(const Tree& params, const Array& x) {
  return kiln::matmul(x, params["w"].leaf()) + params["b"].leaf();
}

Array loss(const Tree& params, const Array& x, const Array& y) {
  return kiln::mean(kiln::square(predict(params, x) - y));
}

}  // namespace

int main() {
  try {
    // 64 points spread over the plane (deterministic, so every run prints the same losses).
    Array i = kiln::astype(kiln::iota(kiln::int32, {64, 1}), kiln::float32);
    Array x = kiln::concatenate({kiln::sin(i * 0.37), kiln::cos(i * 1.7)}, 1);
    Array true_w = kiln::array({3.0f, -2.0f}, {2, 1});
    Array y = kiln::matmul(x, true_w) + 0.5;

    Tree params = Tree::dict({{"b", kiln::zeros({1})}, {"w", kiln::zeros({2, 1})}});
    const double learning_rate = 0.1;

    auto train_step = kiln::jit(
        [&](const Tree& p, const Array& xb, const Array& yb) {
          auto [value, grads] = kiln::value_and_grad(loss)(p, xb, yb);
          Tree updated = kiln::tree_map(
              [&](const Array& w, const Array& g) { return w - learning_rate * g; }, p, grads);
          return std::make_pair(updated, value);
        },
        {.backend = "cpu", .name = "train_step"});

    std::printf("Training on %s\n", kiln::devices("cpu").front().str().c_str());
    for (int step = 0; step <= 100; ++step) {
      auto [next, value] = train_step(params, x, y);
      params = next;
      if (step % 10 == 0) std::printf("step %3d  loss %.3e\n", step, value.item<float>());
    }
    std::printf("learned w = %s, b = %s (true: [[ 3.] [-2.]], [0.5])\n",
                params["w"].leaf().str().c_str(), params["b"].leaf().str().c_str());
    return 0;
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
