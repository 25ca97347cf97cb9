// Running a program as a child process for the process-level benchmarks: fork/exec/wait4, so no
// shell adds a process of its own to the time, and wait4 reports the child's CPU time and peak
// resident memory.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace kiln_bench {

struct ChildRun {
  double wall_ms = 0, cpu_ms = 0;
  long max_rss_kb = 0;
  int status = 0;
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

inline double monotonic_ms() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

// Runs `exe args...` in `dir` with `env` added to the environment, stdout and stderr going to
// `output` (a file, so that no program pays for a terminal), and waits for it.
inline ChildRun run_child(const std::filesystem::path& exe, const std::vector<std::string>& args,
                          const std::filesystem::path& dir, const std::filesystem::path& output,
                          const std::vector<std::pair<std::string, std::string>>& env = {}) {
  // argv and envp are built before fork: the child may only make async-signal-safe calls until
  // exec.
  std::vector<std::string> storage{exe.string()};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool overridden = false;
    for (const auto& [k, v] : env) overridden |= entry.rfind(k + "=", 0) == 0;
    if (!overridden) env_storage.push_back(entry);
  }
  for (const auto& [k, v] : env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  ChildRun r;
  const double t0 = monotonic_ms();
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("bench: fork");
    std::exit(1);
  }
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    const int fd = open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  rusage usage{};
  while (wait4(pid, &r.status, 0, &usage) < 0) {
    if (errno != EINTR) {
      std::perror("bench: wait4");
      std::exit(1);
    }
  }
  r.wall_ms = monotonic_ms() - t0;
  auto ms = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) * 1e-3;
  };
  r.cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
  r.max_rss_kb = usage.ru_maxrss;
  return r;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kiln_bench
