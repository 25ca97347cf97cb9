// The multi-chip tutorials' models, which the spmd, export and XLA tests partition:
// examples/data_parallel.cpp's SimpleMLP (Dense, relu, Dense, 8 features) and
// examples/tensor_parallel.cpp's one Dense of 8 features without bias.
#pragma once

#include "kiln/kiln.hpp"

namespace kiln::testing {

struct SimpleMLP : nn::Module<SimpleMLP> {
  int64_t features = 8;
  Array operator()(nn::Scope& s, Array x) const {
    x = nn::Dense({.features = features})(s, x);
    x = relu(x);
    return nn::Dense({.features = features})(s, x);
  }
};

struct TensorParallelDense : nn::Module<TensorParallelDense> {
  Array operator()(nn::Scope& s, Array x) const {
    return nn::Dense({.features = 8, .use_bias = false})(s, x);
  }
};

}  // namespace kiln::testing
