// optax.scale_by_factored_rms (optax/_src/factorized.py), Adafactor's second moments. A leaf with
// two dims of at least min_dim_size_to_factor keeps a row and a column statistic (the mean of g²
// over its largest and second-largest dims) instead of one per element:
//   decay_t = 1 - (step - step_offset + 1) ** -decay_rate     (float32)
//   g2 = g² + epsilon
//   factored:  v_row = decay_t·v_row + (1 - decay_t)·mean(g2, d0)
//              v_col = decay_t·v_col + (1 - decay_t)·mean(g2, d1)
//              u = g · expand(( v_row / mean(v_row, d1') ) ** -0.5, d0) · expand(v_col ** -0.5, d1)
//   otherwise: v = decay_t·v + (1 - decay_t)·g2;  u = g · v ** -0.5
// The unused statistics are zeros of shape (1,). State FactoredState(count, v_row, v_col, v),
// written {'count', 'v_row', 'v_col', 'v'}.
#include <algorithm>
#include <numeric>
#include <optional>
#include <utility>

#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "optim/tree_math.hpp"

namespace kiln::optim {
namespace {

// optax's _factored_dims: (second-largest dim, largest dim) by np.argsort (stable), or none.
std::optional<std::pair<int64_t, int64_t>> factored_dims(const Shape& shape, bool factored,
                                                         int64_t min_dim_size_to_factor) {
  if (!factored || shape.rank() < 2) return std::nullopt;
  std::vector<int64_t> order(static_cast<size_t>(shape.rank()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return shape[static_cast<int>(a)] < shape[static_cast<int>(b)];
  });
  const int64_t second = order[order.size() - 2];
  if (shape[static_cast<int>(second)] < min_dim_size_to_factor) return std::nullopt;
  return std::make_pair(second, order.back());
}

Shape without_axis(const Shape& shape, int64_t axis) {
  Shape out;
  for (int a = 0; a < shape.rank(); ++a)
    if (a != axis) out.push_back(shape[a]);
  return out;
}

}  // namespace

GradientTransformation scale_by_factored_rms(FactoredRmsOptions o) {
  GradientTransformation t;
  t.init = [o](const Tree& params) {
    auto stat = [&](auto make) { return tree_map(make, params); };
    return Tree::dict(
        {{"count", tree_math::zero_count()},
         {"v_row", stat([&](const Array& p) {
            auto dims = factored_dims(p.shape(), o.factored, o.min_dim_size_to_factor);
            return dims ? zeros(without_axis(p.shape(), dims->second), p.dtype())
                        : zeros({1}, p.dtype());
          })},
         {"v_col", stat([&](const Array& p) {
            auto dims = factored_dims(p.shape(), o.factored, o.min_dim_size_to_factor);
            return dims ? zeros(without_axis(p.shape(), dims->first), p.dtype())
                        : zeros({1}, p.dtype());
          })},
         {"v", stat([&](const Array& p) {
            auto dims = factored_dims(p.shape(), o.factored, o.min_dim_size_to_factor);
            return dims ? zeros({1}, p.dtype()) : zeros_like(p);
          })}});
  };
  t.update = [o](const Tree& grads, const Tree& state, const Tree& params) {
    tree_math::require_params(params, "scale_by_factored_rms");
    const Array& count = state["count"].leaf();
    // _decay_rate_pow(step - step_offset, decay_rate): t = float32(i + 1); 1 - t ** -exponent.
    Array step = astype(add(sub(count, static_cast<int64_t>(o.step_offset)), 1), float32);
    Array decay_t = sub(1.0, pow(step, -o.decay_rate));
    const auto [g_leaves, def] = flatten(grads);
    const std::vector<Array> rows = leaves(state["v_row"]), cols = leaves(state["v_col"]),
                             vs = leaves(state["v"]), ps = leaves(params);
    std::vector<Array> us, new_rows, new_cols, new_vs;
    for (size_t i = 0; i < g_leaves.size(); ++i) {
      const Array& g = g_leaves[i];
      const Array& p = ps[i];
      const DType dt = p.dtype();
      Array one_minus_d = sub(1.0, decay_t);
      Array g2 = add(square(g), o.epsilon);
      auto dims = factored_dims(p.shape(), o.factored, o.min_dim_size_to_factor);
      if (dims) {
        const auto [d1, d0] = *dims;
        Array v_row = astype(add(mul(decay_t, rows[i]), mul(one_minus_d, mean(g2, {d0}))), dt);
        Array v_col = astype(add(mul(decay_t, cols[i]), mul(one_minus_d, mean(g2, {d1}))), dt);
        const int64_t reduced_d1 = d1 > d0 ? d1 - 1 : d1;
        Array row_col_mean = mean(v_row, {reduced_d1}, /*keepdims=*/true);
        Array row_factor = pow(div(v_row, row_col_mean), -0.5);
        Array col_factor = pow(v_col, -0.5);
        us.push_back(mul(mul(g, expand_dims(row_factor, d0)), expand_dims(col_factor, d1)));
        new_rows.push_back(std::move(v_row));
        new_cols.push_back(std::move(v_col));
        new_vs.push_back(zeros({1}, dt));
      } else {
        Array v = astype(add(mul(decay_t, vs[i]), mul(one_minus_d, g2)), dt);
        us.push_back(mul(g, pow(v, -0.5)));
        new_rows.push_back(zeros({1}, dt));
        new_cols.push_back(zeros({1}, dt));
        new_vs.push_back(std::move(v));
      }
    }
    // The statistics keep the structure (and dict order) of the state they came from.
    auto rebuild = [](const Tree& like, const std::vector<Array>& xs) {
      return unflatten(flatten(like).second, xs);
    };
    return std::make_pair(unflatten(def, us),
                          Tree::dict({{"count", tree_math::safe_increment(count)},
                                      {"v_row", rebuild(state["v_row"], new_rows)},
                                      {"v_col", rebuild(state["v_col"], new_cols)},
                                      {"v", rebuild(state["v"], new_vs)}}));
  };
  return t;
}

}  // namespace kiln::optim
