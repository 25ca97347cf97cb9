// Loss functions with optax's semantics: elementwise (or per-example) losses, not reduced — take
// kiln::mean of them, as optax users do.
#pragma once

#include <optional>

#include "kiln/array.hpp"

namespace kiln::losses {

// (predictions - targets)^2; targets default to zeros.
Array squared_error(const Array& predictions, const std::optional<Array>& targets = std::nullopt,
                    Loc loc = Loc::current());
// mean((predictions - targets)^2) over all elements: the tutorial's loss.
Array mean_squared_error(const Array& predictions, const Array& targets, Loc loc = Loc::current());
// 0.5 * squared_error.
Array l2_loss(const Array& predictions, const std::optional<Array>& targets = std::nullopt,
              Loc loc = Loc::current());
// -sum(labels * log_softmax(logits), axis=-1).
Array softmax_cross_entropy(const Array& logits, const Array& labels, Loc loc = Loc::current());
// labels: integer class indices of logits.shape[:-1].
Array softmax_cross_entropy_with_integer_labels(const Array& logits, const Array& labels,
                                                Loc loc = Loc::current());
// -labels*log(sigmoid(logits)) - (1-labels)*log(1-sigmoid(logits)), computed stably.
Array sigmoid_binary_cross_entropy(const Array& logits, const Array& labels,
                                   Loc loc = Loc::current());
// Quadratic within delta of the target, linear beyond.
Array huber_loss(const Array& predictions, const std::optional<Array>& targets = std::nullopt,
                 double delta = 1.0, Loc loc = Loc::current());

}  // namespace kiln::losses
