#include "backend/pjrt/compile_options.hpp"

namespace kiln::pjrt {
namespace {

// Protobuf's wire format: a varint, and a field's tag (number << 3 | wire type).
void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void int_field(std::string& out, int field, int64_t v) {
  varint(out, static_cast<uint64_t>(field) << 3);  // wire type 0: varint
  varint(out, static_cast<uint64_t>(v));           // negative: ten bytes, as int64 is encoded
}
void message_field(std::string& out, int field, const std::string& body) {
  varint(out, static_cast<uint64_t>(field) << 3 | 2);  // wire type 2: length-delimited
  varint(out, body.size());
  out += body;
}

}  // namespace

std::string compile_options(bool portable, std::span<const int64_t> partition_devices) {
  const auto partitions = static_cast<int64_t>(partition_devices.size());
  std::string build;
  int_field(build, 1, -1);  // device_ordinal
  int_field(build, 4, 1);   // num_replicas
  int_field(build, 5, partitions > 0 ? partitions : 1);
  if (partitions > 0) {
    int_field(build, 6, 1);  // use_spmd_partitioning
    std::string assignment;
    int_field(assignment, 1, 1);  // replica_count
    int_field(assignment, 2, partitions);
    for (int64_t id : partition_devices) {
      std::string ids;  // a packed repeated int64 of one id
      varint(ids, static_cast<uint64_t>(id));
      std::string device;
      message_field(device, 1, ids);
      message_field(assignment, 3, device);
    }
    message_field(build, 9, assignment);
  }
  std::string out;
  message_field(out, 3, build);
  if (portable) int_field(out, 4, 1);
  return out;
}

}  // namespace kiln::pjrt
