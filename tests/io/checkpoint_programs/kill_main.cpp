// The kill test (issue 4, item 3): a writer saving checkpoints in a loop is SIGKILLed at random
// points, many times; after every kill the latest checkpoint must restore, complete and correct.
//
//   checkpoint_kill WORKDIR [ITERATIONS [SEED [MAX_DELAY_MS]]]
//
// Each iteration starts `checkpoint_kill writer DIR` (this program again), which resumes after the
// latest checkpoint and saves steps with keep = 3, each a few MB whose every element is a function
// of the step, reporting each step on stdout once save_checkpoint has returned. The first writer is
// killed after its second save; each later one after a random delay (seeded: a failure
// reproduces) of up to MAX_DELAY_MS or, on a slow disk, the writer's start plus four saves. After
// each kill the driver checks:
//   - restore_checkpoint(dir, template) succeeds, and every checkpoint left holds exactly the
//     content of its step (so none is partial);
//   - the latest step is at least the last one the writer reported saved (no saved work lost) and
//     never goes back;
//   - at most keep + 1 checkpoints remain (the new one renamed in, the oldest not yet deleted) and
//     at most one temporary file (the write the kill interrupted; the next save removes it).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/checkpoint_programs/child_process.hpp"
#include "kiln/checkpoints.hpp"
#include "kiln/serialization.hpp"

namespace {

using namespace kiln;
namespace fs = std::filesystem;

constexpr int kKeep = 3;
constexpr int64_t kArrays = 4;
constexpr int64_t kElements = 256 * 1024;  // 4 arrays of 1 MiB: a write takes a few milliseconds

// The checkpoint of `step`: every element is a function of the step, its array and its index, so
// a partial or mixed-up file cannot pass for a complete one.
Tree payload(int64_t step) {
  Tree layers = Tree::dict();
  for (int64_t a = 0; a < kArrays; ++a) {
    std::vector<int32_t> v(static_cast<size_t>(kElements));
    uint32_t h = static_cast<uint32_t>(step) * 2654435761u + static_cast<uint32_t>(a) * 40503u;
    for (int64_t j = 0; j < kElements; ++j)
      v[static_cast<size_t>(j)] = static_cast<int32_t>(h ^ static_cast<uint32_t>(j));
    layers.entry(std::to_string(a)) = Tree(Array::from_data<int32_t>(v, {kElements}));
  }
  int32_t s = static_cast<int32_t>(step);
  float scale = static_cast<float>(step) * 0.5f;
  return Tree::dict(
      {{"step", Tree(Array::from_data<int32_t>(std::span<const int32_t>(&s, 1), {}))},
       {"scale", Tree(Array::from_data<float>(std::span<const float>(&scale, 1), {}))},
       {"layers", layers}});
}

int writer(const fs::path& dir) {
  std::vector<int64_t> steps = checkpoints::available_steps(dir);
  for (int64_t step = steps.empty() ? 1 : steps.back() + 1;; ++step) {
    checkpoints::save_checkpoint(dir, payload(step), step, {.keep = kKeep});
    std::printf("%lld\n", static_cast<long long>(step));
    std::fflush(stdout);
  }
}

// Reads the writer's stdout (one saved step per line) until EOF, or until `lines` lines when
// lines > 0, appending to `text`.
void read_reports(int fd, std::string& text, int lines = 0) {
  char buf[4096];
  ssize_t n;
  while ((lines <= 0 || std::count(text.begin(), text.end(), '\n') < lines) &&
         (n = ::read(fd, buf, sizeof buf)) > 0)
    text.append(buf, static_cast<size_t>(n));
}
// The last step reported in `text` (0 for none).
int64_t last_report(const std::string& text) {
  int64_t last = 0;
  size_t pos = 0, nl;
  while ((nl = text.find('\n', pos)) != std::string::npos) {
    last = std::stoll(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return last;
}

struct Stats {
  int with_temp = 0;   // a kill in the middle of a write
  int with_extra = 0;  // a kill between the rename and deleting the oldest
};

int drive(const fs::path& workdir, int iterations, uint64_t seed, int max_delay_ms) {
  const fs::path dir = workdir / "kill";
  fs::remove_all(dir);
  std::mt19937_64 rng(seed);
  double startup_ms = 0, save_ms = 0;
  const Tree templ = payload(0);
  int64_t reported = 0, latest = 0;
  Stats stats;
  auto start = std::chrono::steady_clock::now();
  auto fail = [&](int i, const std::string& what) {
    std::fprintf(stderr, "iteration %d (seed %llu): %s\n", i, static_cast<unsigned long long>(seed),
                 what.c_str());
    return 1;
  };

  for (int i = 0; i < iterations; ++i) {
    int fds[2];
    if (::pipe(fds) != 0) return fail(i, std::string("pipe: ") + std::strerror(errno));
    pid_t pid = checkpoint_programs::spawn_self({"writer", dir.string()}, fds[1]);
    ::close(fds[1]);
    std::string reports;
    if (i == 0) {
      // The first writer runs until it has saved twice: every later kill then finds checkpoints
      // to check, and the time between the two saves scales the delays, so that they span several
      // saves however fast the disk is.
      auto t0 = std::chrono::steady_clock::now();
      read_reports(fds[0], reports, 1);
      auto t1 = std::chrono::steady_clock::now();
      read_reports(fds[0], reports, 2);
      auto save = std::chrono::steady_clock::now() - t1;
      startup_ms = std::chrono::duration<double, std::milli>(t1 - t0 - save).count();
      save_ms = std::chrono::duration<double, std::milli>(save).count();
      max_delay_ms = std::max(max_delay_ms, static_cast<int>(startup_ms + 4 * save_ms));
    } else {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(0, max_delay_ms)(rng)));
    }
    ::kill(pid, SIGKILL);
    int status = checkpoint_programs::wait_child(pid);
    read_reports(fds[0], reports);
    int64_t got = last_report(reports);
    ::close(fds[0]);
    if (status != 128 + SIGKILL)
      return fail(i, "the writer ended with status " + std::to_string(status) + " before the kill");
    reported = std::max(reported, got);

    std::vector<int64_t> steps = checkpoints::available_steps(dir);
    int temps = 0;
    for (const auto& e : fs::directory_iterator(dir))
      temps += e.path().filename().string().rfind(".", 0) == 0;
    if (temps > 1) return fail(i, std::to_string(temps) + " temporary files left");
    stats.with_temp += temps;
    if (steps.empty()) return fail(i, "no checkpoint left");
    if (steps.size() > static_cast<size_t>(kKeep) + 1)
      return fail(
          i, std::to_string(steps.size()) + " checkpoints with keep = " + std::to_string(kKeep));
    stats.with_extra += steps.size() == static_cast<size_t>(kKeep) + 1;
    if (steps.back() < reported || steps.back() < latest)
      return fail(i, "latest checkpoint is step " + std::to_string(steps.back()) + ", but step " +
                         std::to_string(std::max(reported, latest)) + " had been saved");
    latest = steps.back();

    // The claim itself: the latest restores, and holds its step's content exactly.
    Tree restored = checkpoints::restore_checkpoint(dir, templ);
    if (restored["step"].leaf().item<int32_t>() != latest ||
        serialization::to_bytes(restored) != serialization::to_bytes(payload(latest)))
      return fail(i,
                  "the latest checkpoint (step " + std::to_string(latest) + ") has wrong content");
    // And so does every other checkpoint left.
    for (int64_t s : steps) {
      if (s == latest) continue;
      if (serialization::to_bytes(checkpoints::restore_checkpoint(dir, templ, s)) !=
          serialization::to_bytes(payload(s)))
        return fail(i, "checkpoint of step " + std::to_string(s) + " has wrong content");
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "%d kills (seed %llu; writer start %.0f ms, a save %.0f ms; delays 0-%d ms) in %.1f s: the "
      "latest checkpoint restored complete every time; reached step %lld; kills mid-write "
      "(temporary file left): %d; between rename and cleanup (%d checkpoints): %d\n",
      iterations, static_cast<unsigned long long>(seed), startup_ms, save_ms, max_delay_ms, secs,
      static_cast<long long>(latest), stats.with_temp, kKeep + 1, stats.with_extra);
  fs::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 2 && args[0] == "writer") return writer(args[1]);
    if (args.empty() || args.size() > 4) {
      std::fprintf(stderr, "usage: checkpoint_kill WORKDIR [ITERATIONS [SEED [MAX_DELAY_MS]]]\n");
      return 2;
    }
    int iterations = args.size() > 1 ? std::stoi(args[1]) : 50;
    uint64_t seed = args.size() > 2 ? std::stoull(args[2]) : 4;
    int max_delay = args.size() > 3 ? std::stoi(args[3]) : 200;
    return drive(args[0], iterations, seed, max_delay);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_kill: %s\n", e.what());
    return 1;
  }
}
