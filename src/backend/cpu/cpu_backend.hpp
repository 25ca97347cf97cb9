// The embedded CPU backend: always present, platform "cpu".
#pragma once

#include <memory>

#include "kiln/backend.hpp"

namespace kiln::cpu {

// A CPU backend with `num_devices` logical devices (KILN_CPU_DEVICES, as XLA's host device count).
std::unique_ptr<Backend> make_backend(int num_devices);

}  // namespace kiln::cpu
