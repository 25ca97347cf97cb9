// The fan computation behind variance_scaling (JAX's _compute_fans), for tests and for other
// modules' initializers.
#pragma once

#include <utility>

#include "kiln/shape.hpp"

namespace kiln::nn::detail {

// (fan_in, fan_out) of a weights shape: in_size = shape[in_axis], out_size = shape[out_axis], every
// other axis the receptive field (a convolution kernel's spatial axes, HWIO's H and W):
// fan_in = in_size * receptive, fan_out = out_size * receptive. ValueError below 2-d, for axes out
// of range, or for a zero in_size/out_size.
std::pair<double, double> compute_fans(const Shape& shape, int in_axis = -2, int out_axis = -1);

}  // namespace kiln::nn::detail
