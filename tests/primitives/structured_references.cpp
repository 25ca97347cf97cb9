// The references of the rows with attributes, element by element from their definitions in
// docs/primitives.md: exact index arithmetic for the data-movement rows, float64 sums for
// reduce_sum, dot_general, convolution and the windows, exact integer arithmetic (wrapping) for
// integer dtypes, and threefry2x32 from Random123's definition.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "primitives/cases.hpp"

namespace kiln::harness {
namespace {

using ir::Prim;
using Index = std::vector<int64_t>;

Index unravel(int64_t flat, const Shape& s) {
  Index idx(static_cast<size_t>(s.rank()));
  for (int k = s.rank(); k-- > 0;) {
    idx[static_cast<size_t>(k)] = s[k] == 0 ? 0 : flat % s[k];
    flat = s[k] == 0 ? 0 : flat / s[k];
  }
  return idx;
}
int64_t ravel(const Index& idx, const Shape& s) {
  int64_t flat = 0;
  for (int k = 0; k < s.rank(); ++k) flat = flat * s[k] + idx[static_cast<size_t>(k)];
  return flat;
}
uint64_t at(const HostArray& h, const Index& idx) {
  return h.bits[static_cast<size_t>(ravel(idx, h.shape))];
}

// Whether a orders after b for max (NaN first, as the maximum that propagates).
bool greater(uint64_t a, uint64_t b, DType t) {
  if (is_floating(t)) {
    const double x = as_double(a, t), y = as_double(b, t);
    return (std::isnan(x) && !std::isnan(y)) || x > y;
  }
  return is_unsigned(t) || t == DType::bool_ ? a > b : as_signed(a, t) > as_signed(b, t);
}
bool less(uint64_t a, uint64_t b, DType t) {
  if (is_floating(t)) {
    const double x = as_double(a, t), y = as_double(b, t);
    return (std::isnan(x) && !std::isnan(y)) || x < y;
  }
  return is_unsigned(t) ? a < b : as_signed(a, t) < as_signed(b, t);
}

// Whether max (min) of b and a gives a rather than b: greater (less), and +0 over -0 (-0 over +0),
// as IEEE 754-2019's maximum (minimum) that XLA computes for JAX. argmax and select_and_scatter
// compare values instead (greater): -0 equals +0 there, the first one wins.
bool takes_max(uint64_t a, uint64_t b, DType t) {
  if (is_floating(t) && as_double(a, t) == 0 && as_double(b, t) == 0)
    return !std::signbit(as_double(a, t)) && std::signbit(as_double(b, t));
  return greater(a, b, t);
}
bool takes_min(uint64_t a, uint64_t b, DType t) {
  if (is_floating(t) && as_double(a, t) == 0 && as_double(b, t) == 0)
    return std::signbit(as_double(a, t)) && !std::signbit(as_double(b, t));
  return less(a, b, t);
}

// The value of an empty max (min): -inf (+inf) or the lowest (highest) integer.
uint64_t identity(Prim p, DType t) {
  const bool max = p == Prim::reduce_max || p == Prim::cummax;
  if (is_floating(t))
    return Scalar::from_double(max ? -std::numeric_limits<double>::infinity()
                                   : std::numeric_limits<double>::infinity(),
                               t)
        .bits;
  if (is_unsigned(t)) return max ? 0 : mask(t);
  const uint64_t sign = 1ull << (width(t) - 1);
  return max ? sign : sign - 1;
}

std::vector<uint64_t> reduce(const Case& c, const Shape& out) {
  const HostArray& x = c.in[0];
  const DType t = x.dtype;
  struct Acc {
    double sum = 0;     // floats
    uint64_t isum = 0;  // integers, wrapping
    double prod = 1;
    uint64_t iprod = 1;
    uint64_t best = 0;  // max / min so far
    bool seen = false;
  };
  std::vector<Acc> acc(static_cast<size_t>(out.numel()));
  for (int64_t f = 0; f < x.shape.numel(); ++f) {
    const Index idx = unravel(f, x.shape);
    Index kept;
    for (int k = 0; k < x.shape.rank(); ++k)
      if (std::find(c.attrs.dims.begin(), c.attrs.dims.end(), k) == c.attrs.dims.end())
        kept.push_back(idx[static_cast<size_t>(k)]);
    Acc& a = acc[static_cast<size_t>(ravel(kept, out))];
    const uint64_t v = x.bits[static_cast<size_t>(f)];
    a.sum += as_double(v, t);
    a.isum += v;
    a.prod *= as_double(v, t);
    a.iprod *= v;
    const bool better =
        c.prim == Prim::reduce_max ? takes_max(v, a.best, t) : takes_min(v, a.best, t);
    if (!a.seen || better) a.best = v;
    a.seen = true;
  }
  std::vector<uint64_t> r;
  for (const Acc& a : acc) {
    if (c.prim == Prim::reduce_sum)
      r.push_back(is_floating(t) ? Scalar::from_double(a.sum, t).bits : a.isum & mask(t));
    else if (c.prim == Prim::reduce_prod)
      r.push_back(is_floating(t) ? Scalar::from_double(a.prod, t).bits : a.iprod & mask(t));
    else
      r.push_back(a.seen ? a.best : identity(c.prim, t));
  }
  return r;
}

// argmax / argmin: the first extreme along the axis (a NaN counts as both).
uint64_t argmax(const Case& c, const Index& o) {
  const HostArray& x = c.in[0];
  const auto axis = static_cast<size_t>(c.attrs.axis);
  Index idx = o;
  idx.insert(idx.begin() + static_cast<std::ptrdiff_t>(axis), 0);
  int64_t best = 0;
  for (int64_t k = 1; k < x.shape[static_cast<int>(axis)]; ++k) {
    Index cand = idx, cur = idx;
    cand[axis] = k;
    cur[axis] = best;
    const bool better = c.prim == Prim::argmax ? greater(at(x, cand), at(x, cur), x.dtype)
                                               : less(at(x, cand), at(x, cur), x.dtype);
    if (better) best = k;
  }
  return static_cast<uint64_t>(best);
}

// One accumulator of a float64 sum (floats) or a wrapping integer sum, rounded to the result's
// dtype at the end.
struct Sum {
  double f = 0;
  uint64_t i = 0;
  void add(uint64_t bits, DType t) {
    f += as_double(bits, t);
    i += bits;
  }
  void add_product(uint64_t x, uint64_t y, DType t) {
    f += as_double(x, t) * as_double(y, t);
    i += (is_unsigned(t) ? x : static_cast<uint64_t>(as_signed(x, t))) *
         (is_unsigned(t) ? y : static_cast<uint64_t>(as_signed(y, t)));
  }
  uint64_t bits(DType t) const {
    return is_floating(t) ? Scalar::from_double(f, t).bits : i & mask(t);
  }
};

// The elements of the line through index `o` along `axis`, in order.
std::vector<Index> line(const Shape& s, Index o, size_t axis) {
  std::vector<Index> out;
  for (int64_t k = 0; k < s[static_cast<int>(axis)]; ++k) {
    o[axis] = k;
    out.push_back(o);
  }
  return out;
}

// cumsum & co.: a sequential fold along the axis from the identity, rounded to the dtype at every
// step (what XLA computes for a line of one 16-element tile; longer lines differ by the tiles'
// reassociation, within the tolerance).
std::vector<uint64_t> cumulative(const Case& c) {
  const HostArray& x = c.in[0];
  const DType t = x.dtype;
  const auto axis = static_cast<size_t>(c.attrs.axis);
  std::vector<uint64_t> r(x.bits.size());
  for (int64_t f = 0; f < x.shape.numel(); ++f) {
    Index o = unravel(f, x.shape);
    if (o[axis] != 0) continue;
    std::vector<Index> idx = line(x.shape, o, axis);
    if (c.attrs.reverse) std::reverse(idx.begin(), idx.end());
    const bool sum = c.prim == Prim::cumsum, prod = c.prim == Prim::cumprod;
    double acc = sum ? 0.0 : 1.0;
    uint64_t iacc = sum ? 0 : 1, best = identity(c.prim, t);
    for (const Index& i : idx) {
      const uint64_t v = at(x, i);
      uint64_t out = 0;
      if (sum || prod) {
        if (is_floating(t)) {
          acc = sum ? acc + as_double(v, t) : acc * as_double(v, t);
          out = Scalar::from_double(acc, t).bits;
          acc = as_double(out, t);
        } else {
          iacc = sum ? iacc + v : iacc * v;
          out = iacc & mask(t);
        }
      } else {
        const bool better = c.prim == Prim::cummax ? takes_max(v, best, t) : takes_min(v, best, t);
        if (better || (is_floating(t) && std::isnan(as_double(v, t)))) best = v;
        out = best;
      }
      r[static_cast<size_t>(ravel(i, x.shape))] = out;
    }
  }
  return r;
}

// JAX's sort order of one key: numbers ascending, -0.0 equal to 0.0, NaNs equal and last.
int sort_order(uint64_t a, uint64_t b, DType t) {
  if (is_floating(t)) {
    const double x = as_double(a, t), y = as_double(b, t);
    if (std::isnan(x) || std::isnan(y)) return std::isnan(x) - std::isnan(y);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (is_unsigned(t) || t == DType::bool_) return a < b ? -1 : a > b ? 1 : 0;
  return as_signed(a, t) < as_signed(b, t) ? -1 : as_signed(a, t) > as_signed(b, t) ? 1 : 0;
}

std::vector<uint64_t> sorted(const Case& c) {
  const HostArray& x = c.in[static_cast<size_t>(c.attrs.result)];
  const auto axis = static_cast<size_t>(c.attrs.axis);
  std::vector<uint64_t> r(x.bits.size());
  for (int64_t f = 0; f < x.shape.numel(); ++f) {
    Index o = unravel(f, x.shape);
    if (o[axis] != 0) continue;
    std::vector<Index> idx = line(x.shape, o, axis), order = idx;
    std::stable_sort(order.begin(), order.end(), [&](const Index& i, const Index& j) {
      for (int64_t k = 0; k < c.attrs.num_keys; ++k) {
        const HostArray& key = c.in[static_cast<size_t>(k)];
        const int s = sort_order(at(key, i), at(key, j), key.dtype);
        if (s != 0) return s < 0;
      }
      return false;
    });
    for (size_t k = 0; k < idx.size(); ++k)
      r[static_cast<size_t>(ravel(idx[k], x.shape))] = at(x, order[k]);
  }
  return r;
}

// top_k: descending in the total order (+NaN above +inf, -NaN below -inf, -0.0 below 0.0), ties
// to the lower index.
std::vector<uint64_t> top(const Case& c, const Shape& out) {
  const HostArray& x = c.in[0];
  const DType t = x.dtype;
  auto above = [&](uint64_t a, uint64_t b) {
    if (!is_floating(t)) return sort_order(a, b, t) > 0;
    const double p = as_double(a, t), q = as_double(b, t);
    auto rank = [](double v) { return std::isnan(v) ? (std::signbit(v) ? -1 : 1) : 0; };
    if (rank(p) != rank(q)) return rank(p) > rank(q);
    if (rank(p) != 0) return false;
    if (p != q) return p > q;
    return !std::signbit(p) && std::signbit(q);
  };
  const int64_t n = x.shape[x.shape.rank() - 1], k = c.attrs.k;
  std::vector<uint64_t> r;
  for (int64_t row = 0; n > 0 && row < x.shape.numel() / n; ++row) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    const uint64_t* v = x.bits.data() + row * n;
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t i, int64_t j) { return above(v[i], v[j]); });
    for (int64_t i = 0; i < k; ++i)
      r.push_back(c.attrs.result == 0 ? v[order[static_cast<size_t>(i)]]
                                      : static_cast<uint64_t>(order[static_cast<size_t>(i)]));
  }
  r.resize(static_cast<size_t>(out.numel()));
  return r;
}

uint64_t dot(const Case& c, const Index& o) {
  const HostArray &l = c.in[0], &r = c.in[1];
  const ir::DotDims& d = c.attrs.dot;
  const DType t = l.dtype;
  Index li(static_cast<size_t>(l.shape.rank())), ri(static_cast<size_t>(r.shape.rank()));
  size_t pos = 0;
  for (size_t b = 0; b < d.lhs_batch.size(); ++b, ++pos) {
    li[static_cast<size_t>(d.lhs_batch[b])] = o[pos];
    ri[static_cast<size_t>(d.rhs_batch[b])] = o[pos];
  }
  auto is_free = [](const std::vector<int64_t>& a, const std::vector<int64_t>& b, int k) {
    return std::find(a.begin(), a.end(), k) == a.end() &&
           std::find(b.begin(), b.end(), k) == b.end();
  };
  for (int k = 0; k < l.shape.rank(); ++k)
    if (is_free(d.lhs_batch, d.lhs_contract, k)) li[static_cast<size_t>(k)] = o[pos++];
  for (int k = 0; k < r.shape.rank(); ++k)
    if (is_free(d.rhs_batch, d.rhs_contract, k)) ri[static_cast<size_t>(k)] = o[pos++];
  Shape contract;
  for (int64_t k : d.lhs_contract) contract.push_back(l.shape[static_cast<int>(k)]);
  Sum sum;
  for (int64_t f = 0; f < contract.numel(); ++f) {
    const Index ci = unravel(f, contract);
    for (size_t k = 0; k < ci.size(); ++k) {
      li[static_cast<size_t>(d.lhs_contract[k])] = ci[k];
      ri[static_cast<size_t>(d.rhs_contract[k])] = ci[k];
    }
    sum.add_product(at(l, li), at(r, ri), t);
  }
  // A preferred_element_type result: the same exact sum in the wider dtype.
  return sum.bits(c.attrs.preferred_element_type.value_or(t));
}

// The operand index of window position w of output window o (strides and low padding of the
// attributes), or nothing when it falls in the padding.
std::optional<Index> window_element(const ir::Attrs& a, const Shape& in, const Index& o,
                                    const Index& w) {
  Index i(o.size());
  for (size_t k = 0; k < o.size(); ++k) {
    i[k] = o[k] * a.stride[k] + w[k] - a.low[k];
    if (i[k] < 0 || i[k] >= in[static_cast<int>(k)]) return std::nullopt;
  }
  return i;
}

// reduce_window_sum / _max / _min / _prod: padding takes the init value (0; -inf, the lowest
// integer, false; +inf, the highest integer, true; 1).
uint64_t reduce_window(const Case& c, const Index& o) {
  const HostArray& x = c.in[0];
  const DType t = x.dtype;
  const Shape window(c.attrs.window);
  const bool min = c.prim == Prim::reduce_window_min;
  Sum sum;
  double fprod = 1;
  uint64_t iprod = 1;
  uint64_t best =
      t == DType::bool_ ? (min ? 1 : 0) : identity(min ? Prim::reduce_min : Prim::reduce_max, t);
  for (int64_t f = 0; f < window.numel(); ++f) {
    const std::optional<Index> i = window_element(c.attrs, x.shape, o, unravel(f, window));
    if (!i) continue;
    const uint64_t v = at(x, *i);
    sum.add(v, t);
    fprod *= as_double(v, t);
    iprod *= is_unsigned(t) ? v : static_cast<uint64_t>(as_signed(v, t));
    if (min ? takes_min(v, best, t) : takes_max(v, best, t)) best = v;
  }
  if (c.prim == Prim::reduce_window_sum) return sum.bits(t);
  if (c.prim == Prim::reduce_window_prod)
    return is_floating(t) ? Scalar::from_double(fprod, t).bits : iprod & mask(t);
  return best;
}

// select_and_scatter_add: each window's source value goes to the window's first maximum (in
// window order; padding is never selected).
std::vector<uint64_t> select_and_scatter_add(const Case& c) {
  const HostArray &source = c.in[0], &operand = c.in[1];
  const DType t = operand.dtype;
  const Shape window(c.attrs.window);
  std::vector<Sum> acc(static_cast<size_t>(operand.shape.numel()));
  for (int64_t s = 0; s < source.shape.numel(); ++s) {
    const Index o = unravel(s, source.shape);
    std::optional<Index> chosen;
    for (int64_t f = 0; f < window.numel(); ++f) {
      const std::optional<Index> i = window_element(c.attrs, operand.shape, o, unravel(f, window));
      if (i && (!chosen || greater(at(operand, *i), at(operand, *chosen), t))) chosen = i;
    }
    if (chosen)
      acc[static_cast<size_t>(ravel(*chosen, operand.shape))].add(
          source.bits[static_cast<size_t>(s)], t);
  }
  std::vector<uint64_t> r;
  for (const Sum& a : acc) r.push_back(a.bits(t));
  return r;
}

// conv_general_dilated at result index o, from its definition (docs/primitives.md): a float64 (or
// wrapping integer) sum over the window and the input features of o's group.
uint64_t convolution(const Case& c, const Index& o) {
  const HostArray &lhs = c.in[0], &rhs = c.in[1];
  const ir::ConvDims& d = c.attrs.conv;
  const DType t = lhs.dtype;
  const size_t spatial = d.window_strides.size();
  const int64_t out_features = rhs.shape[static_cast<int>(d.rhs_spec[0])];
  const int64_t in_features = rhs.shape[static_cast<int>(d.rhs_spec[1])];
  const int64_t batch = o[static_cast<size_t>(d.out_spec[0])];
  const int64_t feature = o[static_cast<size_t>(d.out_spec[1])];
  const int64_t fg = out_features / d.feature_group_count;
  const int64_t bg = out_features / d.batch_group_count;
  const int64_t out_batch_size = lhs.shape[static_cast<int>(d.lhs_spec[0])] / d.batch_group_count;
  Index li(static_cast<size_t>(lhs.shape.rank())), ri(static_cast<size_t>(rhs.shape.rank()));
  li[static_cast<size_t>(d.lhs_spec[0])] = batch + (feature / bg) * out_batch_size;
  ri[static_cast<size_t>(d.rhs_spec[0])] = feature;
  Shape kernel;
  for (size_t k = 0; k < spatial; ++k)
    kernel.push_back(rhs.shape[static_cast<int>(d.rhs_spec[2 + k])]);
  Sum sum;
  for (int64_t ci = 0; ci < in_features; ++ci) {
    li[static_cast<size_t>(d.lhs_spec[1])] = (feature / fg) * in_features + ci;
    ri[static_cast<size_t>(d.rhs_spec[1])] = ci;
    for (int64_t f = 0; f < kernel.numel(); ++f) {
      const Index w = unravel(f, kernel);
      bool inside = true;
      for (size_t k = 0; k < spatial && inside; ++k) {
        // The position in the dilated, padded input; it must land on an input element.
        const int64_t p = o[static_cast<size_t>(d.out_spec[2 + k])] * d.window_strides[k] +
                          w[k] * d.rhs_dilation[k] - d.padding_low[k];
        const int64_t n = lhs.shape[static_cast<int>(d.lhs_spec[2 + k])];
        inside = p >= 0 && p % d.lhs_dilation[k] == 0 && p / d.lhs_dilation[k] < n;
        li[static_cast<size_t>(d.lhs_spec[2 + k])] = inside ? p / d.lhs_dilation[k] : 0;
        ri[static_cast<size_t>(d.rhs_spec[2 + k])] = w[k];
      }
      if (inside) sum.add_product(at(lhs, li), at(rhs, ri), t);
    }
  }
  return sum.bits(c.attrs.preferred_element_type.value_or(t));
}

// threefry2x32 (Random123's, 20 rounds), written from its definition: the key schedule adds
// the keys and a round counter every 4 rounds.
std::pair<uint32_t, uint32_t> threefry(uint32_t k0, uint32_t k1, uint32_t x0, uint32_t x1) {
  static constexpr int kRotations[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  const uint32_t ks[3] = {k0, k1, 0x1BD11BDAu ^ k0 ^ k1};
  x0 += ks[0];
  x1 += ks[1];
  for (int group = 0; group < 5; ++group) {
    for (int r = 0; r < 4; ++r) {
      x0 += x1;
      const int rot = kRotations[(group % 2) * 4 + r];
      x1 = (x1 << rot) | (x1 >> (32 - rot));
      x1 ^= x0;
    }
    x0 += ks[(group + 1) % 3];
    x1 += ks[(group + 2) % 3] + static_cast<uint32_t>(group + 1);
  }
  return {x0, x1};
}

std::vector<uint64_t> threefry2x32(const Case& c) {
  const HostArray &key = c.in[0], &counts = c.in[1];
  const size_t n = counts.bits.size() / 2;
  std::vector<uint64_t> r(counts.bits.size());
  for (size_t p = 0; p < n; ++p) {
    const auto [y0, y1] =
        threefry(static_cast<uint32_t>(key.bits[0]), static_cast<uint32_t>(key.bits[1]),
                 static_cast<uint32_t>(counts.bits[p]), static_cast<uint32_t>(counts.bits[n + p]));
    r[p] = y0;
    r[n + p] = y1;
  }
  return r;
}

// The element of a data-movement row at result index o.
uint64_t moved(const Case& c, const Shape& out, const Index& o) {
  const ir::Attrs& a = c.attrs;
  static const HostArray kNone;
  const HostArray& x = c.in.empty() ? kNone : c.in[0];
  Index i(static_cast<size_t>(x.shape.rank()));
  switch (c.prim) {
    case Prim::full:
      return a.value.bits;
    case Prim::iota: {
      const int64_t v = o[static_cast<size_t>(a.axis)];
      return is_floating(a.dtype) ? Scalar::from_double(static_cast<double>(v), a.dtype).bits
                                  : static_cast<uint64_t>(v) & mask(a.dtype);
    }
    case Prim::reshape:
      return x.bits[static_cast<size_t>(ravel(o, out))];
    case Prim::transpose:
      for (size_t k = 0; k < a.dims.size(); ++k) i[static_cast<size_t>(a.dims[k])] = o[k];
      return at(x, i);
    case Prim::broadcast_in_dim:
      for (size_t k = 0; k < i.size(); ++k)
        i[k] = x.shape[static_cast<int>(k)] == 1 ? 0 : o[static_cast<size_t>(a.dims[k])];
      return at(x, i);
    case Prim::slice:
      for (size_t k = 0; k < i.size(); ++k) i[k] = a.start[k] + o[k] * a.stride[k];
      return at(x, i);
    case Prim::rev:
      for (size_t k = 0; k < i.size(); ++k) {
        const bool flip = std::find(a.dims.begin(), a.dims.end(), k) != a.dims.end();
        i[k] = flip ? x.shape[static_cast<int>(k)] - 1 - o[k] : o[k];
      }
      return at(x, i);
    case Prim::pad:
      for (size_t k = 0; k < i.size(); ++k) {
        const int64_t p = o[k] - a.low[k], step = a.interior[k] + 1;
        if (p < 0 || p % step != 0 || p / step >= x.shape[static_cast<int>(k)])
          return c.in[1].bits[0];
        i[k] = p / step;
      }
      return at(x, i);
    case Prim::concatenate: {
      const auto axis = static_cast<size_t>(a.axis);
      Index j = o;
      for (const HostArray& h : c.in) {
        const int64_t n = h.shape[static_cast<int>(axis)];
        if (j[axis] < n) return at(h, j);
        j[axis] -= n;
      }
      return 0;
    }
    case Prim::argmax:
    case Prim::argmin:
      return argmax(c, o);
    case Prim::dot_general:
      return dot(c, o);
    case Prim::convolution:
      return convolution(c, o);
    case Prim::reduce_window_sum:
    case Prim::reduce_window_max:
    case Prim::reduce_window_min:
    case Prim::reduce_window_prod:
      return reduce_window(c, o);
    default:
      return 0;
  }
}

// ---- gather, scatter, dynamic slices: StableHLO's definitions, element by element ----------

int64_t index_value(const HostArray& h, const Index& i) {
  const uint64_t b = at(h, i);
  return is_unsigned(h.dtype) ? static_cast<int64_t>(b) : as_signed(b, h.dtype);
}

bool has(const std::vector<int64_t>& v, int64_t x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// The operand index of the window start for the index vector at batch position `batch` (the
// indices' dims without index_vector_dim), each start clamped to [0, limit] when `clamp`;
// nothing when !clamp and a start is outside it (the window is dropped).
std::optional<Index> window_start(const ir::GatherDims& d, const HostArray& x, const HostArray& idx,
                                  const Index& batch, const std::vector<int64_t>& window,
                                  bool clamp) {
  Index full(static_cast<size_t>(x.shape.rank()), 0);
  Index ii(static_cast<size_t>(idx.shape.rank()), 0);
  for (int64_t k = 0, b = 0; k < idx.shape.rank(); ++k)
    if (k != d.index_vector_dim) ii[static_cast<size_t>(k)] = batch[static_cast<size_t>(b++)];
  for (size_t k = 0; k < d.start_index_map.size(); ++k) {
    if (d.index_vector_dim < idx.shape.rank())
      ii[static_cast<size_t>(d.index_vector_dim)] = static_cast<int64_t>(k);
    const auto dim = static_cast<size_t>(d.start_index_map[k]);
    const int64_t limit = x.shape[static_cast<int>(dim)] - window[dim];
    const int64_t s = index_value(idx, ii);
    if (!clamp && (s < 0 || s > limit)) return std::nullopt;
    full[dim] = std::clamp<int64_t>(s, 0, limit);
  }
  for (size_t j = 0; j < d.operand_batching_dims.size(); ++j)
    full[static_cast<size_t>(d.operand_batching_dims[j])] =
        ii[static_cast<size_t>(d.start_indices_batching_dims[j])];
  return full;
}

// Splits a result (gather) or updates (scatter) index into its batch position and its offsets in
// the operand's window dims, added onto `start`.
Index batch_part(const ir::GatherDims& d, const Index& o) {
  Index b;
  for (size_t k = 0; k < o.size(); ++k)
    if (!has(d.offset_dims, static_cast<int64_t>(k))) b.push_back(o[k]);
  return b;
}
Index add_window(const ir::GatherDims& d, Index start, const Index& o) {
  size_t w = 0;
  for (size_t k = 0; k < start.size(); ++k) {
    if (has(d.collapsed_slice_dims, static_cast<int64_t>(k)) ||
        has(d.operand_batching_dims, static_cast<int64_t>(k)))
      continue;
    start[k] += o[static_cast<size_t>(d.offset_dims[w++])];
  }
  return start;
}

std::vector<uint64_t> gather_ref(const Case& c, const Shape& out) {
  const ir::GatherDims& d = c.attrs.gather;
  std::vector<uint64_t> r(static_cast<size_t>(out.numel()));
  for (size_t f = 0; f < r.size(); ++f) {
    const Index o = unravel(static_cast<int64_t>(f), out);
    const Index s = *window_start(d, c.in[0], c.in[1], batch_part(d, o), d.slice_sizes, true);
    r[f] = at(c.in[0], add_window(d, s, o));
  }
  return r;
}

uint64_t combine(Prim p, uint64_t old, uint64_t upd, DType t) {
  switch (p) {
    case Prim::scatter_add:
    case Prim::scatter_mul: {
      const bool mul = p == Prim::scatter_mul;
      if (is_floating(t)) {
        const double x = as_double(old, t), y = as_double(upd, t);
        return Scalar::from_double(mul ? x * y : x + y, t).bits;
      }
      return (mul ? old * upd : old + upd) & mask(t);
    }
    case Prim::scatter_max:
      return takes_max(old, upd, t) ? old : upd;
    case Prim::scatter_min:
      return takes_min(old, upd, t) ? old : upd;
    default:
      return upd;
  }
}

std::vector<uint64_t> scatter_ref(const Case& c) {
  const ir::GatherDims& d = c.attrs.gather;
  const HostArray &x = c.in[0], &upd = c.in[2];
  std::vector<int64_t> window(static_cast<size_t>(x.shape.rank()), 1);
  for (size_t k = 0, w = 0; k < window.size(); ++k)
    if (!has(d.collapsed_slice_dims, static_cast<int64_t>(k)) &&
        !has(d.operand_batching_dims, static_cast<int64_t>(k)))
      window[k] = upd.shape[static_cast<int>(d.offset_dims[w++])];
  std::vector<uint64_t> r = x.bits;
  for (int64_t f = 0; f < upd.shape.numel(); ++f) {
    const Index u = unravel(f, upd.shape);
    const std::optional<Index> s = window_start(d, x, c.in[1], batch_part(d, u), window, false);
    if (!s) continue;
    const auto slot = static_cast<size_t>(ravel(add_window(d, *s, u), x.shape));
    r[slot] = combine(c.prim, r[slot], upd.bits[static_cast<size_t>(f)], x.dtype);
  }
  return r;
}

std::vector<uint64_t> dynamic_slice_ref(const Case& c, const Shape& out) {
  const bool update = c.prim == Prim::dynamic_update_slice;
  const HostArray& x = c.in[0];
  const Shape& sizes = update ? c.in[1].shape : out;
  Index start;
  for (int k = 0; k < x.shape.rank(); ++k)
    start.push_back(
        std::clamp<int64_t>(index_value(c.in[(update ? 2 : 1) + k], {}), 0, x.shape[k] - sizes[k]));
  auto shifted = [&](Index i) {
    for (size_t k = 0; k < i.size(); ++k) i[k] += start[k];
    return i;
  };
  if (!update) {
    std::vector<uint64_t> r(static_cast<size_t>(out.numel()));
    for (size_t f = 0; f < r.size(); ++f)
      r[f] = at(x, shifted(unravel(static_cast<int64_t>(f), out)));
    return r;
  }
  std::vector<uint64_t> r = x.bits;
  for (int64_t f = 0; f < sizes.numel(); ++f)
    r[static_cast<size_t>(ravel(shifted(unravel(f, sizes)), x.shape))] =
        c.in[1].bits[static_cast<size_t>(f)];
  return r;
}

}  // namespace

std::optional<std::vector<uint64_t>> structured_reference(const Case& c, const Shape& out) {
  switch (c.prim) {
    case Prim::reduce_sum:
    case Prim::reduce_max:
    case Prim::reduce_min:
    case Prim::reduce_prod:
      return reduce(c, out);
    case Prim::cumsum:
    case Prim::cumprod:
    case Prim::cummax:
    case Prim::cummin:
      return cumulative(c);
    case Prim::sort:
      return sorted(c);
    case Prim::top_k:
      return top(c, out);
    case Prim::full:
    case Prim::iota:
    case Prim::reshape:
    case Prim::transpose:
    case Prim::broadcast_in_dim:
    case Prim::slice:
    case Prim::rev:
    case Prim::pad:
    case Prim::concatenate:
    case Prim::argmax:
    case Prim::argmin:
    case Prim::dot_general:
    case Prim::convolution:
    case Prim::reduce_window_sum:
    case Prim::reduce_window_max:
    case Prim::reduce_window_min:
    case Prim::reduce_window_prod: {
      std::vector<uint64_t> r(static_cast<size_t>(out.numel()));
      for (size_t f = 0; f < r.size(); ++f)
        r[f] = moved(c, out, unravel(static_cast<int64_t>(f), out));
      return r;
    }
    case Prim::select_and_scatter_add:
      return select_and_scatter_add(c);
    case Prim::threefry2x32:
      return threefry2x32(c);
    case Prim::gather:
      return gather_ref(c, out);
    case Prim::scatter:
    case Prim::scatter_add:
    case Prim::scatter_mul:
    case Prim::scatter_min:
    case Prim::scatter_max:
      return scatter_ref(c);
    case Prim::dynamic_slice:
    case Prim::dynamic_update_slice:
      return dynamic_slice_ref(c, out);
    default:
      return std::nullopt;
  }
}

}  // namespace kiln::harness
