// The classifier's train step as Trainer jits it (src/training/classification.cpp), apart so that
// tests can lower and partition the very function the Trainer runs.
#pragma once

#include <functional>
#include <optional>
#include <tuple>

#include "kiln/jit.hpp"
#include "kiln/models.hpp"
#include "kiln/sharding.hpp"
#include "kiln/train_state.hpp"

namespace kiln::classification {

// (state, images, labels, dropout key) -> (next state, the batch's mean loss, its correct count):
// forward with dropout, softmax cross-entropy against integer labels, gradients, Adam.
using TrainStep = std::function<std::tuple<TrainState, Array, Array>(
    const TrainState&, const Array&, const Array&, const Array&)>;
TrainStep train_step(const models::ImageClassifier& model);

// How the step is jitted: pinned to the cpu backend, named "train_step". On one device (no mesh)
// the state is donated, so the parameters and Adam's moments are updated in their own buffers.
// Over `mesh` (1-D, axis "data") it is data-parallel: the images and labels split P("data"), the
// state, the key and every result replicated.
JitOptions train_step_options(const std::optional<Mesh>& mesh);

}  // namespace kiln::classification
