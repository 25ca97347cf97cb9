// Whole-file reads and atomic writes of checkpoints.
//
// write_file never exposes a partial file at the destination: the bytes go to a new file in the
// same directory (rename is only atomic within one filesystem), are fsync-ed, and then renamed over
// the destination. A crash or error leaves either the old file or the new one, never a mix.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "kiln/serialization.hpp"

namespace kiln::serialization {
namespace {

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& path, int err) {
  throw Error("cannot " + what + " " + path.string() + ": " + std::strerror(err));
}

// Closes the descriptor and removes the temporary file unless the write got to the rename.
class TempFile {
 public:
  explicit TempFile(const std::filesystem::path& dest) {
    static std::atomic<unsigned> counter{0};
    std::filesystem::path dir = dest.parent_path();
    // A hidden name of the destination's own, unique per process and call: O_EXCL refuses a
    // collision, and opening with 0666 lets the umask decide the mode, as a plain create would.
    for (int attempt = 0; attempt < 100; ++attempt) {
      path_ = dir / ("." + dest.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                     std::to_string(counter++));
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0 || errno != EEXIST) break;
    }
    if (fd_ < 0) fail("write", dest, errno);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  // close(2) can report a delayed write error, so it is checked rather than left to the destructor.
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }
  void committed() { committed_ = true; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  TempFile tmp(path);
  const uint8_t* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(tmp.fd(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", path, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(tmp.fd()) != 0) fail("write", path, errno);
  if (tmp.close() != 0) fail("write", path, errno);
  if (::rename(tmp.path().c_str(), path.c_str()) != 0) fail("write", path, errno);
  tmp.committed();
  // The rename itself is durable only once the directory is synced; the file is already in place,
  // so a failure here is not reported.
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("read", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail("read", path, err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail("read", path, EISDIR);
  }
  // Sized from fstat, grown if the file is longer than it said (a pipe, a file being appended to).
  std::vector<uint8_t> out(static_cast<size_t>(st.st_size));
  size_t got = 0;
  for (;;) {
    if (got == out.size()) out.resize(out.size() + (size_t{1} << 16));
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      fail("read", path, err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  ::close(fd);
  return out;
}

}  // namespace kiln::serialization
