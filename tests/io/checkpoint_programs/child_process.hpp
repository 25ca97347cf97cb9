// Starting this same program again as a child process: the resume and kill tests need work done in
// a process of its own (a fresh process restoring a checkpoint; a writer that can be SIGKILLed).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace kiln::checkpoint_programs {

// Starts /proc/self/exe with `args` (argv[1..]); `stdout_fd`, when not -1, becomes its stdout.
// The path of the running executable, not argv[0], so it works whatever the working directory.
inline pid_t spawn_self(const std::vector<std::string>& args, int stdout_fd = -1) {
  std::vector<std::string> owned = {"/proc/self/exe"};
  owned.insert(owned.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);  // buffered output must not be written twice
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(2);
  }
  if (pid == 0) {
    if (stdout_fd >= 0) ::dup2(stdout_fd, STDOUT_FILENO);
    ::execv("/proc/self/exe", argv.data());
    std::perror("execv /proc/self/exe");
    ::_exit(127);
  }
  return pid;
}

// Waits for `pid`; its exit status, or 128 + signal when a signal ended it.
inline int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

inline int run_self(const std::vector<std::string>& args) {
  return wait_child(spawn_self(args));
}

}  // namespace kiln::checkpoint_programs
