// The kiln command-line tool: `kiln version`, `kiln devices`, `kiln inspect FILE.msgpack`.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/inspect.hpp"
#include "kiln/serialization.hpp"
#include "kiln/version.hpp"

namespace {

int print_devices() {
  std::printf("platforms present:\n");
  for (kiln::Backend* b : kiln::backends()) {
    std::printf("  %s\n", std::string(b->platform()).c_str());
    for (int i = 0; i < b->device_count(); ++i) std::printf("    %s\n", b->device_str(i).c_str());
  }
  // Platforms kiln knows how to reach but that are absent here, with how to make them appear.
  for (const char* p : {"tt", "cuda"}) {
    if (kiln::find_backend(p) != nullptr) continue;
    try {
      kiln::devices(p);
    } catch (const kiln::DeviceNotFound& e) {
      std::printf("not present: %s\n  %s\n", p, e.what());
    }
  }
  return 0;
}

int inspect(const std::string& path) {
  auto bytes = kiln::serialization::read_file(path);
  auto state = kiln::serialization::decode(bytes, path);
  std::string summary = kiln::inspect_summary(state);
  if (!summary.empty() && summary.back() != '\n') summary += '\n';
  std::printf("%s\n%s", path.c_str(), summary.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kiln: train on the host, deploy compiled to an accelerator"};
  app.require_subcommand(1);
  auto* version = app.add_subcommand("version", "print kiln's version");
  auto* devs =
      app.add_subcommand("devices", "list platforms and devices, and how to enable missing ones");
  std::string file;
  auto* insp = app.add_subcommand(
      "inspect", "show the tree, shapes, dtypes, parameter count and bytes of a file");
  insp->add_option("file", file, "a Flax msgpack file")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (*version) {
      std::printf("kiln %s\n", kiln::version());
      return 0;
    }
    if (*devs) return print_devices();
    if (*insp) return inspect(file);
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return 1;
  }
  return 0;
}
