// kiln_reference_tests: registers XLA's CPU plugin as the platform "xla" (when the reference venv
// has it) before any test asks kiln for platforms, so kiln::devices("xla") and
// jit(f, {.backend = "xla"}) reach it as a user's PJRT_NAMES_AND_LIBRARY_PATHS would.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "reference/reference_env.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const std::string plugin = kiln::testing::xla_cpu_plugin();
  if (!plugin.empty() && std::getenv("PJRT_NAMES_AND_LIBRARY_PATHS") == nullptr)
    setenv("PJRT_NAMES_AND_LIBRARY_PATHS", ("xla:" + plugin).c_str(), 1);
  return RUN_ALL_TESTS();
}
