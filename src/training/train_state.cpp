#include "kiln/train_state.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

#include "kiln/ops.hpp"

namespace kiln {
namespace {

std::string demangled(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(t.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(t.name());
}

}  // namespace

void ApplyFn::mismatch(const std::type_info& called_as) const {
  throw ValueError("TrainState::apply: apply_fn is " + demangled(impl_->signature()) +
                   " but was called as " + demangled(called_as) +
                   "; pass the arguments with the types apply_fn takes (a bool as bool, not int), "
                   "and give its return type as apply<R>(...) when it is not an Array");
}

TrainState TrainState::create(ApplyFn apply_fn, Tree params, optim::GradientTransformation tx) {
  TrainState s;
  s.step = zeros({}, int32);
  s.opt_state = tx.init(params);
  s.params = std::move(params);
  s.apply_fn = std::make_shared<const ApplyFn>(std::move(apply_fn));
  s.tx = std::make_shared<const optim::GradientTransformation>(std::move(tx));
  return s;
}

TrainState TrainState::apply_gradients(const Tree& grads) const {
  auto [updates, new_opt_state] = tx->update(grads, opt_state, params);
  TrainState next = *this;
  next.step = step + 1;
  next.params = optim::apply_updates(params, updates);
  next.opt_state = std::move(new_opt_state);
  return next;
}

size_t TrainState::tree_static_hash() const {
  size_t h = reinterpret_cast<size_t>(apply_fn.get());
  hash_combine(h, reinterpret_cast<size_t>(tx.get()));
  return h;
}

}  // namespace kiln
