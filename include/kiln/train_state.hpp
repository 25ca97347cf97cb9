// flax.training.train_state.TrainState: the step, the parameters and the optimizer state, with the
// apply function and the optimizer riding along as static fields. A tree inside jit.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "kiln/optim.hpp"
#include "kiln/tree.hpp"

namespace kiln {

// Flax's apply_fn: any callable taking the variables first and then whatever the model takes —
// `(const Tree& variables, const Array& x)`, or with a mask, a train flag, rngs:
//
//   TrainState::create([model](const Tree& v, const Array& x, const Array& mask, bool train) {
//     return model.apply(v, x, mask, train);
//   }, variables, tx);
//   Array y = state.apply(state.params, x, mask, /*train=*/true);
//
// The signature is the callable's own (a lambda with a fixed parameter list, a function, a
// std::function); a call with other argument types is a ValueError naming both. An apply_fn that
// returns something other than an Array is called as state.apply<ReturnType>(...).
class ApplyFn {
 public:
  template <class F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, ApplyFn>) ApplyFn(F f)
      : impl_(make_impl(std::function(std::move(f)))) {}

  template <class R = Array, class... Args>
  R operator()(const Tree& variables, const Args&... args) const {
    using Want = Impl<R, std::remove_cvref_t<Args>...>;
    const auto* impl = dynamic_cast<const Want*>(impl_.get());
    if (!impl) mismatch(typeid(typename Want::Signature));
    return impl->fn(variables, args...);
  }

 private:
  struct ImplBase {
    virtual ~ImplBase() = default;
    virtual const std::type_info& signature() const = 0;
  };
  template <class R, class... Args>
  struct Impl : ImplBase {
    using Signature = R(const Tree&, Args...);
    std::function<R(const Tree&, const Args&...)> fn;
    const std::type_info& signature() const override { return typeid(Signature); }
  };
  template <class R, class V, class... Args>
  static std::shared_ptr<const ImplBase> make_impl(std::function<R(V, Args...)> f) {
    static_assert(std::is_same_v<std::remove_cvref_t<V>, Tree>,
                  "kiln::ApplyFn: the first parameter must be the variables, a const Tree&");
    auto impl = std::make_shared<Impl<std::remove_cvref_t<R>, std::remove_cvref_t<Args>...>>();
    impl->fn = std::move(f);
    return impl;
  }
  [[noreturn]] void mismatch(const std::type_info& called_as) const;

  std::shared_ptr<const ImplBase> impl_;
};

struct TrainState {
  Array step;      // int32 scalar
  Tree params;     // the variables tree given to create(): {"params": {...}}
  Tree opt_state;  // the optimizer's state, in optax's layout
  std::shared_ptr<const ApplyFn> apply_fn;
  std::shared_ptr<const optim::GradientTransformation> tx;

  static TrainState create(ApplyFn apply_fn, Tree params, optim::GradientTransformation tx);
  // One optimizer step: updates params and opt_state, increments step.
  [[nodiscard]] TrainState apply_gradients(const Tree& grads) const;
  // Calls apply_fn with the arguments it takes after the variables.
  template <class R = Array, class... Args>
  R apply(const Tree& params, const Args&... args) const {
    return apply_fn->template operator()<R>(params, args...);
  }
  // jit keys its cache on the identity of the static fields.
  size_t tree_static_hash() const;
};

}  // namespace kiln

KILN_TREE(kiln::TrainState, step, params, opt_state);
