// tutorial_process_bench: the whole tutorial as a process — start-up, 100 train steps, save, load,
// one inference, exit — timed from fork to exit, for kiln's build/bin/tutorial and, when it was
// built, the same workflow in LibTorch C++ (build/bin/tutorial_libtorch,
// peer_tutorial_libtorch.cpp). DESIGN.md §8 quotes 408 ms of process start-up alone for LibTorch;
// the target for kiln is 50 ms for the whole process.
//
//   tutorial_process_bench [--runs N] [--bin DIR]      (DIR defaults to this program's directory)
//
// A C++ runner rather than a shell loop (child_process.hpp): fork/exec/wait4 adds no process of its
// own to the time (`date` in a loop would), and wait4 also reports each child's CPU time and peak
// memory.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace fs = std::filesystem;

namespace {

// The tutorial's printout (DESIGN.md §8): both programs must print these lines and predict this.
constexpr const char* kReferenceLines[] = {
    "Step 0, Loss: 15.8735",  "Step 20, Loss: 15.4278", "Step 40, Loss: 14.6043",
    "Step 60, Loss: 13.3201", "Step 80, Loss: 11.5956",
};
constexpr double kReferencePrediction = 1.8358;

struct Program {
  std::string name;  // for the table
  fs::path exe;
  std::vector<double> wall_ms, cpu_ms;
  long max_rss_kb = 0;
};

using kiln_bench::ChildRun;

// Empty if `out` is the tutorial's printout, else what is wrong with it.
std::string check_output(const std::string& out) {
  for (const char* line : kReferenceLines) {
    if (out.find(std::string(line) + "\n") == std::string::npos) {
      return std::string("no line \"") + line + "\"";
    }
  }
  // "Prediction (on <device>): <array>": the first number after the last ':' of that line.
  const size_t at = out.find("Prediction");
  if (at == std::string::npos) return "no \"Prediction\" line";
  const std::string line = out.substr(at, out.find('\n', at) - at);
  const size_t colon = line.rfind(':');
  const size_t digit = line.find_first_of("-0123456789", colon);
  const double value =
      digit == std::string::npos ? NAN : std::strtod(line.c_str() + digit, nullptr);
  if (!(std::fabs(value - kReferencePrediction) < 5e-4)) {
    return "prediction line \"" + line + "\", expected 1.8358";
  }
  return "";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--runs N] [--bin DIR]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 21;
  fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
      if (runs < 1) return usage(argv[0]);
    } else if (arg == "--bin" && i + 1 < argc) {
      bin = fs::absolute(argv[++i]);
    } else {
      return usage(argv[0]);
    }
  }

  std::vector<Program> programs;
  programs.push_back({"kiln (bin/tutorial)", bin / "tutorial", {}, {}, 0});
  if (access(programs[0].exe.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "tutorial_process_bench: %s not found; build the target tutorial\n",
                 programs[0].exe.c_str());
    return 1;
  }
  const bool have_peer = access((bin / "tutorial_libtorch").c_str(), X_OK) == 0;
  if (have_peer)
    programs.push_back({"LibTorch (bin/tutorial_libtorch)", bin / "tutorial_libtorch", {}, {}, 0});

  // A fresh directory for the parameter files the programs write, removed at the end.
  std::string tmpl = (fs::temp_directory_path() / "kiln-tutorial-process-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("tutorial_process_bench: mkdtemp");
    return 1;
  }
  const fs::path dir = tmpl;

  // One untimed run each first: the first start after a build reads the executables and shared
  // libraries (LibTorch's are over a gigabyte) from disk, which no later start does. Its output
  // is checked, so a wrong program is not timed. Then the programs alternate, so that a change in
  // the machine's load during the runs falls on both alike.
  bool ok = true;
  for (Program& p : programs) {
    const fs::path out = dir / "output.txt";
    const ChildRun r = kiln_bench::run_child(p.exe, {}, dir, out);
    const std::string text = kiln_bench::read_text(out);
    std::printf("== %s, output of the untimed first run:\n%s", p.name.c_str(), text.c_str());
    std::string problem = check_output(text);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) problem = "it failed";
    if (!problem.empty()) {
      std::fprintf(stderr, "tutorial_process_bench: %s: %s\n", p.name.c_str(), problem.c_str());
      ok = false;
    }
  }
  if (ok) {
    for (int i = 0; i < runs; ++i) {
      for (Program& p : programs) {
        const ChildRun r = kiln_bench::run_child(p.exe, {}, dir, dir / "output.txt");
        if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
          std::fprintf(stderr, "tutorial_process_bench: %s failed on run %d\n", p.name.c_str(), i);
          ok = false;
        }
        p.wall_ms.push_back(r.wall_ms);
        p.cpu_ms.push_back(r.cpu_ms);
        p.max_rss_kb = std::max(p.max_rss_kb, r.max_rss_kb);
      }
    }
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  if (!ok) return 1;

  std::printf("\nwhole process (start, train 100 steps, save, load, infer, exit), %d runs each\n",
              runs);
  std::printf("%-34s %12s %10s %13s %12s\n", "program", "median ms", "min ms", "median CPU ms",
              "max RSS MiB");
  for (const Program& p : programs) {
    std::printf("%-34s %12.1f %10.1f %13.1f %12.1f\n", p.name.c_str(), median(p.wall_ms),
                *std::min_element(p.wall_ms.begin(), p.wall_ms.end()), median(p.cpu_ms),
                static_cast<double>(p.max_rss_kb) / 1024);
  }
  const double kiln_ms = median(programs[0].wall_ms);
  if (have_peer) {
    std::printf("kiln/LibTorch (median wall): %.3fx\n", kiln_ms / median(programs[1].wall_ms));
  } else {
    std::printf(
        "LibTorch: tutorial_libtorch not built (scripts/install.sh --bench, reconfigure)\n");
  }
  std::printf("kiln target <= 50 ms: %s\n", kiln_ms <= 50 ? "met" : "NOT met");
  return 0;
}
