// The kiln command-line tool: `kiln version`, `kiln devices`; for checkpoints in Flax msgpack or
// safetensors (told apart by extension) `kiln inspect FILE`, `kiln convert IN OUT`, `kiln diff A
// B`; and the Fashion-MNIST workflow, `kiln train fashion-mnist` (on the cpu), `kiln eval` and
// `kiln predict` (on any device: --device).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "export_command.hpp"
#include "fashion_mnist_commands.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
#include "kiln/inspect.hpp"
#include "kiln/pjrt.hpp"
#include "kiln/safetensors.hpp"
#include "kiln/serialization.hpp"
#include "kiln/version.hpp"

namespace {

int print_devices() {
  std::printf("platforms present:\n");
  for (kiln::Backend* b : kiln::backends()) {
    std::printf("  %s\n", std::string(b->platform()).c_str());
    for (int i = 0; i < b->device_count(); ++i) std::printf("    %s\n", b->device_str(i).c_str());
    if (b->platform() == "cpu")
      std::printf("    kernels: oneDNN on %s (ONEDNN_MAX_CPU_ISA caps it)\n",
                  kiln::cpu_kernel_isa().c_str());
  }
  // PJRT plugins the environment names that did not load, with why (never fatal to the rest).
  for (const kiln::pjrt::PluginFailure& f : kiln::pjrt::plugin_failures()) {
    std::printf("registered but not loaded: %s%s\n  %s\n", f.spec.name.c_str(),
                f.spec.path.empty() ? "" : (" (" + f.spec.path + ")").c_str(), f.error.c_str());
  }
  // Platforms kiln knows how to reach but that are absent here, with how to make them appear.
  for (const char* p : {"tt", "cuda"}) {
    if (kiln::find_backend(p) != nullptr) continue;
    bool reported = false;
    for (const auto& f : kiln::pjrt::plugin_failures()) reported = reported || f.spec.name == p;
    if (reported) continue;
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

  kiln_tool::TrainArgs targs;
  auto* trn = app.add_subcommand(
      "train",
      "train a built-in model on a dataset: kiln train fashion-mnist --model cnn --out DIR");
  trn->add_option("dataset", targs.dataset, "the dataset (fashion-mnist)")->required();
  trn->add_option("--model", targs.model, "mlp or cnn")->capture_default_str();
  trn->add_option("--epochs", targs.epochs, "passes over the training set")->capture_default_str();
  trn->add_option("--batch-size", targs.batch_size, "examples per step")->capture_default_str();
  trn->add_option("--lr", targs.lr, "Adam's learning rate")->capture_default_str();
  trn->add_option("--seed", targs.seed, "seeds initialisation, shuffling and dropout")
      ->capture_default_str();
  trn->add_option("--out", targs.out,
                  "directory for params.msgpack, checkpoints/, metrics.csv, training.svg, "
                  "confusion_matrix.csv")
      ->required();
  trn->add_option("--data", targs.data_dir,
                  "directory of the IDX files (default: $KILN_FASHION_MNIST_DIR or "
                  "/usr/share/datasets/fashion-mnist)");
  trn->add_option("--limit", targs.limit, "train on the first N training images only (quick runs)");

  kiln_tool::EvalArgs eargs;
  auto* evl = app.add_subcommand(
      "eval", "accuracy and per-class accuracy on the test set, on any device (--device)");
  evl->add_option("--params", eargs.params, "a params.msgpack written by kiln train")->required();
  evl->add_option("--model", eargs.model, "the model the parameters belong to: mlp or cnn")
      ->capture_default_str();
  evl->add_option("--data", eargs.data_dir, "directory of the IDX files");
  evl->add_option("--batch-size", eargs.batch_size, "images per evaluation step")
      ->capture_default_str();
  evl->add_option("--device", eargs.device,
                  "where inference runs: cpu, tt, a platform registered with "
                  "PJRT_NAMES_AND_LIBRARY_PATHS, or auto (tt when present, else cpu)")
      ->capture_default_str();

  kiln_tool::PredictArgs pargs;
  auto* prd = app.add_subcommand(
      "predict", "classify 28x28 images (PNG, PGM or IDX files), on any device (--device)");
  prd->add_option("--params", pargs.params, "a params.msgpack written by kiln train")->required();
  prd->add_option("--model", pargs.model, "mlp or cnn")->capture_default_str();
  prd->add_option("--top", pargs.top, "how many classes to show per image")->capture_default_str();
  prd->add_option("--device", pargs.device,
                  "where inference runs: cpu, tt, a registered platform, or auto")
      ->capture_default_str();
  prd->add_option("images", pargs.images, "image files")->required();

  kiln_tool::ExportArgs xargs;
  auto* xpt = app.add_subcommand("export", "write a built-in model's inference as StableHLO MLIR");
  xpt->add_option("--model", xargs.model, "tutorial, mlp or cnn")->capture_default_str();
  xpt->add_option("--params", xargs.params, "parameters (.msgpack); default: the initial ones");
  xpt->add_option("--batch", xargs.batch, "examples per call")->capture_default_str();
  xpt->add_option("-o,--out", xargs.out, "the .mlir file to write (atomically)")->required();

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
    if (*trn) return kiln_tool::train(targs);
    if (*evl) return kiln_tool::eval(eargs);
    if (*prd) return kiln_tool::predict(pargs);
    if (*xpt) return kiln_tool::export_model(xargs);
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return 1;
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return *dif ? 2 : 1;
  }
  return 0;
}
