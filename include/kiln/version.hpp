// kiln's version (from CMake's project version).
#pragma once

namespace kiln {
const char* version();
}  // namespace kiln
