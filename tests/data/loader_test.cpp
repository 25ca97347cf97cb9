// The loader: JAX's shuffle order per epoch (reproducible from the seed), every sample once per
// epoch, the partial last batch, normalisation, layouts, errors of its thread reaching next(),
// and clean shutdown mid-epoch. No test depends on timing.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "data/data_test_helpers.hpp"
#include "kiln/data.hpp"
#include "kiln/random.hpp"

namespace kiln {
namespace {

using testing_data::value_error_of;

// n images of h x w (x c) whose pixels are (7 * sample + pixel) % 256; label of sample i is i.
data::Dataset numbered(int64_t n, int64_t h = 2, int64_t w = 3, int64_t c = 0) {
  const int64_t sample = h * w * (c ? c : 1);
  std::vector<uint8_t> pixels(static_cast<size_t>(n * sample));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < sample; ++j)
      pixels[static_cast<size_t>(i * sample + j)] = static_cast<uint8_t>((7 * i + j) % 256);
  std::vector<int32_t> labels(static_cast<size_t>(n));
  std::iota(labels.begin(), labels.end(), 0);
  Shape shape = c ? Shape{n, h, w, c} : Shape{n, h, w};
  return {Array::from_data<uint8_t>(pixels, shape), Array::from_data<int32_t>(labels, {n})};
}

// The labels (= sample indices) of a whole epoch, batch after batch.
std::vector<int32_t> epoch_order(data::Loader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<int32_t> order;
  while (auto batch = loader.next()) {
    auto labels = batch->labels.to_vector<int32_t>();
    order.insert(order.end(), labels.begin(), labels.end());
  }
  return order;
}

TEST(Loader, EpochOrderIsJaxPermutationOfFoldInSeedEpoch) {
  data::Loader loader(numbered(37), {.batch_size = 8, .seed = 42});
  for (int64_t epoch : {0, 1, 5}) {
    auto expected =
        random::permutation(random::fold_in(random::key(42), static_cast<uint32_t>(epoch)), 37)
            .to_vector<int32_t>();
    EXPECT_EQ(epoch_order(loader, epoch), expected) << "epoch " << epoch;
  }
}

TEST(Loader, SameSeedSameBatchesOtherEpochOrSeedDiffers) {
  data::Dataset d = numbered(50);
  data::Loader a(d, {.batch_size = 16, .seed = 3});
  data::Loader b(d, {.batch_size = 16, .seed = 3});
  a.start_epoch(2);
  b.start_epoch(2);
  while (auto x = a.next()) {
    auto y = b.next();
    ASSERT_TRUE(y.has_value());
    EXPECT_EQ(x->size, y->size);
    EXPECT_EQ(x->images.to_vector<float>(), y->images.to_vector<float>());
    EXPECT_EQ(x->labels.to_vector<int32_t>(), y->labels.to_vector<int32_t>());
  }
  EXPECT_FALSE(b.next().has_value());
  EXPECT_NE(epoch_order(a, 0), epoch_order(a, 1));
  data::Loader other_seed(d, {.batch_size = 16, .seed = 4});
  EXPECT_NE(epoch_order(a, 0), epoch_order(other_seed, 0));
}

TEST(Loader, EverySampleOncePerEpoch) {
  data::Loader loader(numbered(103), {.batch_size = 10, .seed = 7});
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    auto order = epoch_order(loader, epoch);
    std::sort(order.begin(), order.end());
    std::vector<int32_t> all(103);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(order, all) << "epoch " << epoch;
  }
}

TEST(Loader, WithoutShuffleTheOrderIsTheDatasets) {
  data::Loader loader(numbered(5), {.batch_size = 2, .shuffle = false});
  EXPECT_EQ(epoch_order(loader, 3), (std::vector<int32_t>{0, 1, 2, 3, 4}));
}

TEST(Loader, LastPartialBatchHasItsTrueSizeUnlessDropped) {
  data::Loader loader(numbered(10), {.batch_size = 4});
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  EXPECT_EQ(loader.size(), 10);
  loader.start_epoch(0);
  std::vector<int64_t> sizes;
  while (auto b = loader.next()) {
    sizes.push_back(b->size);
    EXPECT_EQ(b->images.shape(), (Shape{b->size, 2, 3, 1}));
    EXPECT_EQ(b->labels.shape(), (Shape{b->size}));
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_FALSE(loader.next().has_value());  // and stays done

  data::Loader dropping(numbered(10), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  dropping.start_epoch(0);
  sizes.clear();
  while (auto b = dropping.next()) sizes.push_back(b->size);
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4}));

  data::Loader empty(numbered(0), {.batch_size = 4});
  EXPECT_EQ(empty.batches_per_epoch(), 0);
  empty.start_epoch(0);
  EXPECT_FALSE(empty.next().has_value());
}

TEST(Loader, ImagesAreNormalisedInFloat32) {
  const float m = 0.2860f, s = 0.3530f;  // Fashion-MNIST's pixel mean and deviation
  data::Loader loader(numbered(6), {.batch_size = 6, .mean = m, .std = s});
  loader.start_epoch(0);
  auto batch = loader.next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->images.dtype(), DType::float32);
  auto labels = batch->labels.to_vector<int32_t>();
  auto images = batch->images.to_vector<float>();
  for (size_t i = 0; i < labels.size(); ++i)
    for (int j = 0; j < 6; ++j) {
      const auto v = static_cast<float>((7 * labels[i] + j) % 256);
      EXPECT_EQ(images[i * 6 + static_cast<size_t>(j)], (v / 255.0f - m) / s)
          << "sample " << labels[i] << " pixel " << j;
    }
  // The default is x / 255: 0 -> 0, 255 -> 1.
  std::vector<uint8_t> px = {0, 255};
  data::Dataset two{Array::from_data<uint8_t>(px, {1, 1, 2}),
                    Array::from_data<int32_t>(std::vector<int32_t>{0}, {1})};
  data::Loader plain(two, {.batch_size = 1});
  plain.start_epoch(0);
  EXPECT_EQ(plain.next()->images.to_vector<float>(), (std::vector<float>{0.0f, 1.0f}));
}

TEST(Loader, Layouts) {
  data::Loader flat(numbered(4), {.batch_size = 3, .layout = data::Layout::flat});
  flat.start_epoch(0);
  EXPECT_EQ(flat.next()->images.shape(), (Shape{3, 6}));
  data::Loader channels(numbered(4, 2, 3, 2), {.batch_size = 3});
  channels.start_epoch(0);
  EXPECT_EQ(channels.next()->images.shape(), (Shape{3, 2, 3, 2}));
  data::Loader channels_flat(numbered(4, 2, 3, 2), {.batch_size = 3, .layout = data::Layout::flat});
  channels_flat.start_epoch(0);
  EXPECT_EQ(channels_flat.next()->images.shape(), (Shape{3, 12}));
}

TEST(Loader, AugmentRunsOnEveryBatch) {
  data::LoaderOptions o{.batch_size = 4, .shuffle = false};
  o.augment = [](std::span<float> images, std::span<int32_t> labels) {
    for (float& x : images) x = 1.0f - x;
    for (int32_t& l : labels) l += 100;
  };
  data::Loader loader(numbered(5), o);
  EXPECT_EQ(epoch_order(loader, 0), (std::vector<int32_t>{100, 101, 102, 103, 104}));
  loader.start_epoch(0);
  EXPECT_EQ(loader.next()->images.to_vector<float>()[1], 1.0f - 1.0f / 255.0f);
}

TEST(Loader, AnExceptionOfTheLoadersThreadReachesNextAfterTheBatchesBeforeIt) {
  int calls = 0;
  data::LoaderOptions o{.batch_size = 2, .shuffle = false, .prefetch = 3};
  o.augment = [&calls](std::span<float>, std::span<int32_t>) {
    if (++calls == 2) throw std::runtime_error("augment failed on batch 1");
  };
  data::Loader loader(numbered(8), o);
  loader.start_epoch(0);
  auto first = loader.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->labels.to_vector<int32_t>(), (std::vector<int32_t>{0, 1}));
  try {
    loader.next();
    ADD_FAILURE() << "next() did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "augment failed on batch 1");
  }
  EXPECT_FALSE(loader.next().has_value());  // the failure ended the epoch
  // A new epoch starts afresh (the callback no longer throws after its second call).
  EXPECT_EQ(epoch_order(loader, 1), (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(Loader, StartingAnEpochMidwayDiscardsTheOldOne) {
  data::Loader loader(numbered(40), {.batch_size = 4, .seed = 1});
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next().has_value());
  ASSERT_TRUE(loader.next().has_value());
  auto expected = random::permutation(random::fold_in(random::key(1), 1), 40).to_vector<int32_t>();
  EXPECT_EQ(epoch_order(loader, 1), expected);
}

TEST(Loader, DestroyedMidEpochOrBeforeAnyEpochItJoinsItsThread) {
  // The queue is full (prefetch 1) and the thread waits for room when the loader goes.
  for (int round = 0; round < 20; ++round) {
    data::Loader loader(numbered(64), {.batch_size = 4, .prefetch = 1});
    loader.start_epoch(round);
    ASSERT_TRUE(loader.next().has_value());
  }
  { data::Loader never_started(numbered(8)); }
  // A batch outlives its loader: its arrays own their memory.
  std::optional<data::Batch> kept;
  {
    data::Loader loader(numbered(8), {.batch_size = 8, .shuffle = false});
    loader.start_epoch(0);
    kept = loader.next();
  }
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->labels.to_vector<int32_t>()[7], 7);
}

TEST(Loader, MovedLoaderKeepsWorking) {
  data::Loader a(numbered(6), {.batch_size = 4, .shuffle = false});
  a.start_epoch(0);
  data::Loader b = std::move(a);
  auto batch = b.next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->labels.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_NE(value_error_of([&] { a.next(); }).find("moved-from"), std::string::npos);
}

TEST(Loader, MisuseIsAValueError) {
  data::Dataset d = numbered(4);
  EXPECT_EQ(value_error_of([&] {
              data::Loader l(d, {.batch_size = 4});
              l.next();
            }),
            "kiln::data::Loader: next() before start_epoch(); call loader.start_epoch(epoch) at "
            "the start of each epoch, which fixes its order");
  EXPECT_EQ(value_error_of([&] { data::Loader(d, {.batch_size = 0}); }),
            "kiln::data::Loader: batch_size is 0; it must be at least 1");
  EXPECT_EQ(value_error_of([&] { data::Loader(d, {.prefetch = 0}); }),
            "kiln::data::Loader: prefetch is 0; it must be at least 1");
  EXPECT_NE(value_error_of([&] {
              data::Loader(d, {.std = 0.0f});
            }).find("needs a finite mean and a finite, non-zero std"),
            std::string::npos);
  EXPECT_EQ(value_error_of([&] { data::Loader(d).start_epoch(-1); }),
            "kiln::data::Loader: epoch -1 is out of range; epochs are 0 .. 2^32 - 1 (fold_in "
            "takes a uint32)");
  data::Dataset bad_labels{d.images, Array::from_data<int32_t>(std::vector<int32_t>{0, 1}, {2})};
  EXPECT_EQ(value_error_of([&] { data::Loader{bad_labels}; }),
            "kiln::data::Loader: labels are int32[2] for 4 images; they must be int32[4]");
  data::Dataset float_images{Array::from_data<float>(std::vector<float>(4), {4, 1}), d.labels};
  EXPECT_EQ(value_error_of([&] { data::Loader{float_images}; }),
            "kiln::data::Loader: images are float32[4,1]; the loader takes uint8 [N, ...] images, "
            "as load_fashion_mnist gives them");
  data::Dataset rank2{Array::from_data<uint8_t>(std::vector<uint8_t>(4), {4, 1}), d.labels};
  EXPECT_EQ(value_error_of([&] { data::Loader{rank2}; }),
            "kiln::data::Loader: Layout::nhwc needs images [N, H, W] or [N, H, W, C], not [4,1]; "
            "use Layout::flat");
}

}  // namespace
}  // namespace kiln
