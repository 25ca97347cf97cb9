#include "run_directory.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>

#include "kiln/checkpoints.hpp"
#include "kiln/error.hpp"
#include "kiln/serialization.hpp"

namespace kiln_tool {

namespace fs = std::filesystem;
using kiln::Error;

namespace {

constexpr const char* kConfig = "run.cfg";
constexpr const char* kLock = ".lock";
constexpr const char* kStagedInfix = ".step";

// `.params.msgpack.step96`: file `name` staged for the commit of step 96.
std::string staged_name(const std::string& name, int64_t step) {
  return "." + name + kStagedInfix + std::to_string(step);
}

// The file and step of a staged name; nullopt for any other name.
std::optional<std::pair<std::string, int64_t>> parse_staged(const std::string& file) {
  if (file.empty() || file[0] != '.') return std::nullopt;
  const size_t at = file.rfind(kStagedInfix);
  if (at == std::string::npos || at < 1) return std::nullopt;
  const std::string digits = file.substr(at + std::strlen(kStagedInfix));
  if (digits.empty() || digits.size() > 18 ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::make_pair(file.substr(1, at - 1), std::stoll(digits));
}

bool holds_run(const fs::path& dir) {
  for (const std::string& n : RunDirectory::file_names())
    if (fs::exists(fs::symlink_status(dir / n))) return true;
  return false;
}

[[noreturn]] void busy(const fs::path& dir, int lock_fd) {
  char pid[32] = {};
  const ssize_t n = ::pread(lock_fd, pid, sizeof pid - 1, 0);
  std::string who = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
  while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
  throw Error("another kiln train" + (who.empty() ? "" : " (pid " + who + ")") + " is running in " +
              dir.string() + " (it holds " + (dir / kLock).string() +
              "): wait for it to finish, or give another --out");
}

[[noreturn]] void refuse_existing_run(const fs::path& dir) {
  throw Error(dir.string() +
              " holds a run already; nothing was changed. Continue it with --resume (same "
              "settings; --epochs N to extend it), replace it with --overwrite, or give another "
              "--out");
}

// Whether `dir`'s lock is held by another process, without creating anything.
void check_unlocked(const fs::path& dir) {
  const int fd = ::open((dir / kLock).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  if (held) {
    try {
      busy(dir, fd);
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  ::close(fd);
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string config_text(const RunConfig& c) {
  char lr[64];
  std::snprintf(lr, sizeof lr, "%.17g", c.lr);  // round-trips a double exactly
  return "dataset " + c.dataset + "\nmodel " + c.model + "\nepochs " + std::to_string(c.epochs) +
         "\nbatch_size " + std::to_string(c.batch_size) + "\nlr " + lr + "\nseed " +
         std::to_string(c.seed) + "\nlimit " + std::to_string(c.limit) + "\n";
}

}  // namespace

const std::vector<std::string>& RunDirectory::file_names() {
  static const std::vector<std::string> names = {"params.msgpack", "metrics.csv",
                                                 "training.svg",   "confusion_matrix.csv",
                                                 "checkpoints",    kConfig};
  return names;
}

void RunDirectory::check_new(const fs::path& dir) {
  const fs::file_status st = fs::status(dir);
  if (!fs::exists(st)) return;
  if (!fs::is_directory(st))
    throw Error("--out " + dir.string() + " exists and is not a directory: give a directory");
  check_unlocked(dir);
  if (holds_run(dir)) refuse_existing_run(dir);
}

RunConfig RunDirectory::read_config(const fs::path& dir) {
  if (!fs::exists(dir / kConfig))
    throw Error("--resume: " + dir.string() + " holds no run to resume (no " + kConfig +
                "); start one without --resume");
  RunConfig c;
  bool seen[7] = {};
  const std::vector<std::string> lines = read_lines(dir / kConfig);
  for (const std::string& line : lines) {
    const size_t sp = line.find(' ');
    const std::string key = line.substr(0, sp),
                      value = sp == std::string::npos ? "" : line.substr(sp + 1);
    try {
      if (key == "dataset")
        c.dataset = value, seen[0] = true;
      else if (key == "model")
        c.model = value, seen[1] = true;
      else if (key == "epochs")
        c.epochs = std::stoll(value), seen[2] = true;
      else if (key == "batch_size")
        c.batch_size = std::stoll(value), seen[3] = true;
      else if (key == "lr")
        c.lr = std::stod(value), seen[4] = true;
      else if (key == "seed")
        c.seed = static_cast<uint32_t>(std::stoul(value)), seen[5] = true;
      else if (key == "limit")
        c.limit = std::stoll(value), seen[6] = true;
    } catch (const std::exception&) {
      throw Error((dir / kConfig).string() + ": bad value for " + key + ": \"" + value + "\"");
    }
  }
  for (bool s : seen)
    if (!s)
      throw Error((dir / kConfig).string() +
                  " lacks a setting (dataset, model, epochs, batch_size, lr, seed, limit): it was "
                  "not written by kiln train");
  return c;
}

RunDirectory::RunDirectory(fs::path dir, Mode mode) : dir_(std::move(dir)) {
  fs::create_directories(dir_);
  lock_fd_ = ::open((dir_ / kLock).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd_ < 0)
    throw Error("cannot create " + (dir_ / kLock).string() + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int fd = lock_fd_;
    lock_fd_ = -1;
    try {
      busy(dir_, fd);
    } catch (...) {
      ::close(fd);
      throw;
    }
  }
  // Who holds it, for the message another process gives.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    // Only the message loses the pid: the lock is held either way.
  }
  try {
    switch (mode) {
      case Mode::fresh:
        if (holds_run(dir_)) refuse_existing_run(dir_);  // made since check_new looked
        break;
      case Mode::overwrite:
        for (const fs::directory_entry& e : fs::directory_iterator(dir_))
          if (parse_staged(e.path().filename().string())) fs::remove(e.path());
        for (const std::string& n : file_names()) fs::remove_all(dir_ / n);
        sync_directory(dir_);
        break;
      case Mode::resume:
        roll_forward_or_discard();
        // A file made read-only on purpose is not replaced by the next commit.
        for (const std::string& n : file_names()) kiln::serialization::refuse_read_only(dir_ / n);
        break;
    }
  } catch (...) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw;
  }
}

RunDirectory::~RunDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing the last descriptor releases the flock
}

void RunDirectory::write_config(const RunConfig& c) const {
  const std::string text = config_text(c);
  kiln::serialization::write_file(dir_ / kConfig, std::vector<uint8_t>(text.begin(), text.end()));
}

void RunDirectory::stage(const std::string& name, const std::vector<uint8_t>& bytes, int64_t step) {
  kiln::serialization::write_file(dir_ / staged_name(name, step), bytes);
  staged_.push_back(name);
}

void RunDirectory::publish(int64_t step) {
  for (const std::string& name : staged_) {
    // As serialization::write_file does: the file keeps the permission bits of the one it replaces.
    struct stat old {};
    if (::stat((dir_ / name).c_str(), &old) == 0)
      ::chmod((dir_ / staged_name(name, step)).c_str(), old.st_mode & 07777);
    if (::rename((dir_ / staged_name(name, step)).c_str(), (dir_ / name).c_str()) != 0)
      throw Error("cannot rename " + (dir_ / staged_name(name, step)).string() + " to " + name +
                  ": " + std::strerror(errno) + "; `kiln train --resume` completes the commit");
  }
  staged_.clear();
  sync_directory(dir_);
}

void RunDirectory::discard_staged() noexcept {
  std::error_code ignored;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ignored))
    if (parse_staged(e.path().filename().string())) fs::remove(e.path(), ignored);
  staged_.clear();
}

// The latest checkpoint is the commit record: files staged for its step belong to a committed
// epoch whose renames were cut short, so they are renamed now; any other staged file belongs to
// an epoch that never reached its checkpoint and is deleted.
void RunDirectory::roll_forward_or_discard() {
  const std::vector<int64_t> steps = kiln::checkpoints::available_steps(checkpoints());
  const int64_t committed = steps.empty() ? -1 : steps.back();  // -1: no epoch committed
  for (const fs::directory_entry& e : fs::directory_iterator(dir_)) {
    const auto staged = parse_staged(e.path().filename().string());
    if (!staged) continue;
    if (staged->second == committed) {
      if (::rename(e.path().c_str(), (dir_ / staged->first).c_str()) != 0)
        throw Error("cannot complete the commit of step " + std::to_string(committed) + ": " +
                    e.path().string() + ": " + std::strerror(errno));
    } else {
      fs::remove(e.path());
    }
  }
  sync_directory(dir_);
}

std::vector<std::string> read_lines(const fs::path& path) {
  const std::vector<uint8_t> bytes = kiln::serialization::read_file(path);
  std::vector<std::string> lines;
  std::string line;
  for (uint8_t b : bytes) {
    if (b == '\n') {
      lines.push_back(std::move(line));
      line.clear();
    } else {
      line += static_cast<char>(b);
    }
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

}  // namespace kiln_tool
