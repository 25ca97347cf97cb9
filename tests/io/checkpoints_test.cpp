// Checkpoint directories (kiln/checkpoints.hpp): names, keep, overwrite, restoring a given step,
// the errors (missing directory, no checkpoint, a corrupt latest file) and temporary files left by
// a writer that died. The resume test and the kill test are programs of their own
// (tests/io/checkpoint_programs), registered in tests/CMakeLists.txt.
#include "kiln/checkpoints.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "io/io_test_helpers.hpp"
#include "kiln/kiln.hpp"
#include "kiln/optim.hpp"
#include "kiln/serialization.hpp"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using namespace kiln::checkpoints;
using testing_io::error_of;
using testing_io::f32;
using testing_io::i32;

// A tree whose values say which step it was saved at.
Tree tree_at(int32_t step) {
  return Tree::dict(
      {{"step", i32({step}, {})}, {"w", f32({static_cast<float>(step), 0.5f, -1.0f}, {3})}});
}
Tree tree_template() {
  return tree_at(0);
}
int32_t step_in(const Tree& t) {
  return t["step"].leaf().item<int32_t>();
}

class Checkpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("kiln_ckpt_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    dir_ = root_ / "run" / "ckpts";  // not created: save_checkpoint makes it
  }
  void TearDown() override { fs::remove_all(root_); }
  std::vector<std::string> listing() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path root_, dir_;
};

TEST_F(Checkpoints, NamesFilesPrefixStepAndCreatesTheDirectory) {
  fs::path p = save_checkpoint(dir_, tree_at(7), 7);
  EXPECT_EQ(p, dir_ / "checkpoint_7");
  EXPECT_EQ(listing(), std::vector<std::string>{"checkpoint_7"});
  // The file is exactly serialization::to_bytes: Flax's restore_checkpoint reads it.
  EXPECT_EQ(serialization::read_file(p), serialization::to_bytes(tree_at(7)));
  save_checkpoint(dir_, tree_at(9), 9, {.prefix = "model_", .keep = 1});
  EXPECT_EQ(listing(), (std::vector<std::string>{"checkpoint_7", "model_9"}));
  EXPECT_EQ(latest_checkpoint(dir_), dir_ / "checkpoint_7");
  EXPECT_EQ(latest_checkpoint(dir_, "model_"), dir_ / "model_9");
}

TEST_F(Checkpoints, KeepsTheNewestKeep) {
  for (int s : {1, 2, 5, 10, 11}) save_checkpoint(dir_, tree_at(s), s, {.keep = 3});
  // Steps sort as numbers, not strings (checkpoint_10 after checkpoint_5).
  EXPECT_EQ(listing(),
            (std::vector<std::string>{"checkpoint_10", "checkpoint_11", "checkpoint_5"}));
  EXPECT_EQ(available_steps(dir_), (std::vector<int64_t>{5, 10, 11}));
  save_checkpoint(dir_, tree_at(12), 12);  // keep = 1 by default, as in Flax
  EXPECT_EQ(listing(), std::vector<std::string>{"checkpoint_12"});
  EXPECT_NE(error_of([&] { save_checkpoint(dir_, tree_at(13), 13, {.keep = 0}); }), "");
}

TEST_F(Checkpoints, RefusesAStepNotNewerThanTheLatestUnlessOverwrite) {
  save_checkpoint(dir_, tree_at(5), 5, {.keep = 5});
  save_checkpoint(dir_, tree_at(8), 8, {.keep = 5});
  for (int s : {8, 6, 2}) {
    std::string msg = error_of([&] { save_checkpoint(dir_, tree_at(s), s, {.keep = 5}); });
    EXPECT_NE(msg.find("step " + std::to_string(s) + " is not newer than the latest checkpoint " +
                       (dir_ / "checkpoint_8").string()),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("overwrite"), std::string::npos) << msg;
  }
  EXPECT_EQ(listing(), (std::vector<std::string>{"checkpoint_5", "checkpoint_8"}));
  // overwrite: the same step is replaced...
  save_checkpoint(dir_, tree_at(80), 8, {.keep = 5, .overwrite = true});
  EXPECT_EQ(restore_checkpoint(dir_, tree_template())["w"].leaf().to_vector<float>()[0], 80.f);
  // ...and an older one becomes the latest, the newer ones deleted (Flax's rule).
  save_checkpoint(dir_, tree_at(6), 6, {.keep = 5, .overwrite = true});
  EXPECT_EQ(listing(), (std::vector<std::string>{"checkpoint_5", "checkpoint_6"}));
  // keep counts what is left once the newer ones are gone: overwriting step 2 of 1..4 with keep 3
  // leaves 1 and 2, as in Flax.
  fs::remove_all(dir_);
  for (int s : {1, 2, 3, 4}) save_checkpoint(dir_, tree_at(s), s, {.keep = 4});
  save_checkpoint(dir_, tree_at(20), 2, {.keep = 3, .overwrite = true});
  EXPECT_EQ(listing(), (std::vector<std::string>{"checkpoint_1", "checkpoint_2"}));
}

TEST_F(Checkpoints, RestoresTheLatestOrAGivenStep) {
  for (int s : {3, 4, 5}) save_checkpoint(dir_, tree_at(s), s, {.keep = 3});
  EXPECT_EQ(step_in(restore_checkpoint(dir_, tree_template())), 5);
  EXPECT_EQ(step_in(restore_checkpoint(dir_, tree_template(), 3)), 3);
  EXPECT_TRUE(restore_checkpoint(dir_, tree_template(), 4).equals(tree_at(4)));
  // A checkpoint file may be named directly, as in Flax.
  EXPECT_EQ(step_in(restore_checkpoint(dir_ / "checkpoint_4", tree_template())), 4);
  std::string msg = error_of([&] { (void)restore_checkpoint(dir_, tree_template(), 7); });
  EXPECT_NE(msg.find("no checkpoint of step 7 in " + dir_.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("steps present: 3, 4, 5"), std::string::npos) << msg;
}

TEST_F(Checkpoints, RestoreValidatesAgainstTheTemplate) {
  save_checkpoint(dir_, tree_at(1), 1);
  Tree wrong = Tree::dict({{"step", i32({0}, {})}, {"w", f32({0, 0}, {2})}});
  std::string msg = error_of([&] { (void)restore_checkpoint(dir_, wrong); });
  EXPECT_NE(msg.find((dir_ / "checkpoint_1").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("./w"), std::string::npos) << msg;
  EXPECT_NE(msg.find("float32[2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("float32[3]"), std::string::npos) << msg;
}

TEST_F(Checkpoints, LenientRestoreDropsExtraKeysAndTakesShapesFromTheFile) {
  // What Flax writes for a subclassed TrainState: an extra field the template does not have.
  Tree saved =
      Tree::dict({{"step", i32({2}, {})}, {"w", f32({1, 2}, {2})}, {"metrics", f32({0.5f}, {})}});
  save_checkpoint(dir_, saved, 2);
  std::string msg = error_of([&] { (void)restore_checkpoint(dir_, tree_template()); });
  EXPECT_NE(msg.find((dir_ / "checkpoint_2").string() + ": the state dict has keys {'metrics'} "
                                                        "which the template does not have at "
                                                        "path ."),
            std::string::npos)
      << msg;
  Tree t =
      restore_checkpoint(dir_, tree_template(), std::nullopt, kDefaultPrefix, {.strict = false});
  EXPECT_FALSE(t.contains("metrics"));
  EXPECT_EQ(t["w"].leaf().shape(), (Shape{2}));
  EXPECT_EQ(step_in(t), 2);
}

TEST_F(Checkpoints, MissingDirectoryOrNoCheckpointIsAnErrorNamingTheDirectory) {
  EXPECT_EQ(latest_checkpoint(dir_), std::nullopt);
  EXPECT_TRUE(available_steps(dir_).empty());
  std::string msg = error_of([&] { (void)restore_checkpoint(dir_, tree_template()); });
  EXPECT_NE(msg.find("checkpoint directory " + dir_.string() + " does not exist"),
            std::string::npos)
      << msg;
  fs::create_directories(dir_);
  std::ofstream(dir_ / "notes.txt") << "not a checkpoint";
  std::ofstream(dir_ / "checkpoint_tmp") << "Flax's temporary name";
  std::ofstream(dir_ / "checkpoint_007") << "not the canonical spelling of a step";
  msg = error_of([&] { (void)restore_checkpoint(dir_, tree_template()); });
  EXPECT_NE(msg.find("no checkpoint in " + dir_.string()), std::string::npos) << msg;
}

TEST_F(Checkpoints, CorruptLatestIsAnErrorNamingTheFile) {
  save_checkpoint(dir_, tree_at(1), 1, {.keep = 2});
  save_checkpoint(dir_, tree_at(2), 2, {.keep = 2});
  auto bytes = serialization::read_file(dir_ / "checkpoint_2");
  bytes.resize(bytes.size() / 2);
  std::ofstream(dir_ / "checkpoint_2", std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  std::string msg = error_of([&] { (void)restore_checkpoint(dir_, tree_template()); });
  EXPECT_EQ(msg.rfind((dir_ / "checkpoint_2").string(), 0), 0u) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  // Not silently replaced by an older one; that one is still there to be asked for.
  EXPECT_EQ(step_in(restore_checkpoint(dir_, tree_template(), 1)), 1);
}

TEST_F(Checkpoints, StaleTemporaryFilesAreIgnoredAndRemoved) {
  save_checkpoint(dir_, tree_at(1), 1);
  // What serialization::write_file leaves when its process is killed before the rename: a partial
  // file named for the destination and the writer's pid. This pid is of a child that has exited.
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale = ".checkpoint_2.tmp." + std::to_string(dead) + ".0";
  std::ofstream(dir_ / stale) << "partial";
  // One of a live process (this one) may be a write in progress in another thread: kept.
  const std::string live = ".checkpoint_3.tmp." + std::to_string(::getpid()) + ".99";
  std::ofstream(dir_ / live) << "in progress";
  EXPECT_EQ(available_steps(dir_), std::vector<int64_t>{1});
  EXPECT_EQ(step_in(restore_checkpoint(dir_, tree_template())), 1);

  save_checkpoint(dir_, tree_at(2), 2);
  EXPECT_EQ(listing(), (std::vector<std::string>{live, "checkpoint_2"}));
}

TEST_F(Checkpoints, TrainStateRoundTrip) {
  Tree params = Tree::dict({{"params", Tree::dict({{"w", f32({1, 2}, {2})}})}});
  ApplyFn apply = [](const Tree& p, const Array& x) { return x * p["params"]["w"].leaf(); };
  TrainState state = TrainState::create(apply, params, optim::adam(0.1));
  state = state.apply_gradients(Tree::dict({{"params", Tree::dict({{"w", f32({1, -1}, {2})}})}}));
  EXPECT_EQ(save_train_state(dir_, state), dir_ / "checkpoint_1");

  TrainState fresh = TrainState::create(apply, params, optim::adam(0.1));
  TrainState resumed = restore_train_state(dir_, fresh);
  EXPECT_EQ(resumed.step.item<int32_t>(), 1);
  EXPECT_TRUE(resumed.params.equals(state.params));
  EXPECT_TRUE(resumed.opt_state.equals(state.opt_state));
  EXPECT_EQ(resumed.apply_fn, fresh.apply_fn);  // code rides along from `like`
  EXPECT_EQ(resumed.tx, fresh.tx);
  // An optimizer with another state layout does not fit the file.
  TrainState other = TrainState::create(apply, params, optim::sgd(0.1, 0.9));
  EXPECT_NE(error_of([&] { restore_train_state(dir_, other); }).find("opt_state"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln
