// fashion_mnist_bench: `kiln train fashion-mnist` beside the same training in LibTorch 1.13 C++
// (bin/fashion_mnist_libtorch, peer_fashion_mnist_libtorch.cpp), each as a process, in one run:
// seconds per epoch (median), time to the accuracy target, final test accuracy and peak resident
// memory, for the MLP and the CNN.
//
//   fashion_mnist_bench [--models mlp,cnn] [--epochs N] [--threads T] [--batch-size B] [--bin DIR]
//
// The programs alternate model by model so that a change in the machine's load falls on both.
// Targets (issue 5): MLP >= 89.0%, CNN >= 91.5% test accuracy.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace fs = std::filesystem;
using kiln_bench::ChildRun;

namespace {

struct Epoch {
  double seconds = 0;   // training time of the epoch (evaluation excluded)
  double accuracy = 0;  // test accuracy after it, in [0, 1]
};

struct Result {
  std::vector<Epoch> epochs;
  ChildRun run;
  std::string error;
};

// kiln: "epoch 3/10: train loss 0.3 accuracy 88.1% | test loss 0.35 accuracy 87.42% | 21.3 s, ..."
std::vector<Epoch> parse_kiln(const std::string& text) {
  std::vector<Epoch> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("epoch ", 0) != 0 || line.find("| test loss") == std::string::npos) continue;
    const size_t acc = line.find("accuracy", line.find("| test loss"));
    const size_t bar = line.find("| ", acc);
    if (acc == std::string::npos || bar == std::string::npos) continue;
    Epoch e;
    e.accuracy = std::strtod(line.c_str() + acc + 9, nullptr) / 100.0;
    e.seconds = std::strtod(line.c_str() + bar + 2, nullptr);
    out.push_back(e);
  }
  return out;
}

// LibTorch peer: "epoch 3 seconds 21.3 loss 0.3 test_accuracy 0.8742"
std::vector<Epoch> parse_peer(const std::string& text) {
  std::vector<Epoch> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t s = line.find("seconds "), a = line.find("test_accuracy ");
    if (line.rfind("epoch ", 0) != 0 || s == std::string::npos || a == std::string::npos) continue;
    out.push_back(
        {std::strtod(line.c_str() + s + 8, nullptr), std::strtod(line.c_str() + a + 14, nullptr)});
  }
  return out;
}

double median_seconds(const std::vector<Epoch>& e) {
  std::vector<double> s;
  for (const Epoch& x : e) s.push_back(x.seconds);
  std::sort(s.begin(), s.end());
  return s.empty() ? NAN : s[s.size() / 2];
}

// Training seconds until the test accuracy first reaches `target` (NaN: not reached).
double time_to(const std::vector<Epoch>& e, double target, int* epoch) {
  double t = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    t += e[i].seconds;
    if (e[i].accuracy >= target) {
      *epoch = static_cast<int>(i + 1);
      return t;
    }
  }
  *epoch = 0;
  return NAN;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--models mlp,cnn] [--epochs N] [--threads T] [--batch-size B] "
               "[--bin DIR]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models = {"mlp", "cnn"};
  int epochs = 10, threads = 2, batch = 128;
  fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage(argv[0]);
    const std::string v = argv[++i];
    if (arg == "--models")
      models = split(v);
    else if (arg == "--epochs")
      epochs = std::atoi(v.c_str());
    else if (arg == "--threads")
      threads = std::atoi(v.c_str());
    else if (arg == "--batch-size")
      batch = std::atoi(v.c_str());
    else if (arg == "--bin")
      bin = fs::absolute(v);
    else
      return usage(argv[0]);
  }
  const std::map<std::string, double> target = {{"mlp", 0.890}, {"cnn", 0.915}};
  const fs::path kiln = bin / "kiln", peer = bin / "fashion_mnist_libtorch";
  if (access(kiln.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "fashion_mnist_bench: %s not found; build the target kiln_cli\n",
                 kiln.c_str());
    return 1;
  }
  const bool have_peer = access(peer.c_str(), X_OK) == 0;
  std::string tmpl = (fs::temp_directory_path() / "kiln-fashion-mnist-bench-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("fashion_mnist_bench: mkdtemp");
    return 1;
  }
  const fs::path dir = tmpl;
  const std::string E = std::to_string(epochs), B = std::to_string(batch),
                    T = std::to_string(threads);

  std::printf("Fashion-MNIST training, %d epochs, batch %d, Adam lr 1e-3, %d thread(s) each\n",
              epochs, batch, threads);
  std::map<std::string, std::pair<Result, Result>> results;
  for (const std::string& m : models) {
    if (!target.count(m)) return usage(argv[0]);
    Result& k = results[m].first;
    std::printf("running kiln %s ...\n", m.c_str());
    std::fflush(stdout);
    k.run = kiln_bench::run_child(kiln,
                                  {"train", "fashion-mnist", "--model", m, "--epochs", E,
                                   "--batch-size", B, "--seed", "0", "--out", (dir / m).string()},
                                  dir, dir / "kiln.txt", {{"KILN_NUM_THREADS", T}});
    const std::string ktext = kiln_bench::read_text(dir / "kiln.txt");
    k.epochs = parse_kiln(ktext);
    if (!k.run.ok() || k.epochs.size() != static_cast<size_t>(epochs))
      k.error = "kiln failed:\n" + ktext;
    if (have_peer) {
      Result& p = results[m].second;
      std::printf("running LibTorch %s ...\n", m.c_str());
      std::fflush(stdout);
      p.run = kiln_bench::run_child(
          peer, {"--model", m, "--epochs", E, "--batch-size", B, "--seed", "0", "--threads", T},
          dir, dir / "peer.txt", {{"OMP_NUM_THREADS", T}});
      const std::string ptext = kiln_bench::read_text(dir / "peer.txt");
      p.epochs = parse_peer(ptext);
      if (!p.run.ok() || p.epochs.size() != static_cast<size_t>(epochs))
        p.error = "LibTorch failed:\n" + ptext;
    }
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);

  bool ok = true;
  std::printf("\n%-5s %-9s %14s %18s %12s %12s\n", "model", "program", "s/epoch (med)",
              "time to target s", "final acc", "peak RSS MiB");
  for (const std::string& m : models) {
    const auto& [k, p] = results[m];
    for (const Result* r : {&k, &p}) {
      if (r == &p && !have_peer) continue;
      const char* name = r == &k ? "kiln" : "LibTorch";
      if (!r->error.empty()) {
        std::fprintf(stderr, "%s\n", r->error.c_str());
        ok = false;
        continue;
      }
      int at = 0;
      const double tt = time_to(r->epochs, target.at(m), &at);
      char when[64];
      if (at > 0)
        std::snprintf(when, sizeof when, "%.1f (ep %d)", tt, at);
      else
        std::snprintf(when, sizeof when, "not reached");
      std::printf("%-5s %-9s %14.2f %18s %11.2f%% %12.1f\n", m.c_str(), name,
                  median_seconds(r->epochs), when, r->epochs.back().accuracy * 100,
                  static_cast<double>(r->run.max_rss_kb) / 1024);
    }
    if (have_peer && k.error.empty() && p.error.empty()) {
      int a = 0, b = 0;
      const double tk = time_to(k.epochs, target.at(m), &a),
                   tp = time_to(p.epochs, target.at(m), &b);
      std::printf("%-5s kiln/LibTorch: s/epoch %.3fx, peak RSS %.3fx", m.c_str(),
                  median_seconds(k.epochs) / median_seconds(p.epochs),
                  static_cast<double>(k.run.max_rss_kb) / static_cast<double>(p.run.max_rss_kb));
      if (a > 0 && b > 0) std::printf(", time to %.1f%% %.3fx", target.at(m) * 100, tk / tp);
      std::printf("\n");
    }
  }
  if (!have_peer)
    std::printf(
        "LibTorch: fashion_mnist_libtorch not built (scripts/install.sh --bench, "
        "reconfigure)\n");
  return ok ? 0 : 1;
}
