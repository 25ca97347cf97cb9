// jit: trace a function once per signature (tree structure, static fields, shapes, dtypes, device),
// compile it for a backend, cache it; later calls only flatten, look up and run.
//
//   auto step = kiln::jit(train_step, {.backend = "cpu"});
//   state = step(state, x, y);
//   std::cout << kiln::jit(f).lower(x).text();   // the IR, like a jaxpr
//
// C++ control flow runs at trace time; values captured by closure are frozen into the graph as
// constants when it is traced (as in JAX).
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "kiln/backend.hpp"
#include "kiln/function_ref.hpp"
#include "kiln/trace.hpp"
#include "kiln/tree.hpp"

namespace kiln {

struct JitOptions {
  std::string backend = "cpu";                  // platform to compile for
  std::optional<Device> device = std::nullopt;  // default: the platform's first device
  std::string name = "f";                       // the graph's name in printed IR
  // Arguments (by position) whose buffers the call may overwrite with its outputs, as JAX's
  // donate_argnums: `state = step(state, batch)` then updates the state in place. A donated array
  // whose buffer an output took reads as an error afterwards (use the output).
  std::vector<int> donate_argnums = {};
};

// A compiled graph, ready to run.
class Compiled {
 public:
  Compiled(std::shared_ptr<Executable> exe, Device device)
      : exe_(std::move(exe)), device_(device) {}
  // The executable's schedule, one line per step.
  std::string text() const { return exe_->describe(); }
  const std::shared_ptr<Executable>& executable() const { return exe_; }
  Device device() const { return device_; }

 private:
  std::shared_ptr<Executable> exe_;
  Device device_;
};

// A traced, not yet compiled, function.
class Lowered {
 public:
  Lowered(ir::Graph graph, Device device) : graph_(std::move(graph)), device_(device) {}
  std::string text() const { return graph_.str(); }
  const ir::Graph& graph() const { return graph_; }
  Compiled compile() const;

 private:
  ir::Graph graph_;
  Device device_;
};

// The untyped machinery behind Jitted<F>: the cache and the hot path.
class JitCache {
 public:
  JitCache(JitOptions options, Loc loc);

  // Traces the user's function on tracers; stores a typed copy of its result as the output
  // template.
  using TraceFn =
      FunctionRef<std::vector<Array>(std::span<const Array>, std::shared_ptr<const void>&)>;

  struct Entry {
    std::vector<ir::ValueType> input_types;
    size_t structure_hash = 0;
    std::shared_ptr<Executable> executable;
    std::shared_ptr<const void> output_template;  // OutputTemplate<R> of the first traced output
    // Per output, kOutputPoolDepth arrays this entry returned before; one whose last reference
    // is the pool's is written again instead of allocating (see take_output in jit.cpp).
    std::vector<std::shared_ptr<ArrayImpl>> output_pool;
    // The traced graph, kept only under KILN_DEBUG_NANS: replayed op by op to find the first
    // primitive that made a NaN.
    std::shared_ptr<const ir::Graph> graph;
  };
  static constexpr size_t kOutputPoolDepth = 2;

  // Finds (or traces, via `trace_fn`, and compiles) the entry for these leaves, runs it, and
  // returns the output leaves and the entry.
  // `arg_ends[k]`: the leaf index where argument k's leaves end (for donate_argnums).
  std::pair<std::vector<Array>, const Entry*> call(std::span<const Array> leaves,
                                                   std::span<const size_t> arg_ends,
                                                   size_t structure_hash, TraceFn trace_fn);
  ir::Graph lower(std::span<const Array> leaves, TraceFn trace_fn);
  Device device() const { return device_; }
  size_t cache_size() const { return entries_.size(); }
  // Leaves of the last call: flattening reserves this many so that it never regrows.
  size_t leaf_count_hint() const { return leaf_count_hint_; }

 private:
  JitOptions options_;
  Loc loc_;
  Device device_;
  std::mutex mutex_;  // one caller at a time: an executable's arena is not shared between runs
  std::vector<std::unique_ptr<Entry>> entries_;  // one per signature, in tracing order
  size_t leaf_count_hint_ = 0;
};

template <class F>
class Jitted {
 public:
  Jitted(F f, JitOptions options, Loc loc)
      : f_(std::move(f)), cache_(std::make_shared<JitCache>(std::move(options), loc)) {}

  template <class... Args>
  auto operator()(const Args&... args) const {
    using R = std::remove_cvref_t<std::invoke_result_t<const F&, const Args&...>>;
    static_assert(
        TreeLike<R>,
        "kiln::jit: the function must return an Array, a Tree, or a type with tree_traits "
        "(KILN_TREE) — a tree of arrays");
    // Under an enclosing trace, a jitted function is simply inlined into it.
    if (tracing()) return f_(args...);
    std::vector<Array> leaves;
    leaves.reserve(cache_->leaf_count_hint());
    size_t h = 0;
    std::array<size_t, sizeof...(Args)> arg_ends{};
    [[maybe_unused]] size_t k = 0;
    ((tree_traits<Args>::flatten(args, leaves, h), arg_ends[k++] = leaves.size()), ...);
    auto trace_fn = tracer_fn<R>(args...);
    auto [outs, entry] = cache_->call(leaves, arg_ends, h, trace_fn);
    std::span<const Array> it(outs);
    return static_cast<const OutputTemplate<R>*>(entry->output_template.get())->rebuild(it);
  }

  // Traces for these arguments and returns the graph (`.text()` prints it like a jaxpr).
  template <class... Args>
  Lowered lower(const Args&... args) const {
    using R = std::remove_cvref_t<std::invoke_result_t<const F&, const Args&...>>;
    std::vector<Array> leaves;
    size_t h = 0;
    (tree_traits<Args>::flatten(args, leaves, h), ...);
    auto trace_fn = tracer_fn<R>(args...);
    return Lowered(cache_->lower(leaves, trace_fn), cache_->device());
  }

  // Number of traced signatures (each traced and compiled once).
  size_t cache_size() const { return cache_->cache_size(); }

 private:
  template <class R, class... Args>
  auto tracer_fn(const Args&... args) const {
    return [this, &args...](std::span<const Array> tracers, std::shared_ptr<const void>& tmpl) {
      std::span<const Array> it = tracers;
      R result = std::apply([&](const auto&... rebuilt) { return f_(rebuilt...); },
                            std::tuple<Args...>{tree_traits<Args>::rebuild(args, it)...});
      std::vector<Array> outs;
      size_t ignored = 0;
      tree_traits<R>::flatten(result, outs, ignored);
      tmpl = std::make_shared<const OutputTemplate<R>>(std::move(result));
      return outs;
    };
  }

  F f_;
  std::shared_ptr<JitCache> cache_;
};

template <class F>
Jitted<F> jit(F f, JitOptions options = {}, Loc loc = Loc::current()) {
  return Jitted<F>(std::move(f), std::move(options), loc);
}

}  // namespace kiln
