// Hugging Face's safetensors format, and checkpoint files in either format (what `kiln convert`,
// `kiln diff` and `kiln inspect` work on).
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}}
// and then the byte buffer the offsets point into. Names are the Flax tree's paths joined with "."
// (params.Dense_0.kernel). kiln writes files as the reference implementation does (tensors sorted
// by descending dtype alignment then name, header padded with spaces to a multiple of 8), so a file
// read and written again keeps its bytes. Reading trusts nothing in the file: every length, offset
// and count is checked against the bytes there are, and every problem is a kiln::Error naming the
// file, the byte offset or tensor, and what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/serialization.hpp"
#include "kiln/tree.hpp"

namespace kiln::safetensors {

// __metadata__: string pairs, in the header's order.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// A file's content: tensors in file order (by data offset), metadata when the header has one.
struct File {
  std::vector<std::pair<std::string, Array>> tensors;
  std::optional<Metadata> metadata;
};

// The safetensors name of a kiln dtype ("F32", "BF16", "BOOL", ...).
std::string_view dtype_name(DType t);

// The largest header kiln reads, as the reference implementation's limit: a bigger one is refused
// before anything is allocated for it.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::vector<uint8_t> encode(const File& f);
File decode(const std::vector<uint8_t>& bytes, const std::string& source = "<bytes>");
// Atomic, as serialization::write_file.
void write(const std::filesystem::path& path, const File& f,
           const serialization::WriteOptions& options = {});
File read(const std::filesystem::path& path);

// Trees: every leaf a tensor named by its path (dict keys, list indices "0", "1", ...); none
// leaves hold no tensor and are skipped.
File from_tree(const Tree& t, std::optional<Metadata> metadata = std::nullopt);
// Nested dicts from the dotted names, in file order; a name that is both a tensor and a prefix of
// another ("a" and "a.b") is an error.
Tree to_tree(const File& f, const std::string& source = "<bytes>");
void save(const std::filesystem::path& path, const Tree& t,
          std::optional<Metadata> metadata = std::nullopt);
Tree load(const std::filesystem::path& path);
// Restored onto `templ`'s structure, checking keys, shapes and dtypes (serialization's rules).
Tree load(const std::filesystem::path& path, const Tree& templ);

// ---- Flax state dicts, losslessly ----
//
// A state dict holds what safetensors cannot: native values (step counts, None, strings), empty
// maps (optax's EmptyState), numpy scalars, a key order. When a state dict has any of that, its
// layout goes into __metadata__ under kStateDictKey (JSON: maps as objects in order, leaves as
// ["array"], ["scalar"], ["chunked"], ["int", 5], ...), so msgpack -> safetensors -> msgpack gives
// back the same bytes. A top-level "__metadata__" map of strings in a state dict is the file's
// __metadata__, so safetensors -> msgpack -> safetensors keeps it.
inline constexpr std::string_view kStateDictKey = "kiln.flax_state_dict";

File from_state_dict(const serialization::StateValue& state);
serialization::StateValue to_state_dict(const File& f, const std::string& source = "<bytes>");

}  // namespace kiln::safetensors
