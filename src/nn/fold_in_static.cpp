#include "nn/fold_in_static.hpp"

#include <openssl/evp.h>

#include "kiln/error.hpp"

namespace kiln::nn::detail {

std::array<uint8_t, 20> sha1(std::string_view bytes) {
  // EVP_Digest rather than SHA1(): the low-level digest functions are deprecated in OpenSSL 3.
  std::array<uint8_t, 20> out{};
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &len, EVP_sha1(), nullptr) != 1 ||
      len != out.size())
    throw Error("kiln::nn: OpenSSL's SHA-1 failed; parameter rngs cannot be derived");
  return out;
}

std::string static_fold_bytes(std::span<const std::string> names, uint64_t count) {
  std::string data;
  for (const std::string& n : names) data += n;  // std::string holds UTF-8 already
  int nbytes = 0;
  for (uint64_t c = count; c != 0; c >>= 8) ++nbytes;
  for (int i = nbytes - 1; i >= 0; --i) data += static_cast<char>((count >> (8 * i)) & 0xff);
  return data;
}

uint32_t static_fold_data(std::span<const std::string> names, uint64_t count) {
  const auto d = sha1(static_fold_bytes(names, count));
  return (uint32_t{d[0]} << 24) | (uint32_t{d[1]} << 16) | (uint32_t{d[2]} << 8) | uint32_t{d[3]};
}

}  // namespace kiln::nn::detail
