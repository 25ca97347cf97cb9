// shard_map and the collectives, with JAX's names and meaning (jax.shard_map, jax.lax.psum ...).
//
//   auto f = kiln::shard_map([](const Array& x) { return kiln::psum(x, "i"); },
//                            mesh, kiln::P("i"), kiln::P());
//   Array total = f(x);   // x split over mesh axis "i"; every device sums its rows with the
//   others'
//
// The function sees each device's block of its arguments (split as in_specs say) and runs once
// per device of the mesh; its results are put together as out_specs say. Inside it, collectives
// exchange between the devices of the named mesh axes. Gradients taken inside the function go
// through the collectives as JAX's do without replication checks (check_vma=False): psum's
// transpose is psum, all_gather's is psum_scatter and back, all_to_all's swaps its axes, ppermute's
// inverts the permutation. docs/multi-device.md says what runs where.
#pragma once

#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/function_ref.hpp"
#include "kiln/jit.hpp"
#include "kiln/sharding.hpp"
#include "kiln/tree.hpp"

namespace kiln {

// The mesh axis (or axes, major to minor) a collective runs over: "i" or {"x", "y"}.
struct AxisNames {
  AxisNames(const char* name) : names{name} {}
  AxisNames(std::string name) : names{std::move(name)} {}
  AxisNames(std::initializer_list<std::string> list) : names(list) {}
  std::vector<std::string> names;
};

// Sums x over the devices of the axes; every device gets the sum.
Array psum(const Array& x, const AxisNames& axes, Loc loc = Loc::current());
// psum(x) divided by the number of devices summed.
Array pmean(const Array& x, const AxisNames& axes, Loc loc = Loc::current());
// The elementwise maximum over the devices of the axes (not differentiable).
Array pmax(const Array& x, const AxisNames& axes, Loc loc = Loc::current());
// Every device's x, stacked along a new dimension `axis` (tiled: concatenated along `axis`).
Array all_gather(const Array& x, const AxisNames& axes, int axis = 0, bool tiled = false,
                 Loc loc = Loc::current());
// The sum over the devices, of which device r keeps block r along scatter_dimension (untiled:
// that dimension's size is the device count, and it is removed).
Array psum_scatter(const Array& x, const AxisNames& axes, int scatter_dimension = 0,
                   bool tiled = false, Loc loc = Loc::current());
// Splits x into blocks along split_axis, sends block j to device j, and concatenates what it
// receives along concat_axis (untiled: split_axis's size is the device count; it is removed and a
// dimension of that size is inserted at concat_axis).
Array all_to_all(const Array& x, const AxisNames& axes, int split_axis, int concat_axis,
                 bool tiled = false, Loc loc = Loc::current());
// Sends x from device `source` to device `destination` for each pair (indices along the axes); a
// device no pair sends to receives zeros.
Array ppermute(const Array& x, const AxisNames& axes, std::vector<std::pair<int64_t, int64_t>> perm,
               Loc loc = Loc::current());
// This device's index along the axes (int32 scalar).
Array axis_index(const AxisNames& axes, Loc loc = Loc::current());

// shard_map's in_specs / out_specs: one PartitionSpec for every argument (result), or one each.
struct Specs {
  Specs(PartitionSpec spec) : specs{std::move(spec)} {}
  Specs(std::initializer_list<PartitionSpec> list) : specs(list) {}
  std::vector<PartitionSpec> specs;
};

namespace detail {
using ShardMapTrace =
    FunctionRef<std::vector<Array>(std::span<const Array>, std::shared_ptr<const void>&)>;
struct ShardMapCache;
// Splits the leaves, runs the traced function on every device and puts the results together.
// `def_loc`: where the shard_map was made (tracing errors name it); `call_loc`: the call (errors
// about the arguments name it).
std::vector<Array> shard_map_call(ShardMapCache& cache, const Mesh& mesh, const Specs& in_specs,
                                  const Specs& out_specs, std::span<const Array> leaves,
                                  std::span<const size_t> arg_ends, size_t structure_hash,
                                  ShardMapTrace trace_fn, std::shared_ptr<const void>& tmpl,
                                  const Loc& def_loc, const Loc& call_loc);
std::shared_ptr<ShardMapCache> make_shard_map_cache();
}  // namespace detail

template <class F>
class ShardMapped {
 public:
  ShardMapped(F f, Mesh mesh, Specs in_specs, Specs out_specs, Loc loc)
      : f_(std::move(f)),
        mesh_(std::move(mesh)),
        in_specs_(std::move(in_specs)),
        out_specs_(std::move(out_specs)),
        loc_(loc),
        cache_(detail::make_shard_map_cache()) {}

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

 private:
  template <class... Args>
  auto call(const Loc& call_loc, const Args&... args) const {
    using R = std::remove_cvref_t<std::invoke_result_t<const F&, const Args&...>>;
    static_assert(TreeLike<R>, "kiln::shard_map: the function must return a tree of arrays");
    std::vector<Array> leaves;
    size_t h = 0;
    std::array<size_t, sizeof...(Args)> arg_ends{};
    [[maybe_unused]] size_t k = 0;
    ((JitArg<Args>::flatten(args, leaves, h), arg_ends[k++] = leaves.size()), ...);
    auto trace_fn = [this, &args...](std::span<const Array> tracers,
                                     std::shared_ptr<const void>& tmpl) {
      std::span<const Array> it = tracers;
      R result = std::apply(
          [&](const auto&... rebuilt) { return f_(rebuilt...); },
          std::tuple<typename JitArg<Args>::Rebuilt...>{JitArg<Args>::rebuild(args, it)...});
      std::vector<Array> outs;
      size_t ignored = 0;
      tree_traits<R>::flatten(result, outs, ignored);
      tmpl = std::make_shared<const detail::OutputTemplate<R>>(std::move(result));
      return outs;
    };
    std::shared_ptr<const void> tmpl;
    std::vector<Array> outs = detail::shard_map_call(*cache_, mesh_, in_specs_, out_specs_, leaves,
                                                     arg_ends, h, trace_fn, tmpl, loc_, call_loc);
    std::span<const Array> it(outs);
    return static_cast<const detail::OutputTemplate<R>*>(tmpl.get())->rebuild(it);
  }

  F f_;
  Mesh mesh_;
  Specs in_specs_, out_specs_;
  Loc loc_;
  std::shared_ptr<detail::ShardMapCache> cache_;
};

// jax.shard_map(f, mesh=mesh, in_specs=..., out_specs=..., check_vma=False). Called on concrete
// arrays (not yet inside jit or grad; grad inside f works).
template <class F>
ShardMapped<F> shard_map(F f, Mesh mesh, Specs in_specs, Specs out_specs,
                         Loc loc = Loc::current()) {
  return ShardMapped<F>(std::move(f), std::move(mesh), std::move(in_specs), std::move(out_specs),
                        loc);
}

}  // namespace kiln
