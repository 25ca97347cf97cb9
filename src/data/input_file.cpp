#include "data/input_file.hpp"

#include "kiln/error.hpp"
#include "kiln/serialization.hpp"

namespace kiln::data {

std::vector<uint8_t> read_input_file(const std::filesystem::path& path) {
  // serialization's reader already says "cannot read <path>: <strerror>"; data readers report
  // every bad input as a ValueError, so only the kind changes.
  try {
    return serialization::read_file(path);
  } catch (const ValueError&) {
    throw;
  } catch (const Error& e) {
    throw ValueError(e.what());
  }
}

}  // namespace kiln::data
