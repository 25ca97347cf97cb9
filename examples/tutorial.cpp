// The TT-XLA training tutorial (../shared/reference/tt-xla-training-tutorial.md), in kiln: define a
// model, train it on the host CPU, save its parameters in Flax's format, load them, and run
// compiled inference on an accelerator — or on the CPU, saying so, when none is present.
//
//   build/bin/tutorial [--device auto|cpu|tt|<platform>] [--params model_params.msgpack]
//   [--inference-only]
//
// --inference-only skips training and saving: it loads --params and runs inference, the tutorial's
// "later / elsewhere" half.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "kiln/kiln.hpp"
#include "kiln/losses.hpp"
#include "kiln/nn.hpp"
#include "kiln/optim.hpp"
#include "kiln/safetensors.hpp"
#include "kiln/serialization.hpp"
#include "kiln/train_state.hpp"

using namespace kiln;

// 1. Define a simple model
struct SimpleMLP : nn::Module<SimpleMLP> {
  int64_t features = 8;

  Array operator()(nn::Scope& s, Array x) const {
    auto const_init = nn::initializers::constant(0.01);
    x = nn::Dense({.features = features, .kernel_init = const_init, .bias_init = const_init})(s, x);
    x = relu(x);
    x = nn::Dense({.features = 1, .kernel_init = const_init, .bias_init = const_init})(s, x);
    return x;
  }
};

// 2. Create training state (params + optimizer)
TrainState create_train_state(const Array& rng, const SimpleMLP& model, double learning_rate,
                              const Shape& input_shape) {
  Tree params = model.init(rng, ones(input_shape));  // Initialize parameters
  auto tx = optim::adam(learning_rate);
  return TrainState::create([model](const Tree& p, const Array& x) { return model.apply(p, x); },
                            params, tx);
}

// 3. Define a loss function and train step
Array mse_loss(const Tree& params, const TrainState& state, const Array& x, const Array& y) {
  Array preds = state.apply(params, x);
  return mean(square(preds - y));
}

// 4. Training loop
std::pair<SimpleMLP, Tree> train_model() {
  Array rng = random::key(0);
  SimpleMLP model;

  // Pinned to the cpu backend: training never lands on an accelerator by accident.
  auto train_step = jit(
      [](const TrainState& state, const Array& x, const Array& y) {
        auto loss_fn = [&](const Tree& params) { return mse_loss(params, state, x, y); };
        Tree grads = grad(loss_fn)(state.params);
        return state.apply_gradients(grads);
      },
      {.backend = "cpu", .name = "train_step"});

  Shape input_shape = {16, 4};  // batch size 16, feature dim 4
  TrainState state = create_train_state(rng, model, /*learning_rate=*/0.001, input_shape);

  // Dummy data: y = sum of features (just an example)
  Array x_train = ones(input_shape);
  Array y_train = sum(x_train, /*axes=*/1, /*keepdims=*/true);

  for (int step = 0; step < 100; ++step) {
    state = train_step(state, x_train, y_train);
    if (step % 20 == 0) {
      Array loss_val = mse_loss(state.params, state, x_train, y_train);
      std::printf("Step %d, Loss: %.4f\n", step, loss_val.item<float>());
    }
  }
  return {model, state.params};
}

// 5. Save parameters to disk
// Flax's msgpack format, or safetensors when the name ends in .safetensors (what the name says is
// what the file holds).
bool is_safetensors(const std::string& path) {
  return std::filesystem::path(path).extension() == ".safetensors";
}

void save_params(const Tree& params, const std::string& path) {
  if (is_safetensors(path))
    safetensors::save(path, params);
  else
    serialization::save(path, params);
  std::printf("Parameters saved to %s\n", path.c_str());
}

// 6. Load parameters from disk
Tree load_params(const SimpleMLP& model, const std::string& path) {
  Tree dummy_params = model.init(random::key(0), ones({1, 4}));
  Tree params = is_safetensors(path) ? safetensors::load(path, dummy_params)
                                     : serialization::load(path, dummy_params);
  std::printf("Parameters loaded from %s\n", path.c_str());
  return params;
}

// --- Inference on an accelerator ---

// auto: a tt device when one is present, else the cpu, saying which and why.
Device get_inference_device(const std::string& choice) {
  if (choice != "auto") return devices(choice).front();  // DeviceNotFound says how to get one
  try {
    Device tt = devices("tt").front();
    std::printf("Inference device (auto): %s\n", tt.str().c_str());
    return tt;
  } catch (const DeviceNotFound&) {
    Device cpu = devices("cpu").front();
    std::printf("Inference device (auto): no tt device present, using %s\n", cpu.str().c_str());
    return cpu;
  }
}

void run_inference(const SimpleMLP& model, const Tree& params, Device device) {
  Array x = array({1.f, 2.f, 3.f, 4.f}, {1, 4});
  Array x_dev = device_put(x, device);
  Tree params_dev = device_put(params, device);

  auto inference =
      jit([&](const Tree& p, const Array& input) { return model.apply(p, input); },
          {.backend = std::string(device.platform()), .device = device, .name = "inference"});

  Array preds = inference(params_dev, x_dev);
  std::printf("Input (on %s): %s\n", device.str().c_str(), x_dev.str().c_str());
  std::printf("Prediction (on %s): %s\n", device.str().c_str(), preds.str().c_str());
}

int main(int argc, char** argv) {
  std::string device_choice = "auto";
  std::string path = "model_params.msgpack";
  bool inference_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--device" || arg == "--params") && i + 1 < argc) {
      (arg == "--device" ? device_choice : path) = argv[++i];
    } else if (arg == "--inference-only") {
      inference_only = true;
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--device auto|cpu|tt|<platform>] [--params FILE] [--inference-only]\n",
          argv[0]);
      return 2;
    }
  }
  try {
    // Fail before training if the requested inference device does not exist.
    Device device = get_inference_device(device_choice);
    SimpleMLP model;
    if (!inference_only) {
      auto [trained_model, trained_params] = train_model();
      save_params(trained_params, path);
      model = trained_model;
    }

    // Later / elsewhere: load params and run inference on the device
    Tree loaded_params = load_params(model, path);
    run_inference(model, loaded_params, device);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
