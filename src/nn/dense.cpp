// nn::Dense, as flax.linen.Dense (flax/linen/linear.py):
//   kernel = param('kernel', kernel_init, (x.shape[-1], features), param_dtype)
//   bias   = param('bias', bias_init, (features,), param_dtype)        # if use_bias
//   x, kernel, bias = promote_dtype(x, kernel, bias, dtype=dtype)
//   y = lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ()))) + bias
// promote_dtype casts every operand to `dtype` when it is given, else to their promoted type
// (jnp.result_type), so an int32 or bfloat16 input meets float32 parameters as float32.
#include <string>

#include "kiln/nn.hpp"
#include "kiln/ops.hpp"

namespace kiln::nn {

Array Dense::operator()(Scope& scope, const Array& x, Loc loc) const {
  return in_scope(scope.child("Dense", options.name, loc), x, loc);
}

Array Dense::in_scope(Scope& s, const Array& x, Loc loc) const {
  if (options.features <= 0)
    throw ValueError(message(
        "nn::Dense: features must be positive, got " + std::to_string(options.features), loc));
  if (x.empty()) throw ValueError(message("nn::Dense: the input is an empty Array", loc));
  if (x.ndim() < 1)
    throw ShapeError(
        message("nn::Dense: the input must have at least one dimension (its last is the features "
                "contracted with the kernel), got a 0-d array",
                loc));
  const int64_t in = x.shape()[x.ndim() - 1];
  Array kernel =
      s.param("kernel", options.kernel_init, Shape{in, options.features}, options.param_dtype, loc);
  Array bias;
  if (options.use_bias)
    bias = s.param("bias", options.bias_init, Shape{options.features}, options.param_dtype, loc);

  DType dt = options.dtype ? *options.dtype : promote(x.dtype(), kernel.dtype());
  if (!options.dtype && options.use_bias) dt = promote(dt, bias.dtype());
  auto cast = [&](const Array& a) { return a.dtype() == dt ? a : astype(a, dt, loc); };

  ir::DotDims dims;
  dims.lhs_contract = {x.ndim() - 1};
  dims.rhs_contract = {0};
  Array y = dot_general(cast(x), cast(kernel), dims, loc);
  if (options.use_bias) y = add(y, cast(bias), loc);
  return y;
}

}  // namespace kiln::nn
