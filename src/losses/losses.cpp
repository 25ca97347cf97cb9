// Losses with optax's semantics (optax/losses/_regression.py, _classification.py): elementwise or
// per-example values, never reduced, built from kiln ops so they run eagerly, under jit and under
// grad alike.
#include "kiln/losses.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "kiln/ops.hpp"

namespace kiln::losses {
namespace {

void check_floating(const Array& x, const char* who, const char* what, const Loc& loc) {
  if (!is_floating(x.dtype()))
    throw DTypeError(message(std::string(who) + ": " + what + " must be floating point, got " +
                                 std::string(name(x.dtype())),
                             loc, "convert it with kiln::astype(x, kiln::float32)"));
}

void check_same_shape(const Array& a, const Array& b, const char* who, const Loc& loc) {
  if (!(a.shape() == b.shape()))
    throw ShapeError(
        message(std::string(who) + ": predictions of shape " + a.shape().str() +
                    " and targets of shape " + b.shape().str() + " differ",
                loc,
                "optax requires equal shapes here (no broadcasting); reshape the targets to the "
                "predictions' shape"));
}

// predictions - targets, or predictions alone when there are no targets (optax's "zeros").
Array errors_of(const Array& predictions, const std::optional<Array>& targets, const Loc& loc) {
  return targets ? sub(predictions, *targets, loc) : predictions;
}

// softplus(z) = log(1 + exp(z)), as jnp.logaddexp(z, 0) computes it: max(z, 0) + log1p(exp(-|z|)).
// The max is written as where(z >= 0, z, 0) so that the derivative at z = 0 comes out as 1/2 (with
// abs'(0) = 1), which jax.nn.softplus's custom derivative also gives; maximum would split the tie.
Array softplus(const Array& z, const Loc& loc) {
  Array positive_part = where(greater_equal(z, 0, loc), z, 0, loc);
  return add(positive_part, log1p(exp(neg(abs(z, loc), loc), loc), loc), loc);
}

// jax.nn.log_sigmoid(x) = -softplus(-x).
Array log_sigmoid(const Array& x, const Loc& loc) {
  return neg(softplus(neg(x, loc), loc), loc);
}

}  // namespace

Array squared_error(const Array& predictions, const std::optional<Array>& targets, Loc loc) {
  // optax: errors = predictions - targets (shapes checked equal); errors ** 2.
  check_floating(predictions, "squared_error", "predictions", loc);
  if (targets) check_same_shape(predictions, *targets, "squared_error", loc);
  return square(errors_of(predictions, targets, loc), loc);
}

Array mean_squared_error(const Array& predictions, const Array& targets, Loc loc) {
  // The tutorial's `jnp.mean((pred - y) ** 2)`: numpy broadcasting, as the expression it stands
  // for.
  return mean(square(sub(predictions, targets, loc), loc), {}, false, loc);
}

Array l2_loss(const Array& predictions, const std::optional<Array>& targets, Loc loc) {
  // optax: 0.5 * squared_error(predictions, targets).
  return mul(0.5, squared_error(predictions, targets, loc), loc);
}

Array softmax_cross_entropy(const Array& logits, const Array& labels, Loc loc) {
  // optax: -(labels * log_softmax(logits)).sum(-1).
  check_floating(logits, "softmax_cross_entropy", "logits", loc);
  return neg(sum(mul(labels, log_softmax(logits, -1, loc), loc), -1, false, loc), loc);
}

Array softmax_cross_entropy_with_integer_labels(const Array& logits, const Array& labels, Loc loc) {
  check_floating(logits, "softmax_cross_entropy_with_integer_labels", "logits", loc);
  if (!is_integer(labels.dtype()))
    throw DTypeError(message(
        "softmax_cross_entropy_with_integer_labels: labels must be integers, got " +
            std::string(name(labels.dtype())),
        loc, "pass class indices as int32; for one-hot or soft labels use softmax_cross_entropy"));
  if (logits.ndim() < 1 || labels.ndim() != logits.ndim() - 1 ||
      !std::equal(labels.shape().begin(), labels.shape().end(), logits.shape().begin()))
    throw ShapeError(
        message("softmax_cross_entropy_with_integer_labels: labels of shape " +
                    labels.shape().str() + " do not index logits of shape " + logits.shape().str(),
                loc, "labels must have the logits' shape without its last (class) dimension"));
  // optax: logsumexp(logits, -1) - take_along_axis(logits, labels[..., None], -1)[..., 0]. The
  // gather is a one-hot mask (iota == label) summed over the classes: one term is the label's
  // logit, the rest are exact zeros. As jnp.take_along_axis, a negative label counts from the end
  // and a label out of range gives NaN.
  int64_t classes = logits.shape()[logits.ndim() - 1];
  Array idx = astype(labels, int32, loc);
  idx = where(less(idx, 0, loc), add(idx, classes, loc), idx, loc);
  Array one_hot = kiln::equal(iota(int32, logits.shape(), logits.ndim() - 1, loc),
                              expand_dims(idx, -1, loc), loc);
  Array label_logits = sum(where(one_hot, logits, 0, loc), -1, false, loc);
  Array in_range = bitwise_and(greater_equal(idx, 0, loc), less(idx, classes, loc), loc);
  label_logits = where(in_range, label_logits, std::nan(""), loc);
  return sub(logsumexp(logits, -1, false, loc), label_logits, loc);
}

Array sigmoid_binary_cross_entropy(const Array& logits, const Array& labels, Loc loc) {
  // optax: labels cast to the logits' dtype; -labels * log_sigmoid(x) - (1 - labels) *
  // log_sigmoid(-x).
  check_floating(logits, "sigmoid_binary_cross_entropy", "logits", loc);
  Array y = astype(labels, logits.dtype(), loc);
  Array log_p = log_sigmoid(logits, loc);
  Array log_not_p = log_sigmoid(neg(logits, loc), loc);
  return sub(mul(neg(y, loc), log_p, loc), mul(sub(1.0, y, loc), log_not_p, loc), loc);
}

Array huber_loss(const Array& predictions, const std::optional<Array>& targets, double delta,
                 Loc loc) {
  // optax: abs_err = |errors|; quadratic = min(abs_err, delta); linear = abs_err - quadratic;
  // 0.5 * quadratic**2 + delta * linear (linear written so the gradient is not doubled at |err| =
  // delta).
  check_floating(predictions, "huber_loss", "predictions", loc);
  Array abs_errors = abs(errors_of(predictions, targets, loc), loc);
  Array quadratic = minimum(abs_errors, delta, loc);
  Array linear = sub(abs_errors, quadratic, loc);
  return add(mul(0.5, square(quadratic, loc), loc), mul(delta, linear, loc), loc);
}

}  // namespace kiln::losses
