// Pieces the indexing operations (src/ops/indexing.cpp) and the VJP rules of gather and the
// scatters (src/transforms/vjp_rules.cpp) share: which index vectors are in bounds, clamping them,
// and the gather that reads a scatter's windows back.
#pragma once

#include <vector>

#include "kiln/indexing.hpp"

namespace kiln::ops {

// The indices' batch dims (every dim but index_vector_dim), in order.
Shape index_batch_shape(const Array& indices, const ir::GatherDims& dims);

// Per index vector: whether every start s of it satisfies 0 <= s <= operand dim - window size
// (the starts a gather keeps unclamped, a scatter applies). Shape: index_batch_shape.
// window_sizes: one per operand dim.
Array indices_in_bounds(const Array& indices, const ir::GatherDims& dims, const Shape& operand,
                        const std::vector<int64_t>& window_sizes, const Loc& loc);

// The indices with every start clamped into [0, operand dim - window size], as gather clamps.
Array clamp_indices(const Array& indices, const ir::GatherDims& dims, const Shape& operand,
                    const std::vector<int64_t>& window_sizes, const Loc& loc);

// A scatter's window size in each operand dim (1 for inserted and batching dims).
std::vector<int64_t> scatter_window_sizes(const ir::GatherDims& dims, const Shape& operand,
                                          const Shape& updates);

// The gather that reads, for each update element, the operand element it lands on (JAX's
// scatter transposes): the same dims with slice_sizes = the window sizes.
ir::GatherDims scatter_as_gather(const ir::GatherDims& dims, const Shape& operand,
                                 const Shape& updates);

// jnp's fill value for out-of-range reads, of `shape`: NaN, the lowest signed / highest unsigned
// integer, true.
Array fill_value(DType t, const Shape& shape, const Loc& loc);

// `mask` (index_batch_shape) broadcast to a gather result's / scatter updates' shape, whose dims
// outside `offset_dims` hold the batch.
Array broadcast_batch(const Array& mask, const std::vector<int64_t>& offset_dims,
                      const Shape& shape, const Loc& loc);

}  // namespace kiln::ops
