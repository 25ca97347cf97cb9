// The classifier training loop and evaluation (include/kiln/classification.hpp).
#include "kiln/classification.hpp"

#include <chrono>
#include <cmath>

#include "kiln/autodiff.hpp"
#include "kiln/device.hpp"
#include "kiln/distributed.hpp"
#include "kiln/error.hpp"
#include "kiln/jit.hpp"
#include "kiln/losses.hpp"
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "kiln/random.hpp"
#include "kiln/sharding.hpp"
#include "training/train_step.hpp"

namespace kiln::classification {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The stream every dropout key of a run is folded from: distinct from the parameter stream
// (random::key(seed)) so changing the init does not change the dropout masks, and vice versa.
constexpr uint32_t kDropoutStream = 0x64726f70;  // "drop"

// Data-parallel training splits every batch evenly over the devices: checked on an epoch's first
// batch, of `first` examples, for it and for the epoch's last (the loader's remainder), so that a
// bad size stops the run before its first step rather than at the end of an epoch.
void check_split(const data::Loader& loader, int64_t first, int devices) {
  const int64_t batches = loader.batches_per_epoch();
  // Without drop_last the last batch holds what is left; with it (rest > first) a full one.
  const int64_t rest = loader.size() - (batches - 1) * first;
  const int64_t last = rest > first ? first : rest;
  const std::string n = std::to_string(devices);
  if (first % devices != 0)
    throw ValueError("data-parallel training on " + n + " devices: a batch of " +
                     std::to_string(first) + " examples does not split evenly over " + n +
                     " devices; choose a batch size that is a multiple of " + n);
  if (last % devices != 0)
    throw ValueError(
        "data-parallel training on " + n + " devices: the last batch of each epoch holds " +
        std::to_string(last) + " examples (" + std::to_string(loader.size()) +
        " examples in batches of " + std::to_string(first) + "), which do not split evenly over " +
        n + " devices; choose a training set size (or batch size) that leaves a multiple of " + n +
        " for the last batch, or drop the last batch (LoaderOptions::drop_last)");
}

}  // namespace

double Evaluation::class_accuracy(int64_t c) const {
  int64_t total = 0;
  for (int64_t p = 0; p < num_classes; ++p)
    total += confusion[static_cast<size_t>(c * num_classes + p)];
  if (total == 0) return 0.0;
  return static_cast<double>(confusion[static_cast<size_t>(c * num_classes + c)]) /
         static_cast<double>(total);
}

TrainStep train_step(const models::ImageClassifier& model) {
  return [m = model](const TrainState& state, const Array& x, const Array& y,
                     const Array& dropout_key) {
    auto loss_fn = [&](const Tree& params) {
      Array logits = m.apply(params, x, /*train=*/true, dropout_key);
      Array loss = mean(losses::softmax_cross_entropy_with_integer_labels(logits, y));
      Array correct = sum(astype(equal(argmax(logits, 1), y), int32));
      return std::make_pair(loss, correct);
    };
    auto [out, grads] = value_and_grad(loss_fn, {.has_aux = true})(state.params);
    return std::make_tuple(state.apply_gradients(grads), out.first, out.second);
  };
}

JitOptions train_step_options(const std::optional<Mesh>& mesh) {
  // Pinned to the cpu backend: training never lands on an accelerator by accident.
  JitOptions o{.backend = "cpu", .name = "train_step"};
  if (!mesh) {
    // The state is donated: updated in its own buffers (docs/tracing.md).
    o.donate_argnums = {0};
    return o;
  }
  const NamedSharding replicated(*mesh, P());
  const NamedSharding split(*mesh, P("data"));
  o.in_shardings = {replicated, split, split, replicated};
  o.out_shardings = replicated;
  return o;
}

Trainer::Trainer(models::ImageClassifier model, const Options& options)
    : model_(std::move(model)), devices_(options.devices) {
  if (devices_ < 1)
    throw ValueError("classification::Trainer: devices = " + std::to_string(devices_) +
                     "; give 1 (one device) or more (data-parallel)");
  if (devices_ > 1 && distributed::process_count() > 1)
    throw ValueError("classification::Trainer: devices = " + std::to_string(devices_) +
                     " in each of " + std::to_string(distributed::process_count()) +
                     " processes; training across processes runs on one device per process: give "
                     "devices = 1 (more processes instead)");
  std::optional<Mesh> mesh;
  if (devices_ > 1) {
    const std::vector<Device> cpu = kiln::devices("cpu");
    if (static_cast<int>(cpu.size()) < devices_)
      throw DeviceNotFound(
          "classification::Trainer: data-parallel training on " + std::to_string(devices_) +
          " devices, but " + std::to_string(cpu.size()) +
          " cpu device(s) are present; set KILN_CPU_DEVICES=" + std::to_string(devices_) +
          " (or more) before the program starts");
    mesh = Mesh(std::vector<Device>(cpu.begin(), cpu.begin() + devices_), {"data"});
  }
  const Array key = random::key(options.seed);
  dropout_key_ = random::fold_in(key, kDropoutStream);
  const Array example =
      model_.layout == data::Layout::flat ? zeros({1, 28 * 28}) : zeros({1, 28, 28, 1});
  Tree variables = model_.init(key, example);
  const models::ImageClassifier m = model_;
  state_ = TrainState::create(
      [m](const Tree& p, const Array& x) { return m.apply(p, x, false, Array()); }, variables,
      optim::adam(options.learning_rate));
  step_ = jit(train_step(model_), train_step_options(mesh));
  // Across processes the step is cut in two around the all-reduce: each share's gradients
  // (step_across_processes), then this update.
  update_ =
      jit([](const TrainState& state, const Tree& grads) { return state.apply_gradients(grads); },
          {.backend = "cpu", .name = "train_update", .donate_argnums = {0}});
}

// The gradients of each process's share of a global batch, summed over the processes (with the
// share's summed loss and correct count) in one Gloo all-reduce: what makes the processes' steps
// the one step of the whole batch. The shares' losses are sums over the global batch size, so the
// sum of their gradients is the gradient of the global batch's mean loss.
namespace {

struct GradientsAndCounts {
  Tree grads;
  float loss = 0;     // the global batch's mean loss
  float correct = 0;  // its correct count (exact: float32 counts to 2^24)
};
GradientsAndCounts all_reduce_gradients(const Tree& grads, const Array& loss, const Array& correct,
                                        int64_t step) {
  Tree all = Tree::dict({{"grads", grads}, {"loss", loss}, {"correct", astype(correct, float32)}});
  all = distributed::all_reduce_sum(all, "the gradient all-reduce of step " + std::to_string(step));
  return {all["grads"], all["loss"].leaf().item<float>(), all["correct"].leaf().item<float>()};
}

}  // namespace

struct Trainer::ShareStep {
  int64_t start = 0;  // this process's rows [start, start + count) of a batch of `total`
  int64_t count = 0;
  int64_t total = 0;
  // (params, x, y, dropout key) -> (grads, summed loss / total, correct count)
  std::function<std::tuple<Tree, Array, Array>(const Tree&, const Array&, const Array&,
                                               const Array&)>
      grads;
};

std::tuple<TrainState, Array, Array> Trainer::step_across_processes(const data::Batch& batch,
                                                                    const Array& dropout_key) {
  const int64_t n = distributed::process_count(), r = distributed::process_index();
  const int64_t total = batch.size;
  if (total < n)
    throw ValueError("a batch of " + std::to_string(total) + " examples cannot be shared by " +
                     std::to_string(n) +
                     " processes; give a batch size (and a data set size) of at least one example "
                     "per process");
  // Rows as numpy.array_split: the first total % n processes take one more.
  const int64_t base = total / n, extra = total % n;
  const int64_t start = r * base + std::min(r, extra), count = base + (r < extra ? 1 : 0);
  std::shared_ptr<ShareStep> share;
  for (const auto& s : share_steps_)
    if (s->total == total) share = s;
  if (!share) {
    share = std::make_shared<ShareStep>();
    share->start = start;
    share->count = count;
    share->total = total;
    const models::ImageClassifier m = model_;
    const nn::BatchRows rows{start, total};
    share->grads = jit(
        [m, rows](const Tree& params, const Array& x, const Array& y, const Array& key) {
          auto loss_fn = [&](const Tree& p) {
            Array logits = m.apply_rows(p, x, key, rows);
            Array loss = sum(losses::softmax_cross_entropy_with_integer_labels(logits, y)) /
                         static_cast<double>(rows.total);
            Array correct = sum(astype(equal(argmax(logits, 1), y), int32));
            return std::make_pair(loss, correct);
          };
          auto [out, grads] = value_and_grad(loss_fn, {.has_aux = true})(params);
          return std::make_tuple(grads, out.first, out.second);
        },
        {.backend = "cpu", .name = "train_step_share"});
    share_steps_.push_back(share);
  }
  auto rows_of = [&](const Array& a) {
    std::vector<int64_t> begin(static_cast<size_t>(a.ndim()), 0), end;
    for (int i = 0; i < a.ndim(); ++i) end.push_back(a.shape()[i]);
    begin[0] = share->start;
    end[0] = share->start + share->count;
    return slice(a, begin, end);
  };
  auto [grads, loss, correct] =
      share->grads(state_.params, rows_of(batch.images), rows_of(batch.labels), dropout_key);
  const int64_t step = state_.step.item<int32_t>() + 1;
  const auto t0 = std::chrono::steady_clock::now();
  GradientsAndCounts all = all_reduce_gradients(grads, loss, correct, step);
  all_reduce_seconds_ += seconds_since(t0);
  TrainState next = update_(state_, all.grads);
  const auto correct_count = static_cast<int32_t>(all.correct);
  return {std::move(next), Array::from_data(std::span<const float>(&all.loss, 1), Shape{}),
          Array::from_data(std::span<const int32_t>(&correct_count, 1), Shape{})};
}

void Trainer::share_state_of_process_0() {
  if (distributed::process_count() == 1) return;
  Tree all = distributed::broadcast(
      Tree::dict(
          {{"step", state_.step}, {"params", state_.params}, {"opt_state", state_.opt_state}}),
      "the training state of process 0");
  state_.step = all["step"].leaf();
  state_.params = all["params"];
  state_.opt_state = all["opt_state"];
}

EpochStats Trainer::train_epoch(data::Loader& loader, int64_t epoch,
                                const std::function<void(const StepProgress&)>& on_step) {
  const auto t0 = std::chrono::steady_clock::now();
  loader.start_epoch(epoch);
  all_reduce_seconds_ = 0;
  StepProgress p;
  p.epoch = epoch;
  p.steps_per_epoch = loader.batches_per_epoch();
  double loss_sum = 0;
  int64_t correct = 0;
  while (std::optional<data::Batch> batch = loader.next()) {
    if (p.step == 0 && devices_ > 1) check_split(loader, batch->size, devices_);
    const int32_t global_step = state_.step.item<int32_t>();
    Array key = random::fold_in(dropout_key_, static_cast<uint32_t>(global_step));
    auto [next, loss, batch_correct] = distributed::process_count() > 1
                                           ? step_across_processes(*batch, key)
                                           : step_(state_, batch->images, batch->labels, key);
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
  s.all_reduce_seconds = all_reduce_seconds_;
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
