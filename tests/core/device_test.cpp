#include <gtest/gtest.h>

#include <cstdlib>

#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

TEST(Devices, CpuIsAlwaysPresentAndPrintsLikeJax) {
  auto cpus = devices("cpu");
  ASSERT_FALSE(cpus.empty());
  EXPECT_EQ(cpus[0].str(), "CpuDevice(id=0)");
  EXPECT_EQ(cpus[0].platform(), "cpu");
  EXPECT_EQ(devices().front(), cpus[0]);
  EXPECT_EQ(platforms().front(), "cpu");
}

TEST(Devices, MissingPlatformListsWhatIsPresentAndHowToGetIt) {
  try {
    devices("tt");
    FAIL();
  } catch (const DeviceNotFound& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"tt\""), std::string::npos) << m;
    EXPECT_NE(m.find("platforms present: cpu"), std::string::npos) << m;
    EXPECT_NE(m.find("TT_PJRT_PLUGIN_DIR"), std::string::npos) << m;
  }
  EXPECT_THROW(devices("nonsense"), DeviceNotFound);
}

TEST(Devices, DevicePutAndGetKeepValues) {
  Array x = array({1, 2, 3});
  Device d = devices("cpu").back();
  Array y = device_put(x, d);
  EXPECT_EQ(y.device(), d);
  EXPECT_EQ(device_get(y).to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(device_get(y).device(), default_device());
}

// Runs in its own ctest invocation with KILN_CPU_DEVICES=4 (tests/CMakeLists.txt).
TEST(DevicesEnv, CpuDeviceCountComesFromKilnCpuDevices) {
  const char* env = std::getenv("KILN_CPU_DEVICES");
  if (env == nullptr) GTEST_SKIP() << "run with KILN_CPU_DEVICES=4 (ctest does)";
  auto cpus = devices("cpu");
  ASSERT_EQ(cpus.size(), static_cast<size_t>(std::atoi(env)));
  EXPECT_EQ(cpus.back().str(), "CpuDevice(id=" + std::to_string(cpus.size() - 1) + ")");
  Array x = device_put(array({1, 2}), cpus[1]);
  Array y = device_put(array({3, 4}), cpus[2]);
  EXPECT_EQ(x.device().id(), 1);
  EXPECT_THROW(x + y, ValueError);  // arrays on different devices
  EXPECT_EQ((x + device_put(y, cpus[1])).to_vector<float>(), (std::vector<float>{4, 6}));
}

}  // namespace
}  // namespace kiln
