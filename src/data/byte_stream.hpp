// The bytes of an input in order, inflated on the fly (zlib) when it is gzip-compressed, so a
// reader can check a header before it decides how much to allocate for what follows.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace kiln::data {

class ByteStream {
 public:
  // gzip when the data starts with gzip's magic bytes 1f 8b, plain otherwise. `name` names the
  // input in errors; `data` must outlive the stream.
  ByteStream(std::span<const uint8_t> data, std::string name);
  ~ByteStream();
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  bool gzip() const { return inflater_ != nullptr; }
  // Fills `dst` and returns dst.size(), or fewer bytes only where the content ends. A corrupt or
  // cut-short gzip stream is a ValueError naming the input and the compressed byte.
  size_t read(std::span<uint8_t> dst);
  // Content bytes read so far (decompressed bytes for gzip).
  uint64_t position() const { return position_; }
  // Input bytes not consumed yet (compressed bytes for gzip).
  size_t input_left() const { return data_.size() - consumed_; }

 private:
  struct Inflater;
  size_t inflate_into(std::span<uint8_t> dst);

  std::span<const uint8_t> data_;
  std::string name_;
  size_t consumed_ = 0;
  uint64_t position_ = 0;
  std::unique_ptr<Inflater> inflater_;
};

}  // namespace kiln::data
