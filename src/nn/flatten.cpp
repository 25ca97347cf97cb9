// nn::flatten: Flax has no layer for it; its examples write x.reshape((x.shape[0], -1)).
#include "kiln/nn.hpp"
#include "kiln/ops.hpp"

namespace kiln::nn {

Array flatten(const Array& x, Loc loc) {
  if (x.empty()) throw ValueError(message("nn::flatten: the input is an empty Array", loc));
  if (x.ndim() < 1)
    throw ShapeError(
        message("nn::flatten: the input must have a leading (batch) axis, got a 0-d array", loc));
  // Not reshape(x, {n, -1}): -1 cannot be inferred when n is 0.
  int64_t rest = 1;
  for (int i = 1; i < x.ndim(); ++i) rest *= x.shape()[i];
  return reshape(x, {x.shape()[0], rest}, loc);
}

}  // namespace kiln::nn
