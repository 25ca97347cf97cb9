// Checkpoint directories (flax.training.checkpoints, msgpack path) on top of serialization's atomic
// write_file and from_bytes.
//
// The order of operations is what makes a directory survive a kill at any instant: the new file is
// made durable first (write_file: temporary file, fsync, rename, directory fsync), and only then
// are old checkpoints deleted. A kill before the rename leaves a temporary file, which listing
// ignores and the next save removes; a kill after it leaves at most one checkpoint more than
// `keep`, which the next save trims.
#include "kiln/checkpoints.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <system_error>

#include "kiln/error.hpp"
#include "kiln/serialization.hpp"

namespace kiln::checkpoints {
namespace {

namespace fs = std::filesystem;

void check_prefix(const std::string& prefix, const char* fn) {
  if (prefix.empty() || prefix.find('/') != std::string::npos)
    throw ValueError(std::string(fn) + ": the prefix '" + prefix +
                     "' must be a non-empty file name without '/'");
}

// The step of a checkpoint file name, or none. Only the canonical spelling counts
// (std::to_string(step)), so `checkpoint_07` or Flax's `checkpoint_tmp` are never taken for one and
// two names never claim the same step.
std::optional<int64_t> step_of(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return {};
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  int64_t step = 0;
  auto [p, ec] = std::from_chars(begin, end, step);
  if (ec != std::errc() || p != end) return {};
  if (std::to_string(step) != std::string_view(begin, static_cast<size_t>(end - begin))) return {};
  return step;
}

// (step, path) of every checkpoint file in dir, ascending by step; empty when dir is missing.
std::vector<std::pair<int64_t, fs::path>> list_checkpoints(const fs::path& dir,
                                                           const std::string& prefix) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return out;
    throw Error("cannot list checkpoint directory " + dir.string() + ": " + ec.message());
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error("cannot list checkpoint directory " + dir.string() + ": " + ec.message());
    std::optional<int64_t> step = step_of(it->path().filename().string(), prefix);
    // A directory of that name is an Orbax checkpoint, which this reader cannot restore.
    if (step && it->is_regular_file(ec)) out.emplace_back(*step, it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Removes temporary files that serialization::write_file left behind in a process that died
// before its rename: `.<prefix><step>.tmp.<pid>.<n>`. A file whose writer is still running (this
// process, or another one saving into the same directory) is left alone.
void remove_stale_temporaries(const fs::path& dir, const std::string& prefix) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return;
  const std::string start = "." + prefix;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return;
    std::string name = it->path().filename().string();
    size_t tmp = name.rfind(".tmp.");
    if (name.compare(0, start.size(), start) != 0 || tmp == std::string::npos) continue;
    if (!step_of(name.substr(1, tmp - 1), prefix)) continue;
    std::string rest = name.substr(tmp + 5);  // "<pid>.<n>"
    size_t dot = rest.find('.');
    int pid = 0;
    auto [p, perr] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (perr != std::errc() || dot == std::string::npos || p != rest.data() + dot || pid <= 0)
      continue;
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    fs::remove(it->path(), rm);  // best effort: a leftover is ignored by every reader anyway
  }
}

// Deletes a checkpoint that the one being saved makes redundant; a file already gone is fine
// (another cleanup got there first).
void remove_checkpoint(const fs::path& path, const fs::path& saving) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw Error("save_checkpoint " + saving.string() + ": cannot remove the old checkpoint " +
                path.string() + ": " + ec.message());
}

std::string describe_steps(const std::vector<std::pair<int64_t, fs::path>>& found) {
  if (found.empty()) return "none";
  std::string s;
  for (const auto& [step, path] : found) s += (s.empty() ? "" : ", ") + std::to_string(step);
  return s;
}

}  // namespace

std::vector<int64_t> available_steps(const fs::path& dir, const std::string& prefix) {
  check_prefix(prefix, "available_steps");
  std::vector<int64_t> steps;
  for (const auto& [step, path] : list_checkpoints(dir, prefix)) steps.push_back(step);
  return steps;
}

std::optional<fs::path> latest_checkpoint(const fs::path& dir, const std::string& prefix) {
  check_prefix(prefix, "latest_checkpoint");
  auto found = list_checkpoints(dir, prefix);
  if (found.empty()) return std::nullopt;
  return found.back().second;
}

fs::path save_checkpoint(const fs::path& dir, const Tree& target, int64_t step,
                         const SaveOptions& options) {
  check_prefix(options.prefix, "save_checkpoint");
  if (options.keep < 1)
    throw ValueError("save_checkpoint: keep is " + std::to_string(options.keep) +
                     "; it must be at least 1 (the checkpoint being saved)");
  const fs::path path = dir / (options.prefix + std::to_string(step));

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw Error("save_checkpoint: cannot create directory " + dir.string() + ": " + ec.message());

  auto found = list_checkpoints(dir, options.prefix);
  if (!options.overwrite && !found.empty() && found.back().first >= step)
    throw Error(
        "save_checkpoint: step " + std::to_string(step) +
        " is not newer than the latest checkpoint " + found.back().second.string() +
        "; pass .overwrite = true to replace it (checkpoints of later steps are then deleted)");

  // Encoding can fail (a tracer, an unsupported leaf): do it before anything on disk changes.
  std::vector<uint8_t> bytes = serialization::to_bytes(target);
  // First the cleanup a killed save left undone: its temporary file, and the oldest checkpoint it
  // renamed past but did not delete. Without the latter, saves killed one after another in that
  // window would each leave one checkpoint more than `keep`; with it there are never more than
  // keep + 1, the extra one only between a rename and the deletion that follows it. (Only when the
  // step is the newest: an overwrite of an older step deletes newer ones instead, and which old
  // ones survive that is decided after the write, as Flax decides it.)
  remove_stale_temporaries(dir, options.prefix);
  const size_t keep = static_cast<size_t>(options.keep);
  if (found.empty() || found.back().first < step) {
    for (size_t i = 0; i + keep < found.size(); ++i) remove_checkpoint(found[i].second, path);
  }
  serialization::write_file(path, bytes);

  // The new checkpoint is durable; only now may others go. Flax's order: with overwrite, the
  // checkpoints newer than this one, then the oldest beyond `keep`.
  found = list_checkpoints(dir, options.prefix);
  if (options.overwrite) {
    while (!found.empty() && found.back().first > step) {
      remove_checkpoint(found.back().second, path);
      found.pop_back();
    }
  }
  for (size_t i = 0; i + keep < found.size(); ++i) remove_checkpoint(found[i].second, path);
  return path;
}

Tree restore_checkpoint(const fs::path& dir, const Tree& templ, std::optional<int64_t> step,
                        const std::string& prefix, const serialization::RestoreOptions& options) {
  check_prefix(prefix, "restore_checkpoint");
  fs::path path;
  std::error_code ec;
  if (step) {
    path = dir / (prefix + std::to_string(*step));
    if (!fs::is_regular_file(path, ec))
      throw Error("restore_checkpoint: no checkpoint of step " + std::to_string(*step) + " in " +
                  dir.string() + " (no file " + path.filename().string() +
                  "; steps present: " + describe_steps(list_checkpoints(dir, prefix)) + ")");
  } else if (fs::is_regular_file(dir, ec)) {
    path = dir;  // a checkpoint file named directly, as Flax allows
  } else {
    if (!fs::is_directory(dir, ec))
      throw Error("restore_checkpoint: checkpoint directory " + dir.string() + " does not exist");
    auto latest = latest_checkpoint(dir, prefix);
    if (!latest)
      throw Error("restore_checkpoint: no checkpoint in " + dir.string() + " (no file named " +
                  prefix + "<step>)");
    path = *latest;
  }
  // load's errors start with the file's path: a corrupt checkpoint is named, never skipped.
  return serialization::load(path, templ, options);
}

fs::path save_train_state(const fs::path& dir, const TrainState& state,
                          const SaveOptions& options) {
  if (state.step.empty() || state.step.size() != 1)
    throw ValueError("save_train_state: the state's step must be a scalar array");
  return save_checkpoint(dir, tree_traits<TrainState>::to_tree(state), state.step.item<int64_t>(),
                         options);
}

TrainState restore_train_state(const TrainState& like, const Tree& restored) {
  TrainState out = like;
  out.step = restored["step"].leaf();
  out.params = restored["params"];
  out.opt_state = restored["opt_state"];
  return out;
}

TrainState restore_train_state(const fs::path& dir, const TrainState& like,
                               std::optional<int64_t> step, const std::string& prefix,
                               const serialization::RestoreOptions& options) {
  return restore_train_state(
      like, restore_checkpoint(dir, tree_traits<TrainState>::to_tree(like), step, prefix, options));
}

}  // namespace kiln::checkpoints
