// ir::Graph — typed SSA over kiln's closed, lax/StableHLO-shaped primitive set.
//
// Every node produces one value; a value is named by the index of the node that produces it, and
// a node only reads values of earlier nodes, so a graph is in SSA and in topological order by
// construction. Parameters and constants are nodes too.
#pragma once

#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <source_location>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/dtype.hpp"
#include "kiln/shape.hpp"

namespace kiln {
class Buffer;
}

namespace kiln::ir {

// The closed primitive set. Adding one means: this enum, its row in kPrimTable below, its VJP rule
// (src/transforms/vjp_rules.cpp) when its row says Grad::rule, and its CPU kernel
// (src/backend/cpu); docs/primitives.md lists the edits adding atan2 took.
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
  real,  // complex -> its real part (float32/float64)
  imag,  // complex -> its imaginary part
  popcnt,
  clz,
  lgamma,
  digamma,
  reduce_precision,
  // elementwise binary
  add,
  sub,
  mul,
  div,
  rem,
  pow,
  atan2,
  complex,  // two reals -> complex (lax.complex)
  max,
  min,
  and_,
  or_,
  xor_,
  shift_left,
  shift_right_logical,
  shift_right_arithmetic,
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
  reduce_prod,
  argmax,
  argmin,
  // contraction
  dot_general,
  convolution,
  // windows
  reduce_window_sum,
  reduce_window_max,
  reduce_window_min,
  reduce_window_prod,
  select_and_scatter_add,
  rev,
  // indexing (gather and scatter: StableHLO's; one scatter per combiner, as lax's scatter_p,
  // scatter_add_p, ...)
  gather,
  scatter,
  scatter_add,
  scatter_mul,
  scatter_min,
  scatter_max,
  dynamic_slice,
  dynamic_update_slice,
  // cumulative (scans along one axis)
  cumsum,
  cumprod,
  cummax,
  cummin,
  // sorting
  sort,
  top_k,
  // random
  threefry2x32,
  // collectives: inside shard_map (and SPMD-partitioned jit), over the devices of mesh axes
  psum,
  pmax,
  all_gather,
  psum_scatter,
  all_to_all,
  ppermute,
  axis_index,
  // layout: an identity that forces its value's layout over a mesh
  // (jax.lax.with_sharding_constraint)
  sharding_constraint,
};
inline constexpr int kNumPrims = static_cast<int>(Prim::sharding_constraint) + 1;

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
  indexing,  // gather, scatter*, dynamic_slice, dynamic_update_slice: integer index operands
  scan,      // cumsum ... cummin
  sort,      // sort, top_k: one node per result of a multi-result op
  random,
  collective  // exchanges between the devices of mesh axes (src/spmd runs them)
};

// A set of dtypes, one bit per DType: what a primitive accepts, what a backend's kernels run.
using DTypeMask = uint16_t;
static_assert(kNumDTypes <= 16, "DTypeMask has one bit per dtype");
constexpr DTypeMask dtype_bit(DType t) {
  return static_cast<DTypeMask>(1u << static_cast<unsigned>(t));
}
inline constexpr DTypeMask kBoolDType = dtype_bit(DType::bool_);
inline constexpr DTypeMask kUnsignedDTypes = dtype_bit(DType::uint8) | dtype_bit(DType::uint16) |
                                             dtype_bit(DType::uint32) | dtype_bit(DType::uint64);
inline constexpr DTypeMask kSignedIntDTypes = dtype_bit(DType::int8) | dtype_bit(DType::int16) |
                                              dtype_bit(DType::int32) | dtype_bit(DType::int64);
inline constexpr DTypeMask kIntDTypes = kUnsignedDTypes | kSignedIntDTypes;
inline constexpr DTypeMask kFloatDTypes = dtype_bit(DType::bfloat16) | dtype_bit(DType::float16) |
                                          dtype_bit(DType::float32) | dtype_bit(DType::float64);
inline constexpr DTypeMask kNumericDTypes = kIntDTypes | kFloatDTypes;  // not bool
inline constexpr DTypeMask kBitwiseDTypes = kBoolDType | kIntDTypes;
// Every real dtype (bool, integers, floats): the element types of the kernels' generic loops.
inline constexpr DTypeMask kRealDTypes = kBoolDType | kNumericDTypes;
// complex64/complex128: rows admit them where JAX/StableHLO compute on complex (arithmetic, the
// transcendental functions, eq/ne, shape primitives, reduce_sum, dot_general, real/imag/complex).
inline constexpr DTypeMask kComplexDTypes =
    dtype_bit(DType::complex64) | dtype_bit(DType::complex128);
inline constexpr DTypeMask kAllDTypes = kRealDTypes | kComplexDTypes;

// What reverse mode does at a node of this primitive.
enum class Grad : uint8_t {
  rule,  // differentiable: vjp_rules.cpp has its rule (a compile-time check there says so)
  zero,  // its cotangent is zero: bool/integer results, piecewise-constant functions, stop_gradient
  none,  // not differentiable: a cotangent reaching it is a GradError naming it and the user's line
};

// Rules transforms attach to a row. BatchRule (vmap): no row fills it yet. ShardingRule (SPMD
// partitioning, src/spmd/sharding_rule.hpp): a row's own rule; a row without one gets its kind's
// (elementwise kinds share one), and a primitive with neither is computed whole on every device.
struct BatchRule;
struct ShardingRule;
extern const ShardingRule kBroadcastInDimSharding;  // src/spmd/sharding_rules.cpp
extern const ShardingRule kDotGeneralSharding;
extern const ShardingRule kShardingConstraintSharding;

// One primitive, declared once. The type rule (shape_inference.cpp) refuses operands outside
// `dtypes`; every backend's kernel table may only narrow it; the StableHLO exporter writes
// `stablehlo` and the importer reads it back to this primitive; autodiff follows `grad`.
struct PrimInfo {
  Prim prim;
  std::string_view name;  // jaxpr / StableHLO-style name: "dot_general", "reduce_sum"
  PrimKind kind;
  int arity;  // -1: variadic (concatenate)
  // The dtypes of its data operand (select: the chosen values; no operand: its result; complex:
  // its real operands).
  DTypeMask dtypes;
  Grad grad;
  std::string_view stablehlo;  // the op it exports to; "" for none (parameter, threefry2x32,
                               // stop_gradient: written as its operand)
  const BatchRule* batching = nullptr;
  const ShardingRule* sharding = nullptr;
};

// The registry: one row per primitive, in the enum's order (the static_assert below checks it).
namespace registry {
using K = PrimKind;
using G = Grad;
inline constexpr DTypeMask kAll = kRealDTypes, kNum = kNumericDTypes, kFloat = kFloatDTypes,
                           kInt = kIntDTypes, kBits = kBitwiseDTypes,
                           kSigned = kSignedIntDTypes | kFloatDTypes,
                           kU32 = dtype_bit(DType::uint32), kI32 = dtype_bit(DType::int32),
                           kC = kComplexDTypes, kAllC = kAllDTypes, kNumC = kNum | kC,
                           kFloatC = kFloat | kC,
                           kRealF = dtype_bit(DType::float32) | dtype_bit(DType::float64);

// clang-format off
inline constexpr PrimInfo kPrimTable[] = {
    {Prim::parameter, "parameter", K::structural, 0, kAllC, G::zero, ""},
    {Prim::constant, "constant", K::structural, 0, kAllC, G::zero, "stablehlo.constant"},
    {Prim::full, "full", K::structural, 0, kAll, G::zero, "stablehlo.constant"},
    {Prim::iota, "iota", K::structural, 0, kNum, G::zero, "stablehlo.iota"},
    {Prim::neg, "neg", K::unary, 1, kNumC, G::rule, "stablehlo.negate"},
    {Prim::abs, "abs", K::unary, 1, kSigned | kC, G::rule, "stablehlo.abs"},
    {Prim::sign, "sign", K::unary, 1, kSigned | kC, G::zero, "stablehlo.sign"},
    {Prim::exp, "exp", K::unary, 1, kFloatC, G::rule, "stablehlo.exponential"},
    {Prim::log, "log", K::unary, 1, kFloatC, G::rule, "stablehlo.log"},
    {Prim::log1p, "log1p", K::unary, 1, kFloatC, G::rule, "stablehlo.log_plus_one"},
    {Prim::expm1, "expm1", K::unary, 1, kFloatC, G::rule, "stablehlo.exponential_minus_one"},
    {Prim::sqrt, "sqrt", K::unary, 1, kFloatC, G::rule, "stablehlo.sqrt"},
    {Prim::rsqrt, "rsqrt", K::unary, 1, kFloatC, G::rule, "stablehlo.rsqrt"},
    {Prim::tanh, "tanh", K::unary, 1, kFloatC, G::rule, "stablehlo.tanh"},
    {Prim::logistic, "logistic", K::unary, 1, kFloat, G::rule, "stablehlo.logistic"},
    {Prim::sin, "sin", K::unary, 1, kFloatC, G::rule, "stablehlo.sine"},
    {Prim::cos, "cos", K::unary, 1, kFloatC, G::rule, "stablehlo.cosine"},
    {Prim::erf, "erf", K::unary, 1, kFloat, G::rule, "chlo.erf"},
    {Prim::erf_inv, "erf_inv", K::unary, 1, kFloat, G::rule, "chlo.erf_inv"},
    {Prim::floor, "floor", K::unary, 1, kFloat, G::zero, "stablehlo.floor"},
    {Prim::ceil, "ceil", K::unary, 1, kFloat, G::zero, "stablehlo.ceil"},
    {Prim::round, "round", K::unary, 1, kFloat, G::zero, "stablehlo.round_nearest_afz"},
    {Prim::not_, "not", K::unary, 1, kBits, G::zero, "stablehlo.not"},
    {Prim::stop_gradient, "stop_gradient", K::unary, 1, kAllC, G::zero, ""},
    {Prim::convert, "convert_element_type", K::unary, 1, kAllC, G::rule, "stablehlo.convert"},
    {Prim::bitcast_convert, "bitcast_convert_type", K::unary, 1, kAll, G::none, "stablehlo.bitcast_convert"},
    {Prim::real, "real", K::unary, 1, kC, G::rule, "stablehlo.real"},
    {Prim::imag, "imag", K::unary, 1, kC, G::rule, "stablehlo.imag"},
    {Prim::popcnt, "population_count", K::unary, 1, kInt, G::zero, "stablehlo.popcnt"},
    {Prim::clz, "clz", K::unary, 1, kInt, G::zero, "stablehlo.count_leading_zeros"},
    {Prim::lgamma, "lgamma", K::unary, 1, kFloat, G::rule, "chlo.lgamma"},
    {Prim::digamma, "digamma", K::unary, 1, kFloat, G::rule, "chlo.digamma"},
    {Prim::reduce_precision, "reduce_precision", K::unary, 1, kFloat, G::rule, "stablehlo.reduce_precision"},
    {Prim::add, "add", K::binary, 2, kNumC, G::rule, "stablehlo.add"},
    {Prim::sub, "sub", K::binary, 2, kNumC, G::rule, "stablehlo.subtract"},
    {Prim::mul, "mul", K::binary, 2, kNumC, G::rule, "stablehlo.multiply"},
    {Prim::div, "div", K::binary, 2, kNumC, G::rule, "stablehlo.divide"},
    {Prim::rem, "rem", K::binary, 2, kNum, G::rule, "stablehlo.remainder"},
    {Prim::pow, "pow", K::binary, 2, kFloatC, G::rule, "stablehlo.power"},
    {Prim::atan2, "atan2", K::binary, 2, kFloat, G::rule, "stablehlo.atan2"},
    {Prim::complex, "complex", K::binary, 2, kRealF, G::rule, "stablehlo.complex"},
    {Prim::max, "max", K::binary, 2, kNum, G::rule, "stablehlo.maximum"},
    {Prim::min, "min", K::binary, 2, kNum, G::rule, "stablehlo.minimum"},
    {Prim::and_, "and", K::binary, 2, kBits, G::zero, "stablehlo.and"},
    {Prim::or_, "or", K::binary, 2, kBits, G::zero, "stablehlo.or"},
    {Prim::xor_, "xor", K::binary, 2, kBits, G::zero, "stablehlo.xor"},
    {Prim::shift_left, "shift_left", K::binary, 2, kInt, G::zero, "stablehlo.shift_left"},
    {Prim::shift_right_logical, "shift_right_logical", K::binary, 2, kInt, G::zero, "stablehlo.shift_right_logical"},
    {Prim::shift_right_arithmetic, "shift_right_arithmetic", K::binary, 2, kInt, G::zero, "stablehlo.shift_right_arithmetic"},
    {Prim::eq, "eq", K::compare, 2, kAllC, G::zero, "stablehlo.compare"},
    {Prim::ne, "ne", K::compare, 2, kAllC, G::zero, "stablehlo.compare"},
    {Prim::lt, "lt", K::compare, 2, kAll, G::zero, "stablehlo.compare"},
    {Prim::le, "le", K::compare, 2, kAll, G::zero, "stablehlo.compare"},
    {Prim::gt, "gt", K::compare, 2, kAll, G::zero, "stablehlo.compare"},
    {Prim::ge, "ge", K::compare, 2, kAll, G::zero, "stablehlo.compare"},
    {Prim::select, "select", K::select, 3, kAllC, G::rule, "stablehlo.select"},
    {Prim::broadcast_in_dim, "broadcast_in_dim", K::shape, 1, kAllC, G::rule, "stablehlo.broadcast_in_dim", nullptr, &kBroadcastInDimSharding},
    {Prim::reshape, "reshape", K::shape, 1, kAllC, G::rule, "stablehlo.reshape"},
    {Prim::transpose, "transpose", K::shape, 1, kAllC, G::rule, "stablehlo.transpose"},
    {Prim::slice, "slice", K::shape, 1, kAllC, G::rule, "stablehlo.slice"},
    {Prim::concatenate, "concatenate", K::shape, -1, kAllC, G::rule, "stablehlo.concatenate"},
    {Prim::pad, "pad", K::shape, 2, kAllC, G::rule, "stablehlo.pad"},
    {Prim::reduce_sum, "reduce_sum", K::reduce, 1, kNumC, G::rule, "stablehlo.reduce"},
    {Prim::reduce_max, "reduce_max", K::reduce, 1, kNum, G::rule, "stablehlo.reduce"},
    {Prim::reduce_min, "reduce_min", K::reduce, 1, kNum, G::rule, "stablehlo.reduce"},
    {Prim::reduce_prod, "reduce_prod", K::reduce, 1, kNum, G::rule, "stablehlo.reduce"},
    {Prim::argmax, "argmax", K::reduce, 1, kNum, G::zero, "stablehlo.reduce"},
    {Prim::argmin, "argmin", K::reduce, 1, kNum, G::zero, "stablehlo.reduce"},
    {Prim::dot_general, "dot_general", K::contraction, 2, kNumC, G::rule, "stablehlo.dot_general", nullptr, &kDotGeneralSharding},
    {Prim::convolution, "conv_general_dilated", K::convolution, 2, kNum, G::rule, "stablehlo.convolution"},
    {Prim::reduce_window_sum, "reduce_window_sum", K::window, 1, kNum, G::rule, "stablehlo.reduce_window"},
    {Prim::reduce_window_max, "reduce_window_max", K::window, 1, kAll, G::rule, "stablehlo.reduce_window"},
    {Prim::reduce_window_min, "reduce_window_min", K::window, 1, kAll, G::rule, "stablehlo.reduce_window"},
    {Prim::reduce_window_prod, "reduce_window_prod", K::window, 1, kNum, G::none, "stablehlo.reduce_window"},
    {Prim::select_and_scatter_add, "select_and_scatter_add", K::window, 2, kNum, G::none, "stablehlo.select_and_scatter"},
    {Prim::rev, "rev", K::shape, 1, kAllC, G::rule, "stablehlo.reverse"},
    {Prim::gather, "gather", K::indexing, 2, kAll, G::rule, "stablehlo.gather"},
    {Prim::scatter, "scatter", K::indexing, 3, kAll, G::rule, "stablehlo.scatter"},
    {Prim::scatter_add, "scatter_add", K::indexing, 3, kNum, G::rule, "stablehlo.scatter"},
    {Prim::scatter_mul, "scatter_mul", K::indexing, 3, kNum, G::rule, "stablehlo.scatter"},
    {Prim::scatter_min, "scatter_min", K::indexing, 3, kNum, G::rule, "stablehlo.scatter"},
    {Prim::scatter_max, "scatter_max", K::indexing, 3, kNum, G::rule, "stablehlo.scatter"},
    {Prim::dynamic_slice, "dynamic_slice", K::indexing, -1, kAll, G::rule, "stablehlo.dynamic_slice"},
    {Prim::dynamic_update_slice, "dynamic_update_slice", K::indexing, -1, kAll, G::rule, "stablehlo.dynamic_update_slice"},
    {Prim::cumsum, "cumsum", K::scan, 1, kNum, G::rule, "stablehlo.reduce_window"},
    {Prim::cumprod, "cumprod", K::scan, 1, kNum, G::rule, "stablehlo.reduce_window"},
    {Prim::cummax, "cummax", K::scan, 1, kNum, G::rule, "stablehlo.reduce_window"},
    {Prim::cummin, "cummin", K::scan, 1, kNum, G::rule, "stablehlo.reduce_window"},
    {Prim::sort, "sort", K::sort, -1, kAll, G::rule, "stablehlo.sort"},
    {Prim::top_k, "top_k", K::sort, 1, kNum, G::rule, "chlo.top_k"},
    {Prim::threefry2x32, "threefry2x32", K::random, 2, kU32, G::zero, ""},
    // collectives (docs/multi-device.md): attrs.collective names their mesh axes
    {Prim::psum, "psum", K::collective, 1, kNum, G::rule, "stablehlo.all_reduce"},
    {Prim::pmax, "pmax", K::collective, 1, kNum, G::none, "stablehlo.all_reduce"},
    {Prim::all_gather, "all_gather", K::collective, 1, kAll, G::rule, "stablehlo.all_gather"},
    {Prim::psum_scatter, "reduce_scatter", K::collective, 1, kNum, G::rule, "stablehlo.reduce_scatter"},
    {Prim::all_to_all, "all_to_all", K::collective, 1, kAll, G::rule, "stablehlo.all_to_all"},
    {Prim::ppermute, "ppermute", K::collective, 1, kAll, G::rule, "stablehlo.collective_permute"},
    {Prim::axis_index, "axis_index", K::collective, 0, kI32, G::zero, "stablehlo.partition_id"},
    // an identity on one device; the partitioner reshards its operand to attrs.split
    {Prim::sharding_constraint, "sharding_constraint", K::unary, 1, kAllC, G::rule, "stablehlo.custom_call", nullptr, &kShardingConstraintSharding},
};
// clang-format on

constexpr bool complete_and_in_enum_order() {
  if (std::size(kPrimTable) != static_cast<size_t>(kNumPrims)) return false;
  for (size_t i = 0; i < std::size(kPrimTable); ++i)
    if (static_cast<size_t>(kPrimTable[i].prim) != i) return false;
  return true;
}
static_assert(complete_and_in_enum_order(),
              "kPrimTable needs one row per Prim, in the enum's order");

}  // namespace registry

constexpr const PrimInfo& info(Prim p) {
  return registry::kPrimTable[static_cast<size_t>(p)];
}
constexpr std::string_view name(Prim p) {
  return info(p).name;
}
// Whether p accepts operands of dtype t.
constexpr bool accepts(Prim p, DType t) {
  return (info(p).dtypes & dtype_bit(t)) != 0;
}

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

// A collective's static parameters (jax.lax's): the mesh axes it runs over and, per primitive, the
// dimensions it moves. The group of a device is the devices that differ from it only along `axes`.
struct CollectiveAttrs {
  std::vector<std::string> axes;  // mesh axis names, major to minor
  int64_t axis_size = 1;          // the product of their sizes: the group's size
  int64_t dimension = 0;          // all_gather: the gathered axis; reduce_scatter: the scattered
                                  // one; all_to_all: split_axis
  int64_t concat_dimension = 0;   // all_to_all: concat_axis
  bool tiled = false;             // all_gather, reduce_scatter: concatenate (true) or stack
  // ppermute: (source, destination) pairs of indices along `axes`; a device that no pair sends
  // to receives zeros.
  std::vector<std::pair<int64_t, int64_t>> perm;
  bool operator==(const CollectiveAttrs&) const = default;
};

// A mesh as the IR sees it: its axes' names and sizes, major to minor (a Mesh without its devices).
struct MeshShape {
  std::vector<std::string> names;
  std::vector<int64_t> sizes;
  int64_t size() const;  // the number of devices
  bool operator==(const MeshShape&) const = default;
};

// How a value is laid out over a mesh (a NamedSharding without its devices): per dimension, the
// mesh axes that split it, major to minor; a dimension with none is whole on every device.
struct MeshSplit {
  MeshShape mesh;
  std::vector<std::vector<std::string>> dims;
  bool operator==(const MeshSplit&) const = default;
};

// gather's and the scatters' dimension numbers, as StableHLO names them for gather
// (lax.GatherDimensionNumbers). A scatter reads the same fields under its own names:
// offset_dims = update_window_dims, collapsed_slice_dims = inserted_window_dims,
// operand_batching_dims = input_batching_dims, start_indices_batching_dims =
// scatter_indices_batching_dims, start_index_map = scatter_dims_to_operand_dims. slice_sizes is
// gather's only. indices_are_sorted and unique_indices are promises the text carries: kept and
// written back, never relied on by the cpu.
struct GatherDims {
  std::vector<int64_t> offset_dims = {}, collapsed_slice_dims = {}, operand_batching_dims = {},
                       start_indices_batching_dims = {}, start_index_map = {}, slice_sizes = {};
  int64_t index_vector_dim = 0;
  bool indices_are_sorted = false, unique_indices = false;
  bool operator==(const GatherDims&) const = default;
};

// Static parameters of a node. One struct for all primitives; each primitive reads the fields its
// row documents and leaves the rest empty (an empty field costs nothing and hashes to nothing).
struct Attrs {
  Shape shape;                   // full, iota, broadcast_in_dim, reshape, dynamic_slice: the
                                 // result shape (dynamic_slice: its slice_sizes)
  DType dtype = DType::float32;  // full, iota, convert, bitcast_convert: the result dtype
  std::vector<int64_t> dims;     // broadcast_in_dim: operand dim -> result dim;
                                 // transpose: permutation; reductions, rev: axes
  std::vector<int64_t> start, limit, stride;  // slice; stride: also window strides
  std::vector<int64_t> low, high, interior;   // pad; reduce_window_*, select_and_scatter_add:
                                              // window padding (low, high), may be negative
  std::vector<int64_t> window;                // reduce_window_*, select_and_scatter_add: window
                                              // dimensions (window strides in `stride`)
  int64_t axis = 0;                           // concatenate, iota, argmax, argmin, cumsum ...
                                              // cummin, sort
  bool reverse = false;  // cumsum ... cummin: accumulate from the end of `axis` (lax's reverse)
  int64_t num_keys = 0;  // sort: operands 0..num_keys-1 are the keys, compared lexicographically
  int64_t k = 0;         // top_k: how many of the largest elements
  int64_t result = 0;    // sort, top_k: which result of the multi-result op this node is (sort:
                         // the operand it returns sorted; top_k: 0 values, 1 indices)
  DotDims dot;           // dot_general
  ConvDims conv;         // convolution
  GatherDims gather;     // gather, scatter*
  Scalar value;          // full
  std::shared_ptr<const Buffer> literal;  // constant: host buffer owned by the graph
  int64_t index = 0;                      // parameter: position among the graph's inputs
  CollectiveAttrs collective;             // psum, all_gather, ... axis_index
  MeshSplit split;                        // sharding_constraint: the layout it forces

  // dot_general, convolution: lax's preferred_element_type, a result dtype wider than the operands
  // (int8 -> int32, bfloat16 -> float32); empty: the operands' dtype.
  std::optional<DType> preferred_element_type;
  // reduce_precision: the floating-point format values are rounded to.
  int32_t exponent_bits = 0, mantissa_bits = 0;

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
  // A graph traced by jit with shardings (or sharded arguments): the layout of each input and
  // output over one mesh, which StableHLO export writes as mhlo.sharding (docs/export.md).
  // Only the traced global graph carries it; transformations of the graph drop it.
  struct Sharding {
    MeshShape mesh;
    std::vector<MeshSplit> inputs, outputs;
  };
  std::optional<Sharding> sharding;

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
