// PJRT_NAMES_AND_LIBRARY_PATHS="name:path,..." (JAX's variable) and TT_PJRT_PLUGIN_DIR (tt-xla's
// package directory) name plugins; each is loaded once, and one that fails is recorded, not fatal.
#include "backend/pjrt/discovery.hpp"

#include <cctype>
#include <cstdlib>
#include <string>

#include "kiln/error.hpp"
#include "kiln/pjrt.hpp"

namespace kiln::pjrt {
namespace {

constexpr const char* kFormat =
    "Write PJRT_NAMES_AND_LIBRARY_PATHS as name:path[,name2:path2], e.g. "
    "kilncpu:build/lib/libkiln_pjrt_cpu.so";

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

PluginSpec parse_entry(std::string_view entry) {
  const size_t colon = entry.find(':');
  if (colon == std::string_view::npos)
    throw ValueError("PJRT_NAMES_AND_LIBRARY_PATHS entry '" + std::string(entry) +
                     "' has no ':' between a platform name and a library path. " + kFormat);
  PluginSpec s{trim(entry.substr(0, colon)), trim(entry.substr(colon + 1))};
  bool name_ok = !s.name.empty();
  for (char c : s.name)
    name_ok = name_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  if (!name_ok)
    throw ValueError("PJRT_NAMES_AND_LIBRARY_PATHS entry '" + std::string(entry) +
                     "' does not start with a platform name (letters, digits, _ or -). " + kFormat);
  if (s.path.empty())
    throw ValueError("PJRT_NAMES_AND_LIBRARY_PATHS entry '" + std::string(entry) +
                     "' names no library path. " + kFormat);
  if (s.name == "cpu")
    throw ValueError("PJRT_NAMES_AND_LIBRARY_PATHS entry '" + std::string(entry) +
                     "' uses the name \"cpu\", which is kiln's built-in platform. Register the "
                     "plugin under another name");
  return s;
}

std::vector<std::string> split_entries(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string e = trim(text.substr(start, comma - start));
    if (!e.empty()) out.push_back(std::move(e));  // "a:x," and ",a:x" are forgiven
    start = comma + 1;
  }
  return out;
}

struct Discovered {
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<PluginFailure> failures;
};

Discovered discover() {
  Discovered d;
  std::vector<PluginSpec> specs;
  auto add = [&](PluginSpec s) {
    for (const PluginSpec& t : specs)
      if (t.name == s.name) {
        d.failures.push_back({s, "the platform name \"" + s.name +
                                     "\" is registered twice (also "
                                     "for " +
                                     t.path + "). Give each plugin its own name"});
        return;
      }
    specs.push_back(std::move(s));
  };
  if (const char* env = std::getenv("PJRT_NAMES_AND_LIBRARY_PATHS")) {
    for (const std::string& entry : split_entries(env)) {
      try {
        add(parse_entry(entry));
      } catch (const Error& e) {
        d.failures.push_back({{entry, ""}, e.what()});
      }
    }
  }
  const char* tt_dir = std::getenv("TT_PJRT_PLUGIN_DIR");
  if (tt_dir != nullptr && *tt_dir != '\0') {
    std::string dir(tt_dir);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    bool named = false;
    for (const PluginSpec& s : specs) named = named || s.name == "tt";
    if (!named) {
      // tt-xla reads TT_METAL_RUNTIME_ROOT when its client is created; its wheel keeps the
      // runtime next to the plugin.
      setenv("TT_METAL_RUNTIME_ROOT", (dir + "/tt-metal").c_str(), /*overwrite=*/0);
      specs.push_back({"tt", dir + "/pjrt_plugin_tt.so"});
    }
  }
  for (const PluginSpec& s : specs) {
    try {
      d.backends.push_back(load_plugin(s));
    } catch (const Error& e) {
      d.failures.push_back({s, e.what()});
    }
  }
  return d;
}

Discovered& discovered() {
  static Discovered d = discover();
  return d;
}

}  // namespace

std::vector<PluginSpec> parse_names_and_paths(std::string_view text) {
  std::vector<PluginSpec> out;
  for (const std::string& entry : split_entries(text)) out.push_back(parse_entry(entry));
  return out;
}

const std::vector<std::unique_ptr<Backend>>& plugin_backends() {
  return discovered().backends;
}

const std::vector<PluginFailure>& plugin_failures() {
  return discovered().failures;
}

}  // namespace kiln::pjrt
