// The multi-chip tutorials' model (examples/data_parallel.cpp, examples/tensor_parallel.cpp):
// Dense, relu, Dense, 8 features. The spmd, export and XLA tests partition it.
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

}  // namespace kiln::testing
