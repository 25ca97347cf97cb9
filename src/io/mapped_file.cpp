#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kiln/error.hpp"
#include "kiln/serialization.hpp"

namespace kiln::serialization {

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
  std::shared_ptr<MappedFile> f(new MappedFile());
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st {};
  const bool regular = fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
  if (regular) {
    // MAP_PRIVATE and writable: a write into a view (nothing writes, but an Array's buffer is not
    // const) changes a private copy of the page, never the file.
    void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_PRIVATE,
                     fd, 0);
    if (p != MAP_FAILED) {
      ::madvise(p, static_cast<size_t>(st.st_size), MADV_SEQUENTIAL);
      f->data_ = static_cast<uint8_t*>(p);
      f->size_ = static_cast<size_t>(st.st_size);
      f->mapped_ = true;
    }
  }
  if (fd >= 0) ::close(fd);
  if (!f->mapped_) {
    // Not mappable (a pipe, a device, an empty or missing file): read_file says what is wrong or
    // reads it with its bound.
    f->owned_ = read_file(path);
    f->data_ = f->owned_.data();
    f->size_ = f->owned_.size();
  }
  return f;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(data_, size_);
}

void MappedFile::release(const uint8_t* p, size_t n) const {
  if (!mapped_ || n == 0) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

Array view_array(const std::shared_ptr<const MappedFile>& file, const uint8_t* p, size_t bytes,
                 DType dtype, const Shape& shape) {
  return Array::from_buffer(std::make_shared<ViewBuffer>(file, p, bytes), dtype, shape);
}

void release_pages(const Array& a) {
  if (a.empty()) return;
  if (const auto* v = dynamic_cast<const ViewBuffer*>(a.buffer().get())) v->release();
}

}  // namespace kiln::serialization
