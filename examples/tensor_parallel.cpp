// TT-XLA's multi-chip tutorial with tensor parallelism (compile_multi_chip_w_tensor.md), in kiln:
// one Dense layer whose kernel is split by output feature over a 1-D "model" mesh of two devices,
// placed by hand with device_put, compiled with jit(in_shardings, out_shardings).
//
//   KILN_CPU_DEVICES=2 build/bin/tensor_parallel
//
// Two of kiln's cpu devices stand in for the two chips (docs/multi-device.md).
#include <iostream>

#include "kiln/kiln.hpp"

using namespace kiln;

// Define a model with a single Dense layer
struct ShardedDenseMLP : nn::Module<ShardedDenseMLP> {
  int64_t features = 8;

  Array operator()(nn::Scope& s, Array x) const {
    auto dense = nn::Dense({
        .features = features,
        .use_bias = false,
        .kernel_init = nn::initializers::lecun_normal(),
        .param_dtype = float32,
    });
    return dense(s, x);
  }
};

std::pair<ShardedDenseMLP, Tree> initialize_model_cpu(const Array& rng_key,
                                                      const Shape& input_shape) {
  ShardedDenseMLP model;
  Array dummy_input = zeros(input_shape, float32);  // kiln creates arrays on cpu device 0
  Tree params = model.init(rng_key, dummy_input);
  return {model, params};
}

auto make_sharded_forward(const ShardedDenseMLP& model) {
  auto forward = [model](const Tree& params, const Array& x) { return model.apply(params, x); };

  return jit(forward,
             {
                 .in_shardings =
                     {
                         Shardings::dict({{"params",  // params sharding
                                           Shardings::dict({{"Dense_0", Shardings::dict({{
                                                                            "kernel",
                                                                            P(None, "model"),
                                                                        }})}})}}),
                         P(None, "model"),  // input
                     },
                 .out_shardings = P(None, "model"),
             });
}

int main() {
  Array rng = random::key(0);
  int64_t batch_size = 8;
  int64_t features = 8;

  auto [model, params] = initialize_model_cpu(rng, {batch_size, features});

  std::vector<Device> cpu_devices = devices("cpu");
  if (cpu_devices.size() < 2) {
    std::cerr << "Need at least 2 devices for this example: run it with KILN_CPU_DEVICES=2\n";
    return 1;
  }

  std::vector<Device> mesh_devices = {cpu_devices[0], cpu_devices[1]};
  Mesh mesh(mesh_devices, {"model"});

  // Input data
  Array input_data = ones({batch_size, features}, float32);
  NamedSharding sharding(mesh, P(None, "model"));
  input_data = device_put(input_data, sharding);

  // Shard params
  Tree sharded_params = tree_map(
      [&](const Array& x) {
        return x.ndim() > 0 ? device_put(x, NamedSharding(mesh, P(None, "model"))) : x;
      },
      params["params"]);
  params = Tree::dict({{"params", sharded_params}});

  auto sharded_forward = make_sharded_forward(model);

  Array output;
  {
    auto with_mesh = use_mesh(mesh);
    output = sharded_forward(params, input_data);
  }

  std::cout << "Output: " << output << "\n";
  std::cout << "Output shape: " << output.shape().str() << "\n";
  return 0;
}
