// kiln's PJRT host on XLA's own CPU plugin (the xla-cpu-pjrt wheel, PJRT C API 0.81): what
// kiln's conformance plugin cannot show — a third-party plugin's struct sizes, compile options,
// buffers, events, errors and several devices. Skipped without the reference venv
// (scripts/install.sh --reference); CI's reference lane runs them.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/export.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/pjrt.hpp"
#include "pjrt/xla_plugin.hpp"

namespace kiln {
namespace {

using testing::compile_on_xla;
using testing::run_on_xla;
using testing::xla_plugin;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(XlaCpuPlugin, LoadsWithItsVersionPlatformAndDevices) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  auto p = xla_plugin();
  // The pinned wheel (scripts/reference-requirements.txt) implements API 0.81: older than the
  // 0.114 kiln declares, so every argument struct kiln sends is at least the plugin's size.
  EXPECT_EQ(p->api().pjrt_api_version.major_version, 0);
  EXPECT_EQ(p->api().pjrt_api_version.minor_version, 81);
  EXPECT_EQ(p->api().struct_size, 984u);  // 40 + 8 * 118 slots
  EXPECT_EQ(p->platform_name(), "cpu");
  ASSERT_GE(p->devices().size(), 1u);
  for (size_t i = 0; i < p->devices().size(); ++i) {
    EXPECT_EQ(p->devices()[i].id, static_cast<int>(i));
    EXPECT_EQ(p->devices()[i].kind, "cpu");
    // Named after the registered platform: XLA calls itself "cpu", which is kiln's own.
    EXPECT_EQ(p->devices()[i].str, "XlaDevice(id=" + std::to_string(i) + ")");
  }
}

TEST(XlaCpuPlugin, IsAPlatformBesideTheCpu) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  const std::vector<Device> xla = devices("xla");
  ASSERT_GE(xla.size(), 1u);
  EXPECT_EQ(xla[0].str(), "XlaDevice(id=0)");
  EXPECT_EQ(devices("cpu")[0].str(), "CpuDevice(id=0)");
  EXPECT_TRUE(pjrt::plugin_failures().empty());
}

// A module as JAX writes it, run through the raw C API: kiln's compile options, dense
// row-major buffers both ways, the done/ready events.
TEST(XlaCpuPlugin, RunsJaxStyleMlirOnItsBuffers) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  const std::string mlir =
      R"(module @jit_f attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3x2xf32>) -> (tensor<2x2xf32> {jax.result_info = "result"}) {
    %0 = stablehlo.dot_general %arg0, %arg1, contracting_dims = [1] x [0], precision = [DEFAULT, DEFAULT] : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
    return %0 : tensor<2x2xf32>
  }
})";
  const Array x = array(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  const Array w = array(std::vector<float>{1, 0, 0, 1, 1, 1}, {3, 2});
  const std::vector<Array> out = run_on_xla(mlir, {x, w});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape(), Shape({2, 2}));
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{4, 5, 10, 11}));
}

// Every dtype kiln exports crosses the host/device boundary byte for byte, and the plugin
// reports the element type kiln maps it to (buffer_types.hpp).
TEST(XlaCpuPlugin, EveryExportedDtypeRoundTripsBitForBit) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  for (DType t : {bool_, uint8, uint16, uint32, uint64, int8, int16, int32, int64, bfloat16,
                  float16, float32, float64}) {
    SCOPED_TRACE(std::string(name(t)));
    // x -> (x, x): an output that is its argument, as kiln exports it.
    auto f = jit([](const Array& a) { return std::vector<Array>{a, a}; }, {.name = "pass"});
    std::vector<uint8_t> bytes(6 * itemsize(t));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);
    if (t == bool_)
      for (auto& b : bytes) b &= 1;
    const Array x = Array::from_bytes(bytes.data(), bytes.size(), t, {2, 3});
    const std::vector<Array> out = run_on_xla(export_stablehlo(f, x), {x});
    ASSERT_EQ(out.size(), 2u);
    for (const Array& o : out) {
      EXPECT_EQ(o.dtype(), t);
      EXPECT_EQ(o.shape(), Shape({2, 3}));
      std::vector<uint8_t> got(bytes.size());
      o.copy_to_host(got.data(), t);
      EXPECT_EQ(got, bytes);
    }
  }
}

// Through kiln's backend: jit on an XLA device, parameters device_put there once and reused.
TEST(XlaCpuPlugin, JitOnXlaMatchesTheCpu) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  auto f = [](const Array& x, const Array& w) { return tanh(matmul(x, w)) * 2.0f + 1.0f; };
  const Array x = array(std::vector<float>{0.5f, -1, 2, 0.25f, 3, -2}, {2, 3});
  const Array w = array(std::vector<float>{0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f}, {3, 2});
  const std::vector<float> cpu = jit(f)(x, w).to_vector<float>();
  const Device d = devices("xla")[0];
  auto on_xla = jit(f, {.backend = "xla"});
  const Array wd = device_put(w, d);
  for (int run = 0; run < 2; ++run) {
    const Array y = on_xla(device_put(x, d), wd);
    EXPECT_EQ(y.device(), d);
    const std::vector<float> got = y.to_vector<float>();
    ASSERT_EQ(got.size(), cpu.size());
    // tanh: XLA's and kiln's approximations differ in the last bits.
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], cpu[i], 4e-7f) << i;
  }
}

// XLA's CPU client has several devices; an executable compiled for "any device" runs on the one
// kiln names (execute_device), and its outputs live there.
TEST(XlaCpuPlugin, RunsOnEachOfItsDevices) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  const std::vector<Device> xla = devices("xla");
  if (xla.size() < 2) GTEST_SKIP() << "XLA's CPU client made one device";
  const std::string mlir = R"(module @jit_g {
  func.func public @main(%arg0: tensor<3xi32>) -> tensor<3xi32> {
    %0 = stablehlo.add %arg0, %arg0 : tensor<3xi32>
    return %0 : tensor<3xi32>
  }
})";
  const Array x = array(std::vector<int32_t>{1, -2, 3}, {3});
  for (int d = 0; d < static_cast<int>(xla.size()); ++d)
    EXPECT_EQ(run_on_xla(mlir, {x}, d)[0].to_vector<int32_t>(), (std::vector<int32_t>{2, -4, 6}));
  auto twice = jit([](const Array& a) { return a + a; }, {.backend = "xla", .device = xla.back()});
  const Array y = twice(device_put(x, xla.back()));
  EXPECT_EQ(y.device(), xla.back());
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{2, -4, 6}));
}

// XLA's errors reach the user as PluginError with XLA's status code and text. (XLA reports a
// parse error as UNKNOWN, not INVALID_ARGUMENT as kilncpu does.)
TEST(XlaCpuPlugin, MalformedMlirCarriesXlasCodeAndMessage) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  try {
    compile_on_xla("module { func.func public @main( }");
    FAIL() << "no error";
  } catch (const PluginError& e) {
    EXPECT_EQ(e.code(), 2) << e.what();  // UNKNOWN
    EXPECT_TRUE(has(e.what(),
                    "the PJRT plugin \"xla\" failed compiling a test's module "
                    "[UNKNOWN]: -:1:33: error: expected non-function type"))
        << e.what();
  }
}

TEST(XlaCpuPlugin, WrongInputShapeIsRefusedByXla) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  const std::string mlir = R"(module @jit_h {
  func.func public @main(%arg0: tensor<4xf32>) -> tensor<4xf32> {
    return %arg0 : tensor<4xf32>
  }
})";
  try {
    run_on_xla(mlir, {zeros({3})});
    FAIL() << "no error";
  } catch (const PluginError& e) {
    EXPECT_EQ(e.code(), 3) << e.what();  // INVALID_ARGUMENT
    EXPECT_TRUE(has(e.what(), "failed executing")) << e.what();
  }
}

// Every module kiln's tests export must parse, verify and compile in real XLA. The lane
// (scripts/reference-check) runs the export tests with KILN_DUMP_STABLEHLO=<dir> and this test
// with KILN_STABLEHLO_MODULES=<dir>.
TEST(XlaCpuPlugin, EveryModuleKilnsTestsExportCompiles) {
  KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
  const char* dir = std::getenv("KILN_STABLEHLO_MODULES");
  if (dir == nullptr) GTEST_SKIP() << "set KILN_STABLEHLO_MODULES to a KILN_DUMP_STABLEHLO folder";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".mlir") files.push_back(e.path());
  ASSERT_GE(files.size(), 20u) << "too few modules in " << dir << ": did the export tests run?";
  std::vector<std::string> failures;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    try {
      compile_on_xla(text.str());
    } catch (const Error& e) {
      failures.push_back(f.string() + ": " + e.what());
    }
  }
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << files.size() << " modules failed:\n"
                                << [&] {
                                     std::string s;
                                     for (const auto& x : failures) s += x + "\n";
                                     return s;
                                   }();
  std::cout << files.size() << " modules compiled by XLA\n";
}

}  // namespace
}  // namespace kiln
