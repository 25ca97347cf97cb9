// Reverse-mode autodiff as a graph transformation: the function is traced, then its graph is
// replayed forward and walked backward with one VJP rule per primitive
// (src/transforms/vjp_rules.cpp). Works eagerly and under jit; differentiates with respect to the
// first argument (a tree).
//
//   auto g = kiln::grad(loss)(params, x, y);                  // same tree type as params
//   auto [value, g] = kiln::value_and_grad(loss)(params, x, y);
//   auto [g, aux] = kiln::grad(loss_with_aux, {.has_aux = true})(params);  // f returns {loss, aux}
//   auto [y, pullback] = kiln::vjp(f, x);  auto gx = pullback(ct);
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "kiln/detail/autodiff.hpp"
#include "kiln/trace.hpp"
#include "kiln/tree.hpp"

namespace kiln {

struct GradOptions {
  bool has_aux = false;  // f returns std::pair<Array, Aux>; aux is returned beside the gradient
};

// value_and_grad(f)(x, rest...) -> {f(x, rest...), df/dx}; with has_aux, f returns {loss, aux} and
// the result is {{loss, aux}, df/dx}.
template <class F>
auto value_and_grad(F f, GradOptions options = {}, Loc loc = Loc::current()) {
  return [f = std::move(f), options, loc](const auto& x, const auto&... rest) {
    return detail::value_and_grad(f, options.has_aux, "value_and_grad", loc, x, rest...);
  };
}

// grad(f)(x, rest...) -> df/dx, with x's type; with has_aux, {df/dx, aux}.
template <class F>
auto grad(F f, GradOptions options = {}, Loc loc = Loc::current()) {
  return [f = std::move(f), options, loc](const auto& x, const auto&... rest) {
    auto [value, g] = detail::value_and_grad(f, options.has_aux, "grad", loc, x, rest...);
    if constexpr (requires { value.second; }) {
      return std::make_pair(std::move(g), std::move(value.second));
    } else {
      return g;
    }
  };
}

// vjp(f, x) -> {f(x), pullback} with pullback(cotangent of f(x)) -> cotangent of x.
// The pullback replays the forward computation (kiln keeps no residuals between calls).
template <class F, class X>
auto vjp(F f, const X& x, Loc loc = Loc::current()) {
  using Out = std::remove_cvref_t<std::invoke_result_t<const F&, const X&>>;
  Out y = f(x);
  auto pullback = [f = std::move(f), x, loc](const Out& ct) {
    std::vector<Array> primals = tree_leaves(x);
    std::vector<Array> ct_leaves = tree_leaves(ct);
    auto body = [&](std::span<const Array> tracers) {
      std::span<const Array> it = tracers;
      return tree_leaves(f(tree_traits<X>::rebuild(x, it)));
    };
    auto [outs, cts] = detail::vjp_core(
        primals, body, [&](std::span<const Array>) { return ct_leaves; }, "vjp", loc);
    std::span<const Array> git = cts;
    return tree_traits<X>::rebuild(x, git);
  };
  return std::make_pair(std::move(y), std::move(pullback));
}

}  // namespace kiln
