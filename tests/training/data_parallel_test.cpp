// Data-parallel training on several of kiln's cpu devices (docs/multi-device.md, "Data-parallel
// training"): the batch split P("data"), the parameters and Adam's state replicated. The
// partitioned train step holds per-device products and one psum per parameter, never a gather of
// the batch; training on 2, 4 and 8 devices ends at the one-device parameters up to float32
// rounding. ctest runs these with KILN_CPU_DEVICES=8 (DataParallel.EightCpuDevices); in a process
// with fewer devices the training cases skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "kiln/classification.hpp"
#include "kiln/kiln.hpp"
#include "spmd/cpu_devices.hpp"
#include "spmd/partition.hpp"
#include "training/train_step.hpp"

namespace kiln::classification {
namespace {

#define SKIP_WITHOUT_EIGHT_CPU_DEVICES()                                                \
  if (::kiln::testing::first_cpu_devices(8).empty())                                    \
  GTEST_SKIP() << "needs 8 cpu devices: ctest runs it as DataParallel.EightCpuDevices " \
                  "with KILN_CPU_DEVICES=8"

// How far apart two trees of float32 arrays of one structure are: the largest |a - b| over all
// their elements, and the largest root-mean-square difference of a leaf.
struct Difference {
  double max = 0;
  double rms = 0;
};
Difference difference(const Tree& a, const Tree& b) {
  const std::vector<Array> la = tree_leaves(a), lb = tree_leaves(b);
  EXPECT_EQ(la.size(), lb.size());
  Difference d;
  for (size_t i = 0; i < la.size() && i < lb.size(); ++i) {
    const std::vector<float> x = la[i].to_vector<float>(), y = lb[i].to_vector<float>();
    EXPECT_EQ(x.size(), y.size());
    double squares = 0;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      const double e = std::abs(static_cast<double>(x[k]) - static_cast<double>(y[k]));
      d.max = std::max(d.max, e);
      squares += e * e;
    }
    d.rms =
        std::max(d.rms, std::sqrt(squares / static_cast<double>(std::max<size_t>(1, x.size()))));
  }
  return d;
}

// ---- what the partitioner makes of the Trainer's step ----

struct Census {
  std::map<std::string, int> collectives;  // of the nodes the outputs need
  std::string graph;
};

// The Trainer's train step for `model`, lowered on a batch of `batch` and partitioned over a
// "data" mesh of `n` devices as its jit options say: the batch split, everything else replicated.
Census partitioned_step(const models::ImageClassifier& model, int64_t batch, int64_t n) {
  const Array key = random::key(0);
  const bool flat = model.layout == data::Layout::flat;
  const Array x = flat ? zeros({batch, 28 * 28}) : zeros({batch, 28, 28, 1});
  const Array y = zeros({batch}, int32);
  Tree variables = model.init(key, flat ? zeros({1, 28 * 28}) : zeros({1, 28, 28, 1}));
  const TrainState state = TrainState::create(
      [model](const Tree& p, const Array& in) { return model.apply(p, in, false, Array()); },
      variables, optim::adam(1e-3));
  const ir::Graph g = jit(train_step(model)).lower(state, x, y, key).graph();
  std::vector<spmd::Layout> in;
  for (ir::ValueId v : g.inputs) in.push_back(spmd::Layout::replicated(g.type(v).shape.rank()));
  // The leaves in order: the state's, then the images, the labels and the key.
  const size_t images = in.size() - 3;
  in[images].dims[0] = {"data"};
  in[images + 1].dims[0] = {"data"};
  std::vector<std::optional<spmd::Layout>> out;
  for (ir::ValueId v : g.outputs) out.push_back(spmd::Layout::replicated(g.type(v).shape.rank()));
  const spmd::Partitioned p = spmd::partition(g, {{"data"}, {n}}, in, out);
  std::vector<bool> live(p.local.nodes.size(), false);
  for (ir::ValueId v : p.local.outputs) live[v] = true;
  for (size_t i = p.local.nodes.size(); i-- > 0;)
    if (live[i])
      for (ir::ValueId u : p.local.nodes[i].inputs) live[u] = true;
  Census c;
  for (size_t i = 0; i < p.local.nodes.size(); ++i)
    if (live[i] && ir::info(p.local.nodes[i].prim).kind == ir::PrimKind::collective)
      ++c.collectives[std::string(ir::name(p.local.nodes[i].prim))];
  c.graph = p.local.str();
  return c;
}

// The Fashion-MNIST MLP's step is fully data-parallel: per-device gradients and one psum per
// parameter (6) plus the loss and the correct count (2); no all_gather (the batch is never made
// whole). Dropout's random bits have no sharding rule: each device makes the batch's bits and keeps
// its rows (the axis_index that picks them), so the masks are the one-device run's.
TEST(DataParallel, FashionMlpStepIsOnePsumPerParameterAndNoGather) {
  const Census c = partitioned_step(models::image_classifier("mlp"), 16, 4);
  EXPECT_EQ(c.collectives.count("all_gather"), 0u) << c.graph;
  EXPECT_EQ(c.collectives.at("psum"), 8) << c.graph;
}

// ---- training on 2, 4 and 8 devices ----

constexpr int64_t kImages = 48;  // three batches of 16 per epoch

data::Dataset synthetic_images(int64_t count = kImages) {
  std::vector<int32_t> pixels;
  for (int64_t i = 0; i < count; ++i)
    for (int64_t p = 0; p < 28 * 28; ++p)
      pixels.push_back(static_cast<int32_t>((i * 37 + p * 11 + (i % 3) * p) % 256));
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < count; ++i) labels.push_back(static_cast<int32_t>((i * 7) % 10));
  return {astype(array(pixels, {count, 28, 28}), uint8), array(labels, {count})};
}

struct TrainedRun {
  Tree params;
  std::vector<EpochStats> epochs;
};

data::LoaderOptions loader_options(const models::ImageClassifier& m, int64_t batch_size) {
  data::LoaderOptions o{.batch_size = batch_size, .shuffle = true, .seed = 5, .layout = m.layout};
  o.mean = m.input_mean;
  o.std = m.input_std;
  return o;
}

TrainedRun train(const std::string& model, int devices, int64_t epochs) {
  const models::ImageClassifier m = models::image_classifier(model);
  Trainer trainer(m, {.learning_rate = 1e-3, .seed = 3, .devices = devices});
  data::Loader loader(synthetic_images(), loader_options(m, 16));
  TrainedRun r;
  for (int64_t e = 1; e <= epochs; ++e) r.epochs.push_back(trainer.train_epoch(loader, e));
  EXPECT_EQ(trainer.state().step.item<int32_t>(), 3 * epochs);
  // A copy of the parameters, on one device: the trainer's are replicated over its mesh.
  r.params = tree_map([](const Array& a) { return array(a.to_vector<float>(), a.shape()); },
                      trainer.variables());
  return r;
}

// How close data-parallel training ends to one device's. The batch's sums are added in another
// order (each device's rows, then a psum), so gradients differ in their last bits; Adam divides
// each gradient component by its own magnitude (m / (sqrt(v) + 1e-8)), so where a component is
// near Adam's eps, or a sum of terms that nearly cancel, a last-bit difference becomes a visible
// fraction of the step (at most lr per step). Hence two bounds, for the MLP (dropout on) after 4
// epochs, 12 Adam steps of lr 1e-3, on 2, 4 and 8 devices:
// - the largest difference of any parameter, under kMaxBound = 0.1 lr. Measured 3.8e-5 on AVX-512
//   kernels and 2.5e-5 on AVX2 ones (ONEDNN_MAX_CPU_ISA=AVX2), at one element of one hidden unit;
// - the root-mean-square difference of every leaf, under kRmsBound. Measured at most 1.0e-7
//   (AVX-512) and 7.2e-8 (AVX2): the rest of the parameters agree to float32 rounding.
// The training losses agree to 1e-5 and the correct counts exactly; and the RMS bound is far below
// what one more epoch moves the parameters, so it is not vacuous.
constexpr double kMaxBound = 1e-4;
constexpr double kRmsBound = 1e-6;

TEST(DataParallel, FashionMlpOn248DevicesEndsAtTheOneDeviceParameters) {
  SKIP_WITHOUT_EIGHT_CPU_DEVICES();
  const TrainedRun one = train("mlp", 1, 4);
  EXPECT_GT(difference(one.params, train("mlp", 1, 3).params).rms, 100 * kRmsBound)
      << "the bound cannot tell 4 epochs from 3";
  for (int n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const TrainedRun many = train("mlp", n, 4);
    const Difference d = difference(many.params, one.params);
    std::printf("mlp on %d devices: parameters differ by at most %.3g (rms %.3g)\n", n, d.max,
                d.rms);
    EXPECT_LE(d.max, kMaxBound);
    EXPECT_LE(d.rms, kRmsBound);
    for (size_t e = 0; e < one.epochs.size(); ++e) {
      EXPECT_NEAR(many.epochs[e].mean_loss, one.epochs[e].mean_loss, 1e-5);
      EXPECT_EQ(many.epochs[e].accuracy, one.epochs[e].accuracy);
    }
  }
}

// The CNN's step is fully data-parallel too: convolutions, max-pooling and their gradients run
// per shard (the kernels' gradients contract the batch as the convolution's feature dimension,
// leaving partial sums), one psum per parameter (8) plus the loss and the correct count (2), no
// all_gather. Its parameters after one epoch (3 steps) on 2, 4 and 8 devices are the one-device
// ones within the MLP's bounds (measured: at most 3.1e-6 largest, 5.7e-9 rms on AVX-512 kernels;
// 9.0e-6, 1.4e-8 on AVX2).
TEST(DataParallel, CnnOn248DevicesEndsAtTheOneDeviceParameters) {
  SKIP_WITHOUT_EIGHT_CPU_DEVICES();
  const Census c = partitioned_step(models::image_classifier("cnn"), 16, 2);
  EXPECT_EQ(c.collectives.count("all_gather"), 0u) << c.graph;
  EXPECT_EQ(c.collectives.at("psum"), 10) << c.graph;
  const TrainedRun one = train("cnn", 1, 1);
  for (int n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const TrainedRun many = train("cnn", n, 1);
    const Difference d = difference(many.params, one.params);
    std::printf("cnn on %d devices: parameters differ by at most %.3g (rms %.3g)\n", n, d.max,
                d.rms);
    EXPECT_LE(d.max, kMaxBound);
    EXPECT_LE(d.rms, kRmsBound);
    EXPECT_NEAR(many.epochs[0].mean_loss, one.epochs[0].mean_loss, 1e-5);
  }
}

// The tutorial's model and train step (examples/tutorial.cpp: Dense(8), relu, Dense(1), constant
// init 0.01, MSE, Adam lr 1e-3, 100 steps on a batch of 16 x 4), its batch split over 2, 4 and 8
// devices with jit's in_shardings as the TT-XLA data-parallel tutorial writes them. Rows of
// standard normal features (the tutorial's are all ones, which would make every device's rows
// the same); targets their sums.
TEST(DataParallel, TutorialMlpOn248DevicesEndsAtTheOneDeviceParameters) {
  SKIP_WITHOUT_EIGHT_CPU_DEVICES();
  struct SimpleMLP : nn::Module<SimpleMLP> {
    Array operator()(nn::Scope& s, Array x) const {
      auto const_init = nn::initializers::constant(0.01);
      x = nn::Dense({.features = 8, .kernel_init = const_init, .bias_init = const_init})(s, x);
      x = relu(x);
      return nn::Dense({.features = 1, .kernel_init = const_init, .bias_init = const_init})(s, x);
    }
  } model;
  const Array x = random::normal(random::key(1), {16, 4});
  const Array y = sum(x, 1, true);
  const TrainState initial =
      TrainState::create([model](const Tree& p, const Array& in) { return model.apply(p, in); },
                         model.init(random::key(0), ones({16, 4})), optim::adam(0.001));
  auto step = [](const TrainState& state, const Array& xs, const Array& ys) {
    Tree grads = grad([&](const Tree& params) {
      return mean(square(state.apply(params, xs) - ys));
    })(state.params);
    return state.apply_gradients(grads);
  };
  auto run = [&](auto&& jitted) {
    TrainState state = initial;
    for (int i = 0; i < 100; ++i) state = jitted(state, x, y);
    return tree_map([](const Array& a) { return array(a.to_vector<float>(), a.shape()); },
                    state.params);
  };
  const Tree one = run(jit(step));
  for (size_t n : {2, 4, 8}) {
    SCOPED_TRACE(std::to_string(n) + " devices");
    const Mesh mesh(testing::first_cpu_devices(n), {"data"});
    auto scope = use_mesh(mesh);
    const Tree many =
        run(jit(step, {.in_shardings = {None, P("data"), P("data")}, .out_shardings = P()}));
    const Difference d = difference(many, one);
    std::printf("tutorial on %zu devices: parameters differ by at most %.3g (rms %.3g)\n", n, d.max,
                d.rms);
    EXPECT_LE(d.max, kMaxBound);
    EXPECT_LE(d.rms, kRmsBound);
  }
}

// After data-parallel training the parameters are replicated over the mesh; evaluate() puts them
// on its one device, which must make them one-device arrays (as jax.device_put), or every
// evaluation step would run partitioned, the whole batch on every device.
TEST(DataParallel, ReplicatedParametersPutOnOneDeviceAreOneDeviceArrays) {
  SKIP_WITHOUT_EIGHT_CPU_DEVICES();
  const models::ImageClassifier m = models::image_classifier("mlp");
  Trainer trainer(m, {.devices = 2});
  data::Loader loader(synthetic_images(), loader_options(m, 16));
  trainer.train_epoch(loader, 1);
  const Array kernel = tree_leaves(trainer.variables())[1];
  EXPECT_EQ(kernel.sharding().str(), "NamedSharding(mesh=Mesh('data': 2), spec=PartitionSpec())");
  const Array on_one = device_put(kernel, devices("cpu")[0]);
  EXPECT_EQ(on_one.sharding().str(), "SingleDeviceSharding(device=CpuDevice(id=0))");
  EXPECT_EQ(on_one.to_vector<float>(), kernel.to_vector<float>());
}

// ---- bad settings ----

template <class E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// A batch or an epoch's last batch the devices do not divide is refused on the epoch's first batch,
// before any step, saying what to choose; so are a device count the process lacks and one below 1.
TEST(DataParallel, SizesTheDevicesDoNotDivideAreRefusedBeforeTheFirstStep) {
  SKIP_WITHOUT_EIGHT_CPU_DEVICES();
  const models::ImageClassifier m = models::image_classifier("mlp");
  {
    Trainer trainer(m, {.devices = 3});
    data::Loader loader(synthetic_images(), loader_options(m, 16));
    const std::string e = error_of<ValueError>([&] { trainer.train_epoch(loader, 1); });
    EXPECT_NE(e.find("data-parallel training on 3 devices: a batch of 16 examples does not split "
                     "evenly over 3 devices; choose a batch size that is a multiple of 3"),
              std::string::npos)
        << e;
    EXPECT_EQ(trainer.state().step.item<int32_t>(), 0);
  }
  {
    Trainer trainer(m, {.devices = 8});
    data::Loader loader(synthetic_images(44), loader_options(m, 16));  // 16, 16, 12
    const std::string e = error_of<ValueError>([&] { trainer.train_epoch(loader, 1); });
    EXPECT_NE(e.find("the last batch of each epoch holds 12 examples (44 examples in batches of "
                     "16), which do not split evenly over 8 devices"),
              std::string::npos)
        << e;
    EXPECT_EQ(trainer.state().step.item<int32_t>(), 0);
  }
  EXPECT_NE(error_of<DeviceNotFound>([&] { Trainer(m, {.devices = 9}); })
                .find("data-parallel training on 9 devices, but 8 cpu device(s) are present; set "
                      "KILN_CPU_DEVICES=9 (or more) before the program starts"),
            std::string::npos);
  EXPECT_NE(error_of<ValueError>([&] { Trainer(m, {.devices = 0}); }).find("devices = 0"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::classification
