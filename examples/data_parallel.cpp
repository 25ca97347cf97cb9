// TT-XLA's multi-chip tutorial with data parallelism (compile_models_multi_chip.md), in kiln: a
// two-layer MLP initialised on the CPU, its input batch split over a 1-D "data" mesh of two
// devices, its parameters replicated, compiled with jit(in_shardings, out_shardings).
//
//   KILN_CPU_DEVICES=2 build/bin/data_parallel
//
// Two of kiln's cpu devices stand in for the two chips (docs/multi-device.md).
#include <iostream>

#include "kiln/kiln.hpp"

using namespace kiln;

// ---------------------------
// 1. Simple MLP Model
// ---------------------------
struct SimpleMLP : nn::Module<SimpleMLP> {
  int64_t features = 8;

  Array operator()(nn::Scope& s, Array x) const {
    x = nn::Dense({.features = features})(s, x);
    x = relu(x);
    x = nn::Dense({.features = features})(s, x);
    return x;
  }
};

// ---------------------------
// 2. Initialize Model on CPU
// ---------------------------
std::pair<SimpleMLP, Tree> initialize_model_cpu(const Array& rng_key, const Shape& input_shape) {
  SimpleMLP model;
  Array dummy_input = zeros(input_shape, float32);  // kiln creates arrays on cpu device 0
  Tree params = model.init(rng_key, dummy_input);
  return {model, params};
}

// ---------------------------
// 3. pjit-wrapped forward pass
// ---------------------------
auto make_pjit_forward(const SimpleMLP& model) {
  auto forward = [model](const Tree& params, const Array& x) { return model.apply(params, x); };

  return jit(forward, {.in_shardings = {None, P("data")},  // No param sharding, batch sharded
                       .out_shardings = P("data")});
}

// ---------------------------
// 4. Main
// ---------------------------
int main() {
  Array rng = random::key(0);
  Shape input_shape{8, 8};  // batch = 8 (will shard across 2 devices)

  // Initialize model on CPU
  auto [model, params] = initialize_model_cpu(rng, input_shape);

  // Prepare data
  Array input_data = ones(input_shape, float32);

  // Create 1D mesh over 2 devices
  std::vector<Device> cpu_devices = devices("cpu");
  if (cpu_devices.size() < 2) {
    std::cerr << "Need at least 2 devices for this example: run it with KILN_CPU_DEVICES=2\n";
    return 1;
  }

  Mesh mesh({cpu_devices[0], cpu_devices[1]}, {"data"});

  // Shard input
  NamedSharding sharding(mesh, P("data"));
  input_data = device_put(input_data, sharding);

  // pjit forward
  auto pjit_forward = make_pjit_forward(model);

  Array output;
  {
    auto with_mesh = use_mesh(mesh);
    output = pjit_forward(params, input_data);
  }

  std::cout << "Output: " << output << "\n";
  std::cout << "Output shape: " << output.shape().str() << "\n";
  return 0;
}
