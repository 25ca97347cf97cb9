// Sharding, with JAX's names and meaning: a Mesh of devices with named axes, a PartitionSpec saying
// which mesh axes split each dimension of an array, a NamedSharding pairing the two, and
// device_put(x, sharding) giving one global Array made of per-device shards.
//
//   auto mesh = kiln::Mesh(kiln::devices("cpu"), {"data"});          // jax.sharding.Mesh
//   Array x = kiln::device_put(batch, kiln::NamedSharding(mesh, kiln::P("data")));
//   x.sharding();               // NamedSharding(mesh=Mesh('data': 2), spec=PartitionSpec('data',))
//   x.addressable_shards()[1]   // device, index and data of the rows device 1 holds
//
// Devices of a mesh are kiln's cpu devices (KILN_CPU_DEVICES=N) of one process;
// docs/multi-device.md says how they share the cores and what runs sharded.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/device.hpp"
#include "kiln/error.hpp"

namespace kiln {

// Python's None in a PartitionSpec (a dimension no mesh axis splits) and in jit's shardings.
struct NoneType {
  constexpr explicit NoneType(int) {}
};
inline constexpr NoneType None{0};

class Mesh {
 public:
  // A 1-D mesh: devices along one axis (jax.sharding.Mesh(devices, ("data",))).
  Mesh(std::vector<Device> devices, std::vector<std::string> axis_names, Loc loc = Loc::current());
  // An n-D mesh: devices in row-major order over `shape` (Mesh(np.array(devs).reshape(2, 4),
  // ("x", "y"))).
  Mesh(std::vector<Device> devices, std::vector<int64_t> shape, std::vector<std::string> axis_names,
       Loc loc = Loc::current());

  const std::vector<Device>& devices() const { return devices_; }  // row-major over shape()
  const std::vector<std::string>& axis_names() const { return axis_names_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t size() const { return static_cast<int64_t>(devices_.size()); }
  bool has_axis(std::string_view name) const;
  // The size of a named axis (ValueError naming the axes present when there is none).
  int64_t axis_size(std::string_view name, Loc loc = Loc::current()) const;
  // Device k's coordinate along each axis.
  std::vector<int64_t> coordinates(size_t k) const;
  // "Mesh('x': 2, 'y': 4)", as JAX prints it.
  std::string str() const;
  bool operator==(const Mesh&) const = default;

 private:
  std::vector<Device> devices_;
  std::vector<int64_t> shape_;
  std::vector<std::string> axis_names_;
};

// jax.make_mesh: a mesh over the first prod(axis_shapes) cpu devices.
Mesh make_mesh(std::vector<int64_t> axis_shapes, std::vector<std::string> axis_names,
               Loc loc = Loc::current());

// Which mesh axes split each dimension (jax.sharding.PartitionSpec): P("data") splits dimension 0
// over axis "data"; P(None, "model") splits dimension 1; P(axes("x", "y")) splits dimension 0 over
// both; dimensions past the spec's length are whole; P() is fully replicated.
class PartitionSpec {
 public:
  // One dimension's entry: None, an axis name, or several (kiln::axes("x", "y")).
  struct Entry {
    Entry(NoneType) {}
    Entry(const char* axis) : axes{axis} {}
    Entry(std::string axis) : axes{std::move(axis)} {}
    explicit Entry(std::vector<std::string> names) : axes(std::move(names)) {}
    std::vector<std::string> axes;  // empty: None
    bool operator==(const Entry&) const = default;
  };

  PartitionSpec() = default;
  template <class... Es>
  requires(sizeof...(Es) > 0 && (std::is_constructible_v<Entry, Es> && ...))
      PartitionSpec(Es&&... entries)
      : entries_{Entry(std::forward<Es>(entries))...} {}
  explicit PartitionSpec(std::vector<Entry> entries) : entries_(std::move(entries)) {}

  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  // "PartitionSpec('data', None)", as JAX prints it.
  std::string str() const;
  bool operator==(const PartitionSpec&) const = default;

 private:
  std::vector<Entry> entries_;
};
using P = PartitionSpec;

// Several mesh axes splitting one dimension, major to minor (Python's ("x", "y") in a spec).
template <class... S>
PartitionSpec::Entry axes(S&&... names) {
  return PartitionSpec::Entry(std::vector<std::string>{std::string(std::forward<S>(names))...});
}

class NamedSharding {
 public:
  NamedSharding(Mesh mesh, PartitionSpec spec) : mesh_(std::move(mesh)), spec_(std::move(spec)) {}
  const Mesh& mesh() const { return mesh_; }
  const PartitionSpec& spec() const { return spec_; }
  // A kiln::Error, naming `loc`, unless the spec fits an array of `shape` on this mesh: every
  // axis it names is the mesh's, used once, and divides the dimension it splits.
  void check(const Shape& shape, const Loc& loc) const;
  // The shape of the shard each device holds of an array of global `shape`.
  Shape shard_shape(const Shape& shape) const;
  // Per device (in mesh order), the [start, stop) of each dimension it holds.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> device_indices(const Shape& shape) const;
  bool is_fully_replicated() const;
  // "NamedSharding(mesh=Mesh('data': 2), spec=PartitionSpec('data',))"
  std::string str() const;
  bool operator==(const NamedSharding&) const = default;

 private:
  Mesh mesh_;
  PartitionSpec spec_;
};

// What Array::sharding() returns: a NamedSharding, or the one device of an unsharded array (JAX's
// SingleDeviceSharding).
class Sharding {
 public:
  explicit Sharding(Device device) : device_(device) {}
  Sharding(NamedSharding named) : named_(std::move(named)) {}
  bool is_named() const { return named_.has_value(); }
  // The NamedSharding (ValueError for a single-device array).
  const NamedSharding& named() const;
  std::vector<Device> device_set() const;
  bool is_fully_replicated() const { return !named_ || named_->is_fully_replicated(); }
  // "SingleDeviceSharding(device=CpuDevice(id=0))" or the NamedSharding's text.
  std::string str() const;

 private:
  std::optional<NamedSharding> named_;
  Device device_;
};

// One device's piece of an array (jax.Shard): where it lives, which slice of the global array it
// is ([start, stop) per dimension) and its elements as a one-device Array.
struct Shard {
  Device device;
  std::vector<std::pair<int64_t, int64_t>> index;
  Array data;
};

// Places x over the sharding's devices: each device gets the slice its spec gives it (a copy of
// the whole array where no axis splits it). Bad specs are a kiln::Error naming `loc`.
Array device_put(const Array& x, const NamedSharding& sharding, Loc loc = Loc::current());

// jax.lax.with_sharding_constraint: x, laid out as `sharding` says. Inside a jit that is
// partitioned over the same mesh (shardings given, or sharded arguments) the value is resharded to
// that layout — the layout of a result that is it, and of its gradient; inside a jit on one device
// it is x itself. Outside jit it is device_put. Bad specs are a kiln::Error naming `loc`.
Array with_sharding_constraint(const Array& x, const NamedSharding& sharding,
                               Loc loc = Loc::current());
// A PartitionSpec of the use_mesh mesh (a ValueError without one).
Array with_sharding_constraint(const Array& x, const PartitionSpec& spec, Loc loc = Loc::current());

// jit's in_shardings / out_shardings entry: None, a PartitionSpec, a NamedSharding, or a dict of
// them mirroring a prefix of a Tree argument ({'params': {'Dense_0': {'kernel': P(None, 'model')}}}
// is Shardings::dict({{"params", Shardings::dict({{"Dense_0", Shardings::dict({{"kernel",
// P(None, "model")}})}})}})).
class Shardings {
 public:
  using Dict = std::vector<std::pair<std::string, Shardings>>;
  Shardings(NoneType) {}
  Shardings(PartitionSpec spec) : spec_(std::move(spec)) {}
  Shardings(NamedSharding sharding) : named_(std::move(sharding)) {}
  static Shardings dict(Dict items);

  bool is_none() const { return !spec_ && !named_ && !is_dict_; }
  bool is_dict() const { return is_dict_; }
  const std::optional<PartitionSpec>& spec() const { return spec_; }
  const std::optional<NamedSharding>& named() const { return named_; }
  const Dict& items() const { return items_; }

 private:
  Shardings() = default;
  std::optional<PartitionSpec> spec_;
  std::optional<NamedSharding> named_;
  bool is_dict_ = false;
  Dict items_;
};

// The mesh that jit's PartitionSpecs (with no mesh of their own) refer to, set for a scope as
// `with mesh:` / jax.sharding.use_mesh(mesh) set it:
//   { auto scope = kiln::use_mesh(mesh); ... }
class MeshScope {
 public:
  explicit MeshScope(const Mesh& mesh);
  ~MeshScope();
  MeshScope(const MeshScope&) = delete;
  MeshScope& operator=(const MeshScope&) = delete;
};
[[nodiscard]] inline MeshScope use_mesh(const Mesh& mesh) {
  return MeshScope(mesh);
}
// The innermost use_mesh's mesh, if any.
std::optional<Mesh> current_mesh();

}  // namespace kiln
