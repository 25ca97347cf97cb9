// The kiln command-line tool: `kiln version`, `kiln devices`; for checkpoints in Flax msgpack or
// safetensors (told apart by extension) `kiln inspect FILE`, `kiln convert IN OUT`, `kiln diff A
// B`; and the Fashion-MNIST workflow, `kiln train fashion-mnist` (on the cpu), `kiln eval` and
// `kiln predict` (on any device: --device).
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <new>
#include <string>

#include "exit_status.hpp"
#include "export_command.hpp"
#include "fashion_mnist_commands.hpp"
#include "inspect_text.hpp"
#include "kiln/backend.hpp"
#include "kiln/checkpoints.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"
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
  const std::string text = kiln::cli::inspect_text(kiln::checkpoints::summarize_file(path));
  std::printf("%s\n%s", path.c_str(), text.c_str());
  return 0;
}

int convert(const std::string& in, const std::string& out, bool force) {
  kiln::checkpoints::convert(in, out, {.replace_read_only = force});
  std::printf("%s -> %s\n", in.c_str(), out.c_str());
  return 0;
}

// diff(1)'s exit codes: 0 identical, 1 different (and 2, from main, when a file cannot be read).
int diff(const std::string& a, const std::string& b) {
  auto d = kiln::checkpoints::diff_files(a, b);
  std::printf("%s", d.report.c_str());
  return d.identical ? 0 : 1;
}

// A whole number in [lo, hi], checked on the text before CLI11 converts it (CLI11 saturates an
// out-of-range number to the type's limit instead of refusing it).
CLI::Validator in_range(long long lo, long long hi) {
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        long long v = 0;
        const char* end = text.data() + text.size();
        auto [p, ec] = std::from_chars(text.data(), end, v);
        if (ec == std::errc::result_out_of_range ||
            (ec == std::errc() && p == end && (v < lo || v > hi)))
          return "must be a whole number in " + range + ", got " + text;
        if (ec != std::errc() || p != end) return "must be a whole number, got \"" + text + "\"";
        return "";
      },
      "INT in " + range);
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
  bool conv_force = false;
  conv->add_flag("-f,--force", conv_force, "replace OUT even when it is read-only (as cp -f)");
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
  const long long kMaxInt32 = 2147483647;
  trn->add_option("--epochs", targs.epochs, "passes over the training set (in all, with --resume)")
      ->check(in_range(1, kMaxInt32))
      ->capture_default_str();
  trn->add_option("--batch-size", targs.batch_size, "examples per step")
      ->check(in_range(1, kMaxInt32))
      ->capture_default_str();
  trn->add_option("--lr", targs.lr, "Adam's learning rate")->capture_default_str();
  trn->add_option("--seed", targs.seed, "seeds initialisation, shuffling and dropout")
      ->check(in_range(0, 4294967295LL))
      ->capture_default_str();
  trn->add_option("--out", targs.out,
                  "directory for params.msgpack, checkpoints/, metrics.csv, training.svg, "
                  "confusion_matrix.csv")
      ->required();
  trn->add_option("--data", targs.data_dir,
                  "directory of the IDX files (default: $KILN_FASHION_MNIST_DIR or "
                  "/usr/share/datasets/fashion-mnist)");
  trn->add_option("--limit", targs.limit, "train on the first N training images only (quick runs)")
      ->check(in_range(1, kMaxInt32));
  trn->add_option("--devices", targs.devices,
                  "train data-parallel on N of kiln's cpu devices, each step's batch split "
                  "over them (sets KILN_CPU_DEVICES=N for the process)")
      ->check(in_range(1, 1024))
      ->capture_default_str();
  auto* resume = trn->add_flag("--resume", targs.resume,
                               "continue the run in --out from its last epoch (same result as an "
                               "uninterrupted run)");
  auto* overwrite = trn->add_flag("--overwrite", targs.overwrite,
                                  "start afresh in an --out that holds a run, deleting that run");
  resume->excludes(overwrite);

  kiln_tool::EvalArgs eargs;
  auto* evl = app.add_subcommand(
      "eval", "accuracy and per-class accuracy on the test set, on any device (--device)");
  evl->add_option("--params", eargs.params,
                  "the parameters: params.msgpack of kiln train, or .safetensors")
      ->required();
  evl->add_option("--model", eargs.model, "the model the parameters belong to: mlp or cnn")
      ->capture_default_str();
  evl->add_option("--data", eargs.data_dir, "directory of the IDX files");
  evl->add_option("--batch-size", eargs.batch_size, "images per evaluation step")
      ->check(in_range(1, kMaxInt32))
      ->capture_default_str();
  evl->add_option("--device", eargs.device,
                  "where inference runs: cpu, tt, a platform registered with "
                  "PJRT_NAMES_AND_LIBRARY_PATHS, or auto (tt when present, else cpu)")
      ->capture_default_str();

  kiln_tool::PredictArgs pargs;
  auto* prd = app.add_subcommand(
      "predict", "classify 28x28 images (PNG, PGM or IDX files), on any device (--device)");
  prd->add_option("--params", pargs.params,
                  "the parameters: params.msgpack of kiln train, or .safetensors")
      ->required();
  prd->add_option("--model", pargs.model, "mlp or cnn")->capture_default_str();
  prd->add_option("--top", pargs.top, "how many classes to show per image (all when more)")
      ->check(in_range(1, kMaxInt32))
      ->capture_default_str();
  prd->add_option("--device", pargs.device,
                  "where inference runs: cpu, tt, a registered platform, or auto")
      ->capture_default_str();
  prd->add_option("images", pargs.images, "image files")->required();

  kiln_tool::ExportArgs xargs;
  auto* xpt = app.add_subcommand("export", "write a built-in model's inference as StableHLO MLIR");
  xpt->add_option("--model", xargs.model, "tutorial, mlp or cnn")->capture_default_str();
  xpt->add_option("--params", xargs.params,
                  "parameters (.msgpack or .safetensors); default: the initial ones");
  xpt->add_option("--batch", xargs.batch, "examples per call")
      ->check(in_range(1, kMaxInt32))
      ->capture_default_str();
  xpt->add_option("-o,--out", xargs.out, "the .mlir file to write (atomically)")->required();
  xpt->add_flag("-f,--force", xargs.force, "replace the output even when it is read-only");

  // Exit statuses (docs/fashion-mnist.md, "Exit statuses"): 0 done, 1 failed (diff: the files
  // differ), 2 a bad command line (diff: a file could not be read), 3 out of memory, 4 training
  // diverged.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kiln_tool::kExitUsage;  // --help is a ParseError that succeeds
  }
  try {
    if (*version) {
      std::printf("kiln %s\n", kiln::version());
      return 0;
    }
    if (*devs) return print_devices();
    if (*insp) return inspect(file);
    if (*conv) return convert(in, out, conv_force);
    if (*dif) return diff(a, b);
    if (*trn) {
      for (const char* o :
           {"--model", "--epochs", "--batch-size", "--lr", "--seed", "--limit", "--data"})
        if (trn->count(o) > 0) targs.given.emplace_back(o);
      return kiln_tool::train(targs);
    }
    if (*evl) return kiln_tool::eval(eargs);
    if (*prd) return kiln_tool::predict(pargs);
    if (*xpt) return kiln_tool::export_model(xargs);
  } catch (const kiln_tool::UsageError& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return kiln_tool::kExitUsage;
  } catch (const kiln::FloatingPointError& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return kiln_tool::kExitDiverged;
  } catch (const std::bad_alloc&) {
    // Not a line more than needed: whatever allocation is attempted now may fail too.
    std::fputs(
        "kiln: out of memory: the input or the batch is larger than this machine's memory "
        "(or the process's limit) allows. Use a smaller --batch/--batch-size or --limit\n",
        stderr);
    return kiln_tool::kExitOutOfMemory;
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return *dif ? 2 : 1;
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "kiln: %s\n", e.what());
    return *dif ? 2 : 1;
  } catch (const std::exception& e) {
    // Nothing kiln throws on purpose lands here (std::length_error from a size beyond what a
    // container can hold, for one): still a message and a status, never an abort.
    std::fprintf(stderr, "kiln: internal error: %s\n", e.what());
    return *dif ? 2 : 1;
  }
  return 0;
}
