// Training and evaluating an image classifier (models::ImageClassifier) over data::Loader batches:
// the loop behind `kiln train`, `kiln eval` and `kiln predict`, kept in the library so it is tested
// and usable without the command-line tool.
//
//   classification::Trainer trainer(models::image_classifier("cnn"), {.learning_rate = 1e-3});
//   for (int64_t e = 1; e <= epochs; ++e) {
//     auto stats = trainer.train_epoch(train_loader, e);
//     auto eval = classification::evaluate(trainer.model(), trainer.variables(), test_loader);
//   }
//
// One train step is one jitted function (pinned to the cpu backend): forward with dropout, softmax
// cross-entropy against integer labels, gradients, Adam (optax's), and the batch's loss and
// correct count, so the loop reads two scalars per step and nothing else.
//
// Data-parallel training (docs/multi-device.md): with {.devices = N} the step is a jit over a 1-D
// mesh of the first N cpu devices (axis "data"), the batch split P("data"), the parameters and
// Adam's state replicated. The partitioner makes each device's gradients from its rows and one
// psum per parameter; every device then applies the same Adam update. The result is the one-device
// run's up to float32 rounding (the batch's sums are added in another order).
//
//   classification::Trainer trainer(models::image_classifier("mlp"), {.devices = 4});
//
// Inference (evaluate, Predictor) runs on any device, the tutorial's workflow: train on the cpu,
// then put the parameters on an accelerator once and run a graph compiled for its platform:
//
//   auto e = classification::evaluate(model, variables, test_loader,
//                                     {.device = kiln::devices("tt").front()});
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "kiln/data.hpp"
#include "kiln/device.hpp"
#include "kiln/models.hpp"
#include "kiln/train_state.hpp"

namespace kiln::classification {

// Where a running epoch is, for progress output.
struct StepProgress {
  int64_t epoch = 0;
  int64_t step = 0;  // 1-based within the epoch
  int64_t steps_per_epoch = 0;
  int64_t examples = 0;  // seen so far in this epoch
  double mean_loss = 0;  // over the examples seen so far
  double seconds = 0;    // since the epoch began
};

struct EpochStats {
  int64_t epoch = 0;
  int64_t examples = 0;
  double mean_loss = 0;  // training loss, averaged over examples (dropout on)
  double accuracy = 0;   // training accuracy of the batches as they were trained on
  double seconds = 0;
  double examples_per_second = 0;
};

struct Evaluation {
  int64_t examples = 0;
  int64_t num_classes = 0;
  double mean_loss = 0;
  double accuracy = 0;
  // num_classes x num_classes, row-major: confusion[true * num_classes + predicted].
  std::vector<int64_t> confusion;
  // correct / examples of class c (0 when the class has no examples).
  double class_accuracy(int64_t c) const;
};

class Trainer {
 public:
  struct Options {
    double learning_rate = 1e-3;
    uint32_t seed = 0;  // parameter init: random::key(seed); dropout: a key folded from it
    // > 1: train data-parallel over the first `devices` cpu devices (KILN_CPU_DEVICES must give
    // that many); every batch's size must then be a multiple of it.
    int devices = 1;
  };
  Trainer(models::ImageClassifier model, const Options& options);

  // One pass over `loader` (which start_epoch(epoch)s it); on_step after every step. Each step
  // donates the state to the jitted train step, which updates the parameters and Adam's moments
  // in place: a handle on an earlier state() or variables() (a copy of the Tree shares its arrays)
  // reads as donated afterwards. Keep one across an epoch by copying its arrays.
  // A step whose loss is NaN or infinite throws FloatingPointError naming the step (state() then
  // holds that step's non-finite parameters: restore a checkpoint to go on).
  EpochStats train_epoch(data::Loader& loader, int64_t epoch,
                         const std::function<void(const StepProgress&)>& on_step = {});

  const models::ImageClassifier& model() const { return model_; }
  int devices() const { return devices_; }
  const TrainState& state() const { return state_; }
  void set_state(TrainState state) { state_ = std::move(state); }
  // {"params": {...}}: what `kiln train` saves as params.msgpack. Trained on several devices, the
  // arrays are replicated over them; reading one (saving, evaluating) reads device 0's copy once.
  const Tree& variables() const { return state_.params; }

 private:
  models::ImageClassifier model_;
  TrainState state_;
  int devices_ = 1;
  Array dropout_key_;
  std::function<std::tuple<TrainState, Array, Array>(const TrainState&, const Array&, const Array&,
                                                     const Array&)>
      step_;
};

// Where inference runs. The graph is deterministic (train=false: no dropout, no random numbers),
// so it compiles for any platform a PJRT plugin serves.
struct InferenceOptions {
  Device device = default_device();
};

// Loss, accuracy and confusion matrix of `variables` over one epoch of `loader` (dropout off).
// The parameters are put on options.device once, each batch is sent there, and one jitted step
// per batch returns the batch's summed loss and its predicted classes; the counting is on the host.
Evaluation evaluate(const models::ImageClassifier& model, const Tree& variables,
                    data::Loader& loader, const InferenceOptions& options = {});

// A model's softmax probabilities on one device: the parameters are put there once, and the
// inference function is compiled once per batch shape, so classifying many batches costs one
// transfer of the parameters and one compile per shape.
class Predictor {
 public:
  Predictor(models::ImageClassifier model, const Tree& variables,
            const InferenceOptions& options = {});
  // Probabilities [B, num_classes] (float32, on the host) for a batch of images laid out as the
  // model wants them (data::Layout).
  Array probabilities(const Array& images);
  Device device() const { return device_; }

 private:
  Device device_;
  Tree variables_;  // on device_
  std::function<Array(const Tree&, const Array&)> infer_;
};

// Softmax probabilities [B, num_classes] for a batch of images laid out as the model wants them:
// one Predictor, used once.
Array predict_probabilities(const models::ImageClassifier& model, const Tree& variables,
                            const Array& images, const InferenceOptions& options = {});

}  // namespace kiln::classification
