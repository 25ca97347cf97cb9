// PJRT plugins: vendor runtimes (Tenstorrent's pjrt_plugin_tt.so, XLA's CUDA plugin, kiln's own
// conformance plugin) loaded as kiln backends through the PJRT C API (docs/pjrt.md).
//
//   PJRT_NAMES_AND_LIBRARY_PATHS=kilncpu:build/lib/libkiln_pjrt_cpu.so  build/bin/tutorial --device
//   kilncpu
//
// Plugins named by the environment are loaded the first time platforms or devices are asked for;
// one that fails to load is reported (plugin_failures(), `kiln devices`), never fatal to the cpu.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/backend.hpp"

namespace kiln::pjrt {

// A plugin to load: the platform name kiln registers it under, and its shared library.
struct PluginSpec {
  std::string name;
  std::string path;
  bool operator==(const PluginSpec&) const = default;
};

// JAX's PJRT_NAMES_AND_LIBRARY_PATHS format, "name:path,name2:path2". Throws ValueError naming the
// first malformed entry.
std::vector<PluginSpec> parse_names_and_paths(std::string_view text);

// Loads a plugin now (dlopen, API version check, PJRT_Plugin_Initialize, client create, devices)
// as a Backend registered nowhere. Throws PluginError saying what failed and what to do.
std::unique_ptr<Backend> load_plugin(const PluginSpec& spec);

// A plugin the environment names that could not be loaded, and why.
struct PluginFailure {
  PluginSpec spec;
  std::string error;
};

// The plugins the environment names (PJRT_NAMES_AND_LIBRARY_PATHS, then TT_PJRT_PLUGIN_DIR as
// "tt") that could not be loaded. Loads them first if nothing has asked for platforms yet.
const std::vector<PluginFailure>& plugin_failures();

}  // namespace kiln::pjrt
