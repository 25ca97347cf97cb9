// A checkpoint file read in place, for `kiln inspect`, `diff` and `convert`: memory beyond the
// largest single array stays constant whatever the file's size.
//
// A regular file is mapped, so decoding its structure touches only the headers; arrays decoded
// in place are views into the mapping (ViewBuffer), read when they are used and released
// (release_pages) when the caller is done with them. Anything else (a pipe) is read whole with
// serialization::read_file's bound and viewed the same way.
//
// Views are not 64-byte aligned as allocate_host's buffers are, so they are for reading bytes
// (memcpy, checksums, element-wise comparison), never for kernels. A file that another process
// truncates in place while it is mapped would fault (SIGBUS) when the lost pages are read; kiln's
// own writes replace a file by rename, which leaves a mapping of the old one intact.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/backend.hpp"
#include "kiln/serialization.hpp"

namespace kiln::serialization {

class MappedFile {
 public:
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Drops the pages wholly inside [p, p + n) from this process's memory; read again if touched.
  void release(const uint8_t* p, size_t n) const;

 private:
  MappedFile() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  std::vector<uint8_t> owned_;  // a file that could not be mapped
};

// A host buffer that is a range of a MappedFile (kept alive by the buffer).
class ViewBuffer : public Buffer {
 public:
  ViewBuffer(std::shared_ptr<const MappedFile> file, const uint8_t* p, size_t bytes)
      : Buffer(default_device(), bytes), file_(std::move(file)), p_(p) {}
  void* host_data() const override { return const_cast<uint8_t*>(p_); }
  void release() const { file_->release(p_, bytes()); }

 private:
  std::shared_ptr<const MappedFile> file_;
  const uint8_t* p_;
};

// An array of `bytes` at `p` inside `file`, without a copy.
Array view_array(const std::shared_ptr<const MappedFile>& file, const uint8_t* p, size_t bytes,
                 DType dtype, const Shape& shape);
// Releases the pages of an array made by view_array; does nothing for any other array.
void release_pages(const Array& a);

// Decoding in place: serialization::decode and safetensors::decode with arrays as views.
StateValue decode_in_place(const std::shared_ptr<const MappedFile>& file,
                           const std::string& source);

}  // namespace kiln::serialization

namespace kiln::safetensors {
struct File;
File decode_in_place(const std::shared_ptr<const serialization::MappedFile>& file,
                     const std::string& source);
}  // namespace kiln::safetensors
