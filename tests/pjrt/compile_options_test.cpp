// The xla.CompileOptionsProto kiln writes by hand (src/backend/pjrt/compile_options.cpp), byte for
// byte: the one-device forms every plugin has been sent so far, and the SPMD form whose fields
// are those jaxlib 0.10.2 serializes for CompileOptions with num_partitions = 2,
// use_spmd_partitioning and the device assignment [[0, 1]] (its other fields are defaults or
// debug options kiln leaves out).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "backend/pjrt/compile_options.hpp"

namespace kiln {
namespace {

std::vector<uint8_t> bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(CompileOptions, OneDeviceAndPortableFormsAreTheKnownBytes) {
  // executable_build_options {device_ordinal -1, num_replicas 1, num_partitions 1}
  const std::vector<uint8_t> one = {0x1A, 0x0F, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                    0xFF, 0xFF, 0xFF, 0x01, 0x20, 0x01, 0x28, 0x01};
  EXPECT_EQ(bytes(pjrt::compile_options(false)), one);
  std::vector<uint8_t> portable = one;
  portable.insert(portable.end(), {0x20, 0x01});  // compile_portable_executable
  EXPECT_EQ(bytes(pjrt::compile_options(true)), portable);
}

TEST(CompileOptions, SpmdFormCarriesPartitionsAndTheDeviceAssignment) {
  const std::vector<int64_t> devices = {0, 1};
  const std::vector<uint8_t> want = {
      0x1A, 0x21,                                                        // executable_build_options
      0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,  // device_ordinal -1
      0x20, 0x01,                                                        // num_replicas 1
      0x28, 0x02,                                                        // num_partitions 2
      0x30, 0x01,                                                        // use_spmd_partitioning
      0x4A, 0x0E,                                                        // device_assignment
      0x08, 0x01, 0x10, 0x02,         // replica_count 1, computation_count 2
      0x1A, 0x03, 0x0A, 0x01, 0x00,   // computation 0 on device 0
      0x1A, 0x03, 0x0A, 0x01, 0x01};  // computation 1 on device 1
  EXPECT_EQ(bytes(pjrt::compile_options(false, devices)), want);
  // Device ids past 127 take a two-byte varint.
  const std::vector<int64_t> far = {300};
  const std::vector<uint8_t> got = bytes(pjrt::compile_options(false, far));
  const std::vector<uint8_t> tail = {0x1A, 0x04, 0x0A, 0x02, 0xAC, 0x02};
  ASSERT_GE(got.size(), tail.size());
  EXPECT_EQ(std::vector<uint8_t>(got.end() - 6, got.end()), tail);
}

}  // namespace
}  // namespace kiln
