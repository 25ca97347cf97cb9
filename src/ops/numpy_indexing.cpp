// numpy indexing (x[...]) and JAX's x.at[...]: an index expression becomes static slices when it
// holds no arrays (as JAX lowers x[1:3, 2]), else one gather whose scatter twin serves x.at[...]
// (jax/_src/numpy/indexing.py, _index_to_gather).
#include <algorithm>

#include "kiln/indexing.hpp"
#include "ops/indexing_util.hpp"
#include "ops/operands.hpp"

namespace kiln {
namespace {

// One index component after the ellipsis is expanded: what it does to operand dim `dim`.
struct Component {
  enum class Kind { integer, slice, array, newaxis } kind = Kind::integer;
  explicit Component(Kind k) : kind(k) {}
  int64_t dim = -1;                    // the operand dim it indexes (newaxis: none)
  int64_t start = 0, step = 1, n = 0;  // integer: start; slice: first element, step, length
  Array array;                         // array: the indices
  bool wrap = true;                    // array: negative entries count from the end (not yet done)
};

[[noreturn]] void index_error(const std::string& what, const Loc& loc) {
  throw ValueError(message("index: " + what, loc));
}

// Python's slice.indices: the first element, step and length of s over a dim of n.
void resolve_slice(const Slice& s, int64_t n, Component& c, const Loc& loc) {
  if (s.step == 0) index_error("a slice step cannot be zero", loc);
  const int64_t step = s.step;
  auto bound = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v < 0 ? *v + n : *v;
    return step > 0 ? std::clamp<int64_t>(x, 0, n) : std::clamp<int64_t>(x, -1, n - 1);
  };
  const int64_t start = bound(s.start, step > 0 ? 0 : n - 1);
  const int64_t stop = bound(s.stop, step > 0 ? n : -1);
  const int64_t len = step > 0 ? std::max<int64_t>(0, (stop - start + step - 1) / step)
                               : std::max<int64_t>(0, (start - stop + (-step) - 1) / (-step));
  c.start = start;
  c.step = step;
  c.n = len;
}

// `idx` with each boolean mask replaced by the integer arrays of its true positions (numpy's
// mask.nonzero(), row-major), one per dim it covers: x[mask] has one row per true element. The
// count is the result's shape, so the mask must be concrete (JAX's NonConcreteBooleanIndexError).
std::vector<Index> masks_as_integer_arrays(const Array& x, const std::vector<Index>& idx,
                                           const Loc& loc) {
  auto is_mask = [](const Index& i) {
    const Array* a = std::get_if<Array>(&i.value());
    return a && !a->empty() && a->dtype() == bool_;
  };
  if (std::none_of(idx.begin(), idx.end(), is_mask)) return idx;
  int64_t consumed = 0;  // the dims the components other than ellipsis and newaxis index
  for (const Index& i : idx) {
    const auto& v = i.value();
    if (std::holds_alternative<Ellipsis>(v) || std::holds_alternative<NewAxis>(v)) continue;
    consumed += is_mask(i) ? std::get<Array>(v).ndim() : 1;
  }
  std::vector<Index> out;
  int64_t dim = 0;
  for (const Index& i : idx) {
    const auto& v = i.value();
    if (std::holds_alternative<Ellipsis>(v)) dim += std::max<int64_t>(0, x.ndim() - consumed);
    if (!is_mask(i)) {
      if (!std::holds_alternative<Ellipsis>(v) && !std::holds_alternative<NewAxis>(v)) ++dim;
      out.push_back(i);
      continue;
    }
    const Array& mask = std::get<Array>(v);
    if (mask.is_tracer())
      throw TracerError(
          message("index: a boolean mask index must be concrete, got a traced bool" +
                      std::string("[") + mask.shape().dims_str() +
                      "] (under jit the result's shape would depend on its values)",
                  loc, "Use where(mask, x, fill) for a fixed shape, or index outside jit"));
    if (mask.ndim() == 0)
      index_error("a 0-d boolean index (x[true]) is not supported; use newaxis or where", loc);
    if (dim + mask.ndim() > x.ndim())
      index_error("too many indices: a boolean mask of shape " + mask.shape().str() +
                      " from axis " + std::to_string(dim) + " for an array of shape " +
                      x.shape().str(),
                  loc);
    for (int k = 0; k < mask.ndim(); ++k)
      if (mask.shape()[k] != x.shape()[static_cast<int>(dim) + k])
        throw ShapeError(
            message("index: boolean index did not match the indexed array along axis " +
                        std::to_string(dim + k) + ": the array's size is " +
                        std::to_string(x.shape()[static_cast<int>(dim) + k]) + ", the mask's " +
                        std::to_string(mask.shape()[k]) + " (mask " + mask.shape().str() +
                        ", array " + x.shape().str() + ")",
                    loc));
    const std::vector<uint8_t> bits = astype(mask, uint8, loc).to_vector<uint8_t>();
    std::vector<std::vector<int32_t>> coords(static_cast<size_t>(mask.ndim()));
    for (size_t f = 0; f < bits.size(); ++f) {
      if (!bits[f]) continue;
      auto rest = static_cast<int64_t>(f);
      for (int k = mask.ndim() - 1; k >= 0; --k) {
        coords[static_cast<size_t>(k)].push_back(static_cast<int32_t>(rest % mask.shape()[k]));
        rest /= mask.shape()[k];
      }
    }
    for (const auto& c : coords)
      out.push_back(
          Index(array(std::span<const int32_t>(c), Shape{static_cast<int64_t>(c.size())}, loc)));
    dim += mask.ndim();
  }
  return out;
}

// `fill`: a static integer out of range is kept (at[...].get's fill mode gives its fill value)
// instead of being an error.
std::vector<Component> expand(const Array& x, const std::vector<Index>& idx, const Loc& loc,
                              bool fill = false) {
  if (x.empty()) index_error("indexing an empty Array", loc);
  int consumed = 0, ellipses = 0;
  for (const Index& i : idx) {
    if (std::holds_alternative<Ellipsis>(i.value())) ++ellipses;
    if (!std::holds_alternative<Ellipsis>(i.value()) && !std::holds_alternative<NewAxis>(i.value()))
      ++consumed;
  }
  if (ellipses > 1) index_error("an index can only have a single ellipsis", loc);
  if (consumed > x.ndim())
    index_error("too many indices: " + std::to_string(consumed) + " for an array of shape " +
                    x.shape().str(),
                loc);
  std::vector<Component> out;
  int64_t dim = 0;
  auto whole = [&] {
    Component c(Component::Kind::slice);
    c.dim = dim;
    resolve_slice(Slice{}, x.shape()[static_cast<int>(dim++)], c, loc);
    out.push_back(c);
  };
  for (const Index& i : idx) {
    const auto& v = i.value();
    if (std::holds_alternative<Ellipsis>(v)) {
      for (int k = 0; k < x.ndim() - consumed; ++k) whole();
      continue;
    }
    if (std::holds_alternative<NewAxis>(v)) {
      out.push_back(Component(Component::Kind::newaxis));
      continue;
    }
    const int64_t n = x.shape()[static_cast<int>(dim)];
    Component c(Component::Kind::integer);
    c.dim = dim++;
    if (const int64_t* k = std::get_if<int64_t>(&v)) {
      const int64_t w = *k < 0 ? *k + n : *k;
      if ((w < 0 || w >= n) && !fill)
        throw ValueError(message("index " + std::to_string(*k) + " is out of bounds for axis " +
                                     std::to_string(c.dim) + " with size " + std::to_string(n) +
                                     " (shape " + x.shape().str() + ")",
                                 loc));
      c.start = w;
    } else if (const Slice* s = std::get_if<Slice>(&v)) {
      c.kind = Component::Kind::slice;
      resolve_slice(*s, n, c, loc);
    } else {
      c.kind = Component::Kind::array;
      c.array = std::get<Array>(v);
      if (c.array.empty()) index_error("an index array is empty (default-constructed)", loc);
      if (!is_integer(c.array.dtype()))
        throw DTypeError(message(
            "index: index arrays must be integers, got " + std::string(short_name(c.array.dtype())),
            loc, "Convert them with astype(idx, int32)"));
    }
    out.push_back(std::move(c));
  }
  if (ellipses == 0)
    while (dim < x.ndim()) whole();
  return out;
}

bool has_arrays(const std::vector<Component>& cs) {
  return std::any_of(cs.begin(), cs.end(),
                     [](const Component& c) { return c.kind == Component::Kind::array; });
}

// x[...] without index arrays: static slices (rev for negative steps), then one reshape that
// drops the integer-indexed dims and inserts the newaxis dims.
Array basic_index(const Array& x, const std::vector<Component>& cs, const Loc& loc) {
  Array y = x;
  std::vector<int64_t> flip;
  for (const Component& c : cs)
    if (c.kind == Component::Kind::slice && c.step < 0 && c.n > 0) flip.push_back(c.dim);
  if (!flip.empty()) y = rev(y, flip, loc);
  std::vector<int64_t> start, limit, stride;
  bool trivial = true;
  for (const Component& c : cs) {
    if (c.kind == Component::Kind::newaxis) continue;
    const int64_t n = x.shape()[static_cast<int>(c.dim)];
    if (c.kind == Component::Kind::integer) {
      start.push_back(c.start);
      limit.push_back(c.start + 1);
      stride.push_back(1);
    } else if (c.n == 0) {
      start.push_back(0);
      limit.push_back(0);
      stride.push_back(1);
    } else {
      const int64_t first = c.step < 0 ? n - 1 - c.start : c.start;
      const int64_t step = c.step < 0 ? -c.step : c.step;
      start.push_back(first);
      limit.push_back(first + (c.n - 1) * step + 1);
      stride.push_back(step);
    }
    trivial = trivial && start.back() == 0 && limit.back() == n && stride.back() == 1;
  }
  if (!trivial) y = slice(y, start, limit, stride, loc);
  std::vector<int64_t> shape;
  for (const Component& c : cs) {
    if (c.kind == Component::Kind::newaxis) shape.push_back(1);
    if (c.kind == Component::Kind::slice) shape.push_back(c.n);
  }
  return reshape(y, shape, loc);
}

// The gather (and its scatter twin) an index expression with arrays becomes.
struct Plan {
  ir::GatherDims dims;  // slice_sizes filled: the gather's
  Array indices;
  Shape gathered;  // the gather's result shape
  Shape result;    // with the newaxis dims: x[idx].shape
};

Plan plan_gather(const Array& x, std::vector<Component> cs, const Loc& loc) {
  const bool arrays = has_arrays(cs);
  // With arrays present, integers are advanced indices too (numpy): 0-d arrays.
  std::vector<Array> adv;
  std::vector<size_t> adv_pos;
  for (size_t k = 0; k < cs.size(); ++k) {
    Component& c = cs[k];
    if (arrays && c.kind == Component::Kind::integer) {
      c.kind = Component::Kind::array;
      c.array = scalar(static_cast<double>(c.start), int32, loc);
      c.wrap = false;  // expand wrapped it
    }
    if (c.kind == Component::Kind::array) adv_pos.push_back(k);
  }
  DType it = int32;
  for (size_t k : adv_pos)
    if (itemsize(cs[k].array.dtype()) == 8) it = int64;
  std::vector<Shape> shapes;
  for (size_t k : adv_pos) shapes.push_back(cs[k].array.shape());
  const Shape b = adv_pos.empty() ? Shape{} : ops::broadcast_shapes(shapes, loc);
  const bool contiguous = adv_pos.empty() || adv_pos.back() - adv_pos.front() + 1 == adv_pos.size();

  // The batch dims (in result order): the advanced block's dims, and one per strided slice.
  // Tokens in result order: -1 = the advanced block, else the component index.
  std::vector<int64_t> tokens;
  if (!adv_pos.empty() && !contiguous) tokens.push_back(-1);
  for (size_t k = 0; k < cs.size(); ++k) {
    const Component& c = cs[k];
    if (c.kind == Component::Kind::array) {
      if (contiguous && k == adv_pos.front()) tokens.push_back(-1);
    } else if (c.kind == Component::Kind::slice) {
      tokens.push_back(static_cast<int64_t>(k));
    }
  }
  Plan p;
  Shape batch;
  std::vector<int64_t> adv_slots;                   // batch positions of the advanced block's dims
  std::vector<std::pair<size_t, int64_t>> strided;  // (component, batch position)
  int64_t out_pos = 0;
  for (int64_t t : tokens) {
    if (t == -1) {
      for (int i = 0; i < b.rank(); ++i) {
        adv_slots.push_back(batch.rank());
        batch.push_back(b[i]);
        p.gathered.push_back(b[i]);
        ++out_pos;
      }
      continue;
    }
    const Component& c = cs[static_cast<size_t>(t)];
    if (c.step != 1) {
      strided.emplace_back(static_cast<size_t>(t), batch.rank());
      batch.push_back(c.n);
    } else {
      p.dims.offset_dims.push_back(out_pos);
    }
    p.gathered.push_back(c.n);
    ++out_pos;
  }
  // The index vector's components, each an array of the batch shape.
  std::vector<Array> comps;
  auto constant = [&](int64_t v) { return full(batch, static_cast<double>(v), it, loc); };
  for (size_t k = 0; k < cs.size(); ++k) {
    const Component& c = cs[k];
    const int64_t n = c.dim >= 0 ? x.shape()[static_cast<int>(c.dim)] : 0;
    if (c.kind == Component::Kind::integer) {
      comps.push_back(constant(c.start));
    } else if (c.kind == Component::Kind::array) {
      Array a = astype(c.array, it, loc);
      if (is_signed(it) && c.wrap) a = where(less(a, 0, loc), add(a, n, loc), a, loc);
      a = broadcast_to(a, b, loc);
      comps.push_back(broadcast_in_dim(a, batch, adv_slots, loc));
    } else if (c.kind == Component::Kind::slice && c.step != 1) {
      int64_t slot = 0;
      for (const auto& [ck, pos] : strided)
        if (ck == k) slot = pos;
      Array i = add(mul(iota(it, batch, slot, loc), c.step, loc), c.start, loc);
      comps.push_back(i);
    } else if (c.kind == Component::Kind::slice && c.start != 0) {
      comps.push_back(constant(c.start));
    } else {
      continue;
    }
    p.dims.start_index_map.push_back(c.dim);
  }
  for (const Component& c : cs) {
    if (c.kind == Component::Kind::newaxis) continue;
    const bool window = c.kind == Component::Kind::slice && c.step == 1;
    if (!window) p.dims.collapsed_slice_dims.push_back(c.dim);
  }
  std::sort(p.dims.collapsed_slice_dims.begin(), p.dims.collapsed_slice_dims.end());
  p.dims.slice_sizes.assign(static_cast<size_t>(x.ndim()), 1);
  for (const Component& c : cs)
    if (c.kind == Component::Kind::slice && c.step == 1)
      p.dims.slice_sizes[static_cast<size_t>(c.dim)] = c.n;
  p.dims.index_vector_dim = batch.rank();
  std::vector<int64_t> vec_shape = batch.vec();
  vec_shape.push_back(1);
  std::vector<Array> columns;
  for (const Array& c : comps) columns.push_back(reshape(c, vec_shape, loc));
  if (columns.empty()) {
    vec_shape.back() = 0;
    p.indices = zeros(Shape(vec_shape), it, loc);
  } else {
    p.indices = columns.size() == 1 ? columns[0] : concatenate(columns, batch.rank(), loc);
  }
  // x[idx].shape: the gathered dims with the newaxis dims inserted where numpy puts them.
  size_t g = 0;
  const size_t block = static_cast<size_t>(b.rank());
  if (!adv_pos.empty() && !contiguous)
    for (; g < block; ++g) p.result.push_back(p.gathered[static_cast<int>(g)]);
  for (size_t k = 0; k < cs.size(); ++k) {
    const Component& c = cs[k];
    if (c.kind == Component::Kind::newaxis) {
      p.result.push_back(1);
    } else if (c.kind == Component::Kind::slice) {
      p.result.push_back(p.gathered[static_cast<int>(g++)]);
    } else if (c.kind == Component::Kind::array && contiguous && k == adv_pos.front()) {
      for (size_t i = 0; i < block; ++i) p.result.push_back(p.gathered[static_cast<int>(g++)]);
    }
  }
  return p;
}

}  // namespace

Array index(const Array& x, const std::vector<Index>& idx, Loc loc) {
  return at(x, idx).get({}, loc);
}

Array At::get(GetOptions o, Loc loc) const {
  const bool fill = o.mode == GatherMode::fill;
  const std::vector<Component> cs = expand(x_, masks_as_integer_arrays(x_, idx_, loc), loc, fill);
  if (!has_arrays(cs) && !fill) return basic_index(x_, cs, loc);
  Plan p = plan_gather(x_, cs, loc);
  p.dims.indices_are_sorted = o.indices_are_sorted;
  p.dims.unique_indices = o.unique_indices;
  Array out = gather(x_, p.indices, p.dims, loc);
  if (fill && o.fill_value && !o.fill_value->is_scalar() && o.fill_value->array().ndim() != 0)
    throw ValueError(message("at(...).get: fill_value must be a scalar, got an array of shape " +
                                 o.fill_value->array().shape().str(),
                             loc));
  if (fill) {
    // JAX's FILL_OR_DROP gather: a clamped gather, and the fill value wherever a window's start
    // was out of range.
    const Array fill_value = o.fill_value ? ops::coerce(*o.fill_value, x_.dtype(), out.shape(), loc)
                                          : ops::fill_value(x_.dtype(), out.shape(), loc);
    const Array ok = ops::indices_in_bounds(p.indices, p.dims, x_.shape(), p.dims.slice_sizes, loc);
    out =
        where(ops::broadcast_batch(ok, p.dims.offset_dims, out.shape(), loc), out, fill_value, loc);
  }
  return reshape(out, p.result.vec(), loc);
}

Array At::apply(const Operand& v, ScatterCombine combine, ScatterOptions o, const Loc& loc) const {
  Plan p = plan_gather(x_, expand(x_, masks_as_integer_arrays(x_, idx_, loc), loc), loc);
  p.dims.indices_are_sorted = o.indices_are_sorted;
  p.dims.unique_indices = o.unique_indices;
  Array updates = ops::coerce(v, x_.dtype(), ops::shape_of(v), loc);
  updates = reshape(broadcast_to(updates, p.result, loc), p.gathered.vec(), loc);
  return scatter(x_, p.indices, updates, p.dims, combine, loc);
}

Array At::set(const Operand& v, ScatterOptions o, Loc loc) const {
  return apply(v, ScatterCombine::replace, o, loc);
}
Array At::add(const Operand& v, ScatterOptions o, Loc loc) const {
  return apply(v, ScatterCombine::add, o, loc);
}
Array At::multiply(const Operand& v, ScatterOptions o, Loc loc) const {
  return apply(v, ScatterCombine::mul, o, loc);
}
Array At::min(const Operand& v, ScatterOptions o, Loc loc) const {
  return apply(v, ScatterCombine::min, o, loc);
}
Array At::max(const Operand& v, ScatterOptions o, Loc loc) const {
  return apply(v, ScatterCombine::max, o, loc);
}

}  // namespace kiln
