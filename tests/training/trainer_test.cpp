// classification::Trainer donates its state to the jitted train step (docs/tracing.md,
// "Donation"): the parameters and Adam's moments are updated in their own buffers.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/classification.hpp"
#include "kiln/data.hpp"
#include "kiln/error.hpp"
#include "kiln/models.hpp"
#include "kiln/ops.hpp"
#include "kiln/tree.hpp"

namespace kiln::classification {
namespace {

constexpr int64_t kImages = 24;  // three batches of 8

data::Dataset synthetic_images() {
  std::vector<int32_t> pixels;
  for (int64_t i = 0; i < kImages; ++i)
    for (int64_t p = 0; p < 28 * 28; ++p)
      pixels.push_back(static_cast<int32_t>((i * 37 + p * 11 + (i % 3) * p) % 256));
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < kImages; ++i) labels.push_back(static_cast<int32_t>((i * 7) % 10));
  return {astype(array(pixels, {kImages, 28, 28}), uint8), array(labels, {kImages})};
}

// A handle on the state from before an epoch (a copy of the TrainState shares its arrays) reads
// as donated after it, naming the train step; a copy of its arrays' bytes stays valid and differs
// from the trained parameters. (That a donated Adam loop computes the undonated loop's bits is
// pinned in tests/backend/donation_test.cpp and tests/transforms/donation_test.cpp; `kiln train`
// writes the same params.msgpack either way.)
TEST(Trainer, AnEpochDonatesTheStateToTheTrainStep) {
  const data::Dataset images = synthetic_images();
  const data::LoaderOptions options{
      .batch_size = 8, .shuffle = false, .layout = data::Layout::flat};
  Trainer trainer(models::image_classifier("mlp"), {.learning_rate = 1e-3, .seed = 0});
  const Tree before = trainer.variables();
  const std::vector<float> kept = tree_leaves(before)[0].to_vector<float>();

  data::Loader loader(images, options);
  trainer.train_epoch(loader, 0);
  EXPECT_EQ(trainer.state().step.item<int32_t>(), 3);
  try {
    (void)tree_leaves(before)[0].to_vector<float>();
    ADD_FAILURE() << "the parameters from before the epoch are still readable";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("donated"), std::string::npos) << e.what();
  }
  const std::vector<float> trained = tree_leaves(trainer.variables())[0].to_vector<float>();
  ASSERT_EQ(trained.size(), kept.size());
  EXPECT_NE(trained, kept);
}

// A learning rate of 1e30 sends the parameters past float32's range within a few steps: the epoch
// stops at the first non-finite loss with a FloatingPointError naming the step and the epoch,
// instead of training on NaN to the end.
TEST(Trainer, ANonFiniteLossStopsTheEpoch) {
  const data::Dataset images = synthetic_images();
  const data::LoaderOptions options{
      .batch_size = 8, .shuffle = false, .layout = data::Layout::flat};
  Trainer trainer(models::image_classifier("mlp"), {.learning_rate = 1e30, .seed = 0});
  data::Loader loader(images, options);
  try {
    trainer.train_epoch(loader, 5);
    ADD_FAILURE() << "an epoch at lr 1e30 ended normally";
  } catch (const FloatingPointError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("training diverged: the loss of step ", 0), 0u) << m;
    EXPECT_NE(m.find("(epoch 5, batch "), std::string::npos) << m;
    EXPECT_TRUE(m.find(") is nan") != std::string::npos || m.find(") is inf") != std::string::npos)
        << m;
  }
  EXPECT_LE(trainer.state().step.item<int32_t>(), 3);
}

}  // namespace
}  // namespace kiln::classification
