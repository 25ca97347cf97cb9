// Convolutions and windowed reductions at the API: lax.conv_general_dilated's string dimension
// numbers, lax.padtype_to_pads, lax.reduce_window (add/max) and lax.rev, each binding one
// primitive.
#include <algorithm>
#include <cctype>
#include <set>

#include "kiln/ops.hpp"
#include "ops/operands.hpp"

namespace kiln {
namespace {

using ir::Prim;

std::string ints(std::span<const int64_t> v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

// lax.conv_general_permutations: (batch, feature, spatial...) dims of lhs/out, (out, in,
// spatial...) of rhs. The rhs's spatial letters fix the order; lhs and out follow it by letter.
ir::ConvDims conv_specs(const ConvOptions& o, int rank, const Loc& loc) {
  const std::string all = "\"" + o.lhs_spec + "\", \"" + o.rhs_spec + "\", \"" + o.out_spec + "\"";
  auto fail = [&](const std::string& why) -> void {
    throw ValueError(message("conv_general_dilated: dimension numbers " + all + " " + why, loc,
                             "lhs and out name N (batch) and C (feature), rhs O and I, each once; "
                             "the other letters are the spatial dims, the same in all three"));
  };
  for (const std::string* s : {&o.lhs_spec, &o.rhs_spec, &o.out_spec}) {
    if (static_cast<int>(s->size()) != rank)
      fail("do not have one letter per dim of the rank-" + std::to_string(rank) + " operands");
    if (std::set<char>(s->begin(), s->end()).size() != s->size()) fail("repeat a letter");
  }
  auto spatial = [](const std::string& s, char a, char b) {
    std::string out;
    for (char c : s)
      if (c != a && c != b) out += c;
    return out;
  };
  std::string rs = spatial(o.rhs_spec, 'O', 'I');
  std::string ls = spatial(o.lhs_spec, 'N', 'C');
  std::string os = spatial(o.out_spec, 'N', 'C');
  if (o.lhs_spec.find('N') == std::string::npos || o.lhs_spec.find('C') == std::string::npos ||
      o.out_spec.find('N') == std::string::npos || o.out_spec.find('C') == std::string::npos ||
      o.rhs_spec.find('O') == std::string::npos || o.rhs_spec.find('I') == std::string::npos)
    fail("lack a batch/feature letter");
  if (std::set<char>(ls.begin(), ls.end()) != std::set<char>(rs.begin(), rs.end()) ||
      std::set<char>(os.begin(), os.end()) != std::set<char>(rs.begin(), rs.end()))
    fail("do not name the same spatial letters");
  auto perm = [&](const std::string& s, char a, char b) {
    std::vector<int64_t> p = {static_cast<int64_t>(s.find(a)), static_cast<int64_t>(s.find(b))};
    for (char c : rs) p.push_back(static_cast<int64_t>(s.find(c)));
    return p;
  };
  ir::ConvDims d;
  d.lhs_spec = perm(o.lhs_spec, 'N', 'C');
  d.rhs_spec = perm(o.rhs_spec, 'O', 'I');
  d.out_spec = perm(o.out_spec, 'N', 'C');
  return d;
}

// A per-spatial-dim option: empty means `fill` for every dim, otherwise one entry per dim.
std::vector<int64_t> per_dim(const std::vector<int64_t>& v, size_t n, int64_t fill,
                             const char* what, const char* fn, const Loc& loc) {
  if (v.empty()) return std::vector<int64_t>(n, fill);
  if (v.size() != n)
    throw ShapeError(message(std::string(fn) + ": " + what + " " + ints(v) + " has " +
                                 std::to_string(v.size()) + " entries, expected " +
                                 std::to_string(n),
                             loc));
  return v;
}

void split_padding(const std::vector<std::pair<int64_t, int64_t>>& padding, size_t n,
                   std::vector<int64_t>& low, std::vector<int64_t>& high, const char* fn,
                   const Loc& loc) {
  low.assign(n, 0);
  high.assign(n, 0);
  if (padding.empty()) return;
  if (padding.size() != n)
    throw ShapeError(message(std::string(fn) + ": padding has " + std::to_string(padding.size()) +
                                 " (low, high) pairs, expected " + std::to_string(n),
                             loc));
  for (size_t i = 0; i < n; ++i) {
    low[i] = padding[i].first;
    high[i] = padding[i].second;
  }
}

Array reduce_window(Prim p, const Array& x, std::vector<int64_t> window,
                    std::vector<int64_t> strides, std::vector<std::pair<int64_t, int64_t>> padding,
                    const Loc& loc) {
  const std::string name(ir::name(p));
  const char* fn = name.c_str();
  const size_t n = static_cast<size_t>(x.ndim());
  ir::Attrs a;
  a.window = per_dim(window, n, 1, "window", fn, loc);
  if (window.empty() && n > 0)
    throw ShapeError(
        message(std::string(fn) + ": empty window for an operand of shape " + x.shape().str(), loc,
                "give one window size per dim of the operand"));
  a.stride = per_dim(strides, n, 1, "strides", fn, loc);
  split_padding(padding, n, a.low, a.high, fn, loc);
  Array in = x;
  // Sums of bools count, as reduce_sum's do.
  if ((p == Prim::reduce_window_sum || p == Prim::reduce_window_prod) && x.dtype() == bool_)
    in = astype(x, int32, loc);
  return bind(p, {&in, 1}, std::move(a), loc);
}

}  // namespace

Array conv_general_dilated(const Array& lhs, const Array& rhs, const ConvOptions& o, Loc loc) {
  if (lhs.empty() || rhs.empty())
    throw ValueError(message("conv_general_dilated: an operand is an empty Array", loc));
  if (lhs.ndim() != rhs.ndim() || lhs.ndim() < 3)
    throw ShapeError(message("conv_general_dilated: lhs " + lhs.shape().str() + " and rhs " +
                                 rhs.shape().str() +
                                 " must have the same rank, with at least one spatial dim",
                             loc));
  ir::Attrs a;
  a.conv = conv_specs(o, lhs.ndim(), loc);
  const size_t ns = static_cast<size_t>(lhs.ndim() - 2);
  const char* fn = "conv_general_dilated";
  a.conv.window_strides = per_dim(o.window_strides, ns, 1, "window_strides", fn, loc);
  a.conv.lhs_dilation = per_dim(o.lhs_dilation, ns, 1, "lhs_dilation", fn, loc);
  a.conv.rhs_dilation = per_dim(o.rhs_dilation, ns, 1, "rhs_dilation", fn, loc);
  split_padding(o.padding, ns, a.conv.padding_low, a.conv.padding_high, fn, loc);
  a.conv.feature_group_count = o.feature_group_count;
  a.preferred_element_type = o.preferred_element_type;
  DType t = promote(lhs.dtype(), rhs.dtype());
  Array xs[2] = {astype(lhs, t, loc), astype(rhs, t, loc)};
  return bind(Prim::convolution, xs, std::move(a), loc);
}

std::vector<std::pair<int64_t, int64_t>> padtype_to_pads(std::span<const int64_t> in_spatial,
                                                         std::span<const int64_t> window,
                                                         std::span<const int64_t> strides,
                                                         std::string_view padding, Loc loc) {
  std::string kind(padding);
  for (char& c : kind) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (window.size() != in_spatial.size() || strides.size() != in_spatial.size())
    throw ShapeError(message("padtype_to_pads: input dims " + ints(in_spatial) + ", window " +
                                 ints(window) + " and strides " + ints(strides) +
                                 " differ in length",
                             loc));
  std::vector<std::pair<int64_t, int64_t>> pads;
  if (kind == "VALID") return std::vector<std::pair<int64_t, int64_t>>(in_spatial.size(), {0, 0});
  if (kind != "SAME" && kind != "SAME_LOWER")
    throw ValueError(message("padtype_to_pads: unknown padding \"" + std::string(padding) + "\"",
                             loc, "use \"SAME\", \"SAME_LOWER\", \"VALID\" or explicit pairs"));
  for (size_t i = 0; i < in_spatial.size(); ++i) {
    if (strides[i] < 1)
      throw ShapeError(
          message("padtype_to_pads: strides " + ints(strides) + " must be positive", loc));
    // SAME: as many outputs as ceil(in / stride), the padding split with the odd one high
    // (SAME_LOWER: low).
    int64_t out = (in_spatial[i] + strides[i] - 1) / strides[i];
    int64_t total = std::max<int64_t>((out - 1) * strides[i] + window[i] - in_spatial[i], 0);
    int64_t small = total / 2, large = total - small;
    pads.emplace_back(kind == "SAME" ? std::pair{small, large} : std::pair{large, small});
  }
  return pads;
}

Array reduce_window_max(const Array& x, std::vector<int64_t> window, std::vector<int64_t> strides,
                        std::vector<std::pair<int64_t, int64_t>> padding, Loc loc) {
  return reduce_window(Prim::reduce_window_max, x, std::move(window), std::move(strides),
                       std::move(padding), loc);
}

Array reduce_window_sum(const Array& x, std::vector<int64_t> window, std::vector<int64_t> strides,
                        std::vector<std::pair<int64_t, int64_t>> padding, Loc loc) {
  return reduce_window(Prim::reduce_window_sum, x, std::move(window), std::move(strides),
                       std::move(padding), loc);
}

Array reduce_window_min(const Array& x, std::vector<int64_t> window, std::vector<int64_t> strides,
                        std::vector<std::pair<int64_t, int64_t>> padding, Loc loc) {
  return reduce_window(Prim::reduce_window_min, x, std::move(window), std::move(strides),
                       std::move(padding), loc);
}

Array reduce_window_prod(const Array& x, std::vector<int64_t> window, std::vector<int64_t> strides,
                         std::vector<std::pair<int64_t, int64_t>> padding, Loc loc) {
  return reduce_window(Prim::reduce_window_prod, x, std::move(window), std::move(strides),
                       std::move(padding), loc);
}

Array rev(const Array& x, std::vector<int64_t> dims, Loc loc) {
  ir::Attrs a;
  for (int64_t d : dims) a.dims.push_back(ops::normalize_axis(d, x.ndim(), loc));
  std::sort(a.dims.begin(), a.dims.end());
  a.dims.erase(std::unique(a.dims.begin(), a.dims.end()), a.dims.end());
  if (a.dims.empty()) return x;
  return bind(Prim::rev, {&x, 1}, std::move(a), loc);
}

}  // namespace kiln
