// ir::Graph — typed SSA over kiln's closed, lax/StableHLO-shaped primitive set.
//
// Every node produces one value; a value is named by the index of the node that produces it, and
// a node only reads values of earlier nodes, so a graph is in SSA and in topological order by
// construction. Parameters and constants are nodes too.
#pragma once

#include <cstdint>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/dtype.hpp"
#include "kiln/shape.hpp"

namespace kiln {
class Buffer;
}

namespace kiln::ir {

// The closed primitive set. Adding one means: this enum, its row in the primitive table
// (src/ir/primitive.cpp), its shape rule (src/ir/shape_inference.cpp), its VJP rule
// (src/transforms/vjp_rules.cpp) and its CPU kernel (src/backend/cpu).
enum class Prim : uint8_t {
  // structure
  parameter,
  constant,
  full,
  iota,
  // elementwise unary
  neg,
  abs,
  sign,
  exp,
  log,
  log1p,
  expm1,
  sqrt,
  rsqrt,
  tanh,
  logistic,
  sin,
  cos,
  erf,
  erf_inv,
  floor,
  ceil,
  round,
  not_,
  stop_gradient,
  convert,
  bitcast_convert,
  // elementwise binary
  add,
  sub,
  mul,
  div,
  rem,
  pow,
  max,
  min,
  and_,
  or_,
  xor_,
  shift_left,
  shift_right_logical,
  // comparisons (result bool)
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  // ternary
  select,
  // shape
  broadcast_in_dim,
  reshape,
  transpose,
  slice,
  concatenate,
  pad,
  // reductions
  reduce_sum,
  reduce_max,
  reduce_min,
  argmax,
  // contraction
  dot_general,
  convolution,
  // windows
  reduce_window_sum,
  reduce_window_max,
  select_and_scatter_add,
  rev,
  // random
  threefry2x32,
};
inline constexpr int kNumPrims = static_cast<int>(Prim::threefry2x32) + 1;

enum class PrimKind : uint8_t {
  structural,
  unary,
  binary,
  compare,
  select,
  shape,
  reduce,
  contraction,  // dot_general
  convolution,
  window,
  random
};

struct PrimInfo {
  std::string_view name;  // jaxpr / StableHLO-style name: "dot_general", "reduce_sum"
  PrimKind kind;
  int arity;            // -1: variadic (concatenate)
  bool differentiable;  // has a VJP rule (false: the cotangent is zero / undefined)
};
const PrimInfo& info(Prim p);
std::string_view name(Prim p);

// Which dimensions of a dot_general contract and which are batch dimensions (lax's
// ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch))). Output: batch, lhs free, rhs free.
struct DotDims {
  std::vector<int64_t> lhs_contract, rhs_contract, lhs_batch, rhs_batch;
  bool operator==(const DotDims&) const = default;
};

// lax.conv_general_dilated's static parameters. The specs are lax.ConvDimensionNumbers: lhs_spec =
// (batch dim, feature dim, spatial dims...), rhs_spec = (out-feature dim, in-feature dim, spatial
// dims...), out_spec = (batch dim, feature dim, spatial dims...); the i-th spatial dims of the
// three correspond. The other fields have one entry per spatial dim; padding may be negative (it
// crops).
struct ConvDims {
  std::vector<int64_t> lhs_spec = {}, rhs_spec = {}, out_spec = {};
  std::vector<int64_t> window_strides = {}, padding_low = {}, padding_high = {}, lhs_dilation = {},
                       rhs_dilation = {};
  int64_t feature_group_count = 1, batch_group_count = 1;
  bool operator==(const ConvDims&) const = default;
};

// Static parameters of a node. One struct for all primitives; each primitive reads the fields its
// row documents and leaves the rest empty (an empty field costs nothing and hashes to nothing).
struct Attrs {
  Shape shape;                   // full, iota, broadcast_in_dim, reshape: the result shape
  DType dtype = DType::float32;  // full, iota, convert, bitcast_convert: the result dtype
  std::vector<int64_t> dims;     // broadcast_in_dim: operand dim -> result dim;
                                 // transpose: permutation; reductions, rev: axes
  std::vector<int64_t> start, limit, stride;  // slice; stride: also window strides
  std::vector<int64_t> low, high, interior;   // pad; reduce_window_*, select_and_scatter_add:
                                              // window padding (low, high), may be negative
  std::vector<int64_t> window;                // reduce_window_*, select_and_scatter_add: window
                                              // dimensions (window strides in `stride`)
  int64_t axis = 0;                           // concatenate, iota, argmax
  DotDims dot;                                // dot_general
  ConvDims conv;                              // convolution
  Scalar value;                               // full
  std::shared_ptr<const Buffer> literal;      // constant: host buffer owned by the graph
  int64_t index = 0;                          // parameter: position among the graph's inputs

  bool operator==(const Attrs& o) const;
  size_t hash() const;
};

struct ValueType {
  DType dtype = DType::float32;
  Shape shape;
  bool operator==(const ValueType&) const = default;
  // "f32[16,4]"
  std::string str() const;
};

using ValueId = uint32_t;

struct Node {
  Prim prim;
  std::vector<ValueId> inputs;
  Attrs attrs;
  ValueType type;
  std::source_location loc;  // the user's source line that created it
};

class Graph {
 public:
  std::string name = "f";
  std::vector<Node> nodes;
  std::vector<ValueId> inputs;   // parameter nodes, in argument order
  std::vector<ValueId> outputs;  // may repeat and may name parameters or constants

  // Appends a node after inferring its type (throws ShapeError/DTypeError naming `loc`).
  ValueId add(Prim p, std::vector<ValueId> inputs, Attrs attrs, std::source_location loc);
  ValueId add_parameter(ValueType type, std::source_location loc = {});
  const ValueType& type(ValueId v) const { return nodes[v].type; }

  // Checks SSA order, arities and that every node's recorded type equals its inferred type.
  // Throws kiln::Error naming the first bad node.
  void verify() const;
  // A readable text form, like a jaxpr.
  std::string str() const;
};

// The type a primitive produces from its inputs' types, or a ShapeError/DTypeError that names both
// shapes and the user's source line.
ValueType infer_type(Prim p, std::span<const ValueType> inputs, const Attrs& attrs,
                     const std::source_location& loc);

// "[contract=((1,),(0,)) batch=((),())]"-style rendering of the attributes that matter for p.
std::string attrs_str(Prim p, const Attrs& attrs);

}  // namespace kiln::ir
