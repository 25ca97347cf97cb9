// The VJP rule of every differentiable primitive, in one table. Rules are written with kiln's own
// ops, so they record into the enclosing trace under jit and run eagerly otherwise. Formulas follow
// JAX's (jax/_src/lax/lax.py) so that gradients agree, including at ties and zeros.
#include "transforms/vjp_rules.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <optional>

#include "kiln/error.hpp"
#include "kiln/indexing.hpp"
#include "kiln/ops.hpp"
#include "ops/indexing_util.hpp"

namespace kiln::autodiff {
namespace {

using ir::Prim;
using Grads = std::vector<Array>;
using Rule = VjpRule;

const Loc& L(const VjpArgs& a) {
  return a.node.loc;
}
const ir::Attrs& A(const VjpArgs& a) {
  return a.node.attrs;
}

// JAX's _balanced_eq: where x == z, 1 (or 0.5 if y == z too), else 0 — splits ties evenly.
Array balanced_eq(const Array& x, const Array& z, const Array& y, const Loc& loc) {
  Array half_or_one = where(kiln::equal(y, z, loc), 0.5, 1.0, loc);
  return where(kiln::equal(x, z, loc), astype(half_or_one, x.dtype(), loc), 0.0, loc);
}

// digamma's derivative, trigamma psi1(x) = sum_k 1/(x+k)^2 (JAX's polygamma(1, x); +inf at the
// poles 0, -1, -2, ...), from kiln's ops so that it records under jit and differentiates again.
// Below 1/2 the reflection psi1(x) = pi^2/sin^2(pi x) - psi1(1 - x), with sin^2 of pi times the
// exact reduction x - round(x) (sin(0) = 0 gives the poles' inf); then ten steps of
// psi1(y) = 1/y^2 + psi1(y + 1) and, at z = y + 10 >= 10.5, the asymptotic series
// 1/z + 1/(2z^2) + sum_k B_2k / z^(2k+1) to B_14: the next term is below 3e-17 of psi1, so the
// result is float64-accurate. 16-bit floats compute in float32, as digamma does.
Array trigamma(const Array& x_in, const Loc& loc) {
  const DType t = x_in.dtype();
  const bool half = t == DType::bfloat16 || t == DType::float16;
  const Array x = half ? astype(x_in, DType::float32, loc) : x_in;
  const Array reflect = less(x, 0.5, loc);
  const Array y = where(reflect, sub(1.0, x, loc), x, loc);
  Array sum = zeros_like(y, loc);
  for (int k = 0; k < 10; ++k) sum = add(sum, div(1.0, square(add(y, k, loc), loc), loc), loc);
  const Array r = div(1.0, add(y, 10.0, loc), loc), r2 = square(r, loc);
  // B_2k for k = 7 down to 1: 7/6, -691/2730, 5/66, -1/30, 1/42, -1/30, 1/6.
  Array series = full_like(r2, 7.0 / 6.0, loc);
  for (double b : {-691.0 / 2730.0, 5.0 / 66.0, -1.0 / 30.0, 1.0 / 42.0, -1.0 / 30.0, 1.0 / 6.0})
    series = add(mul(series, r2, loc), b, loc);
  const Array tail =
      add(r, mul(r2, add(0.5, mul(series, r, loc), loc), loc), loc);  // 1/z + 1/2z^2 + ...
  const Array direct = add(sum, tail, loc);
  const Array s = sin(mul(sub(x, round(x, loc), loc), std::numbers::pi, loc), loc);
  const double pi2 = std::numbers::pi * std::numbers::pi;
  const Array out = where(reflect, sub(div(pi2, square(s, loc), loc), direct, loc), direct, loc);
  return half ? astype(out, t, loc) : out;
}

// The inverse of a permutation.
std::vector<int64_t> inverse(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inv[static_cast<size_t>(perm[i])] = static_cast<int64_t>(i);
  return inv;
}

// Sums the cotangent of a broadcast back to the operand's shape.
Grads broadcast_rule(const VjpArgs& a) {
  const Shape& in = a.in[0].shape();
  const Shape& out = a.out.shape();
  const auto& dims = A(a).dims;
  std::vector<int64_t> axes;
  for (int d = 0; d < out.rank(); ++d) {
    auto it = std::find(dims.begin(), dims.end(), d);
    if (it == dims.end()) {
      axes.push_back(d);
    } else if (in[static_cast<int>(it - dims.begin())] == 1 && out[d] != 1) {
      axes.push_back(d);
    }
  }
  Array s = axes.empty() ? a.g : sum(a.g, Axes(axes), false, L(a));
  return {reshape(s, in.vec(), L(a))};
}

// The operand dims a reduction keeps, in order: where its result's dims go when broadcast back.
std::vector<int64_t> kept_dims(int rank, const std::vector<int64_t>& axes) {
  std::vector<int64_t> kept;
  for (int d = 0; d < rank; ++d)
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) kept.push_back(d);
  return kept;
}

Grads reduce_sum_rule(const VjpArgs& a) {
  const Shape& in = a.in[0].shape();
  std::vector<int64_t> kept = kept_dims(in.rank(), A(a).dims);
  return {broadcast_in_dim(a.g, in, kept, L(a))};
}

// JAX's _reduce_chooser_jvp_rule: the cotangent is shared equally among the positions that attain
// the max (or min).
Grads reduce_chooser_rule(const VjpArgs& a) {
  const Shape& in = a.in[0].shape();
  const auto& axes = A(a).dims;
  std::vector<int64_t> kept = kept_dims(in.rank(), axes);
  Array ans = broadcast_in_dim(a.out, in, kept, L(a));
  Array hits = astype(kiln::equal(a.in[0], ans, L(a)), a.g.dtype(), L(a));
  Array counts = broadcast_in_dim(sum(hits, Axes(axes), false, L(a)), in, kept, L(a));
  Array g = broadcast_in_dim(a.g, in, kept, L(a));
  return {div(mul(g, hits, L(a)), counts, L(a))};
}

Grads slice_rule(const VjpArgs& a) {
  const Shape& in = a.in[0].shape();
  const Shape& out = a.out.shape();
  const ir::Attrs& at = A(a);
  if (out.numel() == 0) return {zeros_like(a.in[0], L(a))};
  std::vector<int64_t> low, high, interior;
  for (int d = 0; d < in.rank(); ++d) {
    int64_t n = out[d], st = at.stride[static_cast<size_t>(d)];
    low.push_back(at.start[static_cast<size_t>(d)]);
    interior.push_back(st - 1);
    high.push_back(in[d] - low.back() - (n + (n - 1) * (st - 1)));
  }
  return {pad(a.g, 0.0, low, high, interior, L(a))};
}

// JAX's _pad_transpose: undo the edge padding (a negative one crops, a positive one pads back
// the cropped part with zeros), then take every (interior + 1)-th element.
Grads pad_rule(const VjpArgs& a) {
  const ir::Attrs& at = A(a);
  const size_t rank = at.low.size();
  std::vector<int64_t> low, high, start(rank, 0), stride;
  for (size_t i = 0; i < rank; ++i) {
    low.push_back(-at.low[i]);
    high.push_back(-at.high[i]);
    stride.push_back(at.interior[i] + 1);
  }
  Array unpadded = pad(a.g, 0.0, low, high, std::vector<int64_t>(rank, 0), L(a));
  Array g_operand = slice(unpadded, start, unpadded.shape().vec(), stride, L(a));
  // Every padded position took the padding value.
  Array g_pad = sub(sum(a.g, {}, false, L(a)), sum(g_operand, {}, false, L(a)), L(a));
  return {g_operand, g_pad};
}

Grads concatenate_rule(const VjpArgs& a) {
  Grads out;
  int64_t axis = A(a).axis;
  int64_t offset = 0;
  const Shape& s = a.out.shape();
  for (const Array& x : a.in) {
    std::vector<int64_t> start(static_cast<size_t>(s.rank()), 0), limit = s.vec();
    start[static_cast<size_t>(axis)] = offset;
    offset += x.shape()[static_cast<int>(axis)];
    limit[static_cast<size_t>(axis)] = offset;
    out.push_back(slice(a.g, start, limit, {}, L(a)));
  }
  return out;
}

// dot_general's cotangent for one operand: contract g with the other operand over the other's free
// dims, then put the result's dims into this operand's order. JAX writes dot_general(g, other)
// followed by a transpose, which XLA then folds into the product; kiln folds it here: when
// dot_general(other, g) already comes out in this operand's order (a Dense kernel's gradient
// xᵀ·g), that is the product, and no transposed copy of a weight-sized gradient is made.
Array dot_transpose(const Array& g, const Array& other, int self_rank,
                    const std::vector<int64_t>& self_contract,
                    const std::vector<int64_t>& self_batch,
                    const std::vector<int64_t>& other_contract,
                    const std::vector<int64_t>& other_batch, int64_t g_other_free_begin,
                    const Loc& loc) {
  int other_rank = other.ndim();
  std::vector<int64_t> other_free;
  for (int d = 0; d < other_rank; ++d)
    if (std::find(other_contract.begin(), other_contract.end(), d) == other_contract.end() &&
        std::find(other_batch.begin(), other_batch.end(), d) == other_batch.end())
      other_free.push_back(d);
  std::vector<int64_t> g_other_free, g_batch;
  for (size_t i = 0; i < other_free.size(); ++i)
    g_other_free.push_back(g_other_free_begin + static_cast<int64_t>(i));
  for (size_t i = 0; i < self_batch.size(); ++i) g_batch.push_back(static_cast<int64_t>(i));

  // This operand's dims as either product lays them out: batch first, then g's remaining dims
  // (this operand's free dims, in order) and the other's remaining dims (its contracting dims in
  // increasing order, each standing for the paired contracting dim of this operand).
  std::vector<int64_t> self_free;
  for (int d = 0; d < self_rank; ++d)
    if (std::find(self_contract.begin(), self_contract.end(), d) == self_contract.end() &&
        std::find(self_batch.begin(), self_batch.end(), d) == self_batch.end())
      self_free.push_back(d);
  std::vector<int64_t> paired_contract;
  std::vector<int64_t> other_sorted = other_contract;
  std::sort(other_sorted.begin(), other_sorted.end());
  for (int64_t od : other_sorted) {
    size_t k = static_cast<size_t>(std::find(other_contract.begin(), other_contract.end(), od) -
                                   other_contract.begin());
    paired_contract.push_back(self_contract[k]);
  }
  auto labels_of = [&](const std::vector<int64_t>& first, const std::vector<int64_t>& second) {
    std::vector<int64_t> labels = self_batch;
    labels.insert(labels.end(), first.begin(), first.end());
    labels.insert(labels.end(), second.begin(), second.end());
    return labels;
  };
  auto in_order = [](const std::vector<int64_t>& labels) {
    for (size_t pos = 0; pos < labels.size(); ++pos)
      if (labels[pos] != static_cast<int64_t>(pos)) return false;
    return true;
  };

  const std::vector<int64_t> swapped = labels_of(paired_contract, self_free);
  if (!in_order(labels_of(self_free, paired_contract)) && in_order(swapped)) {
    ir::DotDims dims;
    dims.lhs_contract = other_free;
    dims.rhs_contract = g_other_free;
    dims.lhs_batch = other_batch;
    dims.rhs_batch = g_batch;
    return dot_general(other, g, dims, loc);
  }
  ir::DotDims dims;
  dims.lhs_contract = g_other_free;
  dims.rhs_contract = other_free;
  dims.lhs_batch = g_batch;
  dims.rhs_batch = other_batch;
  Array r = dot_general(g, other, dims, loc);
  const std::vector<int64_t> labels = labels_of(self_free, paired_contract);
  std::vector<int64_t> perm(static_cast<size_t>(self_rank));
  for (size_t pos = 0; pos < labels.size(); ++pos)
    perm[static_cast<size_t>(labels[pos])] = static_cast<int64_t>(pos);
  return transpose(r, perm, loc);
}

// A product with a preferred_element_type wider than its operands differentiates as the same
// product of operands converted to that type, and its cotangents are converted back to the
// operands' dtype (JAX's _dot_general_transpose_lhs/rhs and the convolution's): the conversions
// are exact, so this is JAX's gradient. Integer operands get no cotangent.
Grads in_operand_dtype(const VjpArgs& a, Grads (*rule)(const VjpArgs&)) {
  const std::optional<DType>& wide = A(a).preferred_element_type;
  const DType t = a.in[0].dtype();
  if (!wide || *wide == t) return rule(a);
  if (!is_floating(t)) return {Array(), Array()};
  const Array in[2] = {astype(a.in[0], *wide, L(a)), astype(a.in[1], *wide, L(a))};
  Grads g = rule(VjpArgs{a.node, in, a.out, a.g});
  for (Array& x : g) x = astype(x, t, L(a));
  return g;
}

Grads dot_general_product_rule(const VjpArgs& a) {
  const ir::DotDims& d = A(a).dot;
  const Array &x = a.in[0], &y = a.in[1];
  int64_t nb = static_cast<int64_t>(d.lhs_batch.size());
  int64_t x_free = x.ndim() - nb - static_cast<int64_t>(d.lhs_contract.size());
  // g's dims: batch, x's free dims, y's free dims.
  Array gx = dot_transpose(a.g, y, x.ndim(), d.lhs_contract, d.lhs_batch, d.rhs_contract,
                           d.rhs_batch, nb + x_free, L(a));
  Array gy = dot_transpose(a.g, x, y.ndim(), d.rhs_contract, d.rhs_batch, d.lhs_contract,
                           d.lhs_batch, nb, L(a));
  return {gx, gy};
}

Grads dot_general_rule(const VjpArgs& a) {
  return in_operand_dtype(a, dot_general_product_rule);
}

// ---- convolution and windows (JAX's rules in jax/_src/lax/convolution.py and
// windowed_reductions.py)

// The extent of n elements spaced `dilation` apart (lax._dilate_shape).
int64_t dilate(int64_t n, int64_t dilation) {
  return n == 0 ? 0 : (n - 1) * dilation + 1;
}

// lax's _conv_spec_transpose: swaps the first two entries (batch <-> feature, out <-> in).
std::vector<int64_t> swap_first_two(std::vector<int64_t> spec) {
  std::swap(spec[0], spec[1]);
  return spec;
}

// JAX's _reshape_axis_out_of: splits dim src into (size1, rest), size1 the major part.
Array split_axis(const Array& x, int64_t src, int64_t size1, const Loc& loc) {
  std::vector<int64_t> s = x.shape().vec();
  const auto i = static_cast<size_t>(src);
  const int64_t rest = s[i] / size1;
  s[i] = rest;
  s.insert(s.begin() + src, size1);
  return reshape(x, s, loc);
}

// JAX's _reshape_axis_into: merges dim src into dim dst (dst counted with src removed) as its
// major part.
Array merge_axis(const Array& x, int64_t src, int64_t dst, const Loc& loc) {
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.ndim(); ++i)
    if (i != src) perm.push_back(i);
  perm.insert(perm.begin() + dst, src);
  std::vector<int64_t> s;
  for (int64_t i : perm) s.push_back(x.shape()[static_cast<int>(i)]);
  s[static_cast<size_t>(dst)] *= s[static_cast<size_t>(dst) + 1];
  s.erase(s.begin() + dst + 1);
  return reshape(transpose(x, perm, loc), s, loc);
}

Array conv(const Array& lhs, const Array& rhs, ir::ConvDims dims, const Loc& loc) {
  ir::Attrs at;
  at.conv = std::move(dims);
  Array xs[2] = {lhs, rhs};
  return bind(Prim::convolution, xs, std::move(at), loc);
}

int64_t spatial(const Array& x, const std::vector<int64_t>& spec, size_t i) {
  return x.shape()[static_cast<int>(spec[i + 2])];
}

// The lhs cotangent is a convolution of g with the spatially reversed kernel, in and out
// features swapped: the forward's strides become lhs dilation, and the padding puts every
// (output, tap) pair that read lhs element i back on i (JAX's _conv_general_vjp_lhs_padding).
Array conv_lhs_cotangent(const VjpArgs& a) {
  const ir::ConvDims& c = A(a).conv;
  const Array &lhs = a.in[0], &rhs = a.in[1];
  const size_t ns = c.window_strides.size();
  int64_t groups = c.feature_group_count;
  Array w = rhs;
  // Each group's out features become the transposed convolution's in features, so the group
  // count moves from rhs's out-feature dim into its in-feature dim.
  if (c.feature_group_count > 1 || c.batch_group_count > 1) {
    groups = std::max(c.feature_group_count, c.batch_group_count);
    w = merge_axis(split_axis(w, c.rhs_spec[0], groups, L(a)), c.rhs_spec[0], c.rhs_spec[1], L(a));
  }
  ir::ConvDims t;
  t.lhs_spec = c.out_spec;
  t.rhs_spec = swap_first_two(c.rhs_spec);
  t.out_spec = c.lhs_spec;
  t.window_strides = c.lhs_dilation;
  t.lhs_dilation = c.window_strides;
  t.rhs_dilation = c.rhs_dilation;
  t.feature_group_count = groups;
  std::vector<int64_t> kernel_dims;
  for (size_t i = 0; i < ns; ++i) {
    const int64_t in = dilate(spatial(lhs, c.lhs_spec, i), c.lhs_dilation[i]);
    const int64_t k = dilate(spatial(rhs, c.rhs_spec, i), c.rhs_dilation[i]);
    const int64_t out = dilate(spatial(a.g, c.out_spec, i), c.window_strides[i]);
    const int64_t before = k - c.padding_low[i] - 1;
    t.padding_low.push_back(before);
    t.padding_high.push_back(in + k - 1 - out - before);
    kernel_dims.push_back(c.rhs_spec[i + 2]);
  }
  Array gl = conv(a.g, rev(w, kernel_dims, L(a)), std::move(t), L(a));
  // Batch groups came out as feature groups: move them back into the batch dim.
  if (c.batch_group_count > 1)
    gl = merge_axis(split_axis(gl, c.lhs_spec[1], c.batch_group_count, L(a)), c.lhs_spec[1],
                    c.lhs_spec[0], L(a));
  return gl;
}

// The rhs cotangent correlates lhs with g over the batch: a convolution whose batch is lhs's
// features and whose in features are the batch, with the forward's strides as rhs dilation (JAX's
// _conv_general_vjp_rhs_padding). Feature groups become batch groups and back.
Array conv_rhs_cotangent(const VjpArgs& a) {
  const ir::ConvDims& c = A(a).conv;
  const Array &lhs = a.in[0], &rhs = a.in[1];
  const size_t ns = c.window_strides.size();
  ir::ConvDims t;
  t.lhs_spec = swap_first_two(c.lhs_spec);
  t.rhs_spec = swap_first_two(c.out_spec);
  t.out_spec = swap_first_two(c.rhs_spec);
  t.window_strides = c.rhs_dilation;
  t.lhs_dilation = c.lhs_dilation;
  t.rhs_dilation = c.window_strides;
  t.feature_group_count = c.batch_group_count;
  t.batch_group_count = c.feature_group_count;
  for (size_t i = 0; i < ns; ++i) {
    const int64_t in = dilate(spatial(lhs, c.lhs_spec, i), c.lhs_dilation[i]);
    const int64_t k = dilate(spatial(rhs, c.rhs_spec, i), c.rhs_dilation[i]);
    const int64_t out = dilate(spatial(a.g, c.out_spec, i), c.window_strides[i]);
    t.padding_low.push_back(c.padding_low[i]);
    t.padding_high.push_back(out - in - c.padding_low[i] + k - 1);
  }
  return conv(lhs, a.g, std::move(t), L(a));
}

Grads convolution_product_rule(const VjpArgs& a) {
  if (a.g.size() == 0) return {zeros_like(a.in[0], L(a)), zeros_like(a.in[1], L(a))};
  return {conv_lhs_cotangent(a), conv_rhs_cotangent(a)};
}

Grads convolution_rule(const VjpArgs& a) {
  return in_operand_dtype(a, convolution_product_rule);
}

// Every operand element receives the cotangent of each window covering it: the cotangent,
// dilated by the strides, summed over windows of the same size at stride 1 (JAX's
// _reduce_window_sum_transpose_rule). The padding may come out negative; reduce_window crops then.
Grads reduce_window_sum_rule(const VjpArgs& a) {
  const ir::Attrs& at = A(a);
  const Shape& in = a.in[0].shape();
  if (a.g.size() == 0) return {zeros_like(a.in[0], L(a))};
  std::vector<int64_t> zero(static_cast<size_t>(in.rank()), 0), interior, ones;
  std::vector<std::pair<int64_t, int64_t>> padding;
  for (int d = 0; d < in.rank(); ++d) {
    const auto i = static_cast<size_t>(d);
    interior.push_back(at.stride[i] - 1);
    ones.push_back(1);
    const int64_t out = dilate(a.g.shape()[d], at.stride[i]);
    padding.emplace_back(at.window[i] - 1 - at.low[i], in[d] + at.low[i] - out);
  }
  Array dilated = pad(a.g, 0.0, zero, zero, interior, L(a));
  return {reduce_window_sum(dilated, at.window, ones, padding, L(a))};
}

// JAX's max-pool VJP: each window's cotangent goes to its first maximum.
Grads reduce_window_max_rule(const VjpArgs& a) {
  Array xs[2] = {a.g, a.in[0]};
  return {bind(Prim::select_and_scatter_add, xs, A(a), L(a))};
}

// A collective applied to the cotangent: `p` with the node's axes and `c`'s dimensions.
Array collective(Prim p, const VjpArgs& a, const ir::CollectiveAttrs& c) {
  ir::Attrs at;
  at.collective = c;
  return bind(p, std::span<const Array>(&a.g, 1), std::move(at), L(a));
}

// Collectives transpose as in JAX's shard_map without replication checks (check_vma=False):
// psum to psum, all_gather and reduce_scatter to each other, all_to_all to all_to_all with the
// axes swapped, ppermute to the inverse permutation.
Grads psum_rule(const VjpArgs& a) {
  return {collective(Prim::psum, a, A(a).collective)};
}
Grads all_gather_rule(const VjpArgs& a) {
  return {collective(Prim::psum_scatter, a, A(a).collective)};
}
Grads psum_scatter_rule(const VjpArgs& a) {
  return {collective(Prim::all_gather, a, A(a).collective)};
}
Grads all_to_all_rule(const VjpArgs& a) {
  ir::CollectiveAttrs c = A(a).collective;
  std::swap(c.dimension, c.concat_dimension);
  return {collective(Prim::all_to_all, a, c)};
}
Grads ppermute_rule(const VjpArgs& a) {
  ir::CollectiveAttrs c = A(a).collective;
  for (auto& [src, dst] : c.perm) std::swap(src, dst);
  return {collective(Prim::ppermute, a, c)};
}

// ---- gather, scatter, dynamic slices (JAX's rules in jax/_src/lax/slicing.py) ----------------

// gather's transpose is a scatter-add of the cotangent onto zeros. kiln's gather clamps each start
// (XLA's; JAX's mode "clip"), so the rule clamps the indices first, as JAX's clip-mode transpose
// does: every cotangent lands on the row it was read from, and none is dropped.
Grads gather_rule(const VjpArgs& a) {
  const ir::GatherDims& d = A(a).gather;
  const Shape& operand = a.in[0].shape();
  Array idx = ops::clamp_indices(a.in[1], d, operand, d.slice_sizes, L(a));
  return {scatter_add(zeros_like(a.in[0], L(a)), idx, a.g, d, L(a)), Array()};
}

// The cotangent of each update element: g read back at the element it lands on, zero for an
// update window the scatter dropped (out of bounds), as JAX's FILL_OR_DROP transpose.
Array gather_updates(const VjpArgs& a, const Array& g) {
  const ir::GatherDims& d = A(a).gather;
  const Shape &operand = a.in[0].shape(), &updates = a.in[2].shape();
  const ir::GatherDims gd = ops::scatter_as_gather(d, operand, updates);
  Array read = gather(g, a.in[1], gd, L(a));
  Array ok = ops::indices_in_bounds(a.in[1], d, operand, gd.slice_sizes, L(a));
  return where(ops::broadcast_batch(ok, d.offset_dims, updates, L(a)), read, 0.0, L(a));
}

// scatter_add is linear in the operand and the updates (JAX's _scatter_add_transpose_rule).
Grads scatter_add_rule(const VjpArgs& a) {
  return {a.g, Array(), gather_updates(a, a.g)};
}

// scatter (replace): the operand's cotangent is g with the overwritten elements zeroed; an
// update's is g at its element when it was the one written there. Which of several updates to one
// element wins is decided as JAX's _scatter_jvp does: scatter each update's id and read the ids
// back (kiln's scatter applies updates in order, the last wins).
Grads scatter_rule(const VjpArgs& a) {
  const ir::GatherDims& d = A(a).gather;
  const Array &x = a.in[0], &idx = a.in[1], &upd = a.in[2];
  Array g_operand = scatter(a.g, idx, zeros_like(upd, L(a)), d, ScatterCombine::replace, L(a));
  Array g_updates = gather_updates(a, a.g);
  if (!d.unique_indices && upd.size() > 0) {
    Array ids = reshape(arange(upd.size(), int32, L(a)), upd.shape().vec(), L(a));
    Array slots =
        scatter(full(x.shape(), -1, int32, L(a)), idx, ids, d, ScatterCombine::replace, L(a));
    const ir::GatherDims gd = ops::scatter_as_gather(d, x.shape(), upd.shape());
    Array won = kiln::equal(gather(slots, idx, gd, L(a)), ids, L(a));
    g_updates = where(won, g_updates, 0.0, L(a));
  }
  return {g_operand, Array(), g_updates};
}

// scatter_mul: out = x · Π y over the updates landing on each element. The operand's cotangent is
// the same product applied to g (JAX); the updates' needs unique indices, as in JAX
// (_scatter_mul_jvp_rhs): then it is g·x read at each update's element.
Grads scatter_mul_rule(const VjpArgs& a) {
  const ir::GatherDims& d = A(a).gather;
  if (!d.unique_indices)
    throw GradError(message(
        "scatter_mul: the gradient is defined only for unique_indices=true (as in JAX)", L(a),
        "Promise unique indices if they are (at(x, {i}).multiply(v, {.unique_indices = true})), "
        "or apply stop_gradient to the scatter's operand and updates"));
  Array g_operand = scatter(a.g, a.in[1], a.in[2], d, ScatterCombine::mul, L(a));
  return {g_operand, Array(), gather_updates(a, mul(a.g, a.in[0], L(a)))};
}

// scatter_min / scatter_max: the cotangent of each result element is shared equally by the
// values that attain it — the operand element if it was kept, and every update equal to the
// result (JAX's _scatter_extremal_jvp).
Grads scatter_extremal_rule(const VjpArgs& a) {
  const ir::GatherDims& d = A(a).gather;
  const Array &x = a.in[0], &idx = a.in[1], &upd = a.in[2];
  const DType t = a.g.dtype();
  const ir::GatherDims gd = ops::scatter_as_gather(d, x.shape(), upd.shape());
  Array ok = ops::indices_in_bounds(idx, d, x.shape(), gd.slice_sizes, L(a));
  Array hit = bitwise_and(kiln::equal(upd, gather(a.out, idx, gd, L(a)), L(a)),
                          ops::broadcast_batch(ok, d.offset_dims, upd.shape(), L(a)), L(a));
  Array kept = astype(kiln::equal(x, a.out, L(a)), t, L(a));
  Array count =
      add(scatter_add(zeros_like(a.g, L(a)), idx, astype(hit, t, L(a)), d, L(a)), kept, L(a));
  Array share = div(a.g, where(kiln::equal(count, 0.0, L(a)), 1.0, count, L(a)), L(a));
  Array g_updates = where(hit, gather(share, idx, gd, L(a)), 0.0, L(a));
  return {mul(share, kept, L(a)), Array(), g_updates};
}

// The dynamic slices' transposes reuse the node's start operands as they are (the primitive
// clamps them; the API's negative wrap must not apply twice), binding the primitives directly.
Array raw_dynamic_update_slice(const VjpArgs& a, const Array& x, const Array& update,
                               size_t first_start) {
  std::vector<Array> in = {x, update};
  in.insert(in.end(), a.in.begin() + static_cast<std::ptrdiff_t>(first_start), a.in.end());
  return bind(Prim::dynamic_update_slice, in, {}, L(a));
}

Grads dynamic_slice_rule(const VjpArgs& a) {
  Grads out(a.in.size());
  out[0] = raw_dynamic_update_slice(a, zeros_like(a.in[0], L(a)), a.g, 1);
  return out;
}

Grads dynamic_update_slice_rule(const VjpArgs& a) {
  Grads out(a.in.size());
  out[0] = raw_dynamic_update_slice(a, a.g, zeros_like(a.in[1], L(a)), 2);
  std::vector<Array> in = {a.g};
  in.insert(in.end(), a.in.begin() + 2, a.in.end());
  ir::Attrs at;
  at.shape = a.in[1].shape();
  out[1] = bind(Prim::dynamic_slice, in, std::move(at), L(a));
  return out;
}

// JAX's min-pool VJP: each window's cotangent goes to its first minimum (the first maximum of -x).
Grads reduce_window_min_rule(const VjpArgs& a) {
  Array xs[2] = {a.g, neg(a.in[0], L(a))};
  return {bind(Prim::select_and_scatter_add, xs, A(a), L(a))};
}

// x shifted by `by` places along `axis` (towards higher indices when by > 0), `fill` entering.
Array shifted(const Array& x, int64_t axis, int64_t by, double fill, const Loc& loc) {
  const Shape& s = x.shape();
  const auto ax = static_cast<size_t>(axis);
  const int64_t n = s[static_cast<int>(axis)], k = std::min(std::abs(by), n);
  std::vector<int64_t> start(static_cast<size_t>(s.rank()), 0),
      limit = s.vec(), zero(static_cast<size_t>(s.rank()), 0), low = zero, high = zero;
  if (by > 0) {
    limit[ax] = n - k;
    low[ax] = k;
  } else {
    start[ax] = k;
    high[ax] = k;
  }
  return pad(slice(x, start, limit, {}, loc), fill, low, high, zero, loc);
}

// The product of every other element along the last axis, without division (zeros allowed):
// the exclusive products from the left times those from the right.
Array products_of_others(const Array& x, const Loc& loc) {
  const int64_t axis = x.ndim() - 1;
  Array left = shifted(cumprod(x, axis, false, loc), axis, 1, 1.0, loc);
  Array right = shifted(cumprod(x, axis, true, loc), axis, -1, 1.0, loc);
  return mul(left, right, loc);
}

// JAX differentiates the product through its factors: d/dx_i = product of the others (exact at
// zeros). The reduced axes move last and merge into one.
Grads reduce_prod_rule(const VjpArgs& a) {
  const Shape& in = a.in[0].shape();
  const auto& axes = A(a).dims;
  std::vector<int64_t> kept = kept_dims(in.rank(), axes), perm = kept, moved;
  perm.insert(perm.end(), axes.begin(), axes.end());
  int64_t n = 1;
  for (int64_t d : kept) moved.push_back(in[static_cast<int>(d)]);
  for (int64_t d : axes) n *= in[static_cast<int>(d)];
  std::vector<int64_t> flat = moved;
  flat.push_back(n);
  Array x = reshape(transpose(a.in[0], perm, L(a)), flat, L(a));
  std::vector<int64_t> lead(kept.size());
  for (size_t i = 0; i < lead.size(); ++i) lead[i] = static_cast<int64_t>(i);
  Array g = broadcast_in_dim(a.g, Shape(flat), lead, L(a));
  Array dx = mul(g, products_of_others(x, L(a)), L(a));
  std::vector<int64_t> transposed;
  for (int64_t d : perm) transposed.push_back(in[static_cast<int>(d)]);
  return {transpose(reshape(dx, transposed, L(a)), inverse(perm), L(a))};
}

// The doubling steps of a scan along `axis` of length n: 1, 2, 4, ... < n.
std::vector<int64_t> doubling_steps(int64_t n) {
  std::vector<int64_t> d;
  for (int64_t step = 1; step < n; step *= 2) d.push_back(step);
  return d;
}

// cumprod's VJP, division-free: for a forward scan, dx_i = E_i · S_i with E_i the product of the
// elements before i and S_i = Σ_{j≥i} g_j Π_{i<k≤j} x_k, the solution of S_i = g_i + x_{i+1}
// S_{i+1}, which doubling solves in log2(n) steps (pairs (A, B) composing S_i = B_i + A_i S_{i+d}).
// A reverse scan is the forward one of the reversed arrays.
Grads cumprod_rule(const VjpArgs& a) {
  const int64_t axis = A(a).axis;
  const bool reverse = A(a).reverse;
  const Loc& loc = L(a);
  Array x = reverse ? rev(a.in[0], {axis}, loc) : a.in[0];
  Array g = reverse ? rev(a.g, {axis}, loc) : a.g;
  Array before = shifted(cumprod(x, axis, false, loc), axis, 1, 1.0, loc);
  Array coef = shifted(x, axis, -1, 0.0, loc), sums = g;
  for (int64_t d : doubling_steps(x.shape()[static_cast<int>(axis)])) {
    sums = add(sums, mul(coef, shifted(sums, axis, -d, 0.0, loc), loc), loc);
    coef = mul(coef, shifted(coef, axis, -d, 0.0, loc), loc);
  }
  Array dx = mul(before, sums, loc);
  return {reverse ? rev(dx, {axis}, loc) : dx};
}

// cummax / cummin: each output's cotangent goes to the element that set its running extremum
// (the first of equal ones; JAX's associative scan splits ties differently). The elements that
// set a new extremum start segments; each receives the sum of its segment's cotangents, a
// segmented suffix sum done by doubling.
Grads cumulative_extremum_rule(const VjpArgs& a) {
  const int64_t axis = A(a).axis;
  const bool reverse = A(a).reverse;
  const Loc& loc = L(a);
  Array m = reverse ? rev(a.out, {axis}, loc) : a.out;
  Array g = reverse ? rev(a.g, {axis}, loc) : a.g;
  const int64_t n = m.shape()[static_cast<int>(axis)];
  Array previous = shifted(m, axis, 1, 0.0, loc);
  Array index = iota(int32, m.shape(), axis, loc);
  // A NaN extremum stays: NaN != NaN must not start a segment at every step.
  Array both_nan = bitwise_and(not_equal(m, m, loc), not_equal(previous, previous, loc), loc);
  Array starts =
      bitwise_or(bitwise_and(not_equal(m, previous, loc), logical_not(both_nan, loc), loc),
                 kiln::equal(index, 0, loc), loc);
  Array segment = cummax(where(starts, index, 0, loc), axis, false, loc);
  Array sums = g;
  for (int64_t d : doubling_steps(n)) {
    Array same = kiln::equal(shifted(segment, axis, -d, -1, loc), segment, loc);
    sums = add(sums, where(same, shifted(sums, axis, -d, 0.0, loc), 0.0, loc), loc);
  }
  Array dx = where(starts, sums, 0.0, loc);
  return {reverse ? rev(dx, {axis}, loc) : dx};
}

// sort: the cotangent of the sorted operand goes back through the permutation, which a second
// sort undoes: sorting (perm, g) by perm puts g_j at position perm_j. The keys get none (JAX
// differentiates each operand through the same permutation; a node is one operand's result).
Grads sort_rule(const VjpArgs& a) {
  const ir::Attrs& at = A(a);
  Grads grads(a.in.size());
  const auto r = static_cast<size_t>(at.result);
  if (!is_floating(a.in[r].dtype())) return grads;
  std::vector<Array> with_index(a.in.begin(), a.in.end());
  with_index.push_back(iota(int32, a.in[0].shape(), at.axis, L(a)));
  ir::Attrs p = at;
  p.result = static_cast<int64_t>(a.in.size());
  Array perm = bind(Prim::sort, with_index, p, L(a));
  grads[r] = sort({perm, a.g}, at.axis, 1, L(a))[1];
  return grads;
}

// top_k's values: the cotangent goes to the positions their indices name; the full descending
// order (top_k of every element) undoes the permutation, the rest getting 0.
Grads top_k_rule(const VjpArgs& a) {
  if (A(a).result != 0) return {Array()};
  const Array& x = a.in[0];
  const int64_t last = x.ndim() - 1, n = x.shape()[static_cast<int>(last)];
  Array order = top_k(x, n, L(a)).second;
  std::vector<int64_t> zero(static_cast<size_t>(x.ndim()), 0), high = zero;
  high[static_cast<size_t>(last)] = n - A(a).k;
  Array g = pad(a.g, 0.0, zero, high, zero, L(a));
  return {sort({order, g}, last, 1, L(a))[1]};
}

constexpr std::array<Rule, ir::kNumPrims> make_table() {
  std::array<Rule, ir::kNumPrims> t{};
  auto set = [&](Prim p, Rule r) { t[static_cast<size_t>(p)] = r; };
  set(Prim::neg, [](const VjpArgs& a) -> Grads { return {neg(a.g, L(a))}; });
  // JAX: select(x >= 0, g, -g), so abs'(0) = 1. Complex x: g * (conj(x) / |x|), 0 at x = 0
  // (JAX's _abs_jvp_rule, |x| = 0 replaced by 1, transposed; the same order of operations).
  set(Prim::abs, [](const VjpArgs& a) -> Grads {
    const Array& x = a.in[0];
    if (is_complex(x.dtype())) {
      Array safe_abs = where(kiln::equal(a.out, 0.0, L(a)), 1.0, a.out, L(a));
      Array unit = div(conj(x, L(a)), astype(safe_abs, x.dtype(), L(a)), L(a));
      return {mul(astype(a.g, x.dtype(), L(a)), unit, L(a))};
    }
    return {where(greater_equal(x, 0.0, L(a)), a.g, neg(a.g, L(a)), L(a))};
  });
  set(Prim::exp, [](const VjpArgs& a) -> Grads { return {mul(a.g, a.out, L(a))}; });
  set(Prim::log, [](const VjpArgs& a) -> Grads { return {div(a.g, a.in[0], L(a))}; });
  set(Prim::log1p,
      [](const VjpArgs& a) -> Grads { return {div(a.g, add(a.in[0], 1.0, L(a)), L(a))}; });
  set(Prim::expm1,
      [](const VjpArgs& a) -> Grads { return {mul(a.g, add(a.out, 1.0, L(a)), L(a))}; });
  set(Prim::sqrt,
      [](const VjpArgs& a) -> Grads { return {div(a.g, mul(a.out, 2.0, L(a)), L(a))}; });
  set(Prim::rsqrt, [](const VjpArgs& a) -> Grads {
    return {mul(a.g, mul(div(a.out, a.in[0], L(a)), -0.5, L(a)), L(a))};
  });
  set(Prim::tanh, [](const VjpArgs& a) -> Grads {
    return {mul(a.g, sub(1.0, mul(a.out, a.out, L(a)), L(a)), L(a))};
  });
  set(Prim::logistic, [](const VjpArgs& a) -> Grads {
    return {mul(a.g, mul(a.out, sub(1.0, a.out, L(a)), L(a)), L(a))};
  });
  set(Prim::sin, [](const VjpArgs& a) -> Grads { return {mul(a.g, cos(a.in[0], L(a)), L(a))}; });
  set(Prim::cos,
      [](const VjpArgs& a) -> Grads { return {neg(mul(a.g, sin(a.in[0], L(a)), L(a)), L(a))}; });
  set(Prim::erf, [](const VjpArgs& a) -> Grads {
    const double c = 2.0 / std::sqrt(std::numbers::pi);
    return {mul(a.g, mul(exp(neg(mul(a.in[0], a.in[0], L(a)), L(a)), L(a)), c, L(a)), L(a))};
  });
  set(Prim::erf_inv, [](const VjpArgs& a) -> Grads {
    const double c = std::sqrt(std::numbers::pi) / 2.0;
    return {mul(a.g, mul(exp(mul(a.out, a.out, L(a)), L(a)), c, L(a)), L(a))};
  });
  // JAX: lgamma' = digamma, digamma' = polygamma(1, x) (trigamma above).
  set(Prim::lgamma,
      [](const VjpArgs& a) -> Grads { return {mul(a.g, digamma(a.in[0], L(a)), L(a))}; });
  set(Prim::digamma,
      [](const VjpArgs& a) -> Grads { return {mul(a.g, trigamma(a.in[0], L(a)), L(a))}; });
  // Linear, as JAX's deflinear: the cotangent is rounded to the same format.
  set(Prim::reduce_precision, [](const VjpArgs& a) -> Grads {
    return {reduce_precision(a.g, A(a).exponent_bits, A(a).mantissa_bits, L(a))};
  });
  // Between float and complex dtypes the cotangent converts back: complex -> real keeps its real
  // part, real -> complex gives (g, 0), as JAX's convert_element_type transpose.
  set(Prim::convert, [](const VjpArgs& a) -> Grads {
    auto inexact = [](DType t) { return is_floating(t) || is_complex(t); };
    if (!inexact(a.in[0].dtype()) || !inexact(a.out.dtype())) return {Array()};
    return {astype(a.g, a.in[0].dtype(), L(a))};
  });
  // JAX's transposes: real -> complex(g, 0); imag -> complex(0, -g); complex -> (re g, -im g).
  set(Prim::real,
      [](const VjpArgs& a) -> Grads { return {kiln::complex(a.g, zeros_like(a.g, L(a)), L(a))}; });
  set(Prim::imag, [](const VjpArgs& a) -> Grads {
    return {kiln::complex(zeros_like(a.g, L(a)), neg(a.g, L(a)), L(a))};
  });
  set(Prim::complex, [](const VjpArgs& a) -> Grads {
    return {real(a.g, L(a)), neg(imag(a.g, L(a)), L(a))};
  });
  set(Prim::add, [](const VjpArgs& a) -> Grads { return {a.g, a.g}; });
  set(Prim::sub, [](const VjpArgs& a) -> Grads { return {a.g, neg(a.g, L(a))}; });
  set(Prim::mul, [](const VjpArgs& a) -> Grads {
    return {mul(a.g, a.in[1], L(a)), mul(a.g, a.in[0], L(a))};
  });
  set(Prim::div, [](const VjpArgs& a) -> Grads {
    const Array &x = a.in[0], &y = a.in[1];
    return {div(a.g, y, L(a)), div(mul(neg(a.g, L(a)), x, L(a)), mul(y, y, L(a)), L(a))};
  });
  set(Prim::rem, [](const VjpArgs& a) -> Grads {
    // d(x - y*trunc(x/y))/dy = -trunc(x/y)
    Array q = div(a.in[0], a.in[1], L(a));
    Array trunc = mul(sign(q, L(a)), floor(abs(q, L(a)), L(a)), L(a));
    return {a.g, mul(neg(a.g, L(a)), trunc, L(a))};
  });
  set(Prim::pow, [](const VjpArgs& a) -> Grads {
    const Array &x = a.in[0], &y = a.in[1];
    // JAX: d/dx = y x^(y-1) (0 where y == 0); d/dy = log(x) x^y with log(0) read as 0.
    Array dx =
        where(kiln::equal(y, 0.0, L(a)), 0.0, mul(y, pow(x, sub(y, 1.0, L(a)), L(a)), L(a)), L(a));
    Array safe_x = where(kiln::equal(x, 0.0, L(a)), 1.0, x, L(a));
    Array dy = mul(log(safe_x, L(a)), a.out, L(a));
    return {mul(a.g, dx, L(a)), mul(a.g, dy, L(a))};
  });
  // JAX: atan2(x, y)' = (y, -x) / (x^2 + y^2).
  set(Prim::atan2, [](const VjpArgs& a) -> Grads {
    const Array &x = a.in[0], &y = a.in[1];
    Array g = div(a.g, add(mul(x, x, L(a)), mul(y, y, L(a)), L(a)), L(a));
    return {mul(g, y, L(a)), mul(neg(g, L(a)), x, L(a))};
  });
  set(Prim::max, [](const VjpArgs& a) -> Grads {
    return {mul(a.g, balanced_eq(a.in[0], a.out, a.in[1], L(a)), L(a)),
            mul(a.g, balanced_eq(a.in[1], a.out, a.in[0], L(a)), L(a))};
  });
  set(Prim::min, t[static_cast<size_t>(Prim::max)]);  // same tie rule, applied to the min's result
  set(Prim::select, [](const VjpArgs& a) -> Grads {
    Array zero = zeros_like(a.g, L(a));
    return {Array(), where(a.in[0], a.g, zero, L(a)), where(a.in[0], zero, a.g, L(a))};
  });
  set(Prim::broadcast_in_dim, broadcast_rule);
  set(Prim::reshape,
      [](const VjpArgs& a) -> Grads { return {reshape(a.g, a.in[0].shape().vec(), L(a))}; });
  set(Prim::transpose,
      [](const VjpArgs& a) -> Grads { return {transpose(a.g, inverse(A(a).dims), L(a))}; });
  set(Prim::slice, slice_rule);
  set(Prim::concatenate, concatenate_rule);
  set(Prim::pad, pad_rule);
  set(Prim::reduce_sum, reduce_sum_rule);
  set(Prim::reduce_max, reduce_chooser_rule);
  set(Prim::reduce_min, reduce_chooser_rule);
  set(Prim::reduce_prod, reduce_prod_rule);
  set(Prim::dot_general, dot_general_rule);
  set(Prim::convolution, convolution_rule);
  set(Prim::reduce_window_sum, reduce_window_sum_rule);
  set(Prim::reduce_window_max, reduce_window_max_rule);
  set(Prim::reduce_window_min, reduce_window_min_rule);
  set(Prim::cumsum,
      [](const VjpArgs& a) -> Grads { return {cumsum(a.g, A(a).axis, !A(a).reverse, L(a))}; });
  set(Prim::cumprod, cumprod_rule);
  set(Prim::cummax, cumulative_extremum_rule);
  set(Prim::cummin, cumulative_extremum_rule);
  set(Prim::sort, sort_rule);
  set(Prim::top_k, top_k_rule);
  set(Prim::rev, [](const VjpArgs& a) -> Grads { return {rev(a.g, A(a).dims, L(a))}; });
  set(Prim::psum, psum_rule);
  set(Prim::all_gather, all_gather_rule);
  set(Prim::psum_scatter, psum_scatter_rule);
  set(Prim::all_to_all, all_to_all_rule);
  set(Prim::ppermute, ppermute_rule);
  // JAX's: the cotangent is constrained to the same layout.
  set(Prim::sharding_constraint, [](const VjpArgs& a) -> Grads {
    return {bind(Prim::sharding_constraint, std::span<const Array>(&a.g, 1), A(a), L(a))};
  });
  set(Prim::gather, gather_rule);
  set(Prim::scatter, scatter_rule);
  set(Prim::scatter_add, scatter_add_rule);
  set(Prim::scatter_mul, scatter_mul_rule);
  set(Prim::scatter_min, scatter_extremal_rule);
  set(Prim::scatter_max, scatter_extremal_rule);
  set(Prim::dynamic_slice, dynamic_slice_rule);
  set(Prim::dynamic_update_slice, dynamic_update_slice_rule);
  return t;
}

constexpr std::array<Rule, ir::kNumPrims> kRules = make_table();
static_assert(first_unmatched_rule(kRules) == ir::kNumPrims,
              "a primitive whose registry row says Grad::rule has no VJP rule here, or one that "
              "says otherwise has one (kiln/ir.hpp kPrimTable)");

}  // namespace

const std::array<VjpRule, ir::kNumPrims>& vjp_rules() {
  return kRules;
}

std::vector<Array> vjp(const VjpArgs& args) {
  const Rule r = kRules[static_cast<size_t>(args.node.prim)];
  if (r == nullptr)  // Grad::zero and Grad::none nodes never get here (autodiff.cpp)
    throw GradError(message("no VJP rule for " + std::string(ir::name(args.node.prim)) +
                                " (a kiln bug: autodiff should not have asked)",
                            args.node.loc));
  return r(args);
}

}  // namespace kiln::autodiff
