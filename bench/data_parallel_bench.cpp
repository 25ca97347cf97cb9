// data_parallel_bench: data-parallel training on N of kiln's cpu devices of one process against
// one device (issue 17's one-process measurement), with LibTorch 1.13 in one process as the peer,
// in one run:
//
//   data_parallel_bench [--devices 1,2,4] [--rounds R] [--threads T] [--limit N] [--quick]
//                       [--bin DIR]
//
// - Fashion-MNIST MLP epoch: kiln's classification::Trainer (dropout on, batch 128, Adam 1e-3) on
//   each device count, in this process, seconds per training epoch (evaluation is not run), median
//   of R rounds. Within a round the counts take turns, so a change in the machine's load falls on
//   all of them; each count's first epoch (trace, partition, compile) is a warm-up, not timed, and
//   its mean loss must be within 0.1% of the one-device warm-up's or nothing is timed. LibTorch:
//   bin/fashion_mnist_libtorch --model mlp for R + 1 epochs as a process, the median of its last R.
// - The tutorial's train step (examples/tutorial.cpp) on each device count, its batch of 16 split
//   over them, timed by harness.hpp (median of 21 batches); its losses must match the tutorial's
//   printout first. LibTorch's tutorial step beside it.
//
// Per count it prints the speed-up t1 / tN and the parallel efficiency t1 / (N tN). kiln's cpu
// devices of one process take turns on the same cores (docs/multi-device.md), so the best this
// can show is a speed-up of 1 (efficiency 1/N): the rows measure what partitioning costs — the
// batch sliced into shards, the per-device programs, one psum per parameter, the optimizer update
// once per replica.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "harness.hpp"
#include "kiln/classification.hpp"
#include "kiln/data.hpp"
#include "kiln/kiln.hpp"
#include "kiln/models.hpp"
#include "tutorial_workload.hpp"

namespace fs = std::filesystem;
using namespace kiln;

namespace {

struct Options {
  std::vector<int> devices = {1, 2, 4};
  int rounds = 5;
  int threads = 0;  // 0: kiln's and LibTorch's defaults
  int64_t limit = 0;
  kiln_bench::Repetitions reps;
  fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
};

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One row: a device count's times, and its speed-up and efficiency against the first row (1).
void print_row(const char* what, int n, double seconds, double one, const char* unit,
               double scale) {
  std::printf("%-24s %7d %12.3f %s %10.3f %11.1f%%\n", what, n, seconds * scale, unit,
              one / seconds, 100 * one / (n * seconds));
}

// ---- the Fashion-MNIST MLP's epoch ----

// Seconds per epoch for each device count (in o.devices' order), or an error.
std::optional<std::vector<double>> mlp_epochs(const Options& o) {
  const models::ImageClassifier model = models::image_classifier("mlp");
  data::Dataset train = data::load_fashion_mnist(data::Split::train);
  if (o.limit > 0 && o.limit < train.labels.shape()[0])
    train = {slice(train.images, {0, 0, 0}, {o.limit, 28, 28}),
             slice(train.labels, {0}, {o.limit})};
  data::LoaderOptions lo{.batch_size = 128, .shuffle = true, .seed = 0, .layout = model.layout};
  lo.mean = model.input_mean;
  lo.std = model.input_std;

  struct Run {
    std::unique_ptr<classification::Trainer> trainer;
    std::unique_ptr<data::Loader> loader;
    std::vector<double> seconds;
  };
  std::vector<Run> runs;
  double one_device_loss = NAN;
  for (int n : o.devices) {
    Run r;
    r.trainer = std::make_unique<classification::Trainer>(
        model, classification::Trainer::Options{.learning_rate = 1e-3, .seed = 0, .devices = n});
    r.loader = std::make_unique<data::Loader>(train, lo);
    const classification::EpochStats warm = r.trainer->train_epoch(*r.loader, 1);
    if (runs.empty()) one_device_loss = warm.mean_loss;
    std::printf("  warm-up epoch on %d device(s): loss %.6f, %.2f s\n", n, warm.mean_loss,
                warm.seconds);
    // Reordered float32 sums drift apart over an epoch's 469 Adam steps (tests pin the bound over
    // 12 steps: docs/multi-device.md); a full epoch's mean loss stays within 0.1%.
    if (!(std::fabs(warm.mean_loss - one_device_loss) <= 1e-3 * one_device_loss)) {
      std::fprintf(stderr,
                   "data_parallel_bench: the first epoch's loss on %d devices is %.6f, on %d "
                   "%.6f: not the same training, nothing is timed\n",
                   n, warm.mean_loss, o.devices.front(), one_device_loss);
      return std::nullopt;
    }
    runs.push_back(std::move(r));
  }
  for (int round = 0; round < o.rounds; ++round)
    for (Run& r : runs) r.seconds.push_back(r.trainer->train_epoch(*r.loader, round + 2).seconds);
  std::vector<double> out;
  for (const Run& r : runs) out.push_back(median(r.seconds));
  return out;
}

// LibTorch's MLP epoch (seconds, median of the last `rounds` epochs), or NaN when it is not built
// or failed.
double libtorch_mlp_epoch(const Options& o) {
  const fs::path peer = o.bin / "fashion_mnist_libtorch";
  if (access(peer.c_str(), X_OK) != 0) return NAN;
  std::string tmpl = (fs::temp_directory_path() / "kiln-data-parallel-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return NAN;
  const fs::path dir = tmpl;
  std::vector<std::string> args = {"--model",      "mlp", "--epochs", std::to_string(o.rounds + 1),
                                   "--batch-size", "128", "--seed",   "0"};
  std::vector<std::pair<std::string, std::string>> env;
  if (o.threads > 0) {
    args.insert(args.end(), {"--threads", std::to_string(o.threads)});
    env.emplace_back("OMP_NUM_THREADS", std::to_string(o.threads));
  }
  if (o.limit > 0) args.insert(args.end(), {"--limit", std::to_string(o.limit)});
  const kiln_bench::ChildRun run = kiln_bench::run_child(peer, args, dir, dir / "peer.txt", env);
  const std::string text = kiln_bench::read_text(dir / "peer.txt");
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  std::vector<double> seconds;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t s = line.find("seconds ");
    if (line.rfind("epoch ", 0) == 0 && s != std::string::npos)
      seconds.push_back(std::strtod(line.c_str() + s + 8, nullptr));
  }
  if (!run.ok() || seconds.size() != static_cast<size_t>(o.rounds + 1)) {
    std::fprintf(stderr, "data_parallel_bench: LibTorch failed:\n%s\n", text.c_str());
    return NAN;
  }
  seconds.erase(seconds.begin());
  return median(seconds);
}

// ---- the tutorial's step ----

// The tutorial's step on n devices (n = 1: the plain jit), after checking its losses against the
// tutorial's printout; nullopt when they differ.
std::optional<kiln_bench::Timing> tutorial_step(int n, const kiln_bench::Repetitions& reps) {
  namespace t = kiln_bench::tutorial;
  const t::SimpleMLP model;
  const Shape input_shape = {16, 4};
  const TrainState initial = t::create_train_state(random::key(0), model, 0.001, input_shape);
  const Array x = ones(input_shape);
  const Array y = sum(x, 1, true);
  JitOptions options{.backend = "cpu", .name = "train_step"};
  if (n > 1) {
    const Mesh mesh = make_mesh({n}, {"data"});
    options.in_shardings = {None, NamedSharding(mesh, P("data")), NamedSharding(mesh, P("data"))};
    options.out_shardings = NamedSharding(mesh, P());
  }
  auto step = jit(
      [](const TrainState& state, const Array& xs, const Array& ys) {
        Tree grads =
            grad([&](const Tree& p) { return t::mse_loss(p, state, xs, ys); })(state.params);
        return state.apply_gradients(grads);
      },
      options);
  TrainState state = initial;
  std::vector<float> loss(t::kSteps);
  for (int i = 0; i < t::kSteps; ++i) {
    state = step(state, x, y);
    loss[static_cast<size_t>(i)] = t::mse_loss(state.params, state, x, y).item<float>();
  }
  const std::string who = "data_parallel_bench (" + std::to_string(n) + " devices)";
  if (!t::matches_reference(who.c_str(), "kiln", loss)) return std::nullopt;
  int64_t calls = 0;
  return kiln_bench::time_per_call(
      [&] {
        if (calls++ % t::kSteps == 0) state = initial;
        state = step(state, x, y);
      },
      reps);
}

std::vector<int> parse_counts(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::atoi(item.c_str()));
  return out;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--devices 1,2,4] [--rounds R] [--threads T] [--limit N] [--quick] "
               "[--bin DIR]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      o.rounds = 2;
      o.limit = 4096;
      o.reps = {.batches = 5, .batch_seconds = 0.002};
      continue;
    }
    if (i + 1 >= argc) return usage(argv[0]);
    const std::string v = argv[++i];
    if (arg == "--devices")
      o.devices = parse_counts(v);
    else if (arg == "--rounds")
      o.rounds = std::atoi(v.c_str());
    else if (arg == "--threads")
      o.threads = std::atoi(v.c_str());
    else if (arg == "--limit")
      o.limit = std::atoll(v.c_str());
    else if (arg == "--bin")
      o.bin = fs::absolute(v);
    else
      return usage(argv[0]);
  }
  if (o.devices.empty() || o.devices.front() != 1 || o.rounds < 1 ||
      std::any_of(o.devices.begin(), o.devices.end(), [](int n) { return n < 1 || 16 % n != 0; }))
    return usage(argv[0]);  // the first count is 1 (the baseline); each divides 16 and 128
  // Before the cpu backend starts: it reads both once.
  const int most = *std::max_element(o.devices.begin(), o.devices.end());
  if (std::getenv("KILN_CPU_DEVICES") == nullptr)
    setenv("KILN_CPU_DEVICES", std::to_string(most).c_str(), 1);
  if (o.threads > 0) {
    setenv("KILN_NUM_THREADS", std::to_string(o.threads).c_str(), 1);
    setenv("OMP_NUM_THREADS", std::to_string(o.threads).c_str(), 1);
  }

  try {
    std::printf("data-parallel training on kiln's cpu devices of one process; %s threads, %s\n",
                o.threads > 0 ? std::to_string(o.threads).c_str() : "default",
                o.limit > 0 ? (std::to_string(o.limit) + " training images").c_str()
                            : "60000 training images");
    std::printf("Fashion-MNIST MLP, batch 128, %d timed epoch(s) per count:\n", o.rounds);
    std::fflush(stdout);
    const std::optional<std::vector<double>> epochs = mlp_epochs(o);
    if (!epochs) return 1;
    const double torch_epoch = libtorch_mlp_epoch(o);

    std::printf("tutorial step (batch 16):\n");
    std::vector<double> steps;
    for (int n : o.devices) {
      const std::optional<kiln_bench::Timing> t = tutorial_step(n, o.reps);
      if (!t) return 1;
      steps.push_back(t->median_ns);
    }
    double torch_step = NAN;
#ifdef KILN_BENCH_HAVE_LIBTORCH
    {
      std::vector<float> loss(kiln_bench::tutorial::kSteps);
      int threads = 0;
      const char* version = "";
      const kiln_bench::Timing t = kiln_bench::run_libtorch_tutorial_step(
          kiln_bench::tutorial::kSteps, loss.data(), &threads, &version, o.reps);
      if (kiln_bench::tutorial::matches_reference("data_parallel_bench", "LibTorch", loss))
        torch_step = t.median_ns;
    }
#endif

    std::printf("\n%-24s %7s %14s %10s %12s\n", "workload", "devices", "median", "speed-up",
                "efficiency");
    for (size_t i = 0; i < o.devices.size(); ++i)
      print_row("mlp epoch (kiln)", o.devices[i], (*epochs)[i], epochs->front(), "s ", 1);
    if (std::isnan(torch_epoch))
      std::printf("%-24s %7d %14s\n", "mlp epoch (LibTorch)", 1, "not run");
    else
      std::printf("%-24s %7d %12.3f s  (kiln 1 device / LibTorch: %.3fx)\n", "mlp epoch (LibTorch)",
                  1, torch_epoch, epochs->front() / torch_epoch);
    for (size_t i = 0; i < o.devices.size(); ++i)
      print_row("tutorial step (kiln)", o.devices[i], steps[i] * 1e-9, steps.front() * 1e-9, "us",
                1e6);
    if (std::isnan(torch_step))
      std::printf("%-24s %7d %14s\n", "tutorial step (LibTorch)", 1, "not run");
    else
      std::printf("%-24s %7d %12.3f us\n", "tutorial step (LibTorch)", 1, torch_step * 1e-3);
    std::printf(
        "speed-up = t(1) / t(N); efficiency = speed-up / N. The devices take turns on the same "
        "cores,\nso the ideal here is a speed-up of 1: the gap is what partitioning costs "
        "(docs/multi-device.md).\n");
  } catch (const Error& e) {
    std::fprintf(stderr, "data_parallel_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
