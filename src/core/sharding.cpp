// Meshes, partition specs and sharded arrays (kiln/sharding.hpp).
#include "kiln/sharding.hpp"

#include <algorithm>
#include <cstring>

#include "core/array_impl.hpp"
#include "core/sharded_value.hpp"
#include "kiln/backend.hpp"
#include "kiln/ir.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

std::string quoted_list(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
  return s;
}

thread_local std::vector<Mesh> g_meshes;

std::vector<std::byte> host_bytes(const Array& x) {
  std::vector<std::byte> bytes(static_cast<size_t>(x.size()) * itemsize(x.dtype()));
  if (!bytes.empty()) x.copy_to_host(bytes.data(), x.dtype());
  return bytes;
}

}  // namespace

void copy_box(std::byte* whole, std::byte* piece, const Shape& shape, size_t itemsize,
              const std::vector<int64_t>& starts, const std::vector<int64_t>& sizes,
              bool to_piece) {
  const int rank = shape.rank();
  if (rank == 0) {
    if (to_piece)
      std::memcpy(piece, whole, itemsize);
    else
      std::memcpy(whole, piece, itemsize);
    return;
  }
  for (int64_t s : sizes)
    if (s == 0) return;
  std::vector<int64_t> stride(static_cast<size_t>(rank), 1);
  for (int d = rank - 2; d >= 0; --d)
    stride[static_cast<size_t>(d)] = stride[static_cast<size_t>(d) + 1] * shape[d + 1];
  const size_t row = static_cast<size_t>(sizes.back()) * itemsize;
  std::vector<int64_t> at(static_cast<size_t>(rank), 0);  // position in the piece, last dim 0
  while (true) {
    int64_t offset = 0;
    for (int d = 0; d < rank; ++d)
      offset += (starts[static_cast<size_t>(d)] + at[static_cast<size_t>(d)]) *
                stride[static_cast<size_t>(d)];
    std::byte* w = whole + static_cast<size_t>(offset) * itemsize;
    if (to_piece)
      std::memcpy(piece, w, row);
    else
      std::memcpy(w, piece, row);
    piece += row;
    int d = rank - 2;
    while (d >= 0 && ++at[static_cast<size_t>(d)] == sizes[static_cast<size_t>(d)])
      at[static_cast<size_t>(d--)] = 0;
    if (d < 0) return;
  }
}

// ---- Mesh ----

Mesh::Mesh(std::vector<Device> devices, std::vector<std::string> axis_names, Loc loc)
    : Mesh(devices, {static_cast<int64_t>(devices.size())}, std::move(axis_names), loc) {}

Mesh::Mesh(std::vector<Device> devices, std::vector<int64_t> shape,
           std::vector<std::string> axis_names, Loc loc)
    : devices_(std::move(devices)), shape_(std::move(shape)), axis_names_(std::move(axis_names)) {
  if (axis_names_.size() != shape_.size())
    throw ValueError(message("Mesh: " + std::to_string(axis_names_.size()) + " axis names (" +
                                 quoted_list(axis_names_) + ") for a mesh of " +
                                 std::to_string(shape_.size()) + " dimension(s)",
                             loc,
                             "give one name per mesh dimension; for a 2-D mesh pass its shape: "
                             "Mesh(devices, {2, 4}, {\"x\", \"y\"})"));
  int64_t n = 1;
  for (int64_t s : shape_) n *= s;
  if (devices_.empty() || n != static_cast<int64_t>(devices_.size()))
    throw ValueError(message("Mesh: " + std::to_string(devices_.size()) +
                                 " devices do not fill a mesh of " + std::to_string(n),
                             loc, "pass as many devices as the mesh shape holds"));
  for (size_t i = 0; i < axis_names_.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (axis_names_[i] == axis_names_[j])
        throw ValueError(message("Mesh: axis name '" + axis_names_[i] + "' is given twice", loc,
                                 "give each mesh axis its own name"));
  for (size_t i = 0; i < devices_.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (devices_[i] == devices_[j])
        throw ValueError(message("Mesh: " + devices_[i].str() + " appears twice", loc,
                                 "a mesh holds each device once; set KILN_CPU_DEVICES=N for N "
                                 "cpu devices"));
}

bool Mesh::has_axis(std::string_view name) const {
  return std::find(axis_names_.begin(), axis_names_.end(), name) != axis_names_.end();
}

int64_t Mesh::axis_size(std::string_view name, Loc loc) const {
  for (size_t i = 0; i < axis_names_.size(); ++i)
    if (axis_names_[i] == name) return shape_[i];
  throw ValueError(message("mesh axis '" + std::string(name) + "' is not in " + str(), loc,
                           "name one of its axes: " + quoted_list(axis_names_)));
}

std::vector<int64_t> Mesh::coordinates(size_t k) const {
  std::vector<int64_t> c(shape_.size());
  auto rest = static_cast<int64_t>(k);
  for (size_t d = shape_.size(); d-- > 0;) {
    c[d] = rest % shape_[d];
    rest /= shape_[d];
  }
  return c;
}

std::string Mesh::str() const {
  std::string s = "Mesh(";
  for (size_t i = 0; i < shape_.size(); ++i)
    s += (i ? ", '" : "'") + axis_names_[i] + "': " + std::to_string(shape_[i]);
  return s + ")";
}

Mesh make_mesh(std::vector<int64_t> axis_shapes, std::vector<std::string> axis_names, Loc loc) {
  int64_t n = 1;
  for (int64_t s : axis_shapes) n *= s;
  std::vector<Device> all = devices("cpu");
  if (n < 1 || n > static_cast<int64_t>(all.size()))
    throw DeviceNotFound(message(
        "make_mesh: a mesh of " + std::to_string(n) + " devices, but " +
            std::to_string(all.size()) + " cpu device(s) are present",
        loc, "set KILN_CPU_DEVICES=" + std::to_string(n) + " (or more) before the program starts"));
  all.resize(static_cast<size_t>(n));
  return Mesh(std::move(all), std::move(axis_shapes), std::move(axis_names), loc);
}

// ---- PartitionSpec, NamedSharding ----

std::string PartitionSpec::str() const {
  std::string s = "PartitionSpec(";
  for (size_t i = 0; i < entries_.size(); ++i) {
    const auto& a = entries_[i].axes;
    s += i ? ", " : "";
    if (a.empty())
      s += "None";
    else if (a.size() == 1)
      s += "'" + a[0] + "'";
    else
      s += "(" + quoted_list(a) + ")";
  }
  return s + (entries_.size() == 1 ? ",)" : ")");
}

void NamedSharding::check(const Shape& shape, const Loc& loc) const {
  const auto& entries = spec_.entries();
  if (static_cast<int>(entries.size()) > shape.rank())
    throw ValueError(message(spec_.str() + " has " + std::to_string(entries.size()) +
                                 " entries for an array of rank " + std::to_string(shape.rank()) +
                                 " " + shape.str(),
                             loc, "give at most one entry per dimension"));
  std::vector<std::string> used;
  for (size_t d = 0; d < entries.size(); ++d) {
    int64_t n = 1;
    for (const std::string& axis : entries[d].axes) {
      if (!mesh_.has_axis(axis))
        throw ValueError(
            message(spec_.str() + " names mesh axis '" + axis + "', which " + mesh_.str() +
                        " does not have",
                    loc, "use one of its axes (" + quoted_list(mesh_.axis_names()) + ") or None"));
      if (std::find(used.begin(), used.end(), axis) != used.end())
        throw ValueError(message(spec_.str() + " uses mesh axis '" + axis + "' twice", loc,
                                 "an axis can split only one dimension"));
      used.push_back(axis);
      n *= mesh_.axis_size(axis);
    }
    if (shape[static_cast<int>(d)] % n != 0)
      throw ShapeError(message(
          "dimension " + std::to_string(d) + " of an array of shape " + shape.str() + " (size " +
              std::to_string(shape[static_cast<int>(d)]) + ") is not divisible by " +
              std::to_string(n) + ", the size of mesh axis " + quoted_list(entries[d].axes) +
              " that " + spec_.str() + " splits it over",
          loc, "make that dimension a multiple of " + std::to_string(n) + ", or do not split it"));
  }
}

Shape NamedSharding::shard_shape(const Shape& shape) const {
  std::vector<int64_t> out = shape.vec();
  const auto& entries = spec_.entries();
  for (size_t d = 0; d < entries.size() && d < out.size(); ++d)
    for (const std::string& axis : entries[d].axes) out[d] /= mesh_.axis_size(axis);
  return Shape(out);
}

std::vector<std::vector<std::pair<int64_t, int64_t>>> NamedSharding::device_indices(
    const Shape& shape) const {
  const Shape piece = shard_shape(shape);
  const auto& names = mesh_.axis_names();
  std::vector<std::vector<std::pair<int64_t, int64_t>>> out;
  for (size_t k = 0; k < mesh_.devices().size(); ++k) {
    const std::vector<int64_t> at = mesh_.coordinates(k);
    std::vector<std::pair<int64_t, int64_t>> index;
    for (int d = 0; d < shape.rank(); ++d) {
      int64_t block = 0;  // this device's block along d: mixed radix over the axes splitting d
      if (static_cast<size_t>(d) < spec_.size())
        for (const std::string& axis : spec_.entries()[static_cast<size_t>(d)].axes) {
          const auto a =
              static_cast<size_t>(std::find(names.begin(), names.end(), axis) - names.begin());
          block = block * mesh_.shape()[a] + at[a];
        }
      index.emplace_back(block * piece[d], (block + 1) * piece[d]);
    }
    out.push_back(std::move(index));
  }
  return out;
}

bool NamedSharding::is_fully_replicated() const {
  for (const auto& e : spec_.entries())
    for (const std::string& axis : e.axes)
      if (mesh_.axis_size(axis) > 1) return false;
  return true;
}

std::string NamedSharding::str() const {
  return "NamedSharding(mesh=" + mesh_.str() + ", spec=" + spec_.str() + ")";
}

const NamedSharding& Sharding::named() const {
  if (!named_)
    throw ValueError("this array lives on one device (" + device_.str() +
                     "), not over a mesh: it has no NamedSharding");
  return *named_;
}

std::vector<Device> Sharding::device_set() const {
  return named_ ? named_->mesh().devices() : std::vector<Device>{device_};
}

std::string Sharding::str() const {
  return named_ ? named_->str() : "SingleDeviceSharding(device=" + device_.str() + ")";
}

Shardings Shardings::dict(Dict items) {
  Shardings s;
  s.is_dict_ = true;
  s.items_ = std::move(items);
  return s;
}

// ---- sharded arrays ----

Array make_sharded(NamedSharding sharding, std::vector<Array> shards, DType dtype, Shape global) {
  auto impl = std::make_shared<ArrayImpl>();
  impl->dtype = dtype;
  impl->shape = std::move(global);
  impl->sharded = std::make_shared<ShardedValue>(std::move(sharding), std::move(shards));
  return ArrayAccess::wrap(std::move(impl));
}

std::vector<Array> shards_for(const Array& x, const NamedSharding& sharding) {
  const ArrayImpl& impl = *ArrayAccess::impl(x);
  if (impl.sharded && impl.sharded->sharding == sharding) return impl.sharded->shards;
  const std::vector<std::byte> whole = host_bytes(x);
  const Shape piece = sharding.shard_shape(impl.shape);
  const size_t item = itemsize(impl.dtype);
  std::vector<std::byte> part(static_cast<size_t>(piece.numel()) * item);
  const auto indices = sharding.device_indices(impl.shape);
  std::vector<Array> shards;
  for (size_t k = 0; k < indices.size(); ++k) {
    std::vector<int64_t> starts, sizes;
    for (const auto& [lo, hi] : indices[k]) {
      starts.push_back(lo);
      sizes.push_back(hi - lo);
    }
    copy_box(const_cast<std::byte*>(whole.data()), part.data(), impl.shape, item, starts, sizes,
             true);
    shards.push_back(Array::from_bytes(part.data(), part.size(), impl.dtype, piece,
                                       sharding.mesh().devices()[k]));
  }
  return shards;
}

Array device_put(const Array& x, const NamedSharding& sharding, Loc loc) {
  if (x.empty()) throw ValueError(message("device_put of an empty Array", loc));
  if (x.is_tracer())
    throw Unsupported(message("device_put with a NamedSharding inside jit or grad", loc,
                              "place arrays before the jitted call, or give jit in_shardings"));
  sharding.check(x.shape(), loc);
  return make_sharded(sharding, shards_for(x, sharding), x.dtype(), x.shape());
}

Sharding Array::sharding() const {
  if (impl_ && impl_->sharded) return Sharding(impl_->sharded->sharding);
  return Sharding(device());
}

std::vector<Shard> Array::addressable_shards() const {
  if (impl_ && impl_->sharded) {
    const ShardedValue& s = *impl_->sharded;
    const auto indices = s.sharding.device_indices(impl_->shape);
    std::vector<Shard> out;
    for (size_t k = 0; k < s.shards.size(); ++k)
      out.push_back(Shard{s.sharding.mesh().devices()[k], indices[k], s.shards[k]});
    return out;
  }
  std::vector<std::pair<int64_t, int64_t>> index;
  for (int64_t n : shape().vec()) index.emplace_back(0, n);
  return {Shard{device(), std::move(index), *this}};
}

// The whole of a sharded array, assembled once on the mesh's first device.
const std::shared_ptr<Buffer>& assembled_buffer(const ArrayImpl& impl) {
  ShardedValue& s = *impl.sharded;
  std::call_once(s.assembled, [&] {
    const size_t item = itemsize(impl.dtype);
    std::vector<std::byte> whole(static_cast<size_t>(impl.shape.numel()) * item);
    const auto indices = s.sharding.device_indices(impl.shape);
    for (size_t k = 0; k < s.shards.size(); ++k) {
      // A block several devices hold (replicated over an axis) is read from the first of them.
      if (std::find(indices.begin(), indices.begin() + static_cast<std::ptrdiff_t>(k),
                    indices[k]) != indices.begin() + static_cast<std::ptrdiff_t>(k))
        continue;
      std::vector<int64_t> starts, sizes;
      for (const auto& [lo, hi] : indices[k]) {
        starts.push_back(lo);
        sizes.push_back(hi - lo);
      }
      std::vector<std::byte> part = host_bytes(s.shards[k]);
      copy_box(whole.data(), part.data(), impl.shape, item, starts, sizes, false);
    }
    const Device first = s.sharding.mesh().devices().front();
    s.whole = first.backend()->allocate(whole.size(), first);
    if (!whole.empty()) first.backend()->from_host(whole.data(), *s.whole);
  });
  return s.whole;
}

// ---- with_sharding_constraint ----

Array with_sharding_constraint(const Array& x, const NamedSharding& sharding, Loc loc) {
  if (x.empty()) throw ValueError(message("with_sharding_constraint of an empty Array", loc));
  sharding.check(x.shape(), loc);
  if (!x.is_tracer()) return device_put(x, sharding, loc);
  ir::Attrs a;
  a.split.mesh = {sharding.mesh().axis_names(), sharding.mesh().shape()};
  for (const PartitionSpec::Entry& e : sharding.spec().entries()) a.split.dims.push_back(e.axes);
  a.split.dims.resize(static_cast<size_t>(x.shape().rank()));
  return bind(ir::Prim::sharding_constraint, std::span<const Array>(&x, 1), std::move(a), loc);
}

Array with_sharding_constraint(const Array& x, const PartitionSpec& spec, Loc loc) {
  const std::optional<Mesh> mesh = current_mesh();
  if (!mesh)
    throw ValueError(message("with_sharding_constraint with a PartitionSpec but no mesh in scope",
                             loc,
                             "call it inside `auto scope = kiln::use_mesh(mesh);` (JAX's `with "
                             "mesh:`), or give NamedSharding(mesh, spec)"));
  return with_sharding_constraint(x, NamedSharding(*mesh, spec), loc);
}

// ---- use_mesh ----

MeshScope::MeshScope(const Mesh& mesh) {
  g_meshes.push_back(mesh);
}
MeshScope::~MeshScope() {
  g_meshes.pop_back();
}
std::optional<Mesh> current_mesh() {
  if (g_meshes.empty()) return std::nullopt;
  return g_meshes.back();
}

}  // namespace kiln
