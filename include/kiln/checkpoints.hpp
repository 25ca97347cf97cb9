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
[[nodiscard]] Tree restore_checkpoint(const std::filesystem::path& dir, const Tree& templ,
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

// ---- checkpoint files of either format, told apart by extension (.msgpack, .safetensors) ----
// (what `kiln inspect`, `kiln convert` and `kiln diff` do)

enum class Format : uint8_t { msgpack, safetensors };
// ValueError naming the path when the extension is neither.
Format format_of(const std::filesystem::path& path);

serialization::StateValue read_state(const std::filesystem::path& path);
// The same with every array a view into the file, read where it is used (a regular file is
// mapped, not read): what inspect, convert and diff_files use, so that a file costs memory only
// for the array in use. The arrays are for reading bytes, not for computing with (views are not
// aligned as kernels want): copy one (astype, device_put) to compute with it.
serialization::StateValue read_state_in_place(const std::filesystem::path& path);
void write_state(const std::filesystem::path& path, const serialization::StateValue& state,
                 const serialization::WriteOptions& options = {});
// `kiln convert`: msgpack -> msgpack re-encodes byte for byte; every other pair is lossless.
void convert(const std::filesystem::path& in, const std::filesystem::path& out,
             const serialization::WriteOptions& options = {});

// `kiln diff`: entries (arrays and native values, by dotted path) only in one state, differing in
// dtype or shape, or with differing values (the count of differing elements and the largest
// absolute difference). `report` lists them, one per line, and ends with a summary line.
struct Diff {
  bool identical = true;
  std::string report;
};
Diff diff(const serialization::StateValue& a, const serialization::StateValue& b,
          const std::string& a_name = "A", const std::string& b_name = "B");
// diff of two files read in place: memory beyond the largest pair of arrays stays constant.
Diff diff_files(const std::filesystem::path& a, const std::filesystem::path& b);

// What `kiln inspect FILE` shows of a state dict: its entries in order, each array with zlib's
// CRC-32 of its elements' bytes as stored (little-endian, row-major; a chunked array's joined),
// the same in either file format and what Python's zlib.crc32(np.asarray(x).tobytes()) gives.
struct SummaryEntry {
  enum class Kind : uint8_t { array, numpy_scalar, chunked_array, native, empty_map };
  std::vector<std::string> path;  // keys from the root; empty when the state is a single value
  Kind kind = Kind::array;
  DType dtype = DType::float32;  // the array kinds
  Shape shape;                   // the array kinds
  uint32_t crc32 = 0;            // the array kinds
  std::string native;            // native: the value as Python shows it ("int 0", "float 0.001")
  bool operator==(const SummaryEntry&) const = default;
};
struct SummaryTotals {
  size_t arrays = 0;
  uint64_t elements = 0;
  uint64_t bytes = 0;
  bool operator==(const SummaryTotals&) const = default;
};
struct Summary {
  std::vector<SummaryEntry> entries;    // the leaves (arrays, native values, empty maps)
  SummaryTotals total;                  // over the whole state
  std::optional<SummaryTotals> params;  // over its top-level "params", when there is one
  bool operator==(const Summary&) const = default;
};
[[nodiscard]] Summary summarize(const serialization::StateValue& state);
// The summary of a .msgpack or .safetensors file read in place (read_state_in_place): each array
// is read once, checksummed as it is read and released, so memory stays constant beyond the
// largest array whatever the file's size.
[[nodiscard]] Summary summarize_file(const std::filesystem::path& path);

}  // namespace kiln::checkpoints
