// The classifier training loop and evaluation (include/kiln/classification.hpp).
#include "kiln/classification.hpp"

#include <chrono>
#include <cmath>

#include "kiln/autodiff.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/jit.hpp"
#include "kiln/losses.hpp"
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "kiln/random.hpp"

namespace kiln::classification {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The stream every dropout key of a run is folded from: distinct from the parameter stream
// (random::key(seed)) so changing the init does not change the dropout masks, and vice versa.
constexpr uint32_t kDropoutStream = 0x64726f70;  // "drop"

}  // namespace

double Evaluation::class_accuracy(int64_t c) const {
  int64_t total = 0;
  for (int64_t p = 0; p < num_classes; ++p)
    total += confusion[static_cast<size_t>(c * num_classes + p)];
  if (total == 0) return 0.0;
  return static_cast<double>(confusion[static_cast<size_t>(c * num_classes + c)]) /
         static_cast<double>(total);
}

Trainer::Trainer(models::ImageClassifier model, const Options& options) : model_(std::move(model)) {
  const Array key = random::key(options.seed);
  dropout_key_ = random::fold_in(key, kDropoutStream);
  const Array example =
      model_.layout == data::Layout::flat ? zeros({1, 28 * 28}) : zeros({1, 28, 28, 1});
  Tree variables = model_.init(key, example);
  const models::ImageClassifier m = model_;
  state_ = TrainState::create(
      [m](const Tree& p, const Array& x) { return m.apply(p, x, false, Array()); }, variables,
      optim::adam(options.learning_rate));
  // Pinned to the cpu backend: training never lands on an accelerator by accident. The state is
  // donated: the parameters and Adam's moments are updated in their own buffers (docs/tracing.md).
  step_ = jit(
      [m](const TrainState& state, const Array& x, const Array& y, const Array& dropout_key) {
        auto loss_fn = [&](const Tree& params) {
          Array logits = m.apply(params, x, /*train=*/true, dropout_key);
          Array loss = mean(losses::softmax_cross_entropy_with_integer_labels(logits, y));
          Array correct = sum(astype(equal(argmax(logits, 1), y), int32));
          return std::make_pair(loss, correct);
        };
        auto [out, grads] = value_and_grad(loss_fn, {.has_aux = true})(state.params);
        return std::make_tuple(state.apply_gradients(grads), out.first, out.second);
      },
      {.backend = "cpu", .name = "train_step", .donate_argnums = {0}});
}

EpochStats Trainer::train_epoch(data::Loader& loader, int64_t epoch,
                                const std::function<void(const StepProgress&)>& on_step) {
  const auto t0 = std::chrono::steady_clock::now();
  loader.start_epoch(epoch);
  StepProgress p;
  p.epoch = epoch;
  p.steps_per_epoch = loader.batches_per_epoch();
  double loss_sum = 0;
  int64_t correct = 0;
  while (std::optional<data::Batch> batch = loader.next()) {
    const int32_t global_step = state_.step.item<int32_t>();
    Array key = random::fold_in(dropout_key_, static_cast<uint32_t>(global_step));
    auto [next, loss, batch_correct] = step_(state_, batch->images, batch->labels, key);
    state_ = std::move(next);
    const auto batch_loss = static_cast<double>(loss.item<float>());
    // A diverged run stops here: its parameters are no longer numbers, and every later step
    // would only spend time on NaN (named "nan" whatever its sign bit, which means nothing).
    if (!std::isfinite(batch_loss))
      throw FloatingPointError(
          "training diverged: the loss of step " + std::to_string(global_step + 1) + " (epoch " +
          std::to_string(epoch) + ", batch " + std::to_string(p.step + 1) + " of " +
          std::to_string(p.steps_per_epoch) + ") is " +
          (std::isnan(batch_loss) ? std::string("nan") : std::to_string(batch_loss)));
    loss_sum += batch_loss * static_cast<double>(batch->size);
    correct += batch_correct.item<int32_t>();
    ++p.step;
    p.examples += batch->size;
    p.mean_loss = loss_sum / static_cast<double>(p.examples);
    p.seconds = seconds_since(t0);
    if (on_step) on_step(p);
  }
  EpochStats s;
  s.epoch = epoch;
  s.examples = p.examples;
  s.mean_loss = p.mean_loss;
  s.accuracy =
      p.examples == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(p.examples);
  s.seconds = seconds_since(t0);
  s.examples_per_second = s.seconds > 0 ? static_cast<double>(p.examples) / s.seconds : 0.0;
  return s;
}

namespace {

// jit options that compile for `device`'s platform and run there.
JitOptions on(Device device, const char* name) {
  return {.backend = std::string(device.platform()), .device = device, .name = name};
}

}  // namespace

Evaluation evaluate(const models::ImageClassifier& model, const Tree& variables,
                    data::Loader& loader, const InferenceOptions& options) {
  const Device device = options.device;
  const Tree params = device_put(variables, device);
  auto eval_step = jit(
      [&model](const Tree& p, const Array& x, const Array& y) {
        Array logits = model.apply(p, x, /*train=*/false, Array());
        return std::make_pair(sum(losses::softmax_cross_entropy_with_integer_labels(logits, y)),
                              argmax(logits, 1));
      },
      on(device, "eval_step"));
  Evaluation e;
  e.num_classes = model.num_classes;
  e.confusion.assign(static_cast<size_t>(e.num_classes * e.num_classes), 0);
  double loss_sum = 0;
  int64_t correct = 0;
  loader.start_epoch(0);
  while (std::optional<data::Batch> batch = loader.next()) {
    auto [loss, predicted] =
        eval_step(params, device_put(batch->images, device), device_put(batch->labels, device));
    loss_sum += static_cast<double>(loss.item<float>());
    const std::vector<int32_t> pred = predicted.to_vector<int32_t>();
    const std::vector<int32_t> truth = batch->labels.to_vector<int32_t>();
    for (size_t i = 0; i < pred.size(); ++i) {
      if (truth[i] < 0 || truth[i] >= e.num_classes)
        throw ValueError("evaluate: label " + std::to_string(truth[i]) + " is outside [0, " +
                         std::to_string(e.num_classes) + ")");
      ++e.confusion[static_cast<size_t>(truth[i] * e.num_classes + pred[i])];
      correct += pred[i] == truth[i];
    }
    e.examples += batch->size;
  }
  if (e.examples > 0) {
    e.mean_loss = loss_sum / static_cast<double>(e.examples);
    e.accuracy = static_cast<double>(correct) / static_cast<double>(e.examples);
  }
  return e;
}

Predictor::Predictor(models::ImageClassifier model, const Tree& variables,
                     const InferenceOptions& options)
    : device_(options.device), variables_(device_put(variables, options.device)) {
  infer_ = jit(
      [m = std::move(model)](const Tree& p, const Array& x) {
        return softmax(m.apply(p, x, /*train=*/false, Array()), -1);
      },
      on(device_, "predict"));
}

Array Predictor::probabilities(const Array& images) {
  return device_get(infer_(variables_, device_put(images, device_)));
}

Array predict_probabilities(const models::ImageClassifier& model, const Tree& variables,
                            const Array& images, const InferenceOptions& options) {
  return Predictor(model, variables, options).probabilities(images);
}

}  // namespace kiln::classification
