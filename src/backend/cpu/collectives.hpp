// The cpu's collective kernels: psum, pmax, all_gather, reduce_scatter, all_to_all, ppermute and
// axis_index between the cpu devices of one process. The SPMD executor (src/spmd/program.cpp) calls
// them between the per-device pieces of a program, with every device's operand in hand.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "kiln/backend.hpp"
#include "kiln/sharding.hpp"

namespace kiln::cpu {

// Runs collective `node` (whose operand type is `in_type`; none for axis_index) over `mesh`:
// in[k] is mesh device k's operand; returns each device's result, allocated on that device.
std::vector<std::shared_ptr<Buffer>> run_collective(const ir::Node& node,
                                                    const ir::ValueType& in_type, const Mesh& mesh,
                                                    std::span<Buffer* const> in);

}  // namespace kiln::cpu
