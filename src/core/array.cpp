#include <cstring>
#include <ostream>

#include "core/array_format.hpp"
#include "core/array_impl.hpp"
#include "kiln/array.hpp"
#include "kiln/backend.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

const ArrayImpl& checked(const std::shared_ptr<ArrayImpl>& impl) {
  if (!impl)
    throw ValueError("use of an empty kiln::Array (default-constructed, never assigned a value)");
  return *impl;
}

[[noreturn]] void tracer_has_no_value(const ArrayImpl& impl, const char* what) {
  throw TracerError(
      message(std::string("cannot ") + what + " of a traced value " +
                  std::string(short_name(impl.dtype)) + "[" + impl.shape.dims_str() + "] (created",
              impl.created) +
      "): inside jit or grad, arrays are abstract tracers with no values yet. Return the value "
      "from the jitted function and read it outside, or move this code out of the trace");
}

}  // namespace

const std::shared_ptr<Buffer>& assembled_buffer(const ArrayImpl& impl);  // core/sharding.cpp

const std::shared_ptr<Buffer>& live_buffer(const ArrayImpl& impl, const Loc& loc) {
  if (impl.buffer) return impl.buffer;
  if (impl.sharded) return assembled_buffer(impl);
  throw ValueError(message(
      "use of a " + std::string(short_name(impl.dtype)) + "[" + impl.shape.dims_str() +
          "] array that was donated to the jitted function called at " + describe(impl.donated_to) +
          " (donate_argnums): its buffer now holds that call's output",
      loc,
      "use the jitted function's outputs instead, or leave this argument "
      "out of donate_argnums"));
}

Array Array::from_buffer(std::shared_ptr<Buffer> buffer, DType dtype, Shape shape) {
  size_t want = static_cast<size_t>(shape.numel()) * itemsize(dtype);
  if (!buffer || buffer->bytes() != want)
    throw ValueError("Array::from_buffer: buffer of " +
                     std::to_string(buffer ? buffer->bytes() : 0) + " bytes for " +
                     std::string(name(dtype)) + shape.str() + " which needs " +
                     std::to_string(want));
  auto impl = std::make_shared<ArrayImpl>();
  impl->dtype = dtype;
  impl->shape = shape;
  impl->buffer = std::move(buffer);
  return ArrayAccess::wrap(std::move(impl));
}

Array Array::from_bytes(const void* data, size_t bytes, DType dtype, Shape shape, Device device) {
  size_t want = static_cast<size_t>(shape.numel()) * itemsize(dtype);
  if (bytes != want)
    throw ValueError("Array::from_bytes: " + std::to_string(bytes) + " bytes given for " +
                     std::string(name(dtype)) + shape.str() + ", which needs " +
                     std::to_string(want));
  auto buffer = device.backend()->allocate(bytes, device);
  if (bytes) device.backend()->from_host(data, *buffer);
  return from_buffer(std::move(buffer), dtype, shape);
}

DType Array::dtype() const {
  return checked(impl_).dtype;
}
const Shape& Array::shape() const {
  return checked(impl_).shape;
}
bool Array::is_tracer() const {
  return checked(impl_).trace_id != 0;
}

Device Array::device() const {
  const ArrayImpl& impl = checked(impl_);
  if (impl.trace_id != 0) tracer_has_no_value(impl, "ask for the device");
  return live_buffer(impl, Loc())->device();
}

const std::shared_ptr<Buffer>& Array::buffer(Loc loc) const {
  const ArrayImpl& impl = checked(impl_);
  if (impl.trace_id != 0) tracer_has_no_value(impl, "read the buffer");
  return live_buffer(impl, loc);
}

void Array::copy_to_host(void* dst, DType as, Loc loc) const {
  const ArrayImpl& impl = checked(impl_);
  if (impl.trace_id != 0) tracer_has_no_value(impl, "read the elements");
  (void)live_buffer(impl, loc);  // a donated array: the error names this line
  // Conversion runs through the same convert kernel as astype, so host reads and device math agree.
  Array host = device_get(*this);
  if (as != impl.dtype) host = astype(host, as);
  const Buffer& b = *host.buffer();
  if (b.bytes()) std::memcpy(dst, b.host_data(), b.bytes());
}

void Array::check_single_element() const {
  if (size() != 1)
    throw ValueError("item() of an array with " + std::to_string(size()) + " elements " +
                     shape().str() + "; only size-1 arrays convert to a scalar");
}

std::string Array::str() const {
  const ArrayImpl& impl = checked(impl_);
  if (impl.trace_id != 0)
    return "Traced<" + std::string(short_name(impl.dtype)) + "[" + impl.shape.dims_str() + "]>";
  Array host = device_get(*this);
  return format_str(host.buffer()->host_data(), impl.dtype, impl.shape);
}

std::string Array::repr() const {
  const ArrayImpl& impl = checked(impl_);
  if (impl.trace_id != 0) return str();
  Array host = device_get(*this);
  return format_repr(host.buffer()->host_data(), impl.dtype, impl.shape);
}

std::ostream& operator<<(std::ostream& os, const Array& a) {
  return os << (a.empty() ? "Array(empty)" : a.str());
}

}  // namespace kiln
