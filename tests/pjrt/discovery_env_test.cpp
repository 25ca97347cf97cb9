// Discovery through the environment, read once per process: each case runs in its own ctest
// invocation with its environment set (tests/CMakeLists.txt) and is skipped without it.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/pjrt.hpp"

namespace kiln {
namespace {

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// PJRT_NAMES_AND_LIBRARY_PATHS=kilncpu:<plugin>
TEST(PjrtEnvRegistered, APluginNamedByTheEnvironmentIsAPlatform) {
  const char* env = std::getenv("PJRT_NAMES_AND_LIBRARY_PATHS");
  if (env == nullptr || std::string(env).rfind("kilncpu:", 0) != 0)
    GTEST_SKIP() << "run with PJRT_NAMES_AND_LIBRARY_PATHS=kilncpu:<plugin> (ctest does)";
  // Lazy: arrays and jit on the cpu load no plugin.
  const std::string path = std::string(env).substr(8);
  Array a = jit([](const Array& x) { return x + x; })(ones({2}));
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{2, 2}));
  EXPECT_EQ(dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD), nullptr) << "loaded before asked";
  EXPECT_EQ(platforms(), (std::vector<std::string>{"cpu", "kilncpu"}));
  void* loaded = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(loaded, nullptr);
  if (loaded != nullptr) dlclose(loaded);  // drops only the reference NOLOAD took
  auto ds = devices("kilncpu");
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].str(), "KilncpuDevice(id=0)");
  EXPECT_EQ(ds[0].platform(), "kilncpu");
  EXPECT_TRUE(pjrt::plugin_failures().empty());
  // Staged host bytes come back unchanged before any executable has typed them.
  Backend* b = find_backend("kilncpu");
  auto buf = b->allocate(12, ds[0]);
  const float in[3] = {1.5f, -2.f, 3.25f};
  b->from_host(in, *buf);
  float out[3] = {};
  b->to_host(*buf, out);
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -2.f);
  EXPECT_EQ(out[2], 3.25f);
  EXPECT_EQ(buf->host_data(), nullptr);  // device memory: the host reads it through to_host

  // jit on the plugin's platform: arguments moved there, the result lives there.
  auto f = jit([](const Array& x, const Array& y) { return matmul(x, y) - 1.f; },
               {.backend = "kilncpu", .name = "on_plugin"});
  Array y = f(array({1.f, 2.f, 3.f, 4.f}, {2, 2}), array({1.f, 0.f, 0.f, 2.f}, {2, 2}));
  EXPECT_EQ(y.device(), ds[0]);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 3, 2, 7}));  // [[1,4],[3,8]] - 1
  // An eager op on plugin arrays runs on the plugin too.
  Array z = y * y;
  EXPECT_EQ(z.device(), ds[0]);
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{0, 9, 4, 49}));
}

// PJRT_NAMES_AND_LIBRARY_PATHS="broken:/nonexistent/libbroken.so,garbage,kilncpu:<plugin>"
TEST(PjrtEnvBroken, BrokenRegistrationsAreReportedAndTheRestStillWork) {
  const char* env = std::getenv("PJRT_NAMES_AND_LIBRARY_PATHS");
  if (env == nullptr || std::string(env).rfind("broken:", 0) != 0)
    GTEST_SKIP() << "run with PJRT_NAMES_AND_LIBRARY_PATHS=broken:...,garbage,kilncpu:... (ctest)";
  EXPECT_EQ(platforms(), (std::vector<std::string>{"cpu", "kilncpu"}));
  const auto& failures = pjrt::plugin_failures();
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].spec.name, "garbage");  // malformed entries are reported as parsed
  EXPECT_TRUE(has(failures[0].error, "entry 'garbage' has no ':'")) << failures[0].error;
  EXPECT_EQ(failures[1].spec, (pjrt::PluginSpec{"broken", "/nonexistent/libbroken.so"}));
  EXPECT_TRUE(has(failures[1].error, "could not be loaded")) << failures[1].error;
  try {
    devices("broken");
    ADD_FAILURE() << "devices(\"broken\") succeeded";
  } catch (const DeviceNotFound& e) {
    EXPECT_TRUE(has(e.what(), "platforms present: cpu, kilncpu")) << e.what();
    EXPECT_TRUE(has(e.what(), "registered but did not load")) << e.what();
    EXPECT_TRUE(has(e.what(), "/nonexistent/libbroken.so")) << e.what();
  }
  EXPECT_EQ(devices("cpu").size(), 1u);
}

// TT_PJRT_PLUGIN_DIR=<dir holding pjrt_plugin_tt.so -> the conformance plugin posing as tt>
TEST(PjrtEnvTtDir, TtPluginDirRegistersTtAndSetsTheRuntimeRoot) {
  const char* dir = std::getenv("TT_PJRT_PLUGIN_DIR");
  if (dir == nullptr) GTEST_SKIP() << "run with TT_PJRT_PLUGIN_DIR set (ctest does)";
  auto tts = devices("tt");
  ASSERT_EQ(tts.size(), 1u);
  EXPECT_EQ(tts[0].str(), "TTDevice(id=0, arch=Wormhole_b0)");
  const char* root = std::getenv("TT_METAL_RUNTIME_ROOT");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(std::string(root), std::string(dir) + "/tt-metal");
}

}  // namespace
}  // namespace kiln
