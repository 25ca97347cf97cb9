// The references of the rows with attributes, element by element from their definitions in
// docs/primitives.md: exact index arithmetic for the data-movement rows, float64 sums for
// reduce_sum and dot_general, exact integer arithmetic (wrapping) for integer dtypes.
#include <algorithm>
#include <cmath>
#include <limits>

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
    const bool better = c.prim == Prim::reduce_max ? greater(v, a.best, t) : less(v, a.best, t);
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
        const bool better = c.prim == Prim::cummax ? greater(v, best, t) : less(v, best, t);
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
  double sum = 0;
  uint64_t isum = 0;
  for (int64_t f = 0; f < contract.numel(); ++f) {
    const Index ci = unravel(f, contract);
    for (size_t k = 0; k < ci.size(); ++k) {
      li[static_cast<size_t>(d.lhs_contract[k])] = ci[k];
      ri[static_cast<size_t>(d.rhs_contract[k])] = ci[k];
    }
    const uint64_t x = at(l, li), y = at(r, ri);
    sum += as_double(x, t) * as_double(y, t);
    isum += (is_unsigned(t) ? x : static_cast<uint64_t>(as_signed(x, t))) *
            (is_unsigned(t) ? y : static_cast<uint64_t>(as_signed(y, t)));
  }
  return is_floating(t) ? Scalar::from_double(sum, t).bits : isum & mask(t);
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
    default:
      return 0;
  }
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
    case Prim::dot_general: {
      std::vector<uint64_t> r(static_cast<size_t>(out.numel()));
      for (size_t f = 0; f < r.size(); ++f)
        r[f] = moved(c, out, unravel(static_cast<int64_t>(f), out));
      return r;
    }
    default:
      return std::nullopt;  // convolution, windows, threefry2x32: see cases.hpp
  }
}

}  // namespace kiln::harness
