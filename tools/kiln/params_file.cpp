#include "params_file.hpp"

#include <cstring>

#include "kiln/checkpoints.hpp"
#include "kiln/error.hpp"
#include "kiln/safetensors.hpp"
#include "kiln/serialization.hpp"

namespace kiln_tool {
namespace {

using kiln::checkpoints::Format;

// A safetensors file starts with its header's length (u64, little-endian) and the header's '{'.
bool looks_like_safetensors(const std::vector<uint8_t>& b) {
  return b.size() >= 10 && b[8] == '{' && b[5] == 0 && b[6] == 0 && b[7] == 0;
}
// A Flax msgpack file is a map: fixmap (0x80-0x8f), map16 (0xde) or map32 (0xdf).
bool looks_like_msgpack(const std::vector<uint8_t>& b) {
  return !b.empty() && ((b[0] & 0xf0) == 0x80 || b[0] == 0xde || b[0] == 0xdf);
}

const char* format_name(Format f) {
  return f == Format::msgpack ? "Flax msgpack" : "safetensors";
}

}  // namespace

kiln::Tree load_params(const std::string& path, const kiln::Tree& templ, const std::string& model) {
  const std::vector<uint8_t> bytes = kiln::serialization::read_file(path);
  const bool st = looks_like_safetensors(bytes), mp = looks_like_msgpack(bytes);
  const std::string ext = std::filesystem::path(path).extension().string();
  Format format;
  if (ext == ".msgpack" || ext == ".safetensors") {
    format = ext == ".msgpack" ? Format::msgpack : Format::safetensors;
    const bool other = format == Format::msgpack ? st && !mp : mp && !st;
    if (other)
      throw kiln::ValueError(
          path + ": named " + ext + " but it holds " +
          format_name(format == Format::msgpack ? Format::safetensors : Format::msgpack) +
          " bytes; rename it to its format's extension");
  } else if (st || mp) {
    format = st ? Format::safetensors : Format::msgpack;
  } else {
    throw kiln::ValueError(path + ": neither Flax msgpack nor safetensors (by its name and its " +
                           "first bytes); give a .msgpack or .safetensors parameters file");
  }
  // Decoding errors say what is wrong with the file itself: no hint about models there.
  const kiln::serialization::StateValue state =
      format == Format::msgpack ? kiln::serialization::decode(bytes, path)
                                : kiln::serialization::to_state_dict(kiln::safetensors::to_tree(
                                      kiln::safetensors::decode(bytes, path), path));
  try {
    return kiln::serialization::from_state_dict(templ, state, path);
  } catch (const kiln::ValueError& e) {
    throw kiln::ValueError(std::string(e.what()) + " (checked against --model " + model +
                           "'s parameters: is the file from a run of another model?)");
  }
}

}  // namespace kiln_tool
