// Implementation details of kiln/autodiff.hpp: the untyped core that grad, value_and_grad and vjp
// share. Not kiln's API: it may change in any release (docs/decisions.md, "Public headers").
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "kiln/trace.hpp"
#include "kiln/tree.hpp"

namespace kiln::detail {

// The untyped core: traces `body` on tracers for `primals`, then computes its outputs and the
// cotangents of `primals` given cotangents for the first `cotangents.size()` outputs (an empty
// array is a zero cotangent). Returns {outputs, primal cotangents}.
std::pair<std::vector<Array>, std::vector<Array>> vjp_core(
    std::span<const Array> primals, const TraceBody& body,
    const std::function<std::vector<Array>(std::span<const Array> outputs)>& seeds, const char* who,
    const Loc& loc);

// Checks that f's value is a float scalar and returns the seed 1.0 for it.
std::vector<Array> scalar_seed(std::span<const Array> outputs, const char* who, const Loc& loc);
// GradError unless f returns an Array (no aux) or a pair {value, aux} (has_aux).
void check_output_kind(bool returns_array, bool returns_pair, bool has_aux, const char* who,
                       const Loc& loc);

template <class F, class X, class... Rest>
auto value_and_grad(const F& f, bool has_aux, const char* who, const Loc& loc, const X& x,
                    const Rest&... rest) {
  using Out = std::remove_cvref_t<std::invoke_result_t<const F&, const X&, const Rest&...>>;
  constexpr bool kReturnsPair = requires(const Out& o) {
    o.first;
    o.second;
  };
  check_output_kind(std::is_same_v<Out, Array>, kReturnsPair, has_aux, who, loc);
  std::vector<Array> primals = tree_leaves(x);
  std::shared_ptr<Out> tmpl;
  auto body = [&](std::span<const Array> tracers) {
    std::span<const Array> it = tracers;
    Out out = f(tree_traits<X>::rebuild(x, it), rest...);
    std::vector<Array> leaves;
    size_t h = 0;
    tree_traits<Out>::flatten(out, leaves, h);
    tmpl = std::make_shared<Out>(std::move(out));
    return leaves;
  };
  auto [outs, cts] = vjp_core(
      primals, body, [&](std::span<const Array> o) { return scalar_seed(o.first(1), who, loc); },
      who, loc);
  std::span<const Array> git = cts;
  X g = tree_traits<X>::rebuild(x, git);
  std::span<const Array> oit = outs;
  Out value = tree_traits<Out>::rebuild(*tmpl, oit);
  return std::make_pair(std::move(value), std::move(g));
}

}  // namespace kiln::detail
