// The kiln command-line tool: `kiln version`, `kiln devices`, and for checkpoints in Flax msgpack
// or safetensors (told apart by extension) `kiln inspect FILE`, `kiln convert IN OUT`, `kiln diff A
// B`.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/inspect.hpp"
#include "kiln/safetensors.hpp"
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
  auto state = kiln::checkpoint::read_state(path);
  std::string summary = kiln::inspect_summary(state);
  if (!summary.empty() && summary.back() != '\n') summary += '\n';
  std::printf("%s\n%s", path.c_str(), summary.c_str());
  return 0;
}

int convert(const std::string& in, const std::string& out) {
  kiln::checkpoint::convert(in, out);
  std::printf("%s -> %s\n", in.c_str(), out.c_str());
  return 0;
}

// diff(1)'s exit codes: 0 identical, 1 different (and 2, from main, when a file cannot be read).
int diff(const std::string& a, const std::string& b) {
  auto d = kiln::checkpoint::diff(kiln::checkpoint::read_state(a), kiln::checkpoint::read_state(b),
                                  a, b);
  std::printf("%s", d.report.c_str());
  return d.identical ? 0 : 1;
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
  insp->add_option("file", file, "a Flax .msgpack or a .safetensors file")->required();
  std::string in, out;
  auto* conv = app.add_subcommand(
      "convert", "convert a checkpoint between .msgpack (Flax) and .safetensors, losslessly");
  conv->add_option("in", in, "the file to read")->required();
  conv->add_option("out", out, "the file to write (atomically); its extension picks the format")
      ->required();
  std::string a, b;
  auto* dif = app.add_subcommand(
      "diff", "compare two checkpoints (either format): exit 0 when identical, 1 when not");
  dif->add_option("a", a, "a .msgpack or .safetensors file")->required();
  dif->add_option("b", b, "a .msgpack or .safetensors file")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (*version) {
      std::printf("kiln %s\n", kiln::version());
      return 0;
    }
    if (*devs) return print_devices();
    if (*insp) return inspect(file);
    if (*conv) return convert(in, out);
    if (*dif) return diff(a, b);
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return *dif ? 2 : 1;
  }
  return 0;
}
