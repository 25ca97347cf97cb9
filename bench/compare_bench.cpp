// compare_bench: kiln against LibTorch 1.13 C++ — and, given the bench venv's python, JAX on XLA's
// CPU, PyTorch 2.x eager and torch.compile — on the workloads of issue 6, in one run and one table
// (bench/compare builds and runs it; README.md says what each row measures).
//
//   compare_bench [--quick] [--threads 1,2] [--workloads abcdef]
//                 [--python PYTHON [--python-peers jax,torch,torch-compile]]
//
//   (a) the tutorial's train step (tutorial_workload.hpp, as tutorial_bench measures it);
//   (b) the MLP 784-512-512-10, batch 128, Adam (lr 1e-3) + softmax cross entropy, one train step;
//   (c) that MLP's forward pass (logits) at batch 128 and batch 1;
//   (d) kiln's Fashion-MNIST CNN, one train step at batch 128;
//   (e) jit trace + compile of (b)'s step;
//   (f) the peak resident memory growth over 50 steps of (b).
//
// Thread counts are per process (kiln reads KILN_NUM_THREADS once; OpenMP's count is per thread),
// so the program runs itself once per thread count as a worker (--worker N) with KILN_NUM_THREADS
// and OMP_NUM_THREADS set to N, which calls at::set_num_threads(N) for LibTorch; and once per side
// for the memory row (--memory kiln|libtorch), so that neither side's memory counts in the other's.
// Workers print their checks and `ROW key threads kiln peer` lines, which this process collects.
// The Python peers (peer_python.py, run by PYTHON) run in processes of their own, per peer and
// thread count, after the worker of that count (run_python_peer).
//
// Every workload is checked before it is timed: both sides start from the same weights (generated
// here by kiln, handed to LibTorch as floats, to the Python peers as a Flax msgpack file) and must
// agree on the losses of the first two steps, or on the logits, to 1e-4 relative; a worker or peer
// whose check fails stops the comparison there with status 1.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "compare_peer.hpp"
#include "harness.hpp"
#include "kiln/kiln.hpp"
#include "kiln/losses.hpp"
#include "kiln/models.hpp"
#include "kiln/serialization.hpp"
#include "kiln/version.hpp"
#include "tutorial_workload.hpp"

namespace fs = std::filesystem;

namespace {

using kiln::Array;
using kiln::TrainState;
using kiln::Tree;
using kiln_bench::Repetitions;
using kiln_bench::Timing;
using namespace kiln_bench::compare;

#ifdef KILN_BENCH_HAVE_LIBTORCH
constexpr bool kHaveLibTorch = true;
#else
constexpr bool kHaveLibTorch = false;
#endif

constexpr int64_t kBatch = 128;
constexpr double kTolerance = 1e-4;  // relative, on losses and logits
constexpr int kMemorySteps = 50;
// The MLP train step's multiply-adds, as 2 flops each: every layer's GEMM forward (x·W) and for
// its weight gradient (xᵀ·dy), and for the input gradient (dy·Wᵀ) of every layer but the first
// (whose input is the data). Elementwise work, the loss and Adam are below 1% and not counted.
constexpr double kMlpTrainFlops =
    2.0 * kBatch * (784 * 512 + 512 * 512 + 512 * 10) * 2 + 2.0 * kBatch * (512 * 512 + 512 * 10);
constexpr double kPeakGflopsPerCore = 116.8;  // the figure for one Zen 4 core, float32

struct Options {
  bool quick = false;
  std::vector<int> threads = {1, 2};
  std::string workloads = "abcdef";
  // The Python peers (peer_python.py): the bench venv's python, empty when there is none; which
  // of them to run.
  std::string python;
  std::vector<std::string> python_peers = {"jax", "torch", "torch-compile"};
  bool wants(char w) const { return workloads.find(w) != std::string::npos; }
  Repetitions reps() const { return quick ? Repetitions{5, 0.002} : Repetitions{}; }
  int compiles() const { return quick ? 3 : 10; }
};

// ---------------------------------------------------------------------------------------------
// The workloads' data, generated once by kiln.

Array batch_images(const Batch& b, kiln::Shape image_shape) {
  kiln::Shape shape = {b.size};
  for (int64_t d : image_shape) shape.push_back(d);
  return Array::from_data<float>(b.x, shape);
}

Array batch_labels(const Batch& b) {
  return Array::from_data<int32_t>(b.labels, {b.size});
}

// Standard-normal pixels (what normalised Fashion-MNIST images look like to the network) and
// labels cycling through the ten classes.
Batch make_batch(int64_t size) {
  Batch b;
  b.size = size;
  b.x = kiln::random::normal(kiln::random::key(1), {size, 784}).to_vector<float>();
  for (int64_t i = 0; i < size; ++i) b.labels.push_back(static_cast<int32_t>(i % 10));
  return b;
}

std::vector<float> leaf(const Tree& variables, const char* layer, const char* name) {
  return variables["params"][layer][name].leaf().to_vector<float>();
}

MlpParams mlp_params_of(const Tree& variables) {
  MlpParams p;
  const char* layers[3] = {"Dense_0", "Dense_1", "Dense_2"};
  for (int l = 0; l < 3; ++l) {
    p.kernel[l] = leaf(variables, layers[l], "kernel");
    p.bias[l] = leaf(variables, layers[l], "bias");
  }
  return p;
}

CnnParams cnn_params_of(const Tree& variables) {
  return {leaf(variables, "Conv_0", "kernel"),  leaf(variables, "Conv_0", "bias"),
          leaf(variables, "Conv_1", "kernel"),  leaf(variables, "Conv_1", "bias"),
          leaf(variables, "Dense_0", "kernel"), leaf(variables, "Dense_0", "bias"),
          leaf(variables, "Dense_1", "kernel"), leaf(variables, "Dense_1", "bias")};
}

// FashionMLP's dropout is off (train=false) in every workload: the MLP has none, and
// deterministic steps are what lets both sides be checked against each other.
const kiln::models::FashionMLP kMlp{};
const kiln::models::FashionCNN kCnn{};

Tree mlp_variables() {
  return kMlp.init(kiln::random::key(0), kiln::zeros({1, 784}), /*train=*/false);
}
Tree cnn_variables() {
  return kCnn.init(kiln::random::key(0), kiln::zeros({1, 28, 28, 1}), /*train=*/false);
}

template <class Model>
TrainState train_state(const Model& model, const Tree& variables) {
  return TrainState::create(
      [model](const Tree& p, const Array& x) { return model.apply(p, x, /*train=*/false); },
      variables, kiln::optim::adam(1e-3));
}

// The train step as classification.cpp builds it (value_and_grad of the mean softmax cross
// entropy, TrainState::apply_gradients, one jit on the cpu backend), returning the loss too. Its
// state argument is donated (JitOptions::donate_argnums): the parameters and Adam's moments are
// updated in place, as LibTorch's optimizer updates them — unless `donate` is false.
template <class Model>
auto make_train_step(const Model& model, bool donate = true) {
  return kiln::jit(
      [model](const TrainState& state, const Array& x, const Array& y) {
        auto loss_fn = [&](const Tree& params) {
          Array logits = model.apply(params, x, /*train=*/false);
          return kiln::mean(kiln::losses::softmax_cross_entropy_with_integer_labels(logits, y));
        };
        auto [loss, grads] = kiln::value_and_grad(loss_fn)(state.params);
        return std::make_pair(state.apply_gradients(grads), loss);
      },
      {.backend = "cpu",
       .name = "train_step",
       .donate_argnums = donate ? std::vector<int>{0} : std::vector<int>{}});
}

// A copy of `s` whose arrays have buffers of their own: a donating step consumes its state
// argument, so every restart from the initial state starts from such a copy.
TrainState own_copy(const TrainState& s) {
  std::vector<Array> leaves = kiln::tree_leaves(s);
  for (Array& a : leaves)
    a = Array::from_bytes(a.buffer()->host_data(), a.buffer()->bytes(), a.dtype(), a.shape());
  std::span<const Array> it(leaves);
  return kiln::tree_traits<TrainState>::rebuild(s, it);
}

// ---------------------------------------------------------------------------------------------
// kiln's side of each workload, timed exactly as the peer's (compare_peer.hpp).

template <class Model>
TrainRun kiln_train(const Model& model, const Tree& variables, const Array& x, const Array& y,
                    Repetitions reps) {
  const TrainState initial = train_state(model, variables);
  auto step = make_train_step(model);
  TrainRun r;
  // The first step's loss is at the initial weights, the second's after one update.
  TrainState state = own_copy(initial);
  for (float& loss : r.loss) {
    std::pair<TrainState, Array> out = step(state, x, y);
    state = std::move(out.first);
    loss = out.second.item<float>();
  }
  Array loss;
  int64_t calls = 0;
  r.step = kiln_bench::time_per_call(
      [&] {
        if (calls++ % kRestartSteps == 0) state = own_copy(initial);
        auto out = step(state, x, y);
        state = std::move(out.first);
        loss = std::move(out.second);
      },
      reps);
  return r;
}

InferRun kiln_infer(const Tree& variables, const Array& x, Repetitions reps) {
  auto forward = kiln::jit(
      [](const Tree& v, const Array& images) { return kMlp.apply(v, images, /*train=*/false); },
      {.backend = "cpu", .name = "forward"});
  InferRun r;
  Array logits = forward(variables, x);
  r.logits = logits.to_vector<float>();
  r.call = kiln_bench::time_per_call([&] { logits = forward(variables, x); }, reps);
  return r;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// (e): lower() (trace, autodiff, the optimizer's update) plus compile() of (b)'s step, each time
// on a fresh jit object, as a new program would; the median of `n`. The first is reported apart:
// it also pays for building oneDNN's kernels the first time a process needs them.
// As a cross-check, the other way to see it: a fresh jit object's first call minus its second
// (both from the initial state), which adds what the first run pays beyond a steady one.
struct CompileTimes {
  double first_ns = 0, lower_ns = 0, compile_ns = 0, total_ns = 0, first_minus_steady_ns = 0;
  double first_run_extra_ns = 0;  // of which the executable's first run beyond its second
};

// Runs the executable once on fresh outputs; seconds.
double run_once(const kiln::Compiled& compiled, const std::vector<kiln::Buffer*>& inputs) {
  std::vector<std::shared_ptr<kiln::Buffer>> owned;
  std::vector<kiln::Buffer*> outputs;
  for (const kiln::ir::ValueType& t : compiled.executable()->output_types()) {
    const size_t bytes = static_cast<size_t>(t.shape.numel()) * kiln::itemsize(t.dtype);
    owned.push_back(compiled.device().backend()->allocate(bytes, compiled.device()));
    outputs.push_back(owned.back().get());
  }
  const auto t0 = std::chrono::steady_clock::now();
  compiled.executable()->run(inputs, outputs);
  return seconds_since(t0);
}

CompileTimes kiln_compile_times(const Tree& variables, const Array& x, const Array& y, int n) {
  const TrainState initial = train_state(kMlp, variables);
  std::vector<double> lower, compile, total, first_minus_steady, first_run_extra;
  CompileTimes c;
  std::vector<Array> leaves = kiln::tree_leaves(initial);
  leaves.push_back(x);
  leaves.push_back(y);
  std::vector<kiln::Buffer*> inputs;
  for (const Array& a : leaves) inputs.push_back(a.buffer().get());
  for (int i = 0; i <= n; ++i) {
    auto step = make_train_step(kMlp, /*donate=*/false);  // called on `initial` twice below
    const auto t0 = std::chrono::steady_clock::now();
    const kiln::Lowered lowered = step.lower(initial, x, y);
    const double l = seconds_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    const kiln::Compiled compiled = lowered.compile();
    const double k = seconds_since(t1);
    if (i == 0) {
      c.first_ns = (l + k) * 1e9;
      continue;
    }
    lower.push_back(l * 1e9);
    compile.push_back(k * 1e9);
    total.push_back((l + k) * 1e9);
    const double first_run = run_once(compiled, inputs);
    first_run_extra.push_back((first_run - run_once(compiled, inputs)) * 1e9);

    auto called = make_train_step(kMlp, /*donate=*/false);
    const auto t2 = std::chrono::steady_clock::now();
    auto first = called(initial, x, y);
    const double f = seconds_since(t2);
    const auto t3 = std::chrono::steady_clock::now();
    first = called(initial, x, y);
    first_minus_steady.push_back((f - seconds_since(t3)) * 1e9);
  }
  c.lower_ns = median(lower);
  c.compile_ns = median(compile);
  c.total_ns = median(total);
  c.first_minus_steady_ns = median(first_minus_steady);
  c.first_run_extra_ns = median(first_run_extra);
  return c;
}

// ---------------------------------------------------------------------------------------------
// The checks.

double relative_difference(double a, double b) {
  return std::fabs(a - b) / std::max(std::fabs(b), 1e-30);
}

// Both sides' first two losses agree. kiln's alone must at least be finite and change with the
// update (one Adam step at lr 1e-3 moves every weight by about 1e-3, which need not lower the
// loss: the CNN's rises on these random images).
bool check_train(const char* what, const TrainRun& kiln, const TrainRun* peer,
                 const char* peer_name = "LibTorch") {
  bool ok =
      std::isfinite(kiln.loss[0]) && std::isfinite(kiln.loss[1]) && kiln.loss[1] != kiln.loss[0];
  std::printf("check %s: loss at the initial weights kiln %.6f", what, kiln.loss[0]);
  if (peer != nullptr) std::printf(" %s %.6f", peer_name, peer->loss[0]);
  std::printf(", after one Adam step kiln %.6f", kiln.loss[1]);
  if (peer != nullptr) {
    const double diff = std::max(relative_difference(kiln.loss[0], peer->loss[0]),
                                 relative_difference(kiln.loss[1], peer->loss[1]));
    std::printf(" %s %.6f; largest relative difference %.1e (tolerance %.0e)", peer_name,
                peer->loss[1], diff, kTolerance);
    ok = ok && diff <= kTolerance;
  }
  std::printf(": %s\n", ok ? "ok" : "FAILED");
  return ok;
}

bool check_logits(const char* what, const InferRun& kiln, const InferRun* peer,
                  const char* peer_name = "LibTorch") {
  double scale = 0;
  bool ok = true;
  for (float v : kiln.logits) {
    ok = ok && std::isfinite(v);
    scale = std::max(scale, std::fabs(static_cast<double>(v)));
  }
  std::printf("check %s: %zu logits, largest |logit| %.4f", what, kiln.logits.size(), scale);
  if (peer != nullptr) {
    double diff = 0;
    ok = ok && peer->logits.size() == kiln.logits.size();
    for (size_t i = 0; ok && i < kiln.logits.size(); ++i) {
      diff = std::max(diff, std::fabs(static_cast<double>(kiln.logits[i]) - peer->logits[i]));
    }
    std::printf("; largest |kiln - %s| / largest |logit| %.1e (tolerance %.0e)", peer_name,
                diff / scale, kTolerance);
    ok = ok && diff <= kTolerance * scale;
  }
  std::printf(": %s\n", ok ? "ok" : "FAILED");
  return ok;
}

// ---------------------------------------------------------------------------------------------
// The worker: every timed workload at one thread count.

std::string thread_text(int threads) {
  return std::to_string(threads) + (threads == 1 ? " thread" : " threads");
}

void print_row(const char* key, int threads, double kiln, double peer) {
  std::printf("ROW %s %d %.17g %.17g\n", key, threads, kiln, peer);
}

// kiln's checked values (losses, logits), which the driver holds the Python peers to
// (run_python_peer): `KILN key threads value...`, each float printed exactly.
void print_kiln(const std::string& key, int threads, const std::vector<float>& values) {
  std::printf("KILN %s %d", key.c_str(), threads);
  for (float v : values) std::printf(" %.9g", static_cast<double>(v));
  std::printf("\n");
}

int run_worker(const Options& o, int threads) {
  const Repetitions reps = o.reps();
  bool ok = true;
  [[maybe_unused]] int peer_threads = 0;
  [[maybe_unused]] const char* peer_version = "";
#ifdef KILN_BENCH_HAVE_LIBTORCH
  libtorch_setup(threads, &peer_threads, &peer_version);
  std::printf("worker: %s; LibTorch %s: at::get_num_threads() %d\n", thread_text(threads).c_str(),
              peer_version, peer_threads);
#else
  std::printf("worker: %s\n", thread_text(threads).c_str());
#endif
  const double nan = NAN;

  if (o.wants('a') && threads == o.threads.front()) {
    const auto kiln = kiln_bench::tutorial::run_kiln(reps);
    ok = kiln_bench::tutorial::matches_reference("compare", "kiln", kiln.loss) && ok;
    double peer_ns = nan;
#ifdef KILN_BENCH_HAVE_LIBTORCH
    std::vector<float> peer_loss(kiln_bench::tutorial::kSteps);
    int t = 0;
    const char* v = "";
    const Timing peer = kiln_bench::run_libtorch_tutorial_step(kiln_bench::tutorial::kSteps,
                                                               peer_loss.data(), &t, &v, reps);
    ok = kiln_bench::tutorial::matches_reference("compare", "LibTorch", peer_loss) && ok;
    peer_ns = peer.median_ns;
#endif
    std::printf(
        "check (a) tutorial train step: the losses of its 100 steps match the tutorial's printout "
        "%s (kiln's after 100 steps %.4f): %s\n",
        kHaveLibTorch ? "on both sides" : "(kiln)", kiln.loss.back(), ok ? "ok" : "FAILED");
    if (ok) {
      print_row("tutorial", threads, kiln.step.median_ns, peer_ns);
      print_row("tutorial_run", threads, kiln.run.median_ns, nan);
    }
  }

  if (o.wants('b') || o.wants('c') || o.wants('e')) {
    const Tree variables = mlp_variables();
    const MlpParams params = mlp_params_of(variables);
    const Batch batch = make_batch(kBatch);
    const Array x = batch_images(batch, {784});
    const Array y = batch_labels(batch);
    const std::string t = thread_text(threads);

    if (o.wants('b')) {
      const TrainRun kiln = kiln_train(kMlp, variables, x, y, reps);
      const TrainRun* peer = nullptr;
#ifdef KILN_BENCH_HAVE_LIBTORCH
      const TrainRun peer_run = libtorch_mlp_train(params, batch, reps);
      peer = &peer_run;
#endif
      if (check_train(("(b) MLP train step, " + t).c_str(), kiln, peer)) {
        print_row("mlp_train", threads, kiln.step.median_ns, peer ? peer->step.median_ns : nan);
        print_kiln("mlp_train", threads, {kiln.loss[0], kiln.loss[1]});
      } else {
        ok = false;
      }
    }

    if (o.wants('c')) {
      for (const int64_t size : {kBatch, int64_t{1}}) {
        Batch b = batch;
        b.size = size;
        b.x.resize(static_cast<size_t>(size * 784));
        b.labels.resize(static_cast<size_t>(size));
        const InferRun kiln = kiln_infer(variables, batch_images(b, {784}), reps);
        const InferRun* peer = nullptr;
#ifdef KILN_BENCH_HAVE_LIBTORCH
        const InferRun peer_run = libtorch_mlp_infer(params, b, reps);
        peer = &peer_run;
#endif
        const std::string what = "(c) MLP inference, batch " + std::to_string(size) + ", " + t;
        if (check_logits(what.c_str(), kiln, peer)) {
          const char* key = size == 1 ? "mlp_infer_b1" : "mlp_infer_b128";
          print_row(key, threads, kiln.call.median_ns, peer ? peer->call.median_ns : nan);
          print_kiln(key, threads, kiln.logits);
        } else {
          ok = false;
        }
      }
    }

    if (o.wants('e') && threads == o.threads.front()) {
      const CompileTimes c = kiln_compile_times(variables, x, y, o.compiles());
      std::printf(
          "(e) jit of (b)'s step, median of %d fresh jit objects: lower (trace + autodiff) %.2f "
          "ms + compile %.2f ms = %.2f ms; the process's first %.2f ms; a fresh jit's first call "
          "minus its second %.2f ms, of which a compiled executable's first run beyond its second "
          "%.2f ms\n",
          o.compiles(), c.lower_ns * 1e-6, c.compile_ns * 1e-6, c.total_ns * 1e-6,
          c.first_ns * 1e-6, c.first_minus_steady_ns * 1e-6, c.first_run_extra_ns * 1e-6);
      print_row("jit_compile", threads, c.total_ns, nan);
      print_row("jit_first_call", threads, c.first_minus_steady_ns, nan);
    }
  }

  if (o.wants('d')) {
    const Tree variables = cnn_variables();
    const CnnParams params = cnn_params_of(variables);
    const Batch batch = make_batch(kBatch);
    const TrainRun kiln =
        kiln_train(kCnn, variables, batch_images(batch, {28, 28, 1}), batch_labels(batch), reps);
    const TrainRun* peer = nullptr;
#ifdef KILN_BENCH_HAVE_LIBTORCH
    const TrainRun peer_run = libtorch_cnn_train(params, batch, reps);
    peer = &peer_run;
#endif
    const std::string what = "(d) CNN train step, " + thread_text(threads);
    if (check_train(what.c_str(), kiln, peer)) {
      print_row("cnn_train", threads, kiln.step.median_ns, peer ? peer->step.median_ns : nan);
      print_kiln("cnn_train", threads, {kiln.loss[0], kiln.loss[1]});
    } else {
      ok = false;
    }
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// The memory children: kMemorySteps steps of (b) on one side, from just before the first step.

int run_memory(const std::string& side, [[maybe_unused]] int threads) {
  const Tree variables = mlp_variables();
  const Batch batch = make_batch(kBatch);
  if (!reset_peak_rss()) {
    std::fprintf(stderr, "compare_bench: /proc/self/clear_refs refused; cannot reset VmHWM\n");
    return 1;
  }
  MemoryUse m;
  long arena_bytes = -1;
  if (side == "kiln") {
    const Array x = batch_images(batch, {784});
    const Array y = batch_labels(batch);
    const TrainState initial = train_state(kMlp, variables);
    auto step = make_train_step(kMlp);
    TrainState state = own_copy(initial);
    m = measure_memory(kMemorySteps, [&] { state = step(state, x, y).first; });
    // The executable's scratch arena, from the header of its schedule ("... arena N bytes ...").
    const std::string text = step.lower(initial, x, y).compile().text();
    const size_t at = text.find("arena ");
    if (at != std::string::npos) arena_bytes = std::atol(text.c_str() + at + 6);
  } else if (side == "libtorch") {
#ifdef KILN_BENCH_HAVE_LIBTORCH
    int t = 0;
    const char* v = "";
    libtorch_setup(threads, &t, &v);
    m = libtorch_mlp_memory(mlp_params_of(variables), batch, kMemorySteps);
#else
    return 2;
#endif
  } else {
    std::fprintf(stderr, "compare_bench: --memory kiln or --memory libtorch, not %s\n",
                 side.c_str());
    return 2;
  }
  std::printf("MEMORY %ld %ld %ld %ld %ld\n", m.rss_before_kb, m.peak_first_kb,
              m.rss_after_first_kb, m.peak_rest_kb, arena_bytes);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The table.

// Display width of UTF-8 text: its code points (the table uses µ, ≤, ≥ and ×, one column each).
size_t width(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string time_text(double ns) {
  if (!std::isfinite(ns)) return "-";
  if (ns < 1e3) return format("%.0f ns", ns);
  if (ns < 1e6) return format("%.2f µs", ns * 1e-3);
  return format("%.3f ms", ns * 1e-6);
}

// Text columns (the workload, and `text_from` onwards) are left-aligned, figures right-aligned.
struct Table {
  std::vector<std::vector<std::string>> rows;
  size_t text_from = 0;
  void print() const {
    std::vector<size_t> w;
    for (const auto& r : rows) {
      w.resize(std::max(w.size(), r.size()));
      for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], width(r[i]));
    }
    for (size_t n = 0; n < rows.size(); ++n) {
      std::string line;
      for (size_t i = 0; i < rows[n].size(); ++i) {
        const std::string& cell = rows[n][i];
        const std::string pad(w[i] - width(cell), ' ');
        line += (i == 0 || i >= text_from) ? cell + pad : pad + cell;
        line += "  ";
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      std::printf("%s\n", line.c_str());
      if (n == 0) std::printf("%s\n", std::string(width(line), '-').c_str());
    }
  }
};

// The columns beside kiln: LibTorch, linked in and timed by the workers, and the Python peers,
// each timed by peer_python.py in processes of its own (run_python_peer).
enum Peer : size_t { kLibTorch, kJax, kPyTorch, kTorchCompile, kPeers };
struct PeerName {
  const char* arg;     // peer_python.py's --peer, compare_bench's --python-peers
  const char* column;  // the table's heading, the checks' name
  const char* ratio;
};
constexpr PeerName kPeerNames[kPeers] = {{"libtorch", "LibTorch", "kiln/LibTorch"},
                                         {"jax", "JAX", "kiln/JAX"},
                                         {"torch", "PyTorch", "kiln/PyTorch"},
                                         {"torch-compile", "torch.compile", "kiln/compile"}};
constexpr Peer kPythonPeers[] = {kJax, kPyTorch, kTorchCompile};

// One row's figures (ns): kiln's and each peer's; NaN where there is none, and then `note` may say
// why (a torch.compile that failed).
struct Cells {
  double kiln = NAN;
  std::array<double, kPeers> peer = {NAN, NAN, NAN, NAN};
  std::array<std::string, kPeers> note;
};
using Results = std::map<std::pair<std::string, int>, Cells>;

struct Memory {
  bool have = false;
  MemoryUse kiln;
  std::array<std::optional<MemoryUse>, kPeers> peer;
  long arena_bytes = -1;
};

// Everything the driver gathers for the table.
struct Run {
  Results results;
  Memory memory;
  std::array<bool, kPeers> installed = {kHaveLibTorch, false, false, false};
  std::array<bool, kPeers> asked = {true, false, false, false};
  std::array<std::string, kPeers> version = {"1.13", "", "", ""};
};

const char* kNotInstalled = "not installed";

// Issue 6's targets per (row, threads), in ns and as the issue writes them.
struct Target {
  double ns;
  const char* text;
};

std::optional<Target> time_target(const std::string& key, int threads) {
  static const std::map<std::pair<std::string, int>, Target> targets = {
      {{"tutorial", 1}, {1e3, "≤ 1 µs (DESIGN.md §8: LibTorch 102.8 µs)"}},
      {{"mlp_train", 1}, {4.2e6, "≤ 4.2 ms (≥ 85% of peak)"}},
      {{"mlp_train", 2}, {2.4e6, "≤ 2.4 ms"}},
      {{"mlp_infer_b128", 1}, {1.6e6, "≤ 1.6 ms"}},
      {{"mlp_infer_b128", 2}, {0.85e6, "≤ 0.85 ms"}},
      {{"mlp_infer_b1", 1}, {30e3, "≤ 30 µs"}},
      {{"mlp_infer_b1", 2}, {15e3, "≤ 15 µs"}},
      {{"jit_compile", 1}, {20e6, "≤ 20 ms"}},
      {{"jit_first_call", 1}, {20e6, "≤ 20 ms"}}};
  auto it = targets.find({key, threads});
  if (it == targets.end()) return std::nullopt;
  return it->second;
}

void print_table(const Options& o, const Run& run) {
  Table table;
  std::vector<std::string> heading = {"workload", "threads", "kiln"};
  for (size_t p = 0; p < kPeers; ++p) {
    heading.push_back(kPeerNames[p].column +
                      (run.version[p].empty() ? std::string() : " " + run.version[p]));
  }
  for (const PeerName& p : kPeerNames) heading.push_back(p.ratio);
  heading.push_back("target");
  heading.push_back("met");
  table.text_from = heading.size() - 2;
  table.rows.push_back(heading);
  // A peer's cell: its figure as `text`, or why there is none.
  auto peer_cell = [&](size_t p, double v, const std::string& text,
                       const std::string& note = std::string()) {
    if (!run.installed[p]) return std::string(p == kLibTorch ? kNotInstalled : "not run");
    if (!run.asked[p]) return std::string("-");
    if (!note.empty()) return note;
    return std::isfinite(v) ? text : std::string("-");
  };
  auto ratio_cell = [](double kiln, double peer) {
    return std::isfinite(kiln) && std::isfinite(peer) ? format("%.3f", kiln / peer)
                                                      : std::string("-");
  };
  // A row of figures: kiln's, the peers', kiln's over each peer's, then `tail`.
  auto figures_row = [&](const std::string& name, const std::string& threads, double kiln,
                         const std::array<double, kPeers>& peer, auto&& text,
                         const std::array<std::string, kPeers>& cells_override,
                         std::vector<std::string> tail) {
    std::vector<std::string> row = {name, threads, std::isfinite(kiln) ? text(kiln) : "-"};
    for (size_t p = 0; p < kPeers; ++p) {
      row.push_back(cells_override[p].empty()
                        ? peer_cell(p, peer[p], std::isfinite(peer[p]) ? text(peer[p]) : "")
                        : cells_override[p]);
    }
    for (size_t p = 0; p < kPeers; ++p)
      row.push_back(tail.empty() ? "" : ratio_cell(kiln, peer[p]));
    if (tail.empty()) tail = {"", ""};
    row.insert(row.end(), tail.begin(), tail.end());
    table.rows.push_back(row);
  };
  auto time_row = [&](const std::string& name, const std::string& key, int threads) {
    auto it = run.results.find({key, threads});
    if (it == run.results.end()) return;
    const Cells& c = it->second;
    std::string target_text = "-", met = "-";
    if (const std::optional<Target> target = time_target(key, threads)) {
      target_text = target->text;
      met = c.kiln <= target->ns ? "yes" : "no";
    }
    if (key == "cnn_train") {
      target_text = "≥ 1.5× LibTorch throughput";
      met = std::isfinite(c.peer[kLibTorch]) ? (c.peer[kLibTorch] / c.kiln >= 1.5 ? "yes" : "no")
                                             : "-";
    }
    std::array<std::string, kPeers> cells;
    for (size_t p = 0; p < kPeers; ++p) {
      if (!c.note[p].empty()) cells[p] = peer_cell(p, NAN, "", c.note[p]);
    }
    if (key.rfind("jit_", 0) == 0) {
      // The eager libraries have nothing to trace or compile; torch.compile compiles inside its
      // first call, so it has no separate trace + compile to time.
      for (Peer p : {kLibTorch, kPyTorch}) {
        if (run.installed[p] && run.asked[p]) cells[p] = "n/a (eager)";
      }
      if (key == "jit_compile" && run.installed[kTorchCompile] && run.asked[kTorchCompile])
        cells[kTorchCompile] = "n/a";
    }
    figures_row(name, std::to_string(threads), c.kiln, c.peer, time_text, cells,
                {target_text, met});
    if (key == "mlp_train") {
      // GFLOP/s and the share of the machine's peak at this thread count.
      const double peak = kPeakGflopsPerCore * threads;
      auto rate = [&](double ns) {
        return format("%.1f GFLOP/s", kMlpTrainFlops / ns) +
               format(" (%.0f%%)", 100 * kMlpTrainFlops / ns / peak);
      };
      std::array<std::string, kPeers> none;
      for (size_t p = 0; p < kPeers; ++p) {
        if (!std::isfinite(c.peer[p])) none[p] = run.installed[p] && run.asked[p] ? "-" : "";
      }
      figures_row("    GFLOP/s (% of " + format("%.1f", peak) + ")", "", c.kiln, c.peer, rate, none,
                  {});
    }
    if (key == "tutorial") {
      auto r = run.results.find({"tutorial_run", threads});
      if (r != run.results.end()) {
        std::vector<std::string> row = {"    of which Executable::run", "",
                                        time_text(r->second.kiln)};
        row.resize(heading.size());
        table.rows.push_back(row);
      }
    }
  };
  for (int t : o.threads) time_row("(a) tutorial train step (MLP 4-8-1, x 16x4)", "tutorial", t);
  for (int t : o.threads) time_row("(b) MLP 784-512-512-10 train step, b128", "mlp_train", t);
  for (int t : o.threads) time_row("(c) MLP inference, batch 128", "mlp_infer_b128", t);
  for (int t : o.threads) time_row("(c) MLP inference, batch 1", "mlp_infer_b1", t);
  for (int t : o.threads) time_row("(d) Fashion-MNIST CNN train step, b128", "cnn_train", t);
  for (int t : o.threads) time_row("(e) jit trace + compile of (b)", "jit_compile", t);
  for (int t : o.threads) time_row("(e) first jit call - steady call of (b)", "jit_first_call", t);
  const Memory& memory = run.memory;
  if (memory.have) {
    auto mib = [](double kb) { return format("%.1f MiB", kb / 1024); };
    std::array<double, kPeers> growth, steady;
    for (size_t p = 0; p < kPeers; ++p) {
      growth[p] = memory.peer[p] ? static_cast<double>(memory.peer[p]->growth_kb()) : NAN;
      steady[p] = memory.peer[p] ? static_cast<double>(memory.peer[p]->steady_growth_kb()) : NAN;
    }
    const double kiln = static_cast<double>(memory.kiln.growth_kb());
    const double lt = growth[kLibTorch];
    figures_row("(f) peak RSS growth, 50 steps of (b)", std::to_string(o.threads.front()), kiln,
                growth, mib, {},
                {"≤ LibTorch", std::isfinite(lt) ? (kiln <= lt ? "yes" : "no") : "-"});
    figures_row("    steps 2-50 alone (peak - RSS after step 1)", "",
                static_cast<double>(memory.kiln.steady_growth_kb()), steady, mib, {}, {"", ""});
    if (memory.arena_bytes >= 0) {
      std::vector<std::string> row = {"    kiln's executable arena", "",
                                      mib(static_cast<double>(memory.arena_bytes) / 1024)};
      row.resize(heading.size());
      table.rows.push_back(row);
    }
  }
  table.print();
  if (!run.installed[kLibTorch]) {
    std::printf(
        "\nLibTorch: not installed: scripts/install.sh --bench (bench/compare installs it)");
  }
  if (!run.installed[kJax]) {
    std::printf(
        "\nJAX, PyTorch, torch.compile: not run, no --python given: scripts/install.sh "
        "--bench-python makes build/bench-venv/bin/python (bench/compare installs it and passes "
        "it, unless --no-python)");
  }
}

// ---------------------------------------------------------------------------------------------
// The driver.

std::vector<int> parse_threads(const std::string& s) {
  std::vector<int> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    const int n = std::atoi(item.c_str());
    if (n < 1) {
      std::fprintf(stderr, "compare_bench: --threads takes counts like 1,2, not \"%s\"\n",
                   s.c_str());
      std::exit(2);
    }
    out.push_back(n);
  }
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: compare_bench [--quick] [--threads 1,2] [--workloads abcdef]\n"
               "                     [--python PYTHON [--python-peers jax,torch,torch-compile]]\n"
               "  (a) tutorial step (b) MLP train (c) MLP inference (d) CNN train (e) jit "
               "compile (f) memory\n");
  return 2;
}

// Runs `exe args...` as a child, echoes what it printed besides the lines that start with one of
// `tags` (its results), and returns those lines; exits if the child failed.
std::vector<std::string> run_tagged(const fs::path& exe, const fs::path& dir,
                                    const std::vector<std::string>& args,
                                    const std::vector<std::pair<std::string, std::string>>& env,
                                    const std::vector<std::string>& tags) {
  const fs::path output = dir / "child.txt";
  const kiln_bench::ChildRun run = kiln_bench::run_child(exe, args, dir, output, env);
  std::vector<std::string> lines;
  std::istringstream in(kiln_bench::read_text(output));
  for (std::string line; std::getline(in, line);) {
    if (std::any_of(tags.begin(), tags.end(),
                    [&](const std::string& tag) { return line.rfind(tag, 0) == 0; })) {
      lines.push_back(line);
    } else {
      std::printf("  %s\n", line.c_str());
    }
  }
  std::fflush(stdout);
  if (!run.ok()) {
    std::fprintf(stderr,
                 "compare_bench: a check failed or the child stopped (status %d); "
                 "nothing is compared\n",
                 run.status);
    std::exit(1);
  }
  return lines;
}

// This program as a child: a worker or a memory child.
std::vector<std::string> run_self(const fs::path& dir, const std::vector<std::string>& args,
                                  const std::vector<std::pair<std::string, std::string>>& env,
                                  const std::vector<std::string>& tags) {
  return run_tagged(fs::read_symlink("/proc/self/exe"), dir, args, env, tags);
}

// ---------------------------------------------------------------------------------------------
// The Python peers: peer_python.py, once per peer and thread count, each in a process of its own
// (its thread pinning is per process), from the bench venv's python (--python). Each gets the
// weights and batch kiln generated (inputs.msgpack, Flax's format), and is held to kiln's values
// from the worker at the same thread count (print_kiln) before any of its times is taken.

// kiln's checked values per (key, threads): the first two losses, or the logits.
using KilnValues = std::map<std::pair<std::string, int>, std::vector<float>>;

std::vector<float> rest_as_floats(std::istringstream& in) {
  std::vector<float> v;
  for (std::string word; in >> word;) v.push_back(std::strtof(word.c_str(), nullptr));
  return v;
}

std::string rest_as_text(std::istringstream& in) {
  std::string text;
  std::getline(in >> std::ws, text);
  return text;
}

// The checks' name of a workload, as the workers print it.
std::string check_name(const std::string& key, int threads) {
  const std::string t = ", " + thread_text(threads);
  if (key == "mlp_train") return "(b) MLP train step" + t;
  if (key == "mlp_infer_b128") return "(c) MLP inference, batch 128" + t;
  if (key == "mlp_infer_b1") return "(c) MLP inference, batch 1" + t;
  if (key == "cnn_train") return "(d) CNN train step" + t;
  return key + t;
}

// The inputs every Python peer starts from: {"mlp": variables, "cnn": variables, "x": the batch's
// images [128, 784], "y": its labels}, as a Flax msgpack file.
void write_python_inputs(const fs::path& path) {
  const Batch batch = make_batch(kBatch);
  kiln::serialization::save(path, Tree::dict({{"mlp", mlp_variables()},
                                              {"cnn", cnn_variables()},
                                              {"x", batch_images(batch, {784})},
                                              {"y", batch_labels(batch)}}));
}

std::vector<std::string> python_args(const Options& o, const fs::path& dir, Peer peer,
                                     int threads) {
  std::vector<std::string> args = {KILN_BENCH_PEER_SCRIPT,
                                   "--peer",
                                   kPeerNames[peer].arg,
                                   "--threads",
                                   std::to_string(threads),
                                   "--first-threads",
                                   std::to_string(o.threads.front()),
                                   "--inputs",
                                   (dir / "inputs.msgpack").string()};
  if (o.quick) args.push_back("--quick");
  return args;
}

const std::vector<std::pair<std::string, std::string>> python_env(int threads) {
  return {{"OMP_NUM_THREADS", std::to_string(threads)}};
}

// Runs one Python peer at one thread count: prints what it says about itself and how it was
// pinned, checks its losses and logits against kiln's, and adds its times to `run`. A peer that
// disagrees with kiln stops the comparison (status 1), as LibTorch does in the workers; a
// torch.compile that fails leaves a note in its cells instead.
void run_python_peer(const Options& o, const fs::path& dir, Peer peer, int threads,
                     const KilnValues& kiln, Run& run) {
  std::vector<std::string> args = python_args(o, dir, peer, threads);
  args.push_back("--workloads");
  args.push_back(o.workloads);
  const char* name = kPeerNames[peer].column;
  const std::string who = std::string(name) + ", " + thread_text(threads);
  std::printf("  %s: bench/peer_python.py --peer %s --threads %d\n", who.c_str(),
              kPeerNames[peer].arg, threads);
  std::fflush(stdout);
  const auto lines = run_tagged(
      o.python, dir, args, python_env(threads),
      {"PEER ", "THREADS ", "LOSSES ", "LOGITS ", "TIME ", "COMPILE ", "UNAVAILABLE ", "CPU "});
  std::map<std::string, std::vector<float>> values;  // LOSSES and LOGITS
  std::map<std::string, double> times;
  for (const std::string& line : lines) {
    std::istringstream in(line);
    std::string tag, key;
    in >> tag;
    if (tag == "PEER") {
      int got = 0;
      in >> run.version[peer] >> got;
      std::printf("  %s: %s; threads the library reports: %d\n", who.c_str(),
                  rest_as_text(in).c_str(), got);
    } else if (tag == "THREADS") {
      std::printf("  %s: pinned by %s\n", who.c_str(), rest_as_text(in).c_str());
    } else if (tag == "CPU") {
      std::printf("  %s: cores busy while timing %s\n", who.c_str(), rest_as_text(in).c_str());
    } else if (tag == "LOSSES" || tag == "LOGITS") {
      in >> key;
      values[key] = rest_as_floats(in);
    } else if (tag == "TIME" || tag == "COMPILE") {
      double ns = NAN;
      in >> key >> ns;
      times[key] = ns;
    } else if (tag == "UNAVAILABLE") {
      in >> key;
      std::printf("  %s: %s does not work: %s\n", who.c_str(), key.c_str(),
                  rest_as_text(in).c_str());
      run.results[{key, threads}].note[peer] = "fails";
    }
  }
  bool ok = true;
  for (const char* key : {"tutorial", "mlp_train", "mlp_infer_b128", "mlp_infer_b1", "cnn_train",
                          "jit_compile", "jit_first_call"}) {
    const auto time = times.find(key);
    if (time == times.end()) continue;
    const double ns = time->second;
    std::printf("  ");                                 // indented as the workers' checks
    bool checked = time->first.rfind("jit_", 0) == 0;  // (e) times the step (b) checked
    if (checked) {
      std::printf(
          "(e) %s of (b)'s step: %s\n",
          std::string(key) == "jit_compile" ? "lower + compile" : "first call - steady call",
          time_text(ns).c_str());
    } else if (time->first == "tutorial") {
      const auto it = values.find(key);
      checked = it != values.end() && it->second.size() == kiln_bench::tutorial::kSteps &&
                kiln_bench::tutorial::matches_reference("compare", name, it->second);
      std::printf(
          "check (a) tutorial train step, %s: the losses of its 100 steps match the tutorial's "
          "printout: %s\n",
          who.c_str(), checked ? "ok" : "FAILED");
    } else if (time->first.rfind("mlp_infer", 0) == 0) {
      InferRun k, p;
      if (auto it = kiln.find({key, threads}); it != kiln.end()) k.logits = it->second;
      if (auto it = values.find(key); it != values.end()) p.logits = it->second;
      checked = !k.logits.empty() && check_logits(check_name(key, threads).c_str(), k, &p, name);
    } else if (!checked) {
      const auto k = kiln.find({key, threads});
      const auto p = values.find(key);
      TrainRun kr, pr;
      checked =
          k != kiln.end() && p != values.end() && k->second.size() == 2 && p->second.size() == 2;
      if (checked) {
        std::copy(k->second.begin(), k->second.end(), kr.loss);
        std::copy(p->second.begin(), p->second.end(), pr.loss);
        checked = check_train(check_name(key, threads).c_str(), kr, &pr, name);
      } else {
        std::printf("check %s, %s: no losses to compare: FAILED\n", key, who.c_str());
      }
    }
    if (checked) {
      run.results[{key, threads}].peer[peer] = ns;
    } else {
      ok = false;
    }
  }
  std::fflush(stdout);
  if (!ok) {
    std::fprintf(stderr, "compare_bench: %s disagrees with kiln; nothing is compared\n", name);
    std::exit(1);
  }
}

// (f) for one Python peer: its own process, at the first thread count.
void run_python_memory(const Options& o, const fs::path& dir, Peer peer, Run& run) {
  std::vector<std::string> args = python_args(o, dir, peer, o.threads.front());
  args.push_back("--memory");
  const auto lines = run_tagged(o.python, dir, args, python_env(o.threads.front()),
                                {"MEMORY ", "PEER ", "THREADS "});
  for (const std::string& line : lines) {
    if (line.rfind("PEER ", 0) == 0) std::istringstream(line.substr(5)) >> run.version[peer];
    if (line.rfind("MEMORY ", 0) != 0) continue;
    std::istringstream in(line.substr(7));
    MemoryUse m;
    in >> m.rss_before_kb >> m.peak_first_kb >> m.rss_after_first_kb >> m.peak_rest_kb;
    run.memory.peer[peer] = m;
  }
}

// ---------------------------------------------------------------------------------------------
// The driver itself.

int run_driver(const Options& o) {
  const fs::path dir = fs::temp_directory_path() / ("kiln_compare." + std::to_string(getpid()));
  fs::create_directories(dir);
  char when[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  const Repetitions reps = o.reps();
  Run run;
  for (Peer p : kPythonPeers) {
    run.installed[p] = !o.python.empty();
    run.asked[p] = std::find(o.python_peers.begin(), o.python_peers.end(), kPeerNames[p].arg) !=
                   o.python_peers.end();
  }
  std::printf("bench/compare: kiln %s against %s and %s, %s\n", kiln::version(),
              kHaveLibTorch ? "LibTorch C++ 1.13" : "(LibTorch not installed)",
              o.python.empty() ? "(JAX and PyTorch not installed)"
                               : ("JAX and PyTorch 2.x (" + o.python + ")").c_str(),
              when);
  // The machine's load when the run starts: on two cores, anything else running moves the numbers.
  std::string load = kiln_bench::read_text("/proc/loadavg");
  load = load.substr(0, load.find(' ', load.find(' ', load.find(' ') + 1) + 1));
  // The processor: the targets and the % of peak column are Zen 4 figures, and the same
  // program on another core moves every absolute time (ratios to LibTorch much less).
  const std::string cpuinfo = kiln_bench::read_text("/proc/cpuinfo");
  std::string model = "unknown processor";
  if (const size_t at = cpuinfo.find("model name"); at != std::string::npos) {
    const size_t colon = cpuinfo.find(':', at), end = cpuinfo.find('\n', at);
    if (colon != std::string::npos && colon < end)
      model = cpuinfo.substr(colon + 2, end - colon - 2);
  }
  const char* openblas_core = std::getenv("OPENBLAS_CORETYPE");
  const std::string peer_kernels = openblas_core != nullptr
                                       ? std::string(openblas_core) + " (OPENBLAS_CORETYPE)"
                                       : "the processor's own";
  std::printf(
      "load average (1, 5, 15 min) before the run: %s; %u online CPUs: %s\n"
      "kiln's oneDNN kernels: %s; LibTorch's OpenBLAS kernels: %s\n",
      load.c_str(), static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN)), model.c_str(),
      kiln::cpu_kernel_isa().c_str(), peer_kernels.c_str());
  std::printf("times are medians of %d batches of ~%.0f ms each%s\n\n", reps.batches,
              reps.batch_seconds * 1e3,
              o.quick ? " (--quick: a smoke test, not a measurement)" : "");

  Results& results = run.results;
  KilnValues kiln_values;
  if (!o.python.empty()) write_python_inputs(dir / "inputs.msgpack");
  std::vector<std::string> common;
  if (o.quick) common.push_back("--quick");
  common.push_back("--workloads");
  common.push_back(o.workloads);
  common.push_back("--threads");
  std::string thread_list;
  for (int t : o.threads) thread_list += (thread_list.empty() ? "" : ",") + std::to_string(t);
  common.push_back(thread_list);
  for (int t : o.threads) {
    // (a) and (e) run at the first thread count only.
    if (t != o.threads.front() && !o.wants('b') && !o.wants('c') && !o.wants('d')) continue;
    std::vector<std::string> args = common;
    args.push_back("--worker");
    args.push_back(std::to_string(t));
    const std::string n = std::to_string(t);
    for (const std::string& line : run_self(
             dir, args, {{"KILN_NUM_THREADS", n}, {"OMP_NUM_THREADS", n}}, {"ROW ", "KILN "})) {
      std::istringstream in(line);
      std::string tag, key;
      int threads = 0;
      in >> tag >> key >> threads;
      if (tag == "KILN") {
        kiln_values[{key, threads}] = rest_as_floats(in);
        continue;
      }
      std::string kiln, peer;
      in >> kiln >> peer;
      Cells& c = results[{key, threads}];
      c.kiln = std::strtod(kiln.c_str(), nullptr);
      c.peer[kLibTorch] = std::strtod(peer.c_str(), nullptr);
    }
    for (Peer p : kPythonPeers) {
      if (run.installed[p] && run.asked[p] &&
          o.workloads.find_first_of("abcde") != std::string::npos)
        run_python_peer(o, dir, p, t, kiln_values, run);
    }
  }

  Memory& memory = run.memory;
  if (o.wants('f')) {
    const std::string n = std::to_string(o.threads.front());
    const std::vector<std::pair<std::string, std::string>> env = {{"KILN_NUM_THREADS", n},
                                                                  {"OMP_NUM_THREADS", n}};
    auto measure = [&](const char* side, std::optional<MemoryUse>& out, long* arena) {
      MemoryUse m;
      const auto lines = run_self(dir, {"--memory", side, "--threads", n}, env, {"MEMORY "});
      if (lines.empty()) return;
      std::istringstream in(lines.front().substr(7));
      long a = -1;
      in >> m.rss_before_kb >> m.peak_first_kb >> m.rss_after_first_kb >> m.peak_rest_kb >> a;
      if (arena != nullptr) *arena = a;
      out = m;
    };
    std::optional<MemoryUse> kiln;
    measure("kiln", kiln, &memory.arena_bytes);
    if (kiln) memory.kiln = *kiln;
    if (kHaveLibTorch) measure("libtorch", memory.peer[kLibTorch], nullptr);
    for (Peer p : kPythonPeers) {
      if (run.installed[p] && run.asked[p]) run_python_memory(o, dir, p, run);
    }
    memory.have = true;
  }
  fs::remove_all(dir);

  std::printf("\n");
  print_table(o, run);
  std::printf("\nkiln/peer below 1: kiln is faster (or smaller).\n");
  if (o.wants('b')) {
    std::printf(
        "(b)'s flops: 2·B·Σ(in·out) for the forward GEMMs, the same for the weight gradients, and "
        "2·B·Σ(in·out) over layers 2-3 for the input gradients = %.1f MFLOP per step at B = 128; "
        "peak %.1f GFLOP/s per core.\n",
        kMlpTrainFlops * 1e-6, kPeakGflopsPerCore);
  }
  if (memory.have) {
    std::printf(
        "(f): each side in its own process: the peak VmHWM (reset through /proc/self/clear_refs "
        "just before the first of %d steps, and again after it) minus VmRSS just before the first "
        "step. VmRSS before / after step 1 / peak: kiln %ld / %ld / %ld KiB",
        kMemorySteps, memory.kiln.rss_before_kb, memory.kiln.rss_after_first_kb,
        memory.kiln.rss_before_kb + memory.kiln.growth_kb());
    for (size_t p = 0; p < kPeers; ++p) {
      if (!memory.peer[p]) continue;
      const MemoryUse& m = *memory.peer[p];
      std::printf(", %s %ld / %ld / %ld KiB", kPeerNames[p].column, m.rss_before_kb,
                  m.rss_after_first_kb, m.rss_before_kb + m.growth_kb());
    }
    std::printf(".\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int worker = 0;
  std::string memory_side;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usage());
      return argv[++i];
    };
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--threads") {
      o.threads = parse_threads(value());
    } else if (a == "--workloads") {
      o.workloads = value();
      if (o.workloads.empty() || o.workloads.find_first_not_of("abcdef") != std::string::npos) {
        std::fprintf(stderr, "compare_bench: --workloads takes letters from abcdef, not \"%s\"\n",
                     o.workloads.c_str());
        return usage();
      }
    } else if (a == "--worker") {
      worker = std::atoi(value().c_str());
    } else if (a == "--python") {
      // Absolute: the children run in a temporary directory.
      o.python = fs::absolute(value()).string();
      if (access(o.python.c_str(), X_OK) != 0) {
        std::fprintf(stderr,
                     "compare_bench: --python %s is not an executable (scripts/install.sh "
                     "--bench-python makes build/bench-venv/bin/python)\n",
                     o.python.c_str());
        return 2;
      }
    } else if (a == "--python-peers") {
      o.python_peers.clear();
      std::stringstream in(value());
      for (std::string item; std::getline(in, item, ',');) {
        if (item != "jax" && item != "torch" && item != "torch-compile") {
          std::fprintf(stderr,
                       "compare_bench: --python-peers takes jax, torch and torch-compile, not "
                       "\"%s\"\n",
                       item.c_str());
          return usage();
        }
        o.python_peers.push_back(item);
      }
    } else if (a == "--memory") {
      memory_side = value();
    } else {
      return usage();
    }
  }
  if (o.threads.empty()) return usage();
  try {
    if (!memory_side.empty()) return run_memory(memory_side, o.threads.front());
    if (worker > 0) return run_worker(o, worker);
    return run_driver(o);
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "compare_bench: %s\n", e.what());
    return 1;
  }
}
