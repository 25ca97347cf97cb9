// Tree arithmetic and the small numeric helpers optax's transformations share (optax/tree_utils,
// optax/_src/numerics.py). Everything is written with kiln ops only, so it records under jit/grad
// and runs eagerly otherwise; nothing here reads an array's values.
#pragma once

#include <functional>
#include <string>

#include "kiln/array.hpp"
#include "kiln/tree.hpp"

namespace kiln::optim::tree_math {

// jnp.zeros_like / jnp.full_like over a tree (same dtypes and shapes).
Tree tree_zeros_like(const Tree& t);
Tree tree_full_like(const Tree& t, double value);

// A fresh step counter: int32, shape (), as optax's `jnp.zeros([], jnp.int32)`.
Array zero_count();

// numerics.safe_int32_increment: count + 1, saturating at INT32_MAX instead of wrapping.
Array safe_increment(const Array& count);

// The denominator of optax's tree_bias_correction, `1 - decay**count`, with count (int32) converted
// to float32 as jnp.power does for a Python-float base, so the power is taken in float32.
Array bias_correction(double decay, const Array& count);

// lax.integer_pow's binary exponentiation (what `x ** 2` with a Python int compiles to in JAX); a
// negative exponent is the reciprocal of the positive power.
Array integer_pow(const Array& x, int64_t y);

// x ** p for a C++ double p: integer_pow when p is a small integer (what XLA's simplifier and
// jnp's integer path both produce), otherwise the elementwise pow primitive.
Array power(const Array& x, double p);

// numerics.safe_norm (the 2-norm of all of x, floored at min_norm) and safe_root_mean_squares
// (sqrt(mean(x²)), floored at min_rms); the where() on x keeps their gradients finite at 0.
Array safe_norm(const Array& x, double min_norm);
Array safe_root_mean_squares(const Array& x, double min_rms);

// ValueError with optax's NO_PARAMS_MSG when `params` is none (the transformation reads them).
const Tree& require_params(const Tree& params, const char* who);

}  // namespace kiln::optim::tree_math
