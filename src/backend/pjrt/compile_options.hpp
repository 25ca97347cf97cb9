// xla.CompileOptionsProto, serialized by hand (kiln links no protobuf): the few fields a PJRT
// plugin needs to compile a StableHLO module for one device, for any device (portable), or for
// several devices as one SPMD program.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace kiln::pjrt {

// executable_build_options (3) {device_ordinal (1) = -1, num_replicas (4) = 1, num_partitions (5)}
// and, when `portable`, compile_portable_executable (4) = true: the executable runs on the device
// named at execute. With `partition_devices` (the plugin's device ids, one per partition, in the
// module's partition order) also use_spmd_partitioning (6) = true and device_assignment (9)
// {replica_count (1) = 1, computation_count (2) = n, computation_devices (3) = {replica_device_ids
// (1) = [id]} per partition}: XLA partitions the module by its mhlo.sharding attributes and runs
// partition k on device partition_devices[k].
std::string compile_options(bool portable, std::span<const int64_t> partition_devices = {});

}  // namespace kiln::pjrt
