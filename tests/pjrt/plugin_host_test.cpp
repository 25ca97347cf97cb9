// The PJRT host against kiln's conformance plugin (libkiln_pjrt_cpu.so), whose test hooks make it
// report other versions, a truncated table or failures. Each ctest case is its own process, so the
// hooks set here do not leak into other cases.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "backend/pjrt/plugin.hpp"
#include "kiln/error.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/pjrt.hpp"
#include "pjrt/plugin_hooks.hpp"

namespace kiln::pjrt {
namespace {

using PjrtHost = kiln::testing::PluginHooks;

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

TEST_F(PjrtHost, LoadsThePluginAndListsItsDevice) {
  auto b = load_plugin(kCpuPlugin);
  EXPECT_EQ(b->platform(), "kilncpu");
  ASSERT_EQ(b->device_count(), 1);
  EXPECT_EQ(b->device_str(0), "KilncpuDevice(id=0)");
}

TEST_F(PjrtHost, TtDevicesPrintAsJaxPrintsThem) {
  setenv("KILN_PJRT_TEST_PLATFORM_NAME", "tt", 1);
  setenv("KILN_PJRT_TEST_DEVICE_ARCH", "Wormhole_b0", 1);
  auto b = load_plugin({"tt", KILN_PJRT_CPU_PLUGIN});
  EXPECT_EQ(b->platform(), "tt");
  EXPECT_EQ(b->device_str(0), "TTDevice(id=0, arch=Wormhole_b0)");
}

TEST_F(PjrtHost, AMissingPathNamesThePathAndDlerror) {
  auto e = plugin_error([] { load_plugin({"nope", "/nonexistent/libnope_pjrt.so"}); });
  EXPECT_TRUE(has(e.what(), "\"nope\" (/nonexistent/libnope_pjrt.so) could not be loaded"))
      << e.what();
  EXPECT_TRUE(has(e.what(), "No such file or directory")) << e.what();  // dlerror's text
  EXPECT_EQ(e.code(), 0);
}

TEST_F(PjrtHost, AFileThatIsNotASharedObjectIsRefused) {
  const std::string path = ::testing::TempDir() + "not_a_plugin.so";
  std::ofstream(path) << "this is text, not ELF\n";
  auto e = plugin_error([&] { load_plugin({"text", path}); });
  EXPECT_TRUE(has(e.what(), path + ") could not be loaded")) << e.what();
  EXPECT_TRUE(has(e.what(), "invalid ELF header") || has(e.what(), "file too short")) << e.what();
}

TEST_F(PjrtHost, ALibraryWithoutGetPjrtApiIsNotAPlugin) {
  auto e = plugin_error([] { load_plugin({"zlib", KILN_TEST_NON_PLUGIN_SO}); });
  EXPECT_TRUE(has(e.what(), "exports no GetPjrtApi, so it is not a PJRT plugin")) << e.what();
  EXPECT_TRUE(has(e.what(), KILN_TEST_NON_PLUGIN_SO)) << e.what();
}

TEST_F(PjrtHost, AnOlderMinorVersionIsRefusedWithBothVersions) {
  setenv("KILN_PJRT_TEST_API_MINOR", "20", 1);
  auto e = plugin_error([] { load_plugin(kCpuPlugin); });
  EXPECT_TRUE(has(e.what(), KILN_PJRT_CPU_PLUGIN)) << e.what();
  EXPECT_TRUE(has(e.what(), "implements PJRT C API 0.20, older than the 0.33 kiln needs"))
      << e.what();
  EXPECT_TRUE(has(e.what(), "Rebuild/upgrade the plugin")) << e.what();
}

TEST_F(PjrtHost, AnotherMajorVersionIsRefused) {
  setenv("KILN_PJRT_TEST_API_MAJOR", "1", 1);
  auto e = plugin_error([] { load_plugin(kCpuPlugin); });
  EXPECT_TRUE(has(e.what(),
                  "implements PJRT C API 1.114, whose major version differs from "
                  "kiln's 0.114"))
      << e.what();
}

TEST_F(PjrtHost, ATruncatedTableIsRefusedNamingTheFirstMissingSlot) {
  // 200 bytes hold slots 0..19 (40 + 8 * 20 = 200); kiln next calls PJRT_Client_Compile, slot 20.
  setenv("KILN_PJRT_TEST_STRUCT_SIZE", "200", 1);
  auto e = plugin_error([] { load_plugin(kCpuPlugin); });
  EXPECT_TRUE(has(e.what(),
                  "reports a PJRT_Api table of 200 bytes (API 0.114), which ends before "
                  "PJRT_Client_Compile (slot 20, bytes 200-208)"))
      << e.what();
  EXPECT_TRUE(has(e.what(), "Rebuild/upgrade the plugin")) << e.what();
}

TEST_F(PjrtHost, ANewerMinorVersionIsAccepted) {
  setenv("KILN_PJRT_TEST_API_MINOR", "200", 1);
  EXPECT_EQ(load_plugin(kCpuPlugin)->device_count(), 1);
}

TEST_F(PjrtHost, AFailingInitializeCarriesThePluginsMessageAndCode) {
  setenv("KILN_PJRT_TEST_INIT_ERROR", "no chips found on the PCIe bus", 1);
  auto e = plugin_error([] { load_plugin(kCpuPlugin); });
  EXPECT_EQ(std::string(e.what()),
            "the PJRT plugin \"kilncpu\" failed initialising the plugin [FAILED_PRECONDITION]: no "
            "chips found on the PCIe bus");
  EXPECT_EQ(e.code(), 9);
}

TEST_F(PjrtHost, MalformedMlirFailsInThePluginAndItsMessageReachesTheError) {
  auto p = Plugin::load(kCpuPlugin);
  auto e = plugin_error([&] { p->compile_mlir("this is not MLIR", "a test program"); });
  // The plugin's own message (kiln::from_stablehlo names its source "program"), after the host's.
  EXPECT_EQ(std::string(e.what()),
            "the PJRT plugin \"kilncpu\" failed compiling a test program [INVALID_ARGUMENT]: "
            "program:1:1: expected 'func.func' or 'module', found 'this'. Check the text against "
            "the op's syntax (docs/import.md)");
  EXPECT_EQ(e.code(), 3);
}

// f(x, y) = x * y + 1 traced on the cpu, for running on the plugin.
ir::Graph mul_add_graph() {
  return jit([](const Array& x, const Array& y) { return x * y + 1.f; })
      .lower(zeros({2, 2}), zeros({2, 2}))
      .graph();
}

std::shared_ptr<Buffer> upload(Backend& b, const std::vector<float>& v) {
  auto buf = b.allocate(v.size() * sizeof(float), Device(&b, 0));
  b.from_host(v.data(), *buf);
  return buf;
}

std::vector<float> download(Backend& b, const Buffer& buf) {
  std::vector<float> v(buf.bytes() / sizeof(float));
  b.to_host(buf, v.data());
  return v;
}

TEST_F(PjrtHost, CompilesRunsAndReadsBackThroughThePlugin) {
  auto b = load_plugin(kCpuPlugin);
  auto exe = b->compile(mul_add_graph(), Device(b.get(), 0));
  EXPECT_EQ(exe->output_types(), (std::vector<ir::ValueType>{{DType::float32, Shape{2, 2}}}));
  EXPECT_TRUE(has(exe->describe(), "stablehlo.multiply")) << exe->describe();
  auto x = upload(*b, {1, 2, 3, 4});
  auto y = upload(*b, {0.5f, -1, 2, 10});
  auto out = b->allocate(16, Device(b.get(), 0));
  Buffer* in[] = {x.get(), y.get()};
  Buffer* outs[] = {out.get()};
  exe->run(in, outs);
  EXPECT_EQ(download(*b, *out), (std::vector<float>{1.5f, -1, 7, 41}));
  // Again, with x now resident on the device and y replaced from the host.
  b->from_host(std::vector<float>{1, 1, 1, 1}.data(), *y);
  exe->run(in, outs);
  EXPECT_EQ(download(*b, *out), (std::vector<float>{2, 3, 4, 5}));
  EXPECT_EQ(download(*b, *x), (std::vector<float>{1, 2, 3, 4}));  // read back from the device
}

TEST_F(PjrtHost, AFailedDeviceToHostCopyIsAPluginErrorWithTheEventsMessage) {
  setenv("KILN_PJRT_TEST_TRANSFER_ERROR", "link to chip 0 went down", 1);
  auto b = load_plugin(kCpuPlugin);
  auto exe = b->compile(mul_add_graph(), Device(b.get(), 0));
  auto x = upload(*b, {1, 2, 3, 4});
  auto out = b->allocate(16, Device(b.get(), 0));
  Buffer* in[] = {x.get(), x.get()};
  Buffer* outs[] = {out.get()};
  exe->run(in, outs);
  auto e = plugin_error([&] { download(*b, *out); });
  EXPECT_EQ(std::string(e.what()),
            "the PJRT plugin \"kilncpu\" failed copying a buffer to the host [DATA_LOSS]: link to "
            "chip 0 went down");
  EXPECT_EQ(e.code(), 15);
}

TEST_F(PjrtHost, AnOutputOfAnotherTypeThanTheProgramsIsRefused) {
  setenv("KILN_PJRT_TEST_WRONG_OUTPUT_TYPE", "1", 1);
  auto b = load_plugin(kCpuPlugin);
  auto exe = b->compile(mul_add_graph(), Device(b.get(), 0));
  auto x = upload(*b, {1, 2, 3, 4});
  auto out = b->allocate(16, Device(b.get(), 0));
  Buffer* in[] = {x.get(), x.get()};
  Buffer* outs[] = {out.get()};
  auto e = plugin_error([&] { exe->run(in, outs); });
  EXPECT_EQ(std::string(e.what()),
            "the PJRT plugin \"kilncpu\" returned output 0 with element type 12 and 2 dims where "
            "the program declares f32[2,2]. Report this to its vendor");
}

TEST_F(PjrtHost, ABufferOfAnotherBackendIsRefusedByRun) {
  auto b = load_plugin(kCpuPlugin);
  auto exe = b->compile(mul_add_graph(), Device(b.get(), 0));
  auto host = allocate_host(16, Device());
  auto out = b->allocate(16, Device(b.get(), 0));
  Buffer* in[] = {host.get(), host.get()};
  Buffer* outs[] = {out.get()};
  EXPECT_THROW(exe->run(in, outs), ValueError);
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
