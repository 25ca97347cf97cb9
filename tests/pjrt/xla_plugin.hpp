// XLA's CPU PJRT plugin (the xla-cpu-pjrt wheel) for tests: the real compiler that StableHLO kiln
// writes must satisfy. Loaded once per process through kiln's own host (pjrt::Plugin), so every
// test that uses it also exercises the host against a third-party plugin.
//
//   KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN();
//   std::vector<Array> out = kiln::testing::run_on_xla(mlir_text, {x, w});
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "backend/pjrt/plugin.hpp"
#include "kiln/array.hpp"
#include "reference/reference_env.hpp"

namespace kiln::testing {

// The plugin, registered as "xla" and loaded on first use (kiln::testing::xla_cpu_plugin() must
// be non-empty: skip with KILN_SKIP_WITHOUT_XLA_CPU_PLUGIN first). Its client is created with
// kXlaDevices cpu devices (the create option "cpu_device_count"), as JAX's
// --xla_force_host_platform_device_count.
inline constexpr int kXlaDevices = 8;
std::shared_ptr<pjrt::Plugin> xla_plugin();

// Compiles MLIR text with the plugin (kiln's compile options; a module of mhlo.num_partitions =
// n > 1 for devices 0..n-1, SPMD-partitioned) and frees the executable. Throws
// PluginError carrying XLA's message when the text does not parse, verify or compile.
void compile_on_xla(std::string_view mlir);

// Compiles `mlir`, uploads `inputs` (host arrays, any dtype PJRT has) to device `device`, runs
// it there and returns its results as host arrays of the dtypes and shapes XLA reports.
std::vector<Array> run_on_xla(std::string_view mlir, const std::vector<Array>& inputs,
                              int device = 0);

// A module partitioned over n = inputs.size() devices (mhlo.num_partitions = n, mhlo.sharding on
// its arguments and results), compiled by XLA with SPMD partitioning for devices 0..n-1 and run
// there: inputs[k] are device k's shards of the arguments; returns outputs[o][k], device k's
// shard of result o.
std::vector<std::vector<Array>> run_partitioned_on_xla(
    std::string_view mlir, const std::vector<std::vector<Array>>& inputs);

}  // namespace kiln::testing
