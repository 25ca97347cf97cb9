// The conformance plugin's test hooks are environment variables; a fixture clears them around each
// test so cases run in one process (kiln_tests without ctest) do not see each other's.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

namespace kiln::testing {

class PluginHooks : public ::testing::Test {
 protected:
  void SetUp() override { clear(); }
  void TearDown() override { clear(); }

 private:
  static void clear() {
    for (const char* v :
         {"KILN_PJRT_TEST_API_MAJOR", "KILN_PJRT_TEST_API_MINOR", "KILN_PJRT_TEST_STRUCT_SIZE",
          "KILN_PJRT_TEST_INIT_ERROR", "KILN_PJRT_TEST_PLATFORM_NAME", "KILN_PJRT_TEST_DEVICE_ARCH",
          "KILN_PJRT_TEST_TRANSFER_ERROR", "KILN_PJRT_TEST_WRONG_OUTPUT_TYPE"})
      unsetenv(v);
  }
};

}  // namespace kiln::testing
