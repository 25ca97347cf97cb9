// classification::evaluate and Predictor on a PJRT plugin (kiln's conformance plugin, kilncpu):
// the inference graph is exported to StableHLO, imported by the plugin and run there, for the MLP
// and for the CNN (convolution and reduce_window through export -> plugin -> import). The plugin
// is named by the environment, read once per process, so these cases run in a ctest invocation of
// their own (tests/CMakeLists.txt: ClassificationOnPlugin) and are skipped without it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "kiln/classification.hpp"
#include "kiln/data.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/models.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"

namespace kiln::classification {
namespace {

constexpr int64_t kImages = 20;  // batches of 8: two full and a partial one (a second shape)

// uint8 [kImages, 28, 28] images with structure in them, and labels 0..9.
data::Dataset synthetic_images() {
  std::vector<int32_t> pixels;
  for (int64_t i = 0; i < kImages; ++i)
    for (int64_t r = 0; r < 28; ++r)
      for (int64_t c = 0; c < 28; ++c)
        pixels.push_back(static_cast<int32_t>((i * 37 + r * c + 5 * r + (i % 3) * c * c) % 256));
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < kImages; ++i) labels.push_back(static_cast<int32_t>((i * 7) % 10));
  return {astype(array(pixels, {kImages, 28, 28}), uint8), array(labels, {kImages})};
}

data::LoaderOptions loader_options(const models::ImageClassifier& m) {
  return {.batch_size = 8,
          .shuffle = false,
          .layout = m.layout,
          .mean = m.input_mean,
          .std = m.input_std};
}

// The whole dataset as one batch laid out for the model, normalised as the loader does.
Array model_input(const models::ImageClassifier& m, const data::Dataset& d) {
  Array x = (astype(d.images, float32) / 255.0 - m.input_mean) / m.input_std;
  return m.layout == data::Layout::flat ? reshape(x, {kImages, 28 * 28})
                                        : reshape(x, {kImages, 28, 28, 1});
}

Tree initial_variables(const models::ImageClassifier& m) {
  const Array example =
      m.layout == data::Layout::flat ? zeros({1, 28 * 28}) : zeros({1, 28, 28, 1});
  return m.init(random::key(3), example);
}

Device plugin_device() {
  const char* env = std::getenv("PJRT_NAMES_AND_LIBRARY_PATHS");
  if (env == nullptr || std::string(env).rfind("kilncpu:", 0) != 0) return {};
  return devices("kilncpu").front();
}

class ClassificationOnPlugin : public ::testing::TestWithParam<std::string> {};

TEST_P(ClassificationOnPlugin, ProbabilitiesMatchTheCpus) {
  const Device plugin = plugin_device();
  if (plugin.backend() == nullptr)
    GTEST_SKIP() << "run with PJRT_NAMES_AND_LIBRARY_PATHS=kilncpu:<plugin> (ctest does)";
  const models::ImageClassifier m = models::image_classifier(GetParam());
  const Tree variables = initial_variables(m);
  const Array x = model_input(m, synthetic_images());

  Predictor on_plugin(m, variables, {.device = plugin});
  EXPECT_EQ(on_plugin.device(), plugin);
  const Array p = on_plugin.probabilities(x);
  EXPECT_EQ(p.device(), default_device());  // returned to the host
  ASSERT_EQ(p.shape(), Shape({kImages, 10}));

  // Reference: the model applied eagerly on the cpu, softmax in float64 on the host. The plugin
  // imports the exported graph and runs kiln's cpu kernels, so it matches the cpu bit for bit.
  const std::vector<float> logits = m.apply(variables, x, false, Array()).to_vector<float>();
  const std::vector<float> got = p.to_vector<float>();
  const std::vector<float> cpu = predict_probabilities(m, variables, x).to_vector<float>();
  for (int64_t i = 0; i < kImages; ++i) {
    double z = 0;
    for (int64_t k = 0; k < 10; ++k) z += std::exp(static_cast<double>(logits[i * 10 + k]));
    for (int64_t k = 0; k < 10; ++k) {
      const double want = std::exp(static_cast<double>(logits[i * 10 + k])) / z;
      EXPECT_NEAR(got[i * 10 + k], want, 1e-6) << "image " << i << " class " << k;
      EXPECT_EQ(got[i * 10 + k], cpu[i * 10 + k]) << "image " << i << " class " << k;
    }
  }
}

TEST_P(ClassificationOnPlugin, EvaluationMatchesTheCpus) {
  const Device plugin = plugin_device();
  if (plugin.backend() == nullptr)
    GTEST_SKIP() << "run with PJRT_NAMES_AND_LIBRARY_PATHS=kilncpu:<plugin> (ctest does)";
  const models::ImageClassifier m = models::image_classifier(GetParam());
  const Tree variables = initial_variables(m);
  const data::Dataset d = synthetic_images();

  data::Loader plugin_loader(d, loader_options(m));
  const Evaluation e = evaluate(m, variables, plugin_loader, {.device = plugin});
  data::Loader cpu_loader(d, loader_options(m));
  const Evaluation c = evaluate(m, variables, cpu_loader);

  // Reference: argmax and cross-entropy of the eager cpu logits, counted in float64 here.
  const std::vector<float> logits =
      m.apply(variables, model_input(m, d), false, Array()).to_vector<float>();
  const std::vector<int32_t> labels = d.labels.to_vector<int32_t>();
  std::vector<int64_t> confusion(100, 0);
  double loss = 0;
  int64_t correct = 0;
  for (int64_t i = 0; i < kImages; ++i) {
    const float* l = &logits[static_cast<size_t>(i * 10)];
    int64_t best = 0;
    double z = 0;
    for (int64_t k = 0; k < 10; ++k) {
      if (l[k] > l[best]) best = k;
      z += std::exp(static_cast<double>(l[k]));
    }
    loss += std::log(z) - static_cast<double>(l[labels[static_cast<size_t>(i)]]);
    ++confusion[static_cast<size_t>(labels[static_cast<size_t>(i)] * 10 + best)];
    correct += best == labels[static_cast<size_t>(i)];
  }
  EXPECT_EQ(e.examples, kImages);
  EXPECT_EQ(e.confusion, confusion);
  EXPECT_EQ(e.confusion, c.confusion);
  EXPECT_EQ(e.accuracy, static_cast<double>(correct) / kImages);
  EXPECT_EQ(e.accuracy, c.accuracy);
  EXPECT_EQ(e.mean_loss, c.mean_loss);  // the same kernels, summed in the same order
  EXPECT_NEAR(e.mean_loss, loss / kImages, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Models, ClassificationOnPlugin, ::testing::Values("mlp", "cnn"));

// The conformance plugin posing as tt-xla (TT_PJRT_PLUGIN_DIR, KILN_PJRT_TEST_PLATFORM_NAME=tt):
// inference is compiled for the device's platform, so tt's support check applies. The MLP runs;
// the CNN's max pooling (reduce_window_max) is refused before the plugin sees it, naming the op.
TEST(ClassificationOnTt, TheMlpRunsAndTheCnnsPoolingIsRefused) {
  const char* name = std::getenv("KILN_PJRT_TEST_PLATFORM_NAME");
  if (std::getenv("TT_PJRT_PLUGIN_DIR") == nullptr || name == nullptr || std::string(name) != "tt")
    GTEST_SKIP() << "run with TT_PJRT_PLUGIN_DIR and KILN_PJRT_TEST_PLATFORM_NAME=tt (ctest does)";
  const Device tt = devices("tt").front();
  const data::Dataset d = synthetic_images();

  const models::ImageClassifier mlp = models::image_classifier("mlp");
  const Tree mlp_variables = initial_variables(mlp);
  data::Loader mlp_loader(d, loader_options(mlp));
  const Evaluation on_tt = evaluate(mlp, mlp_variables, mlp_loader, {.device = tt});
  data::Loader cpu_loader(d, loader_options(mlp));
  const Evaluation on_cpu = evaluate(mlp, mlp_variables, cpu_loader);
  EXPECT_EQ(on_tt.confusion, on_cpu.confusion);
  EXPECT_EQ(on_tt.mean_loss, on_cpu.mean_loss);

  const models::ImageClassifier cnn = models::image_classifier("cnn");
  const Tree cnn_variables = initial_variables(cnn);
  data::Loader cnn_loader(d, loader_options(cnn));
  try {
    evaluate(cnn, cnn_variables, cnn_loader, {.device = tt});
    ADD_FAILURE() << "the cnn ran on tt";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("the tt backend cannot run reduce_window_max"),
              std::string::npos)
        << e.what();
    // No dtype would help, so the remedy does not suggest converting one.
    EXPECT_NE(std::string(e.what()).find("tt has no reduce_window_max at all. Run this "
                                         "computation on the cpu"),
              std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).find("astype"), std::string::npos) << e.what();
  }
  try {
    Predictor(cnn, cnn_variables, {.device = tt}).probabilities(model_input(cnn, d));
    ADD_FAILURE() << "the cnn ran on tt";
  } catch (const Unsupported& e) {
    EXPECT_NE(std::string(e.what()).find("reduce_window_max"), std::string::npos) << e.what();
  }
}

// Without options, inference stays on the cpu (what `kiln train` evaluates on).
TEST(ClassificationInference, DefaultsToTheCpu) {
  EXPECT_EQ(InferenceOptions{}.device, default_device());
  const models::ImageClassifier m = models::image_classifier("mlp");
  Predictor p(m, initial_variables(m));
  EXPECT_EQ(p.device(), default_device());
}

}  // namespace
}  // namespace kiln::classification
