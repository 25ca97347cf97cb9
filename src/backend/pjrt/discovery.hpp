// The plugins the environment names, loaded once per process on first use (JAX's conventions).
#pragma once

#include <memory>
#include <vector>

#include "kiln/backend.hpp"

namespace kiln::pjrt {

// The backends of the plugins that loaded, in the order the environment names them.
const std::vector<std::unique_ptr<Backend>>& plugin_backends();

}  // namespace kiln::pjrt
