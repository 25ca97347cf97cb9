// float32 convolutions through oneDNN's convolution primitives (forward, backward data, backward
// weights), with memory descriptors built from the operands' own dims and strides.
#pragma once

#include <optional>

#include "backend/cpu/kernel.hpp"

namespace kiln::cpu {

// The node as a oneDNN primitive call, or nullopt when oneDNN cannot express its form (then the
// reference loop runs it).
std::optional<Lowered> lower_convolution_onednn(const ir::Node& node,
                                                std::span<const ir::ValueType> in);

}  // namespace kiln::cpu
