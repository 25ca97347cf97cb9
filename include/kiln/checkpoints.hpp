// Checkpoint directories like flax.training.checkpoints (its msgpack path): one file per step,
// `<dir>/<prefix><step>`, each a Flax msgpack file (serialization::to_bytes), the newest `keep`
// kept.
//
//   kiln::checkpoints::save_checkpoint("runs/a", tree, step, {.keep = 3});
//   kiln::Tree t = kiln::checkpoints::restore_checkpoint("runs/a", template_tree);  // the latest
//
// Crash safety: a checkpoint is written to a temporary file, fsync-ed, renamed into place and the
// directory fsync-ed (serialization::write_file) before any older checkpoint is deleted, so at
// every instant the directory holds a complete latest checkpoint. Temporary files left by a writer
// that died are never taken for checkpoints and are removed by the next save.
//
// Differences from Flax: steps are integers; restoring from a directory without checkpoints is an
// error (Flax returns the template unchanged, which silently restarts training from scratch); and
// restore checks keys, shapes and dtypes as serialization::from_bytes does, unless given
// RestoreOptions{.strict = false} (Flax's behaviour: extra keys dropped, arrays as saved).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kiln/serialization.hpp"
#include "kiln/train_state.hpp"
#include "kiln/tree.hpp"

namespace kiln::checkpoints {

inline constexpr const char* kDefaultPrefix = "checkpoint_";

struct SaveOptions {
  std::string prefix = kDefaultPrefix;  // file name before the step
  int keep = 1;                         // how many of the newest checkpoints to keep (>= 1)
  // Replace a checkpoint of this step and delete newer ones (Flax's overwrite); without it a step
  // that is not newer than the latest checkpoint is refused.
  bool overwrite = false;
};

// Writes `target` to `dir/<prefix><step>` (creating `dir`), then deletes the checkpoints beyond the
// newest `keep` (and, with overwrite, those newer than `step`). Returns the path written.
// kiln::Error when the step is not newer than the latest and overwrite is off, or on I/O failure.
std::filesystem::path save_checkpoint(const std::filesystem::path& dir, const Tree& target,
                                      int64_t step, const SaveOptions& options = {});

// Restores the checkpoint of `step` (default: the latest) against `templ`, validated as
// serialization::from_bytes does (keys, shapes, dtypes, or Flax's lenient rules with
// {.strict = false}; errors name the file and the path). `dir` may also be a checkpoint file.
// kiln::Error naming the directory when there is none.
Tree restore_checkpoint(const std::filesystem::path& dir, const Tree& templ,
                        std::optional<int64_t> step = std::nullopt,
                        const std::string& prefix = kDefaultPrefix,
                        const serialization::RestoreOptions& options = {});

// The newest checkpoint in `dir` (none when `dir` is missing or holds none).
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& dir,
                                                       const std::string& prefix = kDefaultPrefix);
// The steps of the checkpoints in `dir`, ascending. Only names `<prefix><step>` count; temporary
// files and anything else are ignored.
std::vector<int64_t> available_steps(const std::filesystem::path& dir,
                                     const std::string& prefix = kDefaultPrefix);

// ---- TrainState ----
//
// A TrainState is saved as Flax saves it, {'step', 'params', 'opt_state'}; apply_fn and tx are
// code, not data, so a restore takes them from a state built the same way (`like`, typically
// TrainState::create with the same model and optimizer).

// Saves tree_traits<TrainState>::to_tree(state) under the state's own step.
std::filesystem::path save_train_state(const std::filesystem::path& dir, const TrainState& state,
                                       const SaveOptions& options = {});
// `like` with step, params and opt_state taken from `restored` (a tree restored against
// tree_traits<TrainState>::to_tree(like)).
TrainState restore_train_state(const TrainState& like, const Tree& restored);
// restore_checkpoint against `like`'s tree, then the above.
TrainState restore_train_state(const std::filesystem::path& dir, const TrainState& like,
                               std::optional<int64_t> step = std::nullopt,
                               const std::string& prefix = kDefaultPrefix,
                               const serialization::RestoreOptions& options = {});

}  // namespace kiln::checkpoints
