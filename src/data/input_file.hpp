// Whole-file reads for the data readers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace kiln::data {

// The bytes of `path`; a missing or unreadable file is a ValueError naming it and the reason.
std::vector<uint8_t> read_input_file(const std::filesystem::path& path);

}  // namespace kiln::data
