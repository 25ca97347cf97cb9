// kiln::Error and its kinds. Every message says what went wrong, where (the user's source line, or
// a file and offset) and what to do about it.
#pragma once

#include <source_location>
#include <stdexcept>
#include <string>

namespace kiln {

using Loc = std::source_location;

// "file.cpp:12" for a user's source line; empty when the location is unknown.
std::string describe(const Loc& loc);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Shapes that do not fit together (broadcasting, matmul, reshape, concatenate, ...).
class ShapeError : public Error {
  using Error::Error;
};

// A dtype an op cannot take, or two that cannot be combined.
class DTypeError : public Error {
  using Error::Error;
};

// Bad arguments that are neither shapes nor dtypes: axes out of range, empty arrays, bad options.
class ValueError : public Error {
  using Error::Error;
};

// A dict key that is not there (Tree::operator[]); a ValueError, as before it had a kind of its
// own.
class KeyError : public ValueError {
  using ValueError::ValueError;
};

// A tracer used outside the trace that created it, or a concrete value demanded from a tracer.
class TracerError : public Error {
  using Error::Error;
};

// grad/vjp misuse: a non-scalar output, integer inputs.
class GradError : public Error {
  using Error::Error;
};

// No device of the requested platform; the message lists the platforms present.
class DeviceNotFound : public Error {
  using Error::Error;
};

// A backend that cannot run a primitive/dtype it was given.
class Unsupported : public Error {
  using Error::Error;
};

// A NaN or an infinity where a finite number must be: a training loss that diverged, or (with
// KILN_DEBUG_NANS=1, docs/tracing.md) the first primitive of a jitted function that made a NaN.
class FloatingPointError : public Error {
  using Error::Error;
};

// A PJRT plugin that failed: it could not be loaded (missing file, no GetPjrtApi, an API version
// kiln cannot drive) or one of its calls returned an error. The message names the plugin and
// carries the plugin's own text; code() is the plugin's absl-style status code (1-16), 0 when
// kiln found the problem itself.
class PluginError : public Error {
 public:
  PluginError(const std::string& message, int code) : Error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// Builds "what (at file:line). hint" — the one format all kiln messages follow.
std::string message(const std::string& what, const Loc& loc, const std::string& hint = "");

}  // namespace kiln
