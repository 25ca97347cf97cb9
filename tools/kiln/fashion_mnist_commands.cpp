#include "fashion_mnist_commands.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "kiln/checkpoints.hpp"
#include "kiln/classification.hpp"
#include "kiln/data.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/models.hpp"
#include "kiln/ops.hpp"
#include "kiln/pjrt.hpp"
#include "kiln/random.hpp"
#include "kiln/serialization.hpp"
#include "progress.hpp"
#include "run_report.hpp"

namespace kiln_tool {

namespace fs = std::filesystem;
using namespace kiln;

namespace {

std::filesystem::path data_dir_or_default(const std::string& dir) {
  return dir.empty() ? data::default_fashion_mnist_dir() : fs::path(dir);
}

std::vector<std::string> class_names() {
  std::vector<std::string> out;
  for (const auto& n : data::fashion_mnist_class_names()) out.emplace_back(n);
  return out;
}

int64_t parameter_count(const Tree& t) {
  int64_t n = 0;
  for (const Array& a : flatten(t).first) n += a.size();
  return n;
}

data::LoaderOptions loader_options(const models::ImageClassifier& m, int64_t batch_size,
                                   bool shuffle, uint32_t seed) {
  data::LoaderOptions o;
  o.batch_size = batch_size;
  o.shuffle = shuffle;
  o.seed = seed;
  o.layout = m.layout;
  o.mean = m.input_mean;
  o.std = m.input_std;
  return o;
}

// The first `n` examples of a dataset.
data::Dataset first(const data::Dataset& d, int64_t n) {
  const Shape& s = d.images.shape();
  if (n <= 0 || n >= s[0]) return d;
  return {slice(d.images, {0, 0, 0}, {n, s[1], s[2]}), slice(d.labels, {0}, {n})};
}

// The template a params file is checked against: the model's own variables, from any key.
Tree params_template(const models::ImageClassifier& m) {
  const Array example =
      m.layout == data::Layout::flat ? zeros({1, 28 * 28}) : zeros({1, 28, 28, 1});
  return m.init(random::key(0), example);
}

// The parameters in `path`, checked against the model's template: a file of another architecture
// fails with the first path that differs.
Tree load_params(const std::string& path, const models::ImageClassifier& m) {
  try {
    return serialization::load(path, params_template(m));
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (checked against --model " + m.name +
                     "'s parameters: is the file from a run of another model?)");
  }
}

void require(bool ok, const std::string& what) {
  if (!ok) throw ValueError(what);
}

// The device --device names, and how it was chosen for the "... on <device>" line. "auto" is tt
// when a tt device is present, else the cpu (the tutorial's choice); any other name is a platform,
// and a missing one is DeviceNotFound, which says how to register a plugin.
struct InferenceDevice {
  Device device;
  std::string how;  // "" or " (--device auto: ...)"
};

// The backend's refusal (the op, the user's line) with what to do from the command line.
[[noreturn]] void cannot_run(const Unsupported& e, const models::ImageClassifier& m, Device d,
                             const char* command) {
  throw Unsupported(std::string(e.what()) + ". --model " + m.name + " cannot run on " + d.str() +
                    ": kiln " + command + " --device cpu runs it on the host");
}

InferenceDevice inference_device(const std::string& choice) {
  if (choice != "auto") return {devices(choice).front(), ""};
  try {
    return {devices("tt").front(), " (--device auto: tt is present)"};
  } catch (const DeviceNotFound&) {
    // A tt plugin that is registered but broken must not pass silently for "no tt here".
    for (const pjrt::PluginFailure& f : pjrt::plugin_failures())
      if (f.spec.name == "tt")
        return {default_device(),
                " (--device auto: the tt plugin is registered but did not load; `kiln devices` "
                "says why)"};
    return {default_device(), " (--device auto: no tt device present)"};
  }
}

}  // namespace

int train(const TrainArgs& args) {
  require(args.dataset == "fashion-mnist",
          "unknown dataset \"" + args.dataset + "\": kiln train knows fashion-mnist");
  const models::ImageClassifier model = models::image_classifier(args.model);
  require(args.epochs > 0, "--epochs must be at least 1");
  require(args.batch_size > 0, "--batch-size must be at least 1");
  require(args.lr > 0, "--lr must be positive");
  require(!args.out.empty(), "--out DIR is required: where the parameters and reports go");

  // Everything that can fail on bad input is checked before the output directory is touched.
  const fs::path dir = data_dir_or_default(args.data_dir);
  data::Dataset train_set = first(data::load_fashion_mnist(data::Split::train, dir), args.limit);
  const data::Dataset test_set = data::load_fashion_mnist(data::Split::test, dir);

  const fs::path out = args.out;
  fs::create_directories(out);
  classification::Trainer trainer(model, {.learning_rate = args.lr, .seed = args.seed});
  data::Loader train_loader(train_set, loader_options(model, args.batch_size, true, args.seed));
  data::Loader test_loader(test_set, loader_options(model, 1000, false, 0));

  std::printf(
      "kiln train fashion-mnist: model %s (%lld parameters), %lld training / %lld test images, "
      "batch %lld, adam lr %g, seed %u, on %s\n",
      model.name.c_str(), static_cast<long long>(parameter_count(trainer.variables())),
      static_cast<long long>(train_set.labels.size()),
      static_cast<long long>(test_set.labels.size()), static_cast<long long>(args.batch_size),
      args.lr, args.seed, default_device().str().c_str());
  std::fflush(stdout);

  Progress progress(stderr, args.epochs);
  std::vector<EpochRecord> records;
  classification::Evaluation last;
  const std::string title = "kiln: Fashion-MNIST " + model.name;
  for (int64_t epoch = 1; epoch <= args.epochs; ++epoch) {
    EpochRecord r;
    r.train = trainer.train_epoch(train_loader, epoch,
                                  [&](const classification::StepProgress& p) { progress.step(p); });
    progress.end_epoch();
    last = classification::evaluate(model, trainer.variables(), test_loader);
    r.test_loss = last.mean_loss;
    r.test_accuracy = last.accuracy;
    records.push_back(r);
    std::printf(
        "epoch %lld/%lld: train loss %.4f accuracy %.2f%% | test loss %.4f accuracy %.2f%% | "
        "%.1f s, %.0f examples/s\n",
        static_cast<long long>(epoch), static_cast<long long>(args.epochs), r.train.mean_loss,
        r.train.accuracy * 100, r.test_loss, r.test_accuracy * 100, r.train.seconds,
        r.train.examples_per_second);
    std::fflush(stdout);
    // After every epoch, each file atomically: an interrupted run leaves the last complete epoch.
    serialization::save(out / "params.msgpack", trainer.variables());
    checkpoints::save_train_state(out / "checkpoints", trainer.state(), {.keep = 2});
    write_text(out / "metrics.csv", metrics_csv(records));
    write_text(out / "training.svg", training_plot_svg(records, title));
  }
  const std::vector<std::string> names = class_names();
  write_text(out / "confusion_matrix.csv", confusion_csv(last, names));
  std::printf("test confusion matrix (rows: true class, columns: predicted):\n%s",
              confusion_text(last, names).c_str());
  std::printf(
      "wrote %s: params.msgpack, checkpoints/, metrics.csv, training.svg, "
      "confusion_matrix.csv\n",
      out.string().c_str());
  return 0;
}

int eval(const EvalArgs& args) {
  const models::ImageClassifier model = models::image_classifier(args.model);
  require(!args.params.empty(), "--params FILE is required");
  require(args.batch_size > 0, "--batch-size must be at least 1");
  // Before any file is read: a missing platform is the first thing reported.
  const InferenceDevice where = inference_device(args.device);
  const Tree params = load_params(args.params, model);
  const data::Dataset test_set =
      data::load_fashion_mnist(data::Split::test, data_dir_or_default(args.data_dir));
  data::Loader loader(test_set, loader_options(model, args.batch_size, false, 0));
  std::printf("Evaluating on %s%s\n", where.device.str().c_str(), where.how.c_str());
  std::fflush(stdout);
  classification::Evaluation e;
  try {
    e = classification::evaluate(model, params, loader, {.device = where.device});
  } catch (const Unsupported& u) {
    cannot_run(u, model, where.device, "eval");
  }
  const std::vector<std::string> names = class_names();
  std::printf("%s on the Fashion-MNIST test set (%lld images): accuracy %.2f%%, loss %.4f\n",
              args.params.c_str(), static_cast<long long>(e.examples), e.accuracy * 100,
              e.mean_loss);
  std::printf("per-class accuracy:\n");
  for (int64_t c = 0; c < e.num_classes; ++c)
    std::printf("  %-12s %6.2f%%\n", names[static_cast<size_t>(c)].c_str(),
                e.class_accuracy(c) * 100);
  return 0;
}

namespace {

// The 28x28 uint8 images in `path` (one from a PNG or PGM file, all of them from an IDX file),
// as uint8 [N, 28, 28].
Array read_28x28(const std::string& path) {
  Array a = data::read_images(path);
  if (a.dtype() != uint8 || a.ndim() != 3 || a.shape()[1] != 28 || a.shape()[2] != 28) {
    const std::string size =
        a.ndim() == 3 ? std::to_string(a.shape()[2]) + "x" + std::to_string(a.shape()[1]) +
                            " (width x height) " + std::string(name(a.dtype()))
                      : std::string(short_name(a.dtype())) + "[" + a.shape().dims_str() + "]";
    throw ValueError(path + ": the images are " + size +
                     "; the Fashion-MNIST models take 28x28 grayscale (uint8) images");
  }
  return a;
}

}  // namespace

int predict(const PredictArgs& args) {
  const models::ImageClassifier model = models::image_classifier(args.model);
  require(!args.params.empty(), "--params FILE is required");
  require(!args.images.empty(), "no images given: kiln predict --params FILE --model M IMAGE...");
  const InferenceDevice where = inference_device(args.device);
  const Tree params = load_params(args.params, model);
  const std::vector<std::string> names = class_names();
  // stderr: stdout is one line per image, for scripts.
  std::fprintf(stderr, "Predicting on %s%s\n", where.device.str().c_str(), where.how.c_str());
  classification::Predictor predictor(model, params, {.device = where.device});
  for (const std::string& path : args.images) {
    const Array batch = read_28x28(path);
    const auto n = static_cast<size_t>(batch.shape()[0]);
    Array x = (astype(batch, float32) / 255.0 - model.input_mean) / model.input_std;
    x = model.layout == data::Layout::flat ? reshape(x, {x.shape()[0], 28 * 28})
                                           : reshape(x, {x.shape()[0], 28, 28, 1});
    Array probs;
    try {
      probs = predictor.probabilities(x);
    } catch (const Unsupported& u) {
      cannot_run(u, model, where.device, "predict");
    }
    const std::vector<float> p = probs.to_vector<float>();
    const auto k = static_cast<size_t>(model.num_classes);
    for (size_t i = 0; i < n; ++i) {
      std::vector<size_t> order(k);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return p[i * k + a] > p[i * k + b]; });
      std::string label = n == 1 ? path : path + "[" + std::to_string(i) + "]";
      std::printf("%s: %s (%.4f)", label.c_str(), names[order[0]].c_str(), p[i * k + order[0]]);
      for (size_t j = 1; j < std::min<size_t>(static_cast<size_t>(args.top), k); ++j)
        std::printf(", %s %.4f", names[order[j]].c_str(), p[i * k + order[j]]);
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace kiln_tool
