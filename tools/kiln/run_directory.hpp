// The output directory of `kiln train` as a unit: one run per directory, one process at a time,
// and one commit per epoch (docs/training.md, "Run directories").
//
//   R/params.msgpack, R/metrics.csv, R/training.svg, R/confusion_matrix.csv   the last epoch's
//   R/checkpoints/checkpoint_<step>                                             its train state
//   R/run.cfg                                                                   the settings
//   R/.lock                                                                     flock(2)-ed
//
// Commit: every file of an epoch is first written complete (fsync-ed) under a staged name,
// `.params.msgpack.step<S>`; then the checkpoint of step S is written (atomically) — that is the
// commit point; then the staged files are renamed over the others. A run that stops before the
// checkpoint leaves the previous epoch intact (a full disk fails while staging); one killed
// between the checkpoint and the renames is rolled forward by the next `kiln train --resume`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace kiln_tool {

// What a run was started with: what --resume continues with.
struct RunConfig {
  std::string dataset;
  std::string model;
  int64_t epochs = 0;
  int64_t batch_size = 0;
  double lr = 0;
  uint32_t seed = 0;
  int64_t limit = 0;  // 0: the whole training set
};

class RunDirectory {
 public:
  // The names of a run's files (what --overwrite deletes; anything else in the directory stays).
  static const std::vector<std::string>& file_names();

  // Touches nothing: kiln::Error when `dir` cannot hold a new run (it is a file, or holds a run:
  // the message names --resume and --overwrite), or is locked by a running kiln train.
  static void check_new(const std::filesystem::path& dir);
  // The configuration of the run in `dir`, touching nothing; kiln::Error when there is none.
  static RunConfig read_config(const std::filesystem::path& dir);

  // Creates `dir` and takes its lock (kiln::Error naming the lock when another process holds it).
  // Then: `fresh` checks again, under the lock, that the directory holds no run; `overwrite`
  // deletes the run's files; `resume` completes an epoch whose commit was interrupted and deletes
  // files staged for an epoch that was not committed.
  enum class Mode { fresh, overwrite, resume };
  RunDirectory(std::filesystem::path dir, Mode mode);
  ~RunDirectory();  // releases the lock (the file stays, as flock's lock files do)
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::filesystem::path& path() const { return dir_; }
  std::filesystem::path checkpoints() const { return dir_ / "checkpoints"; }
  void write_config(const RunConfig& c) const;

  // Stages `text` as the next commit's version of file `name` (one of file_names()).
  void stage(const std::string& name, const std::vector<uint8_t>& bytes, int64_t step);
  // After the checkpoint of `step` is written: renames the staged files into place.
  void publish(int64_t step);
  // Removes what was staged and not published (best effort: after a failure).
  void discard_staged() noexcept;

 private:
  void roll_forward_or_discard();
  std::filesystem::path dir_;
  int lock_fd_ = -1;
  std::vector<std::string> staged_;  // names staged since the last publish
};

// The lines of a text file (run.cfg, metrics.csv); kiln::Error naming it when it cannot be read.
std::vector<std::string> read_lines(const std::filesystem::path& path);

}  // namespace kiln_tool
