// jit: trace a function once per signature (tree structure, static fields, shapes, dtypes, device),
// compile it for a backend, cache it; later calls only flatten, look up and run.
//
//   auto step = kiln::jit(train_step, {.backend = "cpu"});
//   state = step(state, x, y);
//   std::cout << kiln::jit(f).lower(x).text();   // the IR, like a jaxpr
//
// C++ control flow runs at trace time; values captured by closure are frozen into the graph as
// constants when it is traced (as in JAX).
//
// Static arguments (JAX's static_argnums, chosen here by type): an integer, bool, enum or string
// argument is not traced. The function sees its value, and the value is part of the cache key, so
// each value traces and compiles once:
//
//   auto f = kiln::jit([](const Array& x, int n, bool train) { ... });
//   f(x, 3, true);  f(x, 3, true);  f(x, 4, true);   // two signatures
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "kiln/backend.hpp"
#include "kiln/function_ref.hpp"
#include "kiln/sharding.hpp"
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
  // SPMD (jax.jit's in_shardings / out_shardings, docs/multi-device.md): per argument, how it is
  // split over a mesh — a PartitionSpec (of the use_mesh mesh), a NamedSharding, None (the
  // argument's own sharding, else replicated) or, for a Tree argument, a dict prefix of it; and
  // likewise for the result. Either set (or a sharded argument) compiles the function for every
  // device of the mesh, partitioned.
  std::vector<Shardings> in_shardings = {};
  std::optional<Shardings> out_shardings = std::nullopt;
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
  ~JitCache();

  // Traces the user's function on tracers; stores a typed copy of its result as the output
  // template.
  using TraceFn =
      FunctionRef<std::vector<Array>(std::span<const Array>, std::shared_ptr<const void>&)>;

  // Finds (or traces, via `trace_fn`, and compiles) the entry for these leaves, runs it, and
  // returns the output leaves and the output template `trace_fn` stored when it traced them —
  // or, running nothing, no template when a leaf is a sharded array (call_partitioned's call).
  // `arg_ends[k]`: the leaf index where argument k's leaves end (for donate_argnums).
  // `call_loc`: the user's call, which errors about the arguments name (and a donated argument
  // remembers, for the error when it is used again).
  std::pair<std::vector<Array>, const void*> call(std::span<const Array> leaves,
                                                  std::span<const size_t> arg_ends,
                                                  size_t structure_hash, TraceFn trace_fn,
                                                  const Loc& call_loc);
  // The traced graph. A call that would be partitioned (shardings given, or a sharded leaf) is
  // traced as call_partitioned traces it, and the graph records its inputs' and outputs' layouts
  // (ir::Graph::sharding) for StableHLO export.
  ir::Graph lower(std::span<const Array> leaves, std::span<const size_t> arg_ends,
                  std::span<const Tree* const> trees, size_t structure_hash, TraceFn trace_fn);
  // Whether every call is partitioned over a mesh: in_shardings or out_shardings are set. (A call
  // is partitioned too when a leaf is a sharded array: `call` then returns no template.)
  bool has_shardings() const { return !options_.in_shardings.empty() || options_.out_shardings; }
  // The partitioned call (src/spmd/sharded_jit.cpp): traces the global function once per
  // signature, partitions it for every device of the mesh, runs it on the leaves' shards and
  // returns sharded outputs. `trees[k]`: argument k when it is a Tree (for dict in_shardings).
  std::vector<Array> call_partitioned(std::span<const Array> leaves,
                                      std::span<const size_t> arg_ends,
                                      std::span<const Tree* const> trees, size_t structure_hash,
                                      TraceFn trace_fn, std::shared_ptr<const void>& tmpl,
                                      const Loc& call_loc);
  Device device() const { return device_; }
  size_t cache_size() const { return entries_.size(); }
  // Leaves of the last call: flattening reserves this many so that it never regrows.
  size_t leaf_count_hint() const { return leaf_count_hint_; }

 private:
  JitOptions options_;
  Loc loc_;
  Device device_;
  std::mutex mutex_;  // one caller at a time: an executable's arena is not shared between runs
  struct Entry;       // one traced signature: its executable, output template and output pool
  std::vector<std::unique_ptr<Entry>> entries_;  // one per signature, in tracing order
  size_t leaf_count_hint_ = 0;
  struct PartitionedEntry;  // src/spmd/sharded_jit.cpp
  std::vector<std::shared_ptr<PartitionedEntry>> partitioned_entries_;
  // The entry for these leaves (traced and partitioned on first use), and each leaf's sharding.
  std::shared_ptr<PartitionedEntry> partitioned_entry(std::span<const Array> leaves,
                                                      std::span<const size_t> arg_ends,
                                                      std::span<const Tree* const> trees,
                                                      size_t structure_hash, TraceFn trace_fn,
                                                      const Loc& call_loc,
                                                      std::vector<NamedSharding>& in);
  // lower() of a partitioned call: the entry's global graph, with its layouts.
  ir::Graph lower_partitioned(std::span<const Array> leaves, std::span<const size_t> arg_ends,
                              std::span<const Tree* const> trees, size_t structure_hash,
                              TraceFn trace_fn);
};

// A static argument of a jitted function (see the head of this file): a plain C++ value that
// selects what is traced — integers, bools, enums, strings.
template <class T>
concept StaticArg = std::is_integral_v<T> || std::is_enum_v<T> || std::is_same_v<T, std::string> ||
    std::is_same_v<T, std::string_view> || std::is_same_v<T, const char*> ||
    (std::is_array_v<T>&& std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>);

// How each argument enters a jitted call: a static one by its value (hashed into the cache key),
// a tree by its leaves.
template <class A>
struct JitArg {
  static_assert(TreeLike<A> || StaticArg<A>,
                "kiln::jit: an argument must be an Array, a Tree, a type with tree_traits "
                "(KILN_TREE), or a static value (an integer, bool, enum or string)");
  using Rebuilt = std::conditional_t<StaticArg<A>, const A&, A>;
  static void flatten(const A& a, std::vector<Array>& leaves, size_t& h) {
    if constexpr (StaticArg<A>) {
      hash_combine(h, typeid(A).hash_code());
      if constexpr (std::is_enum_v<A>)
        hash_combine(
            h, std::hash<std::underlying_type_t<A>>{}(static_cast<std::underlying_type_t<A>>(a)));
      else if constexpr (std::is_integral_v<A>)
        hash_combine(h, std::hash<A>{}(a));
      else
        hash_combine(h, std::hash<std::string_view>{}(std::string_view(a)));
    } else {
      tree_traits<A>::flatten(a, leaves, h);
    }
  }
  static Rebuilt rebuild(const A& a, std::span<const Array>& leaves) {
    if constexpr (StaticArg<A>)
      return a;
    else
      return tree_traits<A>::rebuild(a, leaves);
  }
};

template <class F>
class Jitted {
 public:
  Jitted(F f, JitOptions options, Loc loc)
      : f_(std::move(f)), cache_(std::make_shared<JitCache>(std::move(options), loc)) {}

  // One overload per arity, so that each can take the caller's line after its arguments.
  auto operator()(Loc loc = Loc::current()) const { return call(loc); }
  template <class A0>
  auto operator()(const A0& a0, Loc loc = Loc::current()) const {
    return call(loc, a0);
  }
  template <class A0, class A1>
  auto operator()(const A0& a0, const A1& a1, Loc loc = Loc::current()) const {
    return call(loc, a0, a1);
  }
  template <class A0, class A1, class A2>
  auto operator()(const A0& a0, const A1& a1, const A2& a2, Loc loc = Loc::current()) const {
    return call(loc, a0, a1, a2);
  }
  template <class A0, class A1, class A2, class A3>
  auto operator()(const A0& a0, const A1& a1, const A2& a2, const A3& a3,
                  Loc loc = Loc::current()) const {
    return call(loc, a0, a1, a2, a3);
  }
  template <class A0, class A1, class A2, class A3, class A4>
  auto operator()(const A0& a0, const A1& a1, const A2& a2, const A3& a3, const A4& a4,
                  Loc loc = Loc::current()) const {
    return call(loc, a0, a1, a2, a3, a4);
  }
  template <class A0, class A1, class A2, class A3, class A4, class A5>
  auto operator()(const A0& a0, const A1& a1, const A2& a2, const A3& a3, const A4& a4,
                  const A5& a5, Loc loc = Loc::current()) const {
    return call(loc, a0, a1, a2, a3, a4, a5);
  }
  template <class A0, class A1, class A2, class A3, class A4, class A5, class A6>
  auto operator()(const A0& a0, const A1& a1, const A2& a2, const A3& a3, const A4& a4,
                  const A5& a5, const A6& a6, Loc loc = Loc::current()) const {
    return call(loc, a0, a1, a2, a3, a4, a5, a6);
  }
  template <class A0, class A1, class A2, class A3, class A4, class A5, class A6, class A7>
  auto operator()(const A0& a0, const A1& a1, const A2& a2, const A3& a3, const A4& a4,
                  const A5& a5, const A6& a6, const A7& a7, Loc loc = Loc::current()) const {
    return call(loc, a0, a1, a2, a3, a4, a5, a6, a7);
  }

  // Traces for these arguments and returns the graph (`.text()` prints it like a jaxpr).
  template <class... Args>
  Lowered lower(const Args&... args) const {
    using R = std::remove_cvref_t<std::invoke_result_t<const F&, const Args&...>>;
    std::vector<Array> leaves;
    size_t h = 0;
    std::array<size_t, sizeof...(Args)> arg_ends{};
    [[maybe_unused]] size_t k = 0;
    ((JitArg<Args>::flatten(args, leaves, h), arg_ends[k++] = leaves.size()), ...);
    std::array<const Tree*, sizeof...(Args)> trees{};
    [[maybe_unused]] size_t j = 0;
    ((trees[j++] = tree_or_null(args)), ...);
    auto trace_fn = tracer_fn<R>(args...);
    return Lowered(cache_->lower(leaves, arg_ends, trees, h, trace_fn), cache_->device());
  }

  // Number of traced signatures (each traced and compiled once).
  size_t cache_size() const { return cache_->cache_size(); }

 private:
  template <class... Args>
  auto call(const Loc& loc, const Args&... args) const {
    using R = std::remove_cvref_t<std::invoke_result_t<const F&, const Args&...>>;
    static_assert(
        TreeLike<R>,
        "kiln::jit: the function must return an Array, a Tree, or a type with tree_traits "
        "(KILN_TREE) — a tree of arrays");
    // Under an enclosing trace, a jitted function is simply inlined into it.
    if (tracing()) return R(f_(args...));
    std::vector<Array> leaves;
    leaves.reserve(cache_->leaf_count_hint());
    size_t h = 0;
    std::array<size_t, sizeof...(Args)> arg_ends{};
    [[maybe_unused]] size_t k = 0;
    ((JitArg<Args>::flatten(args, leaves, h), arg_ends[k++] = leaves.size()), ...);
    auto trace_fn = tracer_fn<R>(args...);
    if (!cache_->has_shardings()) {
      auto [outs, output_template] = cache_->call(leaves, arg_ends, h, trace_fn, loc);
      if (output_template != nullptr) {
        std::span<const Array> it(outs);
        return static_cast<const detail::OutputTemplate<R>*>(output_template)->rebuild(it);
      }
      // No template: a leaf is a sharded array, so the call is partitioned.
    }
    {
      std::array<const Tree*, sizeof...(Args)> trees{};
      [[maybe_unused]] size_t j = 0;
      ((trees[j++] = tree_or_null(args)), ...);
      std::shared_ptr<const void> tmpl;
      std::vector<Array> outs =
          cache_->call_partitioned(leaves, arg_ends, trees, h, trace_fn, tmpl, loc);
      std::span<const Array> it(outs);
      return static_cast<const detail::OutputTemplate<R>*>(tmpl.get())->rebuild(it);
    }
  }

  template <class A>
  static const Tree* tree_or_null(const A& a) {
    if constexpr (std::is_same_v<A, Tree>)
      return &a;
    else
      return nullptr;
  }

  template <class R, class... Args>
  auto tracer_fn(const Args&... args) const {
    return [this, &args...](std::span<const Array> tracers, std::shared_ptr<const void>& tmpl) {
      std::span<const Array> it = tracers;
      // Braces: the arguments are rebuilt left to right, consuming the tracers in order.
      R result = std::apply(
          [&](const auto&... rebuilt) { return f_(rebuilt...); },
          std::tuple<typename JitArg<Args>::Rebuilt...>{JitArg<Args>::rebuild(args, it)...});
      std::vector<Array> outs;
      size_t ignored = 0;
      tree_traits<R>::flatten(result, outs, ignored);
      tmpl = std::make_shared<const detail::OutputTemplate<R>>(std::move(result));
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
