// The tutorial's SimpleMLP (examples/tutorial.cpp), as a built-in model for `kiln export`.
#include "kiln/models.hpp"
#include "kiln/ops.hpp"

namespace kiln::models {

Array TutorialMLP::operator()(nn::Scope& s, const Array& x) const {
  auto const_init = nn::initializers::constant(0.01);
  Array h =
      nn::Dense({.features = features, .kernel_init = const_init, .bias_init = const_init})(s, x);
  h = relu(h);
  return nn::Dense({.features = 1, .kernel_init = const_init, .bias_init = const_init})(s, h);
}

}  // namespace kiln::models
