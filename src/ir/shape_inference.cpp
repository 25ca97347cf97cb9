// The type rule of every primitive. Errors name the shapes involved and the user's source line.
#include <algorithm>
#include <numeric>

#include "kiln/error.hpp"
#include "kiln/ir.hpp"

namespace kiln::ir {
namespace {

std::string ints(std::span<const int64_t> v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

[[noreturn]] void shape_error(Prim p, const std::string& what, const std::source_location& loc) {
  throw ShapeError(message(std::string(name(p)) + ": " + what, loc));
}
[[noreturn]] void dtype_error(Prim p, const std::string& what, const std::source_location& loc) {
  throw DTypeError(message(std::string(name(p)) + ": " + what, loc));
}

void require_rank_list(Prim p, const std::vector<int64_t>& v, int rank, const char* field,
                       const std::source_location& loc) {
  if (static_cast<int>(v.size()) != rank)
    shape_error(p,
                std::string(field) + " has " + std::to_string(v.size()) +
                    " entries for an operand of rank " + std::to_string(rank),
                loc);
}

ValueType elementwise(Prim p, std::span<const ValueType> in, const std::source_location& loc) {
  const ValueType& a = in[0];
  for (size_t i = 1; i < in.size(); ++i) {
    if (!(in[i].shape == a.shape))
      shape_error(p, "operand shapes " + a.shape.str() + " and " + in[i].shape.str() + " differ",
                  loc);
    if (in[i].dtype != a.dtype)
      dtype_error(p,
                  "operand dtypes " + std::string(name(a.dtype)) + " and " +
                      std::string(name(in[i].dtype)) + " differ",
                  loc);
  }
  return a;
}

// The dtype a row's `dtypes` constrains: its data operand's (select: the chosen values), or the
// result's for a primitive without operands.
DType constrained_dtype(Prim p, std::span<const ValueType> in, const Attrs& a) {
  if (p == Prim::axis_index) return DType::int32;
  if (in.empty()) return a.dtype;
  if (p == Prim::select && in.size() > 1) return in[1].dtype;
  return in[0].dtype;
}

// "floating-point", "integer or bool", ...: a registry dtype class in words.
std::string dtype_class(DTypeMask m) {
  if (m == kFloatDTypes) return "floating-point";
  if (m == kIntDTypes) return "integer";
  if (m == kBitwiseDTypes) return "integer or bool";
  if (m == kNumericDTypes) return "numeric (not bool)";
  if (m == (kSignedIntDTypes | kFloatDTypes)) return "signed integer or floating-point";
  if (m == (kFloatDTypes | kComplexDTypes)) return "floating-point or complex";
  if (m == (kNumericDTypes | kComplexDTypes)) return "numeric (not bool)";
  if (m == (kSignedIntDTypes | kFloatDTypes | kComplexDTypes))
    return "signed integer, floating-point or complex";
  if (m == kComplexDTypes) return "complex";
  std::string out;
  for (int i = 0; i < kNumDTypes; ++i)
    if ((m & dtype_bit(static_cast<DType>(i))) != 0)
      out += (out.empty() ? "" : " or ") + std::string(name(static_cast<DType>(i)));
  return out;
}

// The registry's dtype rule.
void check_dtype(Prim p, DType t, const std::source_location& loc) {
  if (accepts(p, t)) return;
  dtype_error(p,
              "needs " + dtype_class(info(p).dtypes) + " operands, got " + std::string(name(t)) +
                  " (cast with astype first)",
              loc);
}

// The result dtype of dot_general / convolution on operands of dtype `t`: lax's
// preferred_element_type when given. As JAX allows: integer -> a wider-or-equal integer or any
// float, float -> a wider-or-equal float; never narrower, never float -> integer, never bool.
DType product_dtype(Prim p, DType t, const Attrs& a, const std::source_location& loc) {
  if (!a.preferred_element_type || *a.preferred_element_type == t) return t;
  const DType want = *a.preferred_element_type;
  const bool ok = (is_integer(t) && is_integer(want) && itemsize(want) >= itemsize(t)) ||
                  (is_integer(t) && is_floating(want)) ||
                  (is_floating(t) && is_floating(want) && itemsize(want) >= itemsize(t) &&
                   !(t == DType::float16 && want == DType::bfloat16) &&
                   !(t == DType::bfloat16 && want == DType::float16));
  if (!ok || is_complex(t) || is_complex(want))
    dtype_error(p,
                "preferred_element_type " + std::string(name(want)) + " is not a wider type of " +
                    std::string(name(t)) +
                    " operands (integer -> wider integer or float, float -> wider float)",
                loc);
  return want;
}

// The extent of `n` elements with `dilation - 1` holes between neighbours (lax._dilate_shape).
int64_t dilated(int64_t n, int64_t dilation) {
  return n == 0 ? 0 : (n - 1) * dilation + 1;
}

// Whether `spec` names each of the `rank` dims exactly once.
bool is_permutation(const std::vector<int64_t>& spec, int rank) {
  if (static_cast<int>(spec.size()) != rank) return false;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t d : spec) {
    if (d < 0 || d >= rank || seen[static_cast<size_t>(d)]) return false;
    seen[static_cast<size_t>(d)] = true;
  }
  return true;
}

// The number of windows of `window` (dilated) that fit in `size` padded by low/high at `stride`.
// Throws when the padding crops the operand below zero elements.
int64_t window_count(Prim p, int64_t size, int64_t low, int64_t high, int64_t window,
                     int64_t stride, const std::string& where, const std::source_location& loc) {
  int64_t padded = size + low + high;
  if (padded < 0)
    shape_error(p,
                where + ": padding (" + std::to_string(low) + ", " + std::to_string(high) +
                    ") crops a dimension of " + std::to_string(size) + " below zero",
                loc);
  return padded < window ? 0 : (padded - window) / stride + 1;
}

ValueType conv_type(std::span<const ValueType> in, const Attrs& a,
                    const std::source_location& loc) {
  const ConvDims& c = a.conv;
  const Prim p = Prim::convolution;
  const ValueType &l = in[0], &r = in[1];
  const std::string shapes = " (lhs " + l.shape.str() + ", rhs " + r.shape.str() + ")";
  if (l.dtype != r.dtype)
    dtype_error(p,
                "operand dtypes " + std::string(name(l.dtype)) + " and " +
                    std::string(name(r.dtype)) + " differ",
                loc);
  const int rank = l.shape.rank();
  if (rank < 2 || r.shape.rank() != rank)
    shape_error(p, "lhs and rhs must have the same rank, at least 2" + shapes, loc);
  if (!is_permutation(c.lhs_spec, rank) || !is_permutation(c.rhs_spec, rank) ||
      !is_permutation(c.out_spec, rank))
    shape_error(p,
                "dimension numbers " + ints(c.lhs_spec) + ", " + ints(c.rhs_spec) + ", " +
                    ints(c.out_spec) + " must each be a permutation of " + std::to_string(rank) +
                    " dims" + shapes,
                loc);
  const size_t ns = static_cast<size_t>(rank - 2);
  for (const auto& [field, v] :
       {std::pair{"window_strides", &c.window_strides}, std::pair{"padding low", &c.padding_low},
        std::pair{"padding high", &c.padding_high}, std::pair{"lhs_dilation", &c.lhs_dilation},
        std::pair{"rhs_dilation", &c.rhs_dilation}}) {
    if (v->size() != ns)
      shape_error(p,
                  std::string(field) + " has " + std::to_string(v->size()) + " entries for " +
                      std::to_string(ns) + " spatial dims" + shapes,
                  loc);
  }
  for (size_t i = 0; i < ns; ++i)
    if (c.window_strides[i] < 1 || c.lhs_dilation[i] < 1 || c.rhs_dilation[i] < 1)
      shape_error(p, "window strides and dilations must be at least 1" + shapes, loc);
  const int64_t fg = c.feature_group_count, bg = c.batch_group_count;
  if (fg < 1 || bg < 1 || (fg > 1 && bg > 1))
    shape_error(p,
                "feature_group_count " + std::to_string(fg) + " and batch_group_count " +
                    std::to_string(bg) + " must be positive and at most one of them above 1",
                loc);
  const int64_t batch = l.shape[static_cast<int>(c.lhs_spec[0])];
  const int64_t features = l.shape[static_cast<int>(c.lhs_spec[1])];
  const int64_t out_features = r.shape[static_cast<int>(c.rhs_spec[0])];
  const int64_t in_features = r.shape[static_cast<int>(c.rhs_spec[1])];
  if (features != in_features * fg)
    shape_error(p,
                "lhs feature dim (" + std::to_string(features) +
                    ") must equal rhs in-feature dim (" + std::to_string(in_features) +
                    ") times feature_group_count (" + std::to_string(fg) + ")" + shapes,
                loc);
  if (out_features % fg != 0)
    shape_error(p,
                "rhs out-feature dim (" + std::to_string(out_features) +
                    ") must be a multiple of feature_group_count (" + std::to_string(fg) + ")" +
                    shapes,
                loc);
  if (batch % bg != 0 || out_features % bg != 0)
    shape_error(p,
                "lhs batch dim (" + std::to_string(batch) + ") and rhs out-feature dim (" +
                    std::to_string(out_features) + ") must be multiples of batch_group_count (" +
                    std::to_string(bg) + ")" + shapes,
                loc);
  Shape out = l.shape;
  out[static_cast<int>(c.out_spec[0])] = batch / bg;
  out[static_cast<int>(c.out_spec[1])] = out_features;
  for (size_t i = 0; i < ns; ++i) {
    const int64_t n = l.shape[static_cast<int>(c.lhs_spec[i + 2])];
    const int64_t k = r.shape[static_cast<int>(c.rhs_spec[i + 2])];
    out[static_cast<int>(c.out_spec[i + 2])] =
        window_count(p, dilated(n, c.lhs_dilation[i]), c.padding_low[i], c.padding_high[i],
                     dilated(k, c.rhs_dilation[i]), c.window_strides[i],
                     "spatial dim " + std::to_string(i) + shapes, loc);
  }
  return {product_dtype(p, l.dtype, a, loc), out};
}

// reduce_window_* and select_and_scatter_add: the windowed result's shape of operand `s`.
Shape window_shape(Prim p, const Shape& s, const Attrs& a, const std::source_location& loc) {
  require_rank_list(p, a.window, s.rank(), "window_dimensions", loc);
  require_rank_list(p, a.stride, s.rank(), "window_strides", loc);
  require_rank_list(p, a.low, s.rank(), "padding low", loc);
  require_rank_list(p, a.high, s.rank(), "padding high", loc);
  Shape out;
  for (int i = 0; i < s.rank(); ++i) {
    if (a.window[i] < 1 || a.stride[i] < 1)
      shape_error(p,
                  "window " + ints(a.window) + " and strides " + ints(a.stride) +
                      " must be at least 1 for operand " + s.str(),
                  loc);
    out.push_back(window_count(p, s[i], a.low[i], a.high[i], a.window[i], a.stride[i],
                               "operand " + s.str() + " dim " + std::to_string(i), loc));
  }
  return out;
}

void require_axis(Prim p, int64_t axis, const Shape& s, const std::source_location& loc) {
  if (axis < 0 || axis >= s.rank())
    shape_error(p, "axis " + std::to_string(axis) + " out of range for shape " + s.str(), loc);
}

// reduce_sum, reduce_max, reduce_min, reduce_prod: the reduced axes removed; argmax, argmin: its
// axis removed, int32.
ValueType reduce_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                      const std::source_location& loc) {
  const Shape& s = in[0].shape;
  if (p == Prim::argmax || p == Prim::argmin) {
    require_axis(p, a.axis, s, loc);
    if (s[static_cast<int>(a.axis)] == 0)
      shape_error(p, std::string(name(p)) + " of an empty axis in shape " + s.str(), loc);
    Shape out;
    for (int i = 0; i < s.rank(); ++i)
      if (i != a.axis) out.push_back(s[i]);
    return {DType::int32, out};
  }
  std::vector<bool> reduced(s.rank(), false);
  for (size_t i = 0; i < a.dims.size(); ++i) {
    int64_t d = a.dims[i];
    if (d < 0 || d >= s.rank())
      shape_error(p, "axis " + std::to_string(d) + " out of range for shape " + s.str(), loc);
    if (i > 0 && d <= a.dims[i - 1])
      shape_error(p, "axes " + ints(a.dims) + " must be sorted and unique", loc);
    reduced[d] = true;
  }
  Shape out;
  for (int i = 0; i < s.rank(); ++i)
    if (!reduced[i]) out.push_back(s[i]);
  return {in[0].dtype, out};
}

// cumsum ... cummin: the operand's type.
ValueType scan_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                    const std::source_location& loc) {
  require_axis(p, a.axis, in[0].shape, loc);
  return in[0];
}

// sort: every operand has the same shape; the node is operand `result`, sorted by the first
// `num_keys`. top_k: the k largest along the last axis: values (result 0) or int32 indices (1).
ValueType sort_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                    const std::source_location& loc) {
  const Shape& s = in.empty() ? Shape{} : in[0].shape;
  if (p == Prim::top_k) {
    if (s.rank() < 1) shape_error(p, "needs an operand of rank >= 1, got " + in[0].str(), loc);
    const int64_t n = s[s.rank() - 1];
    if (a.k < 0 || a.k > n)
      shape_error(
          p, "k = " + std::to_string(a.k) + " out of range for the last axis of " + in[0].str(),
          loc);
    if (a.result != 0 && a.result != 1)
      shape_error(p, "result must be 0 (values) or 1 (indices), got " + std::to_string(a.result),
                  loc);
    Shape out = s;
    out[s.rank() - 1] = a.k;
    return {a.result == 0 ? in[0].dtype : DType::int32, out};
  }
  if (in.empty()) throw ValueError(message("sort of no operands", loc));
  std::string shapes;
  for (const ValueType& v : in) shapes += (shapes.empty() ? "" : ", ") + v.str();
  for (const ValueType& v : in) {
    if (!(v.shape == s)) shape_error(p, "operand shapes differ: " + shapes, loc);
    check_dtype(p, v.dtype, loc);
  }
  require_axis(p, a.axis, s, loc);
  const auto n = static_cast<int64_t>(in.size());
  if (a.num_keys < 1 || a.num_keys > n)
    shape_error(p,
                "num_keys = " + std::to_string(a.num_keys) + " must be in 1.." + std::to_string(n) +
                    " for operands " + shapes,
                loc);
  if (a.result < 0 || a.result >= n)
    shape_error(p, "result = " + std::to_string(a.result) + " names no operand of " + shapes, loc);
  return in[static_cast<size_t>(a.result)];
}

ValueType windowed_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                        const std::source_location& loc) {
  const ValueType& x = in[p == Prim::select_and_scatter_add ? 1 : 0];
  Shape out = window_shape(p, x.shape, a, loc);
  if (p != Prim::select_and_scatter_add) return {x.dtype, out};
  if (in[0].dtype != x.dtype || !(in[0].shape == out))
    shape_error(p,
                "source " + in[0].str() +
                    " must have the operand's dtype and the windowed "
                    "shape " +
                    ValueType{x.dtype, out}.str() + " of operand " + x.str(),
                loc);
  return x;
}

// lax.dot_general: batch dims, then lhs free dims, then rhs free dims.
ValueType dot_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                   const std::source_location& loc) {
  const ValueType &l = in[0], &r = in[1];
  const DotDims& d = a.dot;
  if (l.dtype != r.dtype)
    dtype_error(p,
                "operand dtypes " + std::string(name(l.dtype)) + " and " +
                    std::string(name(r.dtype)) + " differ",
                loc);
  if (d.lhs_contract.size() != d.rhs_contract.size() || d.lhs_batch.size() != d.rhs_batch.size())
    shape_error(p, "lhs and rhs name different numbers of contracting or batch dimensions", loc);
  std::vector<bool> lused(l.shape.rank(), false), rused(r.shape.rank(), false);
  auto use = [&](std::vector<bool>& used, int64_t dim, const Shape& s) {
    if (dim < 0 || dim >= s.rank() || used[dim])
      shape_error(
          p,
          "dimension " + std::to_string(dim) + " is out of range or repeated for shape " + s.str(),
          loc);
    used[dim] = true;
  };
  // Batch and contracting dims pair one lhs dim with one rhs dim of the same size.
  auto pair = [&](const std::vector<int64_t>& ld, const std::vector<int64_t>& rd,
                  const char* what) {
    for (size_t i = 0; i < ld.size(); ++i) {
      use(lused, ld[i], l.shape);
      use(rused, rd[i], r.shape);
      if (l.shape[ld[i]] != r.shape[rd[i]])
        shape_error(p,
                    std::string(what) + " dimensions differ: lhs " + l.shape.str() + " dim " +
                        std::to_string(ld[i]) + " vs rhs " + r.shape.str() + " dim " +
                        std::to_string(rd[i]),
                    loc);
    }
  };
  pair(d.lhs_batch, d.rhs_batch, "batch");
  pair(d.lhs_contract, d.rhs_contract, "contracting");
  Shape out;
  for (int64_t dim : d.lhs_batch) out.push_back(l.shape[dim]);
  for (int i = 0; i < l.shape.rank(); ++i)
    if (!lused[i]) out.push_back(l.shape[i]);
  for (int i = 0; i < r.shape.rank(); ++i)
    if (!rused[i]) out.push_back(r.shape[i]);
  return {product_dtype(p, l.dtype, a, loc), out};
}

// ---- gather, scatter, dynamic slices (StableHLO's type constraints) -------------------------

// Whether v holds distinct dims in [0, rank), increasing when `sorted`.
bool valid_dims(const std::vector<int64_t>& v, int64_t rank, bool sorted) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] < 0 || v[i] >= rank) return false;
    for (size_t j = 0; j < i; ++j)
      if (v[j] == v[i] || (sorted && v[j] > v[i])) return false;
  }
  return true;
}

bool contains(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

void require_integer_indices(Prim p, const ValueType& idx, const std::source_location& loc) {
  if (!is_integer(idx.dtype) || idx.dtype == DType::bool_)
    dtype_error(p, "indices must be of an integer dtype, got " + idx.str(), loc);
}

// The checks gather and scatter share: indices, index_vector_dim, batching dims and
// start_index_map against an operand of `rank` dims. Returns the indices' batch dims (the indices'
// shape without index_vector_dim). `what` names the fields as the op calls them.
std::vector<int64_t> index_batch_shape(Prim p, const ValueType& operand, const ValueType& idx,
                                       const GatherDims& d, const std::string& shapes,
                                       const std::source_location& loc) {
  require_integer_indices(p, idx, loc);
  const bool scatter = p != Prim::gather;
  const char* collapsed = scatter ? "inserted_window_dims" : "collapsed_slice_dims";
  const char* batching = scatter ? "input_batching_dims" : "operand_batching_dims";
  const char* idx_batching =
      scatter ? "scatter_indices_batching_dims" : "start_indices_batching_dims";
  const char* index_map = scatter ? "scatter_dims_to_operand_dims" : "start_index_map";
  const int64_t rank = operand.shape.rank(), irank = idx.shape.rank();
  const int64_t ivd = d.index_vector_dim;
  if (ivd < 0 || ivd > irank)
    shape_error(p, "index_vector_dim " + std::to_string(ivd) + " out of range" + shapes, loc);
  const int64_t index_size = ivd == irank ? 1 : idx.shape[static_cast<int>(ivd)];
  if (!valid_dims(d.collapsed_slice_dims, rank, true))
    shape_error(p,
                std::string(collapsed) + " " + ints(d.collapsed_slice_dims) +
                    " must be sorted, unique operand dims" + shapes,
                loc);
  if (!valid_dims(d.operand_batching_dims, rank, true))
    shape_error(p,
                std::string(batching) + " " + ints(d.operand_batching_dims) +
                    " must be sorted, unique operand dims" + shapes,
                loc);
  for (int64_t b : d.operand_batching_dims)
    if (contains(d.collapsed_slice_dims, b))
      shape_error(
          p,
          std::string(batching) + " and " + collapsed + " share dim " + std::to_string(b) + shapes,
          loc);
  if (!valid_dims(d.start_indices_batching_dims, irank, false) ||
      contains(d.start_indices_batching_dims, ivd) ||
      d.start_indices_batching_dims.size() != d.operand_batching_dims.size())
    shape_error(p,
                std::string(idx_batching) + " " + ints(d.start_indices_batching_dims) +
                    " must be unique indices dims other than index_vector_dim, one per " +
                    batching + " " + ints(d.operand_batching_dims) + shapes,
                loc);
  for (size_t i = 0; i < d.operand_batching_dims.size(); ++i)
    if (operand.shape[static_cast<int>(d.operand_batching_dims[i])] !=
        idx.shape[static_cast<int>(d.start_indices_batching_dims[i])])
      shape_error(p,
                  std::string("batching dims ") + ints(d.operand_batching_dims) + " and " +
                      ints(d.start_indices_batching_dims) + " differ in size" + shapes,
                  loc);
  if (static_cast<int64_t>(d.start_index_map.size()) != index_size ||
      !valid_dims(d.start_index_map, rank, false))
    shape_error(p,
                std::string(index_map) + " " + ints(d.start_index_map) + " must name " +
                    std::to_string(index_size) +
                    " unique operand dims (the size of the indices' index_vector_dim " +
                    std::to_string(ivd) + ")" + shapes,
                loc);
  for (int64_t m : d.start_index_map)
    if (contains(d.operand_batching_dims, m))
      shape_error(p, std::string(index_map) + " names batching dim " + std::to_string(m) + shapes,
                  loc);
  std::vector<int64_t> batch;
  for (int64_t i = 0; i < irank; ++i)
    if (i != ivd) batch.push_back(idx.shape[static_cast<int>(i)]);
  return batch;
}

// The operand dims a gather's slice or a scatter's window spans (not collapsed, not batching).
std::vector<int64_t> window_operand_dims(const GatherDims& d, int64_t rank) {
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < rank; ++i)
    if (!contains(d.collapsed_slice_dims, i) && !contains(d.operand_batching_dims, i))
      dims.push_back(i);
  return dims;
}

ValueType gather_type(std::span<const ValueType> in, const GatherDims& d,
                      const std::source_location& loc) {
  const Prim p = Prim::gather;
  const ValueType &x = in[0], &idx = in[1];
  const std::string shapes = " (operand " + x.str() + ", indices " + idx.str() + ")";
  const std::vector<int64_t> batch = index_batch_shape(p, x, idx, d, shapes, loc);
  const int64_t rank = x.shape.rank();
  if (static_cast<int64_t>(d.slice_sizes.size()) != rank)
    shape_error(
        p, "slice_sizes " + ints(d.slice_sizes) + " needs one entry per operand dim" + shapes, loc);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t s = d.slice_sizes[static_cast<size_t>(i)];
    if (s < 0 || s > x.shape[static_cast<int>(i)])
      shape_error(p, "slice_sizes " + ints(d.slice_sizes) + " exceed the operand" + shapes, loc);
    if ((contains(d.collapsed_slice_dims, i) || contains(d.operand_batching_dims, i)) && s > 1)
      shape_error(p,
                  "slice_sizes " + ints(d.slice_sizes) + " must be at most 1 in collapsed " +
                      "and batching dim " + std::to_string(i) + shapes,
                  loc);
  }
  const std::vector<int64_t> window = window_operand_dims(d, rank);
  const int64_t out_rank = static_cast<int64_t>(batch.size() + d.offset_dims.size());
  if (d.offset_dims.size() != window.size() || !valid_dims(d.offset_dims, out_rank, true))
    shape_error(p,
                "offset_dims " + ints(d.offset_dims) + " must be " + std::to_string(window.size()) +
                    " sorted result dims (one per operand dim neither collapsed nor batching)" +
                    shapes,
                loc);
  Shape out;
  size_t bi = 0, wi = 0;
  for (int64_t i = 0; i < out_rank; ++i)
    out.push_back(contains(d.offset_dims, i) ? d.slice_sizes[static_cast<size_t>(window[wi++])]
                                             : batch[bi++]);
  return {x.dtype, out};
}

ValueType scatter_type(Prim p, std::span<const ValueType> in, const GatherDims& d,
                       const std::source_location& loc) {
  const ValueType &x = in[0], &idx = in[1], &upd = in[2];
  const std::string shapes =
      " (operand " + x.str() + ", indices " + idx.str() + ", updates " + upd.str() + ")";
  if (upd.dtype != x.dtype) dtype_error(p, "updates must have the operand's dtype" + shapes, loc);
  const std::vector<int64_t> batch = index_batch_shape(p, x, idx, d, shapes, loc);
  const int64_t rank = x.shape.rank(), urank = upd.shape.rank();
  const std::vector<int64_t> window = window_operand_dims(d, rank);
  if (d.offset_dims.size() != window.size() || !valid_dims(d.offset_dims, urank, true) ||
      urank != static_cast<int64_t>(batch.size() + window.size()))
    shape_error(p,
                "update_window_dims " + ints(d.offset_dims) + " must be " +
                    std::to_string(window.size()) +
                    " sorted updates dims (one per operand dim neither inserted nor batching)," +
                    " the other updates dims matching the indices' batch dims" + shapes,
                loc);
  size_t bi = 0, wi = 0;
  for (int64_t i = 0; i < urank; ++i) {
    const int64_t n = upd.shape[static_cast<int>(i)];
    if (contains(d.offset_dims, i)) {
      if (n > x.shape[static_cast<int>(window[wi++])])
        shape_error(p,
                    "the updates' window dim " + std::to_string(i) +
                        " does not fit in the operand" + shapes,
                    loc);
    } else if (n != batch[bi++]) {
      shape_error(p,
                  "the updates' scatter dim " + std::to_string(i) +
                      " differs from the indices' batch dims" + shapes,
                  loc);
    }
  }
  return x;
}

// dynamic_slice: (operand, start...) -> a.shape; dynamic_update_slice: (operand, update,
// start...) -> operand. One scalar start of one integer dtype per operand dim.
ValueType dynamic_slice_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                             const std::source_location& loc) {
  const bool update = p == Prim::dynamic_update_slice;
  const size_t first = update ? 2 : 1;
  if (in.size() < first)
    throw ValueError(message(std::string(name(p)) + " needs an operand" +
                                 (update ? " and an update" : "") + " before its start indices",
                             loc));
  const ValueType& x = in[0];
  const Shape& sizes = update ? in[1].shape : a.shape;
  std::string shapes = " (operand " + x.str() + (update ? ", update " + in[1].str() : "") + ")";
  if (update && in[1].dtype != x.dtype)
    dtype_error(p, "update must have the operand's dtype" + shapes, loc);
  if (in.size() - first != static_cast<size_t>(x.shape.rank()))
    shape_error(p,
                "needs " + std::to_string(x.shape.rank()) + " start indices, got " +
                    std::to_string(in.size() - first) + shapes,
                loc);
  for (size_t i = first; i < in.size(); ++i) {
    require_integer_indices(p, in[i], loc);
    if (in[i].shape.rank() != 0 || in[i].dtype != in[first].dtype)
      shape_error(p, "start indices must be scalars of one dtype, got " + in[i].str() + shapes,
                  loc);
  }
  if (sizes.rank() != x.shape.rank())
    shape_error(p,
                std::string(update ? "update" : "slice_sizes ") + (update ? "" : sizes.str()) +
                    " must have the operand's rank" + shapes,
                loc);
  for (int i = 0; i < sizes.rank(); ++i)
    if (sizes[i] < 0 || sizes[i] > x.shape[i])
      shape_error(p,
                  std::string(update ? "update" : "slice_sizes " + sizes.str()) +
                      " does not fit in the operand" + shapes,
                  loc);
  return update ? x : ValueType{x.dtype, sizes};
}

ValueType indexing_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                        const std::source_location& loc) {
  switch (p) {
    case Prim::gather:
      return gather_type(in, a.gather, loc);
    case Prim::dynamic_slice:
    case Prim::dynamic_update_slice:
      return dynamic_slice_type(p, in, a, loc);
    default:
      return scatter_type(p, in, a.gather, loc);
  }
}

// broadcast_in_dim, reshape, transpose, slice, concatenate, rev, pad.
ValueType shape_op_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                        const std::source_location& loc) {
  const Shape& s = in[0].shape;
  const DType t = in[0].dtype;
  switch (p) {
    case Prim::broadcast_in_dim: {
      require_rank_list(p, a.dims, s.rank(), "broadcast_dimensions", loc);
      for (int i = 0; i < s.rank(); ++i) {
        int64_t d = a.dims[i];
        if (d < 0 || d >= a.shape.rank() || (i > 0 && d <= a.dims[i - 1]))
          shape_error(p,
                      "broadcast_dimensions " + ints(a.dims) + " invalid for " + s.str() + " -> " +
                          a.shape.str(),
                      loc);
        if (s[i] != 1 && s[i] != a.shape[static_cast<int>(d)])
          shape_error(p, "cannot broadcast shape " + s.str() + " to " + a.shape.str(), loc);
      }
      return {t, a.shape};
    }
    case Prim::reshape:
      if (a.shape.numel() != s.numel())
        shape_error(p,
                    "cannot reshape " + s.str() + " (" + std::to_string(s.numel()) +
                        " elements) to " + a.shape.str() + " (" + std::to_string(a.shape.numel()) +
                        " elements)",
                    loc);
      return {t, a.shape};
    case Prim::transpose: {
      require_rank_list(p, a.dims, s.rank(), "permutation", loc);
      std::vector<int64_t> sorted = a.dims;
      std::sort(sorted.begin(), sorted.end());
      for (int i = 0; i < s.rank(); ++i)
        if (sorted[i] != i)
          shape_error(p,
                      "permutation " + ints(a.dims) + " is not a permutation of " +
                          std::to_string(s.rank()) + " axes",
                      loc);
      Shape out;
      for (int64_t d : a.dims) out.push_back(s[static_cast<int>(d)]);
      return {t, out};
    }
    case Prim::slice: {
      require_rank_list(p, a.start, s.rank(), "start_indices", loc);
      require_rank_list(p, a.limit, s.rank(), "limit_indices", loc);
      require_rank_list(p, a.stride, s.rank(), "strides", loc);
      Shape out;
      for (int i = 0; i < s.rank(); ++i) {
        if (a.start[i] < 0 || a.limit[i] > s[i] || a.start[i] > a.limit[i] || a.stride[i] < 1)
          shape_error(p,
                      "slice " + ints(a.start) + ":" + ints(a.limit) + ":" + ints(a.stride) +
                          " out of bounds for shape " + s.str(),
                      loc);
        out.push_back((a.limit[i] - a.start[i] + a.stride[i] - 1) / a.stride[i]);
      }
      return {t, out};
    }
    case Prim::concatenate: {
      if (in.empty()) throw ValueError(message("concatenate of no arrays", loc));
      if (a.axis < 0 || a.axis >= s.rank())
        shape_error(p, "axis " + std::to_string(a.axis) + " out of range for " + s.str(), loc);
      Shape out = s;
      for (size_t k = 1; k < in.size(); ++k) {
        const Shape& o = in[k].shape;
        if (in[k].dtype != t)
          dtype_error(p,
                      "operand dtypes " + std::string(name(t)) + " and " +
                          std::string(name(in[k].dtype)) + " differ",
                      loc);
        bool ok = o.rank() == s.rank();
        for (int i = 0; ok && i < s.rank(); ++i) ok = (i == a.axis) || o[i] == s[i];
        if (!ok)
          shape_error(p,
                      "shapes " + s.str() + " and " + o.str() + " differ outside axis " +
                          std::to_string(a.axis),
                      loc);
        out[static_cast<int>(a.axis)] += o[static_cast<int>(a.axis)];
      }
      return {t, out};
    }
    case Prim::rev:
      for (size_t i = 0; i < a.dims.size(); ++i)
        if (a.dims[i] < 0 || a.dims[i] >= s.rank() || (i > 0 && a.dims[i] <= a.dims[i - 1]))
          shape_error(p, "dimensions " + ints(a.dims) + " invalid for shape " + s.str(), loc);
      return in[0];
    case Prim::pad: {
      if (in[1].shape.rank() != 0 || in[1].dtype != t)
        shape_error(p, "padding value must be a scalar of the operand's dtype, got " + in[1].str(),
                    loc);
      require_rank_list(p, a.low, s.rank(), "low padding", loc);
      require_rank_list(p, a.high, s.rank(), "high padding", loc);
      require_rank_list(p, a.interior, s.rank(), "interior padding", loc);
      // Negative low/high padding crops (lax.pad); interior padding cannot be negative.
      Shape out;
      for (int i = 0; i < s.rank(); ++i) {
        if (a.interior[i] < 0)
          shape_error(p, "interior padding " + ints(a.interior) + " must not be negative", loc);
        int64_t n = s[i];
        int64_t size = a.low[i] + n + (n > 0 ? (n - 1) * a.interior[i] : 0) + a.high[i];
        if (size < 0)
          shape_error(p,
                      "padding (" + ints(a.low) + ", " + ints(a.high) + ", " + ints(a.interior) +
                          ") crops dim " + std::to_string(i) + " of " + s.str() + " below zero",
                      loc);
        out.push_back(size);
      }
      return {t, out};
    }
    default:
      break;
  }
  throw Error("infer_type: no rule for " + std::string(name(p)));
}

// The per-device result of a collective over a group of c.axis_size devices.
ValueType collective_type(Prim p, std::span<const ValueType> in, const CollectiveAttrs& c,
                          const std::source_location& loc) {
  if (c.axes.empty()) shape_error(p, "names no mesh axis", loc);
  if (c.axis_size < 1)
    shape_error(p, "has a group of " + std::to_string(c.axis_size) + " devices", loc);
  if (p == Prim::axis_index) return {DType::int32, Shape{}};
  const ValueType& x = in[0];
  const Shape& s = x.shape;
  const int64_t n = c.axis_size;
  auto check_dim = [&](int64_t d, int rank, const char* what) {
    if (d < 0 || d >= rank)
      shape_error(
          p, std::string(what) + " " + std::to_string(d) + " is out of range for " + x.str(), loc);
  };
  switch (p) {
    case Prim::psum:
    case Prim::pmax:
      return x;
    case Prim::all_gather: {
      check_dim(c.dimension, c.tiled ? s.rank() : s.rank() + 1, "all_gather_dimension");
      std::vector<int64_t> out = s.vec();
      if (c.tiled)
        out[static_cast<size_t>(c.dimension)] *= n;
      else
        out.insert(out.begin() + c.dimension, n);
      return {x.dtype, Shape(out)};
    }
    case Prim::psum_scatter: {
      check_dim(c.dimension, s.rank(), "scatter_dimension");
      std::vector<int64_t> out = s.vec();
      const int64_t size = out[static_cast<size_t>(c.dimension)];
      if (c.tiled ? size % n != 0 : size != n)
        shape_error(p,
                    "scatter dimension " + std::to_string(c.dimension) + " of " + x.str() +
                        (c.tiled ? " is not divisible by " : " is not ") + "the axis size " +
                        std::to_string(n),
                    loc);
      if (c.tiled)
        out[static_cast<size_t>(c.dimension)] /= n;
      else
        out.erase(out.begin() + c.dimension);
      return {x.dtype, Shape(out)};
    }
    case Prim::all_to_all: {
      check_dim(c.dimension, s.rank(), "split_axis");
      check_dim(c.concat_dimension, s.rank(), "concat_axis");
      std::vector<int64_t> out = s.vec();
      if (out[static_cast<size_t>(c.dimension)] % n != 0)
        shape_error(p,
                    "split_axis " + std::to_string(c.dimension) + " of " + x.str() +
                        " is not divisible by the axis size " + std::to_string(n),
                    loc);
      out[static_cast<size_t>(c.dimension)] /= n;
      out[static_cast<size_t>(c.concat_dimension)] *= n;
      return {x.dtype, Shape(out)};
    }
    case Prim::ppermute: {
      std::vector<bool> src(static_cast<size_t>(n)), dst(static_cast<size_t>(n));
      for (const auto& [from, to] : c.perm) {
        if (from < 0 || from >= n || to < 0 || to >= n)
          shape_error(p,
                      "pair (" + std::to_string(from) + ", " + std::to_string(to) +
                          ") names a device outside the axis of size " + std::to_string(n),
                      loc);
        if (src[static_cast<size_t>(from)] || dst[static_cast<size_t>(to)])
          shape_error(p,
                      "perm sends from or to one device twice (pair (" + std::to_string(from) +
                          ", " + std::to_string(to) + "))",
                      loc);
        src[static_cast<size_t>(from)] = dst[static_cast<size_t>(to)] = true;
      }
      return x;
    }
    default:
      break;
  }
  throw Error("infer_type: no rule for " + std::string(name(p)));
}

}  // namespace

ValueType infer_type(Prim p, std::span<const ValueType> in, const Attrs& a,
                     const std::source_location& loc) {
  const PrimInfo& pi = info(p);
  if (pi.arity >= 0 && static_cast<int>(in.size()) != pi.arity)
    throw ValueError(message(std::string(pi.name) + " takes " + std::to_string(pi.arity) +
                                 " operands, got " + std::to_string(in.size()),
                             loc));
  if (!in.empty() || pi.arity == 0) check_dtype(p, constrained_dtype(p, in, a), loc);
  switch (pi.kind) {
    case PrimKind::structural:
      if (p == Prim::iota) {
        if (a.axis < 0 || a.axis >= a.shape.rank())
          shape_error(
              p, "dimension " + std::to_string(a.axis) + " out of range for shape " + a.shape.str(),
              loc);
      }
      return {a.dtype, a.shape};  // parameter/constant types are set when they are created
    case PrimKind::unary: {
      const DType t = in[0].dtype;
      if (p == Prim::convert) return {a.dtype, in[0].shape};
      if (p == Prim::reduce_precision) {
        // At least one exponent bit (XLA's limit); wider than the operand's format is a no-op.
        if (a.exponent_bits < 1 || a.mantissa_bits < 0)
          shape_error(p,
                      "exponent_bits " + std::to_string(a.exponent_bits) +
                          " must be at least 1 and mantissa_bits " +
                          std::to_string(a.mantissa_bits) + " at least 0",
                      loc);
        return in[0];
      }
      if (p == Prim::bitcast_convert) {
        if (itemsize(a.dtype) != itemsize(t))
          dtype_error(p,
                      "needs dtypes of the same size, got " + std::string(name(t)) + " -> " +
                          std::string(name(a.dtype)),
                      loc);
        // A bool is one bit to StableHLO (i1) but one byte here: bool <-> int8 is no bitcast there
        // (XLA refuses the exported op) and JAX refuses it too (lax.bitcast_convert_type).
        if ((t == DType::bool_) != (a.dtype == DType::bool_))
          dtype_error(p,
                      "cannot reinterpret " + std::string(name(t)) + " as " +
                          std::string(name(a.dtype)) +
                          " (a bool is one bit in StableHLO); use convert (astype) instead",
                      loc);
        return {a.dtype, in[0].shape};
      }
      if (p == Prim::sharding_constraint) {
        const MeshSplit& split = a.split;
        if (split.dims.size() > static_cast<size_t>(in[0].shape.rank()) ||
            split.mesh.names.size() != split.mesh.sizes.size())
          shape_error(p,
                      "a layout of " + std::to_string(split.dims.size()) +
                          " dimensions for an operand of rank " +
                          std::to_string(in[0].shape.rank()),
                      loc);
        return in[0];
      }
      // real, imag and abs of a complex operand give its parts' real dtype (stablehlo.abs too).
      if (p == Prim::real || p == Prim::imag || p == Prim::abs) return {real_dtype(t), in[0].shape};
      return in[0];
    }
    case PrimKind::binary: {
      ValueType t = elementwise(p, in, loc);
      if (p == Prim::complex) t.dtype = complex_dtype(t.dtype);
      return t;
    }
    case PrimKind::compare: {
      ValueType t = elementwise(p, in, loc);
      return {DType::bool_, t.shape};
    }
    case PrimKind::select: {
      if (in[0].dtype != DType::bool_)
        dtype_error(p, "predicate must be bool, got " + std::string(name(in[0].dtype)), loc);
      if (!(in[0].shape == in[1].shape))
        shape_error(p,
                    "predicate shape " + in[0].shape.str() + " and operand shape " +
                        in[1].shape.str() + " differ",
                    loc);
      return elementwise(p, in.subspan(1), loc);
    }
    case PrimKind::shape:
      break;
    case PrimKind::reduce:
      return reduce_type(p, in, a, loc);
    case PrimKind::window:
      return windowed_type(p, in, a, loc);
    case PrimKind::scan:
      return scan_type(p, in, a, loc);
    case PrimKind::sort:
      return sort_type(p, in, a, loc);
    case PrimKind::convolution:
      return conv_type(in, a, loc);
    case PrimKind::contraction:
      return dot_type(p, in, a, loc);
    case PrimKind::indexing:
      return indexing_type(p, in, a, loc);
    case PrimKind::random: {
      if (in[0].dtype != DType::uint32 || !(in[0].shape == Shape{2}))
        dtype_error(p, "key must be uint32[2], got " + in[0].str(), loc);
      if (in[1].dtype != DType::uint32 || in[1].shape.rank() < 1 || in[1].shape[0] != 2)
        dtype_error(p, "counts must be uint32[2, ...], got " + in[1].str(), loc);
      return in[1];
    }
    case PrimKind::collective:
      return collective_type(p, in, a.collective, loc);
  }

  return shape_op_type(p, in, a, loc);
}

}  // namespace kiln::ir
