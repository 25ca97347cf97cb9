// Flax's msgpack format (flax.serialization.to_bytes / from_bytes), byte for byte.
//
// Files hold a *state dict*: nested maps with string keys whose leaves are arrays (msgpack ext 1),
// numpy scalars (ext 3), Python complex numbers (ext 2), or native msgpack values (ints, floats,
// bools, None, strings). Arrays and numpy scalars may have any kiln dtype. StateValue
// keeps all of that — including which msgpack encoding each value had — so decoding and encoding a
// file written by Flax gives back the same bytes. Trees convert to and from state dicts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/tree.hpp"

namespace kiln::serialization {

// One node of a state dict.
struct StateValue {
  struct Map;  // ordered entries
  enum class Kind : uint8_t {
    nil,
    boolean,
    integer,
    floating,
    string,
    array,
    scalar,
    map,
    complex
  };
  Kind kind = Kind::nil;
  bool b = false;
  int64_t i = 0;
  bool i_unsigned = false;  // a msgpack uint (the value is in `u`)
  uint64_t u = 0;
  double f = 0;           // a float, or the real part of a complex
  bool f_single = false;  // encoded as float32 (ca), not float64 (cb)
  double imag = 0;        // the imaginary part of a complex (ext 2: [real, imag] as float64s)
  std::string s;
  Array array;  // array (ext 1) and numpy scalar (ext 3)
  std::shared_ptr<Map> map;
};
struct StateValue::Map {
  std::vector<std::pair<std::string, StateValue>> entries;
};

// Encode/decode a state dict. Decoding errors are kiln::Error naming the byte offset.
std::vector<uint8_t> encode(const StateValue& v);
StateValue decode(const std::vector<uint8_t>& bytes, const std::string& source = "<bytes>");

// Tree <-> state dict: dicts to maps (their order), lists to maps keyed "0", "1", ..., arrays to
// ext 1 (0-d arrays too, as Flax writes jax arrays), none to nil.
StateValue to_state_dict(const Tree& t);
// How a state dict is matched against a template.
struct RestoreOptions {
  // true (the default): the file must have the template's keys and no others, each array the
  // template's shape and dtype. false: as Flax's from_state_dict, keys the template lacks are
  // dropped and arrays keep the file's shape and dtype. Either way a key the template has and the
  // file lacks, or a list of another length, is an error naming the path.
  bool strict = true;
};

// Restores `template`'s structure from a state dict, checking keys, shapes and dtypes (unless
// lenient); errors name the path (./params/Dense_0/kernel), what was expected and what was found.
Tree from_state_dict(const Tree& templ, const StateValue& state,
                     const std::string& source = "<bytes>", const RestoreOptions& options = {});

[[nodiscard]] std::vector<uint8_t> to_bytes(const Tree& t);
[[nodiscard]] Tree from_bytes(const Tree& templ, const std::vector<uint8_t>& bytes,
                              const std::string& source = "<bytes>",
                              const RestoreOptions& options = {});

// How a file replaces another.
struct WriteOptions {
  // A destination that exists but is read-only (no write permission bit, or not writable by this
  // process) is refused, as cp refuses it; true replaces it anyway (cp -f).
  bool replace_read_only = false;
};

// Writes atomically (temporary file in the same directory, flush, rename): a failed write never
// leaves a half-written file where the old one was. A file that replaces another keeps its
// permission bits; a new one gets 0666 less the umask.
void save(const std::filesystem::path& path, const Tree& t, const WriteOptions& options = {});
void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes,
                const WriteOptions& options = {});
// The check write_file makes first, for commands that want to fail before doing the work: a
// kiln::Error naming `path` when it exists read-only and `options` do not allow replacing it.
void refuse_read_only(const std::filesystem::path& path, const WriteOptions& options = {});
[[nodiscard]] Tree load(const std::filesystem::path& path, const Tree& templ,
                        const RestoreOptions& options = {});
// The whole file. A regular file is read to the size fstat gives (one that grows meanwhile is an
// error); a pipe or FIFO up to max_stream_bytes (0: $KILN_MAX_PIPE_BYTES, else 1 GiB) — anything
// longer is an error, not an endless read; a device (/dev/zero, a terminal) is refused.
std::vector<uint8_t> read_file(const std::filesystem::path& path, size_t max_stream_bytes = 0);

}  // namespace kiln::serialization
