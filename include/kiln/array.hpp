// Array: one type for a concrete n-d array (a buffer on a device) and for a tracer (a value in a
// graph being recorded by jit or grad). Ops on concrete arrays run at once through the same compile
// path as jit (a cached one-primitive executable); ops on tracers record a node.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "kiln/device.hpp"
#include "kiln/dtype.hpp"
#include "kiln/error.hpp"
#include "kiln/shape.hpp"

namespace kiln {

class Buffer;
struct ArrayImpl;    // src/core/array_impl.hpp
struct ArrayAccess;  // src/core/array_impl.hpp: the library's own way in
class Sharding;      // kiln/sharding.hpp
struct Shard;

class Array {
 public:
  // An empty array: holds nothing; every op on it is a ValueError.
  Array() = default;

  // A concrete array over an existing buffer of exactly shape.numel() * itemsize(dtype) bytes.
  static Array from_buffer(std::shared_ptr<Buffer> buffer, DType dtype, Shape shape);
  // A host array holding a copy of `data` (numel(shape) elements of dtype_of<T>), on `device`.
  template <class T>
  static Array from_data(std::span<const T> data, Shape shape, Device device = default_device()) {
    return from_bytes(data.data(), data.size() * sizeof(T), dtype_of<T>(), shape, device);
  }
  static Array from_bytes(const void* data, size_t bytes, DType dtype, Shape shape,
                          Device device = default_device());

  bool empty() const { return impl_ == nullptr; }
  DType dtype() const;
  const Shape& shape() const;
  int ndim() const { return shape().rank(); }
  int64_t size() const { return shape().numel(); }
  bool is_tracer() const;
  // The device holding a concrete array (TracerError for a tracer); for an array sharded over a
  // mesh, the mesh's first device, where reading it whole assembles it.
  Device device() const;
  // How the array is laid out: a NamedSharding for an array placed over a mesh (device_put with a
  // NamedSharding, a sharded jit's outputs, shard_map's), else its one device (kiln/sharding.hpp).
  Sharding sharding() const;
  // Each device's piece (jax.Array.addressable_shards): one for an unsharded array.
  std::vector<Shard> addressable_shards() const;
  // `loc` (here and below): the user's line, which the error for a donated array names.
  const std::shared_ptr<Buffer>& buffer(Loc loc = Loc::current()) const;

  // A host copy of the elements, converted to T (TracerError for a tracer).
  template <class T>
  std::vector<T> to_vector(Loc loc = Loc::current()) const {
    if constexpr (std::is_same_v<T, bool>) {
      // std::vector<bool> packs bits, so the bytes go through a uint8 vector.
      std::vector<uint8_t> bytes(static_cast<size_t>(size()));
      copy_to_host(bytes.data(), DType::bool_, loc);
      return std::vector<bool>(bytes.begin(), bytes.end());
    } else {
      std::vector<T> out(static_cast<size_t>(size()));
      copy_to_host(out.data(), dtype_of<T>(), loc);
      return out;
    }
  }
  // The single element of a size-1 array as T.
  template <class T>
  T item(Loc loc = Loc::current()) const {
    auto v = to_vector<T>(loc);
    check_single_element();
    return v[0];
  }
  // Copies the elements, converted to `as`, into dst (which holds size() elements of `as`).
  void copy_to_host(void* dst, DType as, Loc loc = Loc::current()) const;

  // numpy's str: "[[1. 2.]]"; repr: "Array([[1., 2.]], dtype=float32)" as JAX writes it.
  std::string str() const;
  std::string repr() const;

 private:
  friend struct ArrayAccess;
  explicit Array(std::shared_ptr<ArrayImpl> impl) : impl_(std::move(impl)) {}
  void check_single_element() const;
  std::shared_ptr<ArrayImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Array& a);

// An argument of an arithmetic op: an Array or a C++ scalar. A scalar is weakly typed, as a Python
// scalar is in JAX (`x * 2.0` keeps x's float32). Constructing one records the caller's source
// line, which is how operators (`a + b`) report where a shape error happened.
class Operand {
 public:
  Operand(const Array& a, Loc loc = Loc::current()) : array_(a), loc_(loc) {}
  Operand(double v, Loc loc = Loc::current()) : value_(v), weak_(WeakKind::floating), loc_(loc) {}
  Operand(float v, Loc loc = Loc::current()) : value_(v), weak_(WeakKind::floating), loc_(loc) {}
  Operand(int v, Loc loc = Loc::current()) : ivalue_(v), weak_(WeakKind::integer), loc_(loc) {}
  Operand(int64_t v, Loc loc = Loc::current()) : ivalue_(v), weak_(WeakKind::integer), loc_(loc) {}
  Operand(uint32_t v, Loc loc = Loc::current()) : ivalue_(v), weak_(WeakKind::integer), loc_(loc) {}

  bool is_scalar() const { return weak_ != WeakKind::none; }
  const Array& array() const { return array_; }
  WeakKind weak() const { return weak_; }
  double value() const {
    return weak_ == WeakKind::floating ? value_ : static_cast<double>(ivalue_);
  }
  int64_t ivalue() const {
    return weak_ == WeakKind::floating ? static_cast<int64_t>(value_) : ivalue_;
  }
  const Loc& loc() const { return loc_; }

 private:
  Array array_;
  double value_ = 0;
  int64_t ivalue_ = 0;
  WeakKind weak_ = WeakKind::none;
  Loc loc_;
};

}  // namespace kiln
