// nn::max_pool / nn::avg_pool, as flax.linen.pooling: lax.reduce_window over a window of 1 on
// every batch dim and on the features, window_shape on the dims between. An unbatched input gets a
// batch dim of 1 for the reduction, removed after.
#include "kiln/nn/pooling.hpp"

#include <variant>

#include "kiln/ops.hpp"

namespace kiln::nn {
namespace {

using Pads = std::vector<std::pair<int64_t, int64_t>>;
using Padding = std::variant<std::string, Pads>;

enum class Reduce { max, sum };

// The window, strides and padding over every dim of x, or ShapeError when x has too few dims.
struct Windows {
  std::vector<int64_t> window, strides;
  Pads padding;
  bool unbatched = false;
};

Windows windows(const char* who, const Array& x, const std::vector<int64_t>& window_shape,
                std::vector<int64_t> strides, const Padding& padding, const Loc& loc) {
  const auto nw = static_cast<int64_t>(window_shape.size());
  const int64_t batch_dims = x.ndim() - (nw + 1);
  if (nw == 0 || batch_dims < 0)
    throw ShapeError(message(std::string(who) + ": a window of " + std::to_string(nw) +
                                 " dims needs an input of at least " + std::to_string(nw + 1) +
                                 " dims (spatial..., features), got " + x.shape().str(),
                             loc));
  if (strides.empty()) strides.assign(window_shape.size(), 1);
  if (strides.size() != window_shape.size())
    throw ShapeError(message(std::string(who) + ": " + std::to_string(strides.size()) +
                                 " strides for a window of " + std::to_string(nw) + " dims",
                             loc));
  Windows w;
  w.unbatched = batch_dims == 0;
  const int64_t lead = w.unbatched ? 1 : batch_dims;
  w.window.assign(static_cast<size_t>(lead), 1);
  w.strides.assign(static_cast<size_t>(lead), 1);
  w.window.insert(w.window.end(), window_shape.begin(), window_shape.end());
  w.strides.insert(w.strides.end(), strides.begin(), strides.end());
  w.window.push_back(1);
  w.strides.push_back(1);
  if (const auto* pads = std::get_if<Pads>(&padding)) {
    if (pads->size() != window_shape.size())
      throw ShapeError(message(std::string(who) + ": " + std::to_string(pads->size()) +
                                   " padding pairs for a window of " + std::to_string(nw) + " dims",
                               loc));
    w.padding.assign(static_cast<size_t>(lead), {0, 0});
    w.padding.insert(w.padding.end(), pads->begin(), pads->end());
    w.padding.emplace_back(0, 0);
  } else {
    // lax.reduce_window resolves a padding string over every dim (batch and features pad by 0).
    std::vector<int64_t> dims = x.shape().vec();
    if (w.unbatched) dims.insert(dims.begin(), 1);
    w.padding = padtype_to_pads(dims, w.window, w.strides, std::get<std::string>(padding), loc);
  }
  return w;
}

Array pool(const char* who, Reduce r, const Array& x, const std::vector<int64_t>& window_shape,
           std::vector<int64_t> strides, const Padding& padding, const Loc& loc) {
  Windows w = windows(who, x, window_shape, std::move(strides), padding, loc);
  Array in = w.unbatched ? expand_dims(x, 0, loc) : x;
  Array y = r == Reduce::max ? reduce_window_max(in, w.window, w.strides, w.padding, loc)
                             : reduce_window_sum(in, w.window, w.strides, w.padding, loc);
  return w.unbatched ? squeeze(y, 0, loc) : y;
}

Array average(const Array& x, const std::vector<int64_t>& window_shape,
              std::vector<int64_t> strides, const Padding& padding, bool count_include_pad,
              const Loc& loc) {
  const char* who = "avg_pool";
  Array y = pool(who, Reduce::sum, x, window_shape, strides, padding, loc);
  // jnp's true division: an integer sum averages to float32.
  if (!is_floating(y.dtype())) y = astype(y, float32, loc);
  if (count_include_pad) {
    int64_t size = 1;
    for (int64_t d : window_shape) size *= d;
    return div(y, static_cast<double>(size), loc);
  }
  // Flax: the same pool over ones of the input's shape with one feature (batch dims collapsed to
  // 1), so each window divides by the number of real elements it covers.
  std::vector<int64_t> ones_shape = x.shape().vec();
  ones_shape.back() = 1;
  if (ones_shape.size() - 2 == window_shape.size()) ones_shape[0] = 1;
  Array counts = pool(who, Reduce::sum, ones(Shape(ones_shape), y.dtype(), loc), window_shape,
                      std::move(strides), padding, loc);
  return div(y, counts, loc);
}

}  // namespace

Array max_pool(const Array& x, std::vector<int64_t> window_shape, std::vector<int64_t> strides,
               const std::string& padding, Loc loc) {
  return pool("max_pool", Reduce::max, x, window_shape, std::move(strides), padding, loc);
}

Array max_pool(const Array& x, std::vector<int64_t> window_shape, std::vector<int64_t> strides,
               const std::vector<std::pair<int64_t, int64_t>>& padding, Loc loc) {
  return pool("max_pool", Reduce::max, x, window_shape, std::move(strides), padding, loc);
}

Array avg_pool(const Array& x, std::vector<int64_t> window_shape, std::vector<int64_t> strides,
               const std::string& padding, bool count_include_pad, Loc loc) {
  return average(x, window_shape, std::move(strides), padding, count_include_pad, loc);
}

Array avg_pool(const Array& x, std::vector<int64_t> window_shape, std::vector<int64_t> strides,
               const std::vector<std::pair<int64_t, int64_t>>& padding, bool count_include_pad,
               Loc loc) {
  return average(x, window_shape, std::move(strides), padding, count_include_pad, loc);
}

}  // namespace kiln::nn
