// Whole-file reads and atomic writes of checkpoints.
//
// write_file never exposes a partial file at the destination: the bytes go to a new file in the
// same directory (rename is only atomic within one filesystem), are fsync-ed, and then renamed over
// the destination. A crash or error leaves either the old file or the new one, never a mix.
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
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
    // The destination's name is cut so that the temporary one stays within NAME_MAX: a legal
    // destination name of 255 bytes must not fail for the sake of its temporary.
    const std::string name = dest.filename().string();
    for (int attempt = 0; attempt < 100; ++attempt) {
      const std::string suffix =
          ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
      const size_t room = NAME_MAX - 1 - suffix.size();
      path_ = dir / ("." + name.substr(0, std::min(name.size(), room)) + suffix);
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

void refuse_read_only(const std::filesystem::path& path, const WriteOptions& options) {
  struct stat st {};
  if (options.replace_read_only || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return;
  // No write bit at all counts as read-only even for root, who may write anything: a file made
  // read-only on purpose is not replaced by accident.
  if ((st.st_mode & 0222) == 0 || ::access(path.c_str(), W_OK) != 0)
    throw Error("not replacing " + path.string() +
                ": it is read-only. Make it writable (chmod u+w), remove it, or pass --force");
}

void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes,
                const WriteOptions& options) {
  refuse_read_only(path, options);
  TempFile tmp(path);
  // A replaced file keeps its permission bits (a private 0600 file stays private).
  struct stat old {};
  if (::stat(path.c_str(), &old) == 0 && S_ISREG(old.st_mode) &&
      ::fchmod(tmp.fd(), old.st_mode & 07777) != 0)
    fail("write", path, errno);
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

namespace {

// What kiln reads from a pipe at most: KILN_MAX_PIPE_BYTES, else 1 GiB. A regular file's size is
// known before reading; a pipe's is not, and one fed from /dev/zero never ends — without a bound
// the read grows until the machine runs out of memory.
size_t default_stream_bound() {
  if (const char* v = std::getenv("KILN_MAX_PIPE_BYTES")) {
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (end != v && *end == '\0' && n > 0) return static_cast<size_t>(n);
  }
  return size_t{1} << 30;
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Up to `n` bytes into `dst`; fewer only at the end of the file.
size_t read_up_to(int fd, uint8_t* dst, size_t n, const std::filesystem::path& path) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, dst + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("read", path, errno);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

}  // namespace

std::vector<uint8_t> read_file(const std::filesystem::path& path, size_t max_stream_bytes) {
  // O_NONBLOCK: opening a FIFO nobody writes to would otherwise wait forever; it is cleared below.
  Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) fail("read", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) fail("read", path, errno);
  if (S_ISDIR(st.st_mode)) fail("read", path, EISDIR);
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
    throw Error("cannot read " + path.string() + ": it is a device (" +
                (S_ISCHR(st.st_mode) ? "character" : "block") +
                " special file), not a file of data; give the path of a file");
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) fail("read", path, errno);

  if (S_ISREG(st.st_mode)) {
    // Exactly the size fstat gives: a byte more means the file grew while it was read.
    std::vector<uint8_t> out(static_cast<size_t>(st.st_size));
    out.resize(read_up_to(fd.get(), out.data(), out.size(), path));
    uint8_t extra = 0;
    if (out.size() == static_cast<size_t>(st.st_size) && read_up_to(fd.get(), &extra, 1, path) != 0)
      throw Error("cannot read " + path.string() + ": it grew while it was read (" +
                  std::to_string(st.st_size) + " bytes at the start); read it when it is complete");
    return out;
  }
  // A pipe, FIFO or socket: grown as it comes, up to the bound.
  const size_t bound = max_stream_bytes != 0 ? max_stream_bytes : default_stream_bound();
  std::vector<uint8_t> out;
  size_t got = 0;
  for (;;) {
    if (got == out.size()) {
      if (out.size() > bound)
        throw Error("cannot read " + path.string() + ": more than " + std::to_string(bound) +
                    " bytes come from this pipe, more than kiln reads from one; save it to a "
                    "file first");
      out.resize(std::min(bound + 1, std::max<size_t>(out.size() * 2, size_t{1} << 16)));
    }
    const size_t n = read_up_to(fd.get(), out.data() + got, out.size() - got, path);
    got += n;
    if (got < out.size()) break;  // the end of the stream
  }
  out.resize(got);
  return out;
}

}  // namespace kiln::serialization
