// The PJRT host against kiln's conformance plugin (libkiln_pjrt_cpu.so), whose test hooks make it
// report other versions, a truncated table or failures. Each ctest case is its own process, so the
// hooks set here do not leak into other cases.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "backend/pjrt/plugin.hpp"
#include "kiln/error.hpp"
#include "kiln/pjrt.hpp"

namespace kiln::pjrt {
namespace {

const PluginSpec kCpuPlugin{"kilncpu", KILN_PJRT_CPU_PLUGIN};

// The PluginError that `f` throws (fails the test when it throws none).
template <class F>
PluginError plugin_error(F f) {
  try {
    f();
  } catch (const PluginError& e) {
    return e;
  }
  ADD_FAILURE() << "no PluginError thrown";
  return PluginError("", -1);
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(PjrtHost, LoadsThePluginAndListsItsDevice) {
  auto b = load_plugin(kCpuPlugin);
  EXPECT_EQ(b->platform(), "kilncpu");
  ASSERT_EQ(b->device_count(), 1);
  EXPECT_EQ(b->device_str(0), "KilncpuDevice(id=0)");
}

TEST(PjrtHost, TtDevicesPrintAsJaxPrintsThem) {
  setenv("KILN_PJRT_TEST_PLATFORM_NAME", "tt", 1);
  setenv("KILN_PJRT_TEST_DEVICE_ARCH", "Wormhole_b0", 1);
  auto b = load_plugin({"tt", KILN_PJRT_CPU_PLUGIN});
  EXPECT_EQ(b->platform(), "tt");
  EXPECT_EQ(b->device_str(0), "TTDevice(id=0, arch=Wormhole_b0)");
}

TEST(PjrtHost, AMissingPathNamesThePathAndDlerror) {
  auto e = plugin_error([] { load_plugin({"nope", "/nonexistent/libnope_pjrt.so"}); });
  EXPECT_TRUE(has(e.what(), "\"nope\" (/nonexistent/libnope_pjrt.so) could not be loaded"))
      << e.what();
  EXPECT_TRUE(has(e.what(), "No such file or directory")) << e.what();  // dlerror's text
  EXPECT_EQ(e.code(), 0);
}

TEST(PjrtHost, AFileThatIsNotASharedObjectIsRefused) {
  const std::string path = ::testing::TempDir() + "not_a_plugin.so";
  std::ofstream(path) << "this is text, not ELF\n";
  auto e = plugin_error([&] { load_plugin({"text", path}); });
  EXPECT_TRUE(has(e.what(), path + ") could not be loaded")) << e.what();
  EXPECT_TRUE(has(e.what(), "invalid ELF header") || has(e.what(), "file too short")) << e.what();
}

TEST(PjrtHost, ALibraryWithoutGetPjrtApiIsNotAPlugin) {
  auto e = plugin_error([] { load_plugin({"zlib", KILN_TEST_NON_PLUGIN_SO}); });
  EXPECT_TRUE(has(e.what(), "exports no GetPjrtApi, so it is not a PJRT plugin")) << e.what();
  EXPECT_TRUE(has(e.what(), KILN_TEST_NON_PLUGIN_SO)) << e.what();
}

TEST(PjrtHost, AnOlderMinorVersionIsRefusedWithBothVersions) {
  setenv("KILN_PJRT_TEST_API_MINOR", "20", 1);
  auto e = plugin_error([] { load_plugin(kCpuPlugin); });
  EXPECT_TRUE(has(e.what(), KILN_PJRT_CPU_PLUGIN)) << e.what();
  EXPECT_TRUE(has(e.what(), "implements PJRT C API 0.20, older than the 0.33 kiln needs"))
      << e.what();
  EXPECT_TRUE(has(e.what(), "Rebuild/upgrade the plugin")) << e.what();
}

TEST(PjrtHost, AnotherMajorVersionIsRefused) {
  setenv("KILN_PJRT_TEST_API_MAJOR", "1", 1);
  auto e = plugin_error([] { load_plugin(kCpuPlugin); });
  EXPECT_TRUE(has(e.what(),
                  "implements PJRT C API 1.114, whose major version differs from "
                  "kiln's 0.114"))
      << e.what();
}

TEST(PjrtHost, ATruncatedTableIsRefusedNamingTheFirstMissingSlot) {
  // 200 bytes hold slots 0..19 (40 + 8 * 20 = 200); kiln next calls PJRT_Client_Compile, slot 20.
  setenv("KILN_PJRT_TEST_STRUCT_SIZE", "200", 1);
  auto e = plugin_error([] { load_plugin(kCpuPlugin); });
  EXPECT_TRUE(has(e.what(),
                  "reports a PJRT_Api table of 200 bytes (API 0.114), which ends before "
                  "PJRT_Client_Compile (slot 20, bytes 200-208)"))
      << e.what();
  EXPECT_TRUE(has(e.what(), "Rebuild/upgrade the plugin")) << e.what();
}

TEST(PjrtHost, ANewerMinorVersionIsAccepted) {
  setenv("KILN_PJRT_TEST_API_MINOR", "200", 1);
  EXPECT_EQ(load_plugin(kCpuPlugin)->device_count(), 1);
}

TEST(PjrtHost, AFailingInitializeCarriesThePluginsMessageAndCode) {
  setenv("KILN_PJRT_TEST_INIT_ERROR", "no chips found on the PCIe bus", 1);
  auto e = plugin_error([] { load_plugin(kCpuPlugin); });
  EXPECT_EQ(std::string(e.what()),
            "the PJRT plugin \"kilncpu\" failed initialising the plugin [FAILED_PRECONDITION]: no "
            "chips found on the PCIe bus");
  EXPECT_EQ(e.code(), 9);
}

TEST(PjrtHost, MalformedMlirFailsInThePluginAndItsMessageReachesTheError) {
  auto p = Plugin::load(kCpuPlugin);
  auto e = plugin_error([&] { p->compile_mlir("this is not MLIR", "a test program"); });
  EXPECT_TRUE(has(e.what(), "the PJRT plugin \"kilncpu\" failed compiling a test program ["))
      << e.what();
  // The plugin's message: kiln::from_stablehlo names its source "program".
  EXPECT_TRUE(has(e.what(), "program")) << e.what();
  EXPECT_GT(e.code(), 0);
}

TEST(PjrtNamesAndPaths, ParsesJaxsFormat) {
  EXPECT_EQ(parse_names_and_paths("kilncpu:build/lib/libkiln_pjrt_cpu.so, tt:/opt/tt/pjrt.so"),
            (std::vector<PluginSpec>{{"kilncpu", "build/lib/libkiln_pjrt_cpu.so"},
                                     {"tt", "/opt/tt/pjrt.so"}}));
  EXPECT_TRUE(parse_names_and_paths("").empty());
}

TEST(PjrtNamesAndPaths, GarbageIsAValueErrorNamingTheEntry) {
  for (const char* bad : {"libfoo.so", ":/x.so", "tt:", "my plugin:/x.so", "cpu:/x.so"}) {
    try {
      parse_names_and_paths(std::string("kilncpu:/ok.so,") + bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const ValueError& e) {
      EXPECT_TRUE(has(e.what(), std::string("entry '") + bad + "'")) << e.what();
    }
  }
}

}  // namespace
}  // namespace kiln::pjrt
