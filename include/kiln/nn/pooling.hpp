// Pooling, as flax.linen.pooling: windows over the dims between the batch dims and the features.
// For an input (*batch, *spatial, features) with one spatial dim per window_shape entry; an
// unbatched input (*spatial, features) works too, as in Flax.
//
//   x = nn::max_pool(x, {2, 2}, {2, 2});  // (N, 28, 28, C) -> (N, 14, 14, C)
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kiln/array.hpp"

namespace kiln::nn {

// flax.linen.max_pool. strides empty: 1 per window dim. padding: "SAME", "VALID" (default).
Array max_pool(const Array& x, std::vector<int64_t> window_shape, std::vector<int64_t> strides = {},
               const std::string& padding = "VALID", Loc loc = Loc::current());
// The same with explicit (low, high) padding per window dim; padded elements never win.
Array max_pool(const Array& x, std::vector<int64_t> window_shape, std::vector<int64_t> strides,
               const std::vector<std::pair<int64_t, int64_t>>& padding, Loc loc = Loc::current());

// flax.linen.avg_pool: the window sum over its size; count_include_pad=false divides by the number
// of non-padding elements instead.
Array avg_pool(const Array& x, std::vector<int64_t> window_shape, std::vector<int64_t> strides = {},
               const std::string& padding = "VALID", bool count_include_pad = true,
               Loc loc = Loc::current());
Array avg_pool(const Array& x, std::vector<int64_t> window_shape, std::vector<int64_t> strides,
               const std::vector<std::pair<int64_t, int64_t>>& padding,
               bool count_include_pad = true, Loc loc = Loc::current());

}  // namespace kiln::nn
