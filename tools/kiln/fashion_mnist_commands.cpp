#include "fashion_mnist_commands.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <numeric>
#include <string>

#include "exit_status.hpp"
#include "kiln/checkpoints.hpp"
#include "kiln/classification.hpp"
#include "kiln/data.hpp"
#include "kiln/device.hpp"
#include "kiln/distributed.hpp"
#include "kiln/error.hpp"
#include "kiln/models.hpp"
#include "kiln/ops.hpp"
#include "kiln/pjrt.hpp"
#include "kiln/random.hpp"
#include "kiln/serialization.hpp"
#include "params_file.hpp"
#include "progress.hpp"
#include "run_directory.hpp"
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

// The parameters in `path`, checked against the model's template (params_file.hpp).
Tree load_model_params(const std::string& path, const models::ImageClassifier& m) {
  return load_params(path, params_template(m), m.name);
}

// The built-in model `name`; the message of an unknown one lists the known ones (and, unlike the
// library's, names no source line: the name came from the command line).
models::ImageClassifier image_classifier(const std::string& name) {
  try {
    return models::image_classifier(name, Loc{});
  } catch (const ValueError& e) {
    throw UsageError(e.what());
  }
}

void require(bool ok, const std::string& what) {
  if (!ok) throw UsageError(what);
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

namespace {

// --devices N: kiln's cpu backend makes its devices when it starts, as many as KILN_CPU_DEVICES
// says (read once), so the count is set here, before the first array is made. A count the user
// set is kept when it gives enough devices.
void provide_cpu_devices(int n) {
  if (n <= 1) return;
  const char* env = std::getenv("KILN_CPU_DEVICES");
  if (env == nullptr || *env == '\0') {
    ::setenv("KILN_CPU_DEVICES", std::to_string(n).c_str(), 1);
  } else {
    char* end = nullptr;
    const long set = std::strtol(env, &end, 10);
    if (end == env || *end != '\0')
      throw UsageError("--devices " + std::to_string(n) + ": KILN_CPU_DEVICES=" + env +
                       " is not a number of devices; unset it (kiln train --devices sets it)");
    if (set < n)
      throw UsageError("--devices " + std::to_string(n) + ": KILN_CPU_DEVICES=" + env +
                       " gives the process " + env + " cpu device(s); unset it (kiln train " +
                       "--devices sets it) or set it to " + std::to_string(n) + " or more");
  }
  if (static_cast<int>(devices("cpu").size()) < n)
    throw Error("kiln bug: the cpu backend started before --devices " + std::to_string(n) +
                " could give it its devices");
}

// Every step's batch, the last of an epoch included, must split evenly over the devices: said in
// the options' terms before anything is written.
void check_split(const TrainArgs& args, int64_t train_size) {
  const int64_t n = args.devices;
  const std::string devices = "--devices " + std::to_string(n);
  if (args.batch_size % n != 0) {
    const int64_t below = args.batch_size / n * n;
    throw UsageError(devices + ": a batch of " + std::to_string(args.batch_size) +
                     " does not split evenly over " + std::to_string(n) +
                     " devices; give a --batch-size that is a multiple of " + std::to_string(n) +
                     " (" + (below > 0 ? std::to_string(below) + " or " : "") +
                     std::to_string(below + n) + ")");
  }
  const int64_t last = train_size % args.batch_size;
  if (last % n != 0)
    throw UsageError(devices + ": the last batch of each epoch holds " + std::to_string(last) +
                     " images (" + std::to_string(train_size) + " in batches of " +
                     std::to_string(args.batch_size) + "), which do not split evenly over " +
                     std::to_string(n) + " devices; give a --limit that leaves a multiple of " +
                     std::to_string(n) + " (" + std::to_string(train_size - last % n) +
                     "), or another --batch-size");
}

// "on CpuDevice(id=0)", or "data-parallel on 4 cpu devices (32 images each per step)".
std::string where_it_trains(const TrainArgs& args) {
  if (distributed::process_count() > 1)
    return "on " + default_device().str() + " of each of " +
           std::to_string(distributed::process_count()) +
           " processes (each trains its share of every batch; process 0 writes)";
  if (args.devices == 1) return "on " + default_device().str();
  return "data-parallel on " + std::to_string(args.devices) + " cpu devices (" +
         std::to_string(args.batch_size / args.devices) + " images each per step)";
}

bool given(const TrainArgs& a, const std::string& option) {
  return std::find(a.given.begin(), a.given.end(), option) != a.given.end();
}

// With --resume, the run's own settings, checked against the options given: a resumed run
// continues exactly as it started, or it would not end as an uninterrupted run does.
TrainArgs resumed_args(const TrainArgs& args, const RunConfig& c) {
  TrainArgs r = args;
  auto same = [&](const char* option, bool equal, const std::string& theirs) {
    if (given(args, option) && !equal)
      throw UsageError(std::string("--resume: ") + option + " differs from the run's " + theirs +
                       " (" + (fs::path(args.out) / "run.cfg").string() +
                       "); a resumed run keeps its settings: drop " + option +
                       ", or start a new run with --overwrite or another --out");
  };
  same("--model", args.model == c.model, c.model);
  same("--batch-size", args.batch_size == c.batch_size, std::to_string(c.batch_size));
  same("--lr", args.lr == c.lr, std::to_string(c.lr));
  same("--seed", args.seed == c.seed, std::to_string(c.seed));
  same("--limit", args.limit == c.limit, c.limit == 0 ? "whole set" : std::to_string(c.limit));
  r.dataset = c.dataset;
  r.model = c.model;
  r.batch_size = c.batch_size;
  r.lr = c.lr;
  r.seed = c.seed;
  r.limit = c.limit;
  if (!given(args, "--epochs")) r.epochs = c.epochs;
  return r;
}

// The records of the epochs metrics.csv holds (the run's committed ones), to continue it.
std::vector<EpochRecord> read_records(const fs::path& metrics, int64_t epochs) {
  const std::vector<std::string> lines = read_lines(metrics);
  std::vector<EpochRecord> out;
  for (size_t i = 1; i < lines.size(); ++i) {
    EpochRecord r;
    long long e = 0;
    if (std::sscanf(lines[i].c_str(), "%lld,%lf,%lf,%lf,%lf,%lf,%lf", &e, &r.train.mean_loss,
                    &r.train.accuracy, &r.test_loss, &r.test_accuracy, &r.train.seconds,
                    &r.train.examples_per_second) != 7 ||
        e != static_cast<long long>(i))
      throw Error(metrics.string() + ", line " + std::to_string(i + 1) +
                  ": not a row kiln train wrote; the run cannot be resumed");
    r.train.epoch = e;
    out.push_back(r);
  }
  if (static_cast<int64_t>(out.size()) != epochs)
    throw Error(metrics.string() + " holds " + std::to_string(out.size()) +
                " epochs but the latest checkpoint is of epoch " + std::to_string(epochs) +
                "; the run cannot be resumed");
  return out;
}

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

// ---- across processes ----

// Joins the other processes when any of --coordinator, --num-processes, --process-id or
// KILN_COORDINATOR_ADDRESS is given; otherwise the run is one process.
bool join_processes(const TrainArgs& a) {
  const char* env = std::getenv("KILN_COORDINATOR_ADDRESS");
  if (a.coordinator.empty() && a.num_processes < 0 && a.process_id < 0 &&
      (env == nullptr || *env == '\0'))
    return false;
  distributed::initialize(a.coordinator, a.num_processes, a.process_id);
  return true;
}

// The settings every process must share, as one line.
std::string settings_text(const TrainArgs& a) {
  char lr[32];
  std::snprintf(lr, sizeof lr, "%.17g", a.lr);
  return "--model " + a.model + " --epochs " + std::to_string(a.epochs) + " --batch-size " +
         std::to_string(a.batch_size) + " --lr " + lr + " --seed " + std::to_string(a.seed) +
         " --limit " + std::to_string(a.limit);
}

// Process 0's string in every process.
std::string from_process_0(std::string s, const std::string& what) {
  uint64_t n = s.size();
  distributed::broadcast({reinterpret_cast<uint8_t*>(&n), sizeof n}, what);
  s.resize(n);
  distributed::broadcast({reinterpret_cast<uint8_t*>(s.data()), s.size()}, what);
  return s;
}

// `a` with the settings of settings_text(`text`).
TrainArgs with_settings(TrainArgs a, const std::string& text) {
  char model[64] = {0};
  long long epochs = 0, batch = 0, seed = 0, limit = 0;
  double lr = 0;
  if (std::sscanf(text.c_str(),
                  "--model %63s --epochs %lld --batch-size %lld --lr %lf --seed %lld "
                  "--limit %lld",
                  model, &epochs, &batch, &lr, &seed, &limit) != 6)
    throw Error("process 0's training settings could not be read: '" + text + "'");
  a.model = model;
  a.epochs = epochs;
  a.batch_size = batch;
  a.lr = lr;
  a.seed = static_cast<uint32_t>(seed);
  a.limit = limit;
  return a;
}

}  // namespace

namespace {

// The part of a run across processes that a process other than 0 does: start from process 0's
// state, then train its share of every batch; process 0 evaluates, reports and writes.
int train_share(const TrainArgs& args, classification::Trainer& trainer, data::Loader& loader,
                int64_t steps_per_epoch) {
  trainer.share_state_of_process_0();
  const int64_t done =
      steps_per_epoch == 0 ? 0 : trainer.state().step.item<int32_t>() / steps_per_epoch;
  std::printf("kiln train: process %d of %d, training its share of every batch from epoch %lld\n",
              distributed::process_index(), distributed::process_count(),
              static_cast<long long>(done + 1));
  std::fflush(stdout);
  for (int64_t epoch = done + 1; epoch <= args.epochs; ++epoch) trainer.train_epoch(loader, epoch);
  std::printf("kiln train: process %d done after epoch %lld\n", distributed::process_index(),
              static_cast<long long>(args.epochs));
  return 0;
}

}  // namespace

int train(const TrainArgs& cli_args) {
  require(cli_args.dataset == "fashion-mnist",
          "unknown dataset \"" + cli_args.dataset + "\": kiln train knows fashion-mnist");
  require(!cli_args.out.empty(), "--out DIR is required: where the parameters and reports go");
  provide_cpu_devices(cli_args.devices);
  const fs::path out = cli_args.out;
  // Across processes, process 0 alone reads and writes `out` (the others may not see it: another
  // machine); its settings are everyone's, and each process checks its own against them.
  if (cli_args.devices > 1 && (!cli_args.coordinator.empty() || cli_args.num_processes > 0))
    throw UsageError("--devices " + std::to_string(cli_args.devices) +
                     " with --coordinator/--num-processes: training across processes runs on one "
                     "device per process; drop --devices (start more processes instead)");
  const bool together = join_processes(cli_args);
  struct Leave {
    bool on;
    ~Leave() {
      if (on) distributed::shutdown();
    }
  } leave{together};
  const bool writer = distributed::process_index() == 0;
  // Nothing is touched before the directory is known to be usable and the input is read.
  TrainArgs args = cli_args;
  std::string refused;  // process 0's refusal of `out`, told to every process
  std::exception_ptr refusal;
  if (writer) {
    try {
      if (cli_args.resume) args = resumed_args(cli_args, RunDirectory::read_config(out));
      if (!args.resume && !args.overwrite) RunDirectory::check_new(out);
    } catch (const std::exception& e) {
      if (!together) throw;
      refused = e.what();
      refusal = std::current_exception();
    }
  }
  if (together) {
    if (const std::string why = from_process_0(refused, "the check of --out"); !why.empty()) {
      if (refusal) std::rethrow_exception(refusal);
      throw UsageError("process 0 refused --out: " + why);
    }
    const std::string theirs = from_process_0(settings_text(args), "the training settings");
    if (cli_args.resume) args = with_settings(args, theirs);
    distributed::check_same("the training settings", settings_text(args));
  }
  const models::ImageClassifier model = image_classifier(args.model);
  if (!std::isfinite(args.lr) || args.lr <= 0)
    throw UsageError("--lr must be a positive finite number, got " + std::to_string(args.lr));

  const fs::path dir = data_dir_or_default(args.data_dir);
  data::Dataset train_set = first(data::load_fashion_mnist(data::Split::train, dir), args.limit);
  const data::Dataset test_set = data::load_fashion_mnist(data::Split::test, dir);
  check_split(args, train_set.labels.size());
  classification::Trainer trainer(
      model, {.learning_rate = args.lr, .seed = args.seed, .devices = args.devices});
  data::Loader train_loader(train_set, loader_options(model, args.batch_size, true, args.seed));
  data::Loader test_loader(test_set, loader_options(model, 1000, false, 0));
  const int64_t steps_per_epoch = train_loader.batches_per_epoch();
  // The step counter is an int32, as Flax's TrainState.step.
  if (args.epochs > INT32_MAX / std::max<int64_t>(1, steps_per_epoch))
    throw UsageError("--epochs " + std::to_string(args.epochs) + " x " +
                     std::to_string(steps_per_epoch) + " steps per epoch is more than 2^31 - 1 " +
                     "steps, the most a run counts; give fewer epochs or a larger --batch-size");

  if (together) {
    distributed::check_same("the training set's size", std::to_string(train_set.labels.size()));
    const int64_t processes = distributed::process_count();
    if (args.batch_size < processes)
      throw UsageError("--batch-size " + std::to_string(args.batch_size) + " is smaller than the " +
                       std::to_string(processes) +
                       " processes that share each batch; give at least one example per process");
    // The last batch of an epoch too, before a whole epoch is trained and then lost.
    const int64_t last = static_cast<int64_t>(train_set.labels.size()) % args.batch_size;
    if (last != 0 && last < processes)
      throw UsageError("the last batch of each epoch holds " + std::to_string(last) +
                       " image(s) (" + std::to_string(train_set.labels.size()) + " in batches of " +
                       std::to_string(args.batch_size) + "), fewer than the " +
                       std::to_string(processes) +
                       " processes that share it; change --batch-size or --limit");
  }
  if (!writer) return train_share(args, trainer, train_loader, steps_per_epoch);

  RunDirectory run(out, args.resume      ? RunDirectory::Mode::resume
                        : args.overwrite ? RunDirectory::Mode::overwrite
                                         : RunDirectory::Mode::fresh);
  std::vector<EpochRecord> records;
  int64_t done = 0;
  // Every process starts from process 0's state: the checkpoint it restored, or its fresh one.
  if (together && !args.resume) trainer.share_state_of_process_0();
  if (args.resume && checkpoints::latest_checkpoint(run.checkpoints())) {
    TrainState state = checkpoints::restore_train_state(run.checkpoints(), trainer.state());
    const int64_t step = state.step.item<int32_t>();
    if (steps_per_epoch == 0 || step % steps_per_epoch != 0)
      throw Error("the latest checkpoint in " + run.checkpoints().string() + " is of step " +
                  std::to_string(step) + ", not the end of an epoch of " +
                  std::to_string(steps_per_epoch) + " steps: it is not from this run's settings");
    done = step / steps_per_epoch;
    if (done > args.epochs)
      throw UsageError("--epochs " + std::to_string(args.epochs) + ": the run in " + out.string() +
                       " has done " + std::to_string(done) + " epochs already");
    records = read_records(out / "metrics.csv", done);
    trainer.set_state(std::move(state));
  }
  if (together && args.resume) trainer.share_state_of_process_0();
  run.write_config({.dataset = args.dataset,
                    .model = args.model,
                    .epochs = args.epochs,
                    .batch_size = args.batch_size,
                    .lr = args.lr,
                    .seed = args.seed,
                    .limit = args.limit});

  std::printf(
      "kiln train fashion-mnist: model %s (%lld parameters), %lld training / %lld test images, "
      "batch %lld, adam lr %g, seed %u, %s\n",
      model.name.c_str(), static_cast<long long>(parameter_count(trainer.variables())),
      static_cast<long long>(train_set.labels.size()),
      static_cast<long long>(test_set.labels.size()), static_cast<long long>(args.batch_size),
      args.lr, args.seed, where_it_trains(args).c_str());
  if (args.resume)
    std::printf("resuming %s after epoch %lld of %lld\n", out.string().c_str(),
                static_cast<long long>(done), static_cast<long long>(args.epochs));
  std::fflush(stdout);

  Progress progress(stderr, args.epochs);
  const std::vector<std::string> names = class_names();
  const std::string title = "kiln: Fashion-MNIST " + model.name;
  classification::Evaluation last;
  for (int64_t epoch = done + 1; epoch <= args.epochs; ++epoch) {
    EpochRecord r;
    try {
      r.train = trainer.train_epoch(
          train_loader, epoch, [&](const classification::StepProgress& p) { progress.step(p); });
    } catch (const FloatingPointError& e) {
      progress.end_epoch();
      const std::string what = e.what();
      const std::string kept = epoch == 1 ? " holds no epoch (none was committed)"
                                          : " keeps epoch " + std::to_string(epoch - 1);
      const bool named = what.rfind("KILN_DEBUG_NANS", 0) == 0;  // the primitive is known
      throw FloatingPointError(what + ". " + out.string() + kept + "; lower --lr" +
                               (named ? ""
                                      : ", or run with KILN_DEBUG_NANS=1 to find the "
                                        "primitive that made the first NaN"));
    }
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
    if (together)
      std::printf("epoch %lld/%lld: all-reduce of the gradients %.2f s of the %.1f s (%.0f%%)\n",
                  static_cast<long long>(epoch), static_cast<long long>(args.epochs),
                  r.train.all_reduce_seconds, r.train.seconds,
                  r.train.seconds > 0 ? 100 * r.train.all_reduce_seconds / r.train.seconds : 0.0);
    std::fflush(stdout);
    // One commit per epoch (run_directory.hpp): every file staged, then the checkpoint, then the
    // renames, so the files in `out` always describe one epoch.
    const int64_t step = trainer.state().step.item<int32_t>();
    try {
      run.stage("params.msgpack", serialization::to_bytes(trainer.variables()), step);
      run.stage("metrics.csv", bytes_of(metrics_csv(records)), step);
      run.stage("training.svg", bytes_of(training_plot_svg(records, title)), step);
      run.stage("confusion_matrix.csv", bytes_of(confusion_csv(last, names)), step);
      checkpoints::save_train_state(run.checkpoints(), trainer.state(), {.keep = 2});
    } catch (...) {
      run.discard_staged();
      throw;
    }
    run.publish(step);
  }
  if (done == args.epochs) {
    std::printf("the run in %s is complete (%lld epochs); --epochs N continues it to N\n",
                out.string().c_str(), static_cast<long long>(done));
    return 0;
  }
  std::printf("test confusion matrix (rows: true class, columns: predicted):\n%s",
              confusion_text(last, names).c_str());
  std::printf(
      "wrote %s: params.msgpack, checkpoints/, metrics.csv, training.svg, "
      "confusion_matrix.csv\n",
      out.string().c_str());
  return 0;
}

int eval(const EvalArgs& args) {
  const models::ImageClassifier model = image_classifier(args.model);
  require(!args.params.empty(), "--params FILE is required");
  require(args.batch_size > 0, "--batch-size must be at least 1");
  // Before any file is read: a missing platform is the first thing reported.
  const InferenceDevice where = inference_device(args.device);
  const Tree params = load_model_params(args.params, model);
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
  Array a = data::read_images(path, data::ImageSize{28, 28});
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
  const models::ImageClassifier model = image_classifier(args.model);
  require(!args.params.empty(), "--params FILE is required");
  require(!args.images.empty(), "no images given: kiln predict --params FILE --model M IMAGE...");
  const InferenceDevice where = inference_device(args.device);
  const Tree params = load_model_params(args.params, model);
  const std::vector<std::string> names = class_names();
  // stderr: stdout is one line per image, for scripts.
  std::fprintf(stderr, "Predicting on %s%s\n", where.device.str().c_str(), where.how.c_str());
  classification::Predictor predictor(model, params, {.device = where.device});
  // The images of a file go through the model kPredictBatch at a time: an IDX file of a million
  // images costs its uint8 pixels and one batch's activations, not a million images' worth.
  constexpr int64_t kPredictBatch = 1000;
  const auto k = static_cast<size_t>(model.num_classes);
  const size_t top = std::min<size_t>(static_cast<size_t>(args.top), k);
  for (const std::string& path : args.images) {
    const Array images = read_28x28(path);
    const int64_t count = images.shape()[0];
    for (int64_t begin = 0; begin < count; begin += kPredictBatch) {
      const int64_t end = std::min(count, begin + kPredictBatch);
      const Array batch =
          count <= kPredictBatch ? images : slice(images, {begin, 0, 0}, {end, 28, 28});
      Array x = (astype(batch, float32) / 255.0 - model.input_mean) / model.input_std;
      x = model.layout == data::Layout::flat ? reshape(x, {end - begin, 28 * 28})
                                             : reshape(x, {end - begin, 28, 28, 1});
      Array probs;
      try {
        probs = predictor.probabilities(x);
      } catch (const Unsupported& u) {
        cannot_run(u, model, where.device, "predict");
      }
      const std::vector<float> p = probs.to_vector<float>();
      for (size_t i = 0; i < static_cast<size_t>(end - begin); ++i) {
        std::vector<size_t> order(k);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return p[i * k + a] > p[i * k + b]; });
        const std::string label =
            count == 1 ? path : path + "[" + std::to_string(begin + static_cast<int64_t>(i)) + "]";
        std::printf("%s: %s (%.4f)", label.c_str(), names[order[0]].c_str(), p[i * k + order[0]]);
        for (size_t j = 1; j < top; ++j)
          std::printf(", %s %.4f", names[order[j]].c_str(), p[i * k + order[j]]);
        std::printf("\n");
      }
    }
  }
  return 0;
}

}  // namespace kiln_tool
