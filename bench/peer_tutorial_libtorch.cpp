// The tutorial in LibTorch C++ 1.13, written the way a LibTorch user would write it: SimpleMLP of
// two torch::nn::Linear layers with every weight and bias set to 0.01, torch::optim::Adam(lr 1e-3),
// torch::mse_loss, zero_grad / backward / step. Built only when CMake finds Torch, so kiln never
// depends on it. One file, two uses, so that both measure the same model and step:
//
//   - run_libtorch_tutorial_step(): tutorial_bench's LibTorch side, the cost of one train step;
//   - with KILN_BENCH_TUTORIAL_MAIN defined, main(): the program tutorial_libtorch, the tutorial's
//     whole workflow (train 100 steps, save with torch::save, load, infer on [[1, 2, 3, 4]]) for
//     tutorial_process_bench to time as a process beside build/bin/tutorial.
//
// PyTorch's Adam divides by sqrt(v) / sqrt(1 - b2^t) + eps where optax divides by
// sqrt(v / (1 - b2^t)) + eps: the same value, so both follow the tutorial's losses.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>

#include "harness.hpp"

namespace {

struct SimpleMLPImpl : torch::nn::Module {
  explicit SimpleMLPImpl(int64_t features = 8)
      : dense0(register_module("Dense_0", torch::nn::Linear(4, features))),
        dense1(register_module("Dense_1", torch::nn::Linear(features, 1))) {
    reset_to_constant();
  }
  // nn.initializers.constant(0.01) for every kernel and bias, as the tutorial's model.
  void reset_to_constant() {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : parameters()) p.fill_(0.01);
  }
  torch::Tensor forward(const torch::Tensor& x) { return dense1(torch::relu(dense0(x))); }

  torch::nn::Linear dense0, dense1;
};
TORCH_MODULE(SimpleMLP);

torch::optim::Adam make_adam(SimpleMLP& model) {
  return torch::optim::Adam(model->parameters(), torch::optim::AdamOptions(1e-3));
}

// The tutorial's train_step: the gradient of the MSE, then one Adam update.
void train_step(SimpleMLP& model, torch::optim::Adam& opt, const torch::Tensor& x,
                const torch::Tensor& y) {
  opt.zero_grad();
  torch::Tensor loss = torch::mse_loss(model->forward(x), y);
  loss.backward();
  opt.step();
}

// The tutorial's mse_loss(state.params, ...) after a step: a forward pass that records no graph.
float eval_loss(SimpleMLP& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  return torch::mse_loss(model->forward(x), y).item<float>();
}

struct Data {
  torch::Tensor x = torch::ones({16, 4});                        // batch size 16, feature dim 4
  torch::Tensor y = torch::sum(x, /*dim=*/1, /*keepdim=*/true);  // y = sum of features
};

}  // namespace

namespace kiln_bench {

Timing run_libtorch_tutorial_step(int steps, float* loss_after_step, int* threads,
                                  const char** version, Repetitions reps) {
  // One intra-op thread: on a 2-core machine a second pool only adds contention, and kiln's
  // numbers are meant to be compared at equal parallelism.
  at::set_num_threads(1);
  *threads = at::get_num_threads();
  *version = TORCH_VERSION;

  const Data d;
  SimpleMLP model;
  torch::optim::Adam opt = make_adam(model);
  for (int step = 0; step < steps; ++step) {
    train_step(model, opt, d.x, d.y);
    loss_after_step[step] = eval_loss(model, d.x, d.y);
  }

  // As kiln's side: each call is one step of the tutorial's loop, restarted from the initial
  // state every `steps` steps. Restarting refills the four parameters and drops Adam's per-
  // parameter state, which the next step() recreates as zeros with step 0, as a new optimizer
  // would.
  int64_t calls = 0;
  return time_per_call(
      [&] {
        if (calls++ % steps == 0) {
          model->reset_to_constant();
          opt.state().clear();
        }
        train_step(model, opt, d.x, d.y);
      },
      reps);
}

}  // namespace kiln_bench

#ifdef KILN_BENCH_TUTORIAL_MAIN

#include <exception>
#include <string>

namespace {

// 4. Training loop
SimpleMLP train_model(const Data& d) {
  SimpleMLP model;
  torch::optim::Adam opt = make_adam(model);
  for (int step = 0; step < 100; ++step) {
    train_step(model, opt, d.x, d.y);
    if (step % 20 == 0) std::printf("Step %d, Loss: %.4f\n", step, eval_loss(model, d.x, d.y));
  }
  return model;
}

// 5. Save parameters to disk
void save_params(const SimpleMLP& model, const std::string& path) {
  torch::save(model, path);
  std::printf("Parameters saved to %s\n", path.c_str());
}

// 6. Load parameters from disk into a fresh model
SimpleMLP load_params(const std::string& path) {
  SimpleMLP model;
  torch::load(model, path);
  std::printf("Parameters loaded from %s\n", path.c_str());
  return model;
}

void run_inference(SimpleMLP& model) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::tensor({1.f, 2.f, 3.f, 4.f}).reshape({1, 4});
  const torch::Tensor preds = model->forward(x);
  std::printf("Input (on cpu): [[%g, %g, %g, %g]]\n", x[0][0].item<float>(), x[0][1].item<float>(),
              x[0][2].item<float>(), x[0][3].item<float>());
  std::printf("Prediction (on cpu): [[%.4f]]\n", preds[0][0].item<float>());
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = "model_params.pt";
  if (argc == 3 && std::string(argv[1]) == "--params") {
    path = argv[2];
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: %s [--params FILE]\n", argv[0]);
    return 2;
  }
  try {
    at::set_num_threads(1);  // as in tutorial_bench: equal parallelism with kiln
    const Data d;
    SimpleMLP trained = train_model(d);
    save_params(trained, path);
    SimpleMLP loaded = load_params(path);
    run_inference(loaded);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

#endif  // KILN_BENCH_TUTORIAL_MAIN
