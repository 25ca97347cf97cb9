// The compile-time support check: a graph a backend cannot run is refused before anything reaches
// the plugin, as kiln::Unsupported naming the primitive, the dtype, the user's line and the remedy.
#include <gtest/gtest.h>

#include <complex>
#include <string>

#include "backend/support_check.hpp"
#include "kiln/error.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/pjrt.hpp"
#include "kiln/random.hpp"
#include "pjrt/plugin_hooks.hpp"

namespace kiln {
namespace {

using SupportCheck = kiln::testing::PluginHooks;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The graph of `f` traced for x on the cpu, and the line that draws random bits in it.
constexpr int kNormalLine = __LINE__ + 2;
Array add_noise(const Array& x) {
  return x + random::normal(random::key(0), x.shape());
}

TEST_F(SupportCheck, RandomBitsOnAPluginAreRefusedWithTheDevicePutRemedy) {
  auto plugin = pjrt::load_plugin({"kilncpu", KILN_PJRT_CPU_PLUGIN});
  ir::Graph g = jit(add_noise).lower(ones({2, 3})).graph();
  try {
    plugin->compile(g, Device(plugin.get(), 0));
    ADD_FAILURE() << "a graph with threefry2x32 compiled on the plugin";
  } catch (const Unsupported& e) {
    const std::string m = e.what();
    EXPECT_TRUE(has(m, "the kilncpu backend cannot run threefry2x32 on uint32")) << m;
    EXPECT_TRUE(has(m, "support_check_test.cpp:" + std::to_string(kNormalLine))) << m;
    EXPECT_TRUE(has(m, "initialise on the cpu and device_put the parameters, as the tutorial does"))
        << m;
    EXPECT_FALSE(has(m, "PJRT plugin")) << m;  // refused by kiln, not by the plugin
  }
}

// complex runs through StableHLO like any dtype: real/imag/complex change the dtype class, and
// the check reads their rows by their operands.
TEST_F(SupportCheck, ComplexPassesIncludingRealImagAndComplex) {
  auto plugin = pjrt::load_plugin({"kilncpu", KILN_PJRT_CPU_PLUGIN});
  const Array z =
      Array::from_data<std::complex<float>>(std::vector<std::complex<float>>{{1, 2}}, {1});
  ir::Graph g = jit([](const Array& x) { return complex(real(x), imag(x)) * x; }).lower(z).graph();
  EXPECT_NO_THROW(check_supported(g, *plugin));
}

TEST_F(SupportCheck, WhatTheBackendSupportsPasses) {
  auto plugin = pjrt::load_plugin({"kilncpu", KILN_PJRT_CPU_PLUGIN});
  ir::Graph g = jit([](const Array& x) { return exp(x) * x; }).lower(ones({2})).graph();
  EXPECT_NO_THROW(check_supported(g, *plugin));
  EXPECT_TRUE(plugin->supports(ir::Prim::dot_general, DType::float32));
  EXPECT_FALSE(plugin->supports(ir::Prim::threefry2x32, DType::uint32));
}

TEST_F(SupportCheck, TtRefusesPoolingWindows) {
  setenv("KILN_PJRT_TEST_PLATFORM_NAME", "tt", 1);
  auto tt = pjrt::load_plugin({"tt", KILN_PJRT_CPU_PLUGIN});
  EXPECT_FALSE(tt->supports(ir::Prim::reduce_window_max, DType::float32));
  EXPECT_TRUE(tt->supports(ir::Prim::dot_general, DType::float32));
}

}  // namespace
}  // namespace kiln
