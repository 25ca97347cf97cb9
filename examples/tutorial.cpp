// The TT-XLA training tutorial (../shared/reference/tt-xla-training-tutorial.md), in kiln: define a
// model, train it on the host CPU, save its parameters in Flax's format, load them, and run
// compiled inference on an accelerator — or on the CPU, saying so, when none is present.
//
//   build/bin/tutorial [--device auto|cpu|tt|<platform>] [--params model_params.msgpack]
//   [--inference-only] [--devices N]
//
// --inference-only skips training and saving: it loads --params and runs inference, the tutorial's
// "later / elsewhere" half. --devices N trains data-parallel on N of kiln's cpu devices, the batch
// of 16 split over them (docs/multi-device.md): the same losses and parameters up to float32
// rounding.
#include <cstdio>
#include <cstdlib>
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

// How the train step is jitted: pinned to the cpu backend (training never lands on an accelerator
// by accident) and, on several devices, data-parallel: the batch split over a "data" mesh, the
// state replicated.
JitOptions train_step_options(int devices) {
  JitOptions options{.backend = "cpu", .name = "train_step"};
  if (devices > 1) {
    Mesh mesh = make_mesh({devices}, {"data"});
    options.in_shardings = {None, NamedSharding(mesh, P("data")), NamedSharding(mesh, P("data"))};
    options.out_shardings = NamedSharding(mesh, P());
  }
  return options;
}

// 4. Training loop
std::pair<SimpleMLP, Tree> train_model(int devices) {
  Array rng = random::key(0);
  SimpleMLP model;

  auto train_step = jit(
      [](const TrainState& state, const Array& x, const Array& y) {
        auto loss_fn = [&](const Tree& params) { return mse_loss(params, state, x, y); };
        Tree grads = grad(loss_fn)(state.params);
        return state.apply_gradients(grads);
      },
      train_step_options(devices));

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

// --devices N: the cpu backend makes KILN_CPU_DEVICES devices when it starts (read once), so it
// is set before the first array; a count the user set is kept. The batch of 16 must split evenly.
bool provide_cpu_devices(int devices) {
  if (devices < 1 || 16 % devices != 0) {
    std::fprintf(stderr, "--devices %d: the batch of 16 must split evenly: give 1, 2, 4, 8 or 16\n",
                 devices);
    return false;
  }
  if (devices > 1 && std::getenv("KILN_CPU_DEVICES") == nullptr)
    setenv("KILN_CPU_DEVICES", std::to_string(devices).c_str(), 1);
  return true;
}

int main(int argc, char** argv) {
  std::string device_choice = "auto";
  std::string path = "model_params.msgpack";
  bool inference_only = false;
  int devices = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--device" || arg == "--params") && i + 1 < argc) {
      (arg == "--device" ? device_choice : path) = argv[++i];
    } else if (arg == "--devices" && i + 1 < argc) {
      devices = std::atoi(argv[++i]);
    } else if (arg == "--inference-only") {
      inference_only = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--device auto|cpu|tt|<platform>] [--params FILE] "
                   "[--inference-only] [--devices N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (!provide_cpu_devices(devices)) return 2;
  try {
    // Fail before training if the requested inference device does not exist.
    Device device = get_inference_device(device_choice);
    SimpleMLP model;
    if (!inference_only) {
      if (devices > 1) std::printf("Training data-parallel on %d cpu devices\n", devices);
      auto [trained_model, trained_params] = train_model(devices);
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
