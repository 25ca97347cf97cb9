#include "io/chunked_array.hpp"

#include <algorithm>

#include "io/state_value_text.hpp"

namespace kiln::serialization {
namespace {

const StateValue* find_key(const StateValue& m, std::string_view key) {
  if (m.kind != StateValue::Kind::map || !m.map) return nullptr;
  for (const auto& [k, v] : m.map->entries)
    if (k == key) return &v;
  return nullptr;
}

// Flax's _dict_to_tuple: the values of {"0": ..., "1": ..., ...} in index order.
std::optional<std::vector<const StateValue*>> as_sequence(const StateValue* m) {
  if (!m || m->kind != StateValue::Kind::map || !m->map) return std::nullopt;
  std::vector<const StateValue*> out;
  for (size_t i = 0; i < m->map->entries.size(); ++i) {
    const StateValue* x = find_key(*m, std::to_string(i));
    if (!x) return std::nullopt;
    out.push_back(x);
  }
  return out;
}

StateValue map_value() {
  StateValue v;
  v.kind = StateValue::Kind::map;
  v.map = std::make_shared<StateValue::Map>();
  return v;
}

struct ChunkedView {
  DType dtype;
  Shape shape;
  std::vector<const Array*> chunks;
};

// Checks the structure _unchunk relies on; on failure says what is wrong in `problem`.
std::optional<ChunkedView> view_chunked(const StateValue& v, std::string& problem) {
  auto dims = as_sequence(find_key(v, "shape"));
  if (!dims) {
    problem = "its 'shape' is not a map {\"0\": d0, \"1\": d1, ...}";
    return std::nullopt;
  }
  std::vector<int64_t> shape;
  for (const StateValue* d : *dims) {
    if (d->kind != StateValue::Kind::integer || d->i_unsigned || d->i < 0) {
      problem = "its 'shape' holds " + describe(*d) + ", not a dimension";
      return std::nullopt;
    }
    shape.push_back(d->i);
  }
  if (shape.size() > static_cast<size_t>(Shape::kMaxRank)) {
    problem = "its rank " + std::to_string(shape.size()) + " is over kiln's " +
              std::to_string(Shape::kMaxRank);
    return std::nullopt;
  }
  auto chunks = as_sequence(find_key(v, "chunks"));
  if (!chunks || chunks->empty()) {
    problem = "its 'chunks' is not a non-empty map {\"0\": chunk0, ...}";
    return std::nullopt;
  }
  ChunkedView view{DType::float32, Shape(shape), {}};
  int64_t total = 0;
  for (const StateValue* c : *chunks) {
    if (c->kind != StateValue::Kind::array || c->array.ndim() != 1) {
      problem = "a chunk is " + describe(*c) + ", not a 1-d array";
      return std::nullopt;
    }
    if (view.chunks.empty()) view.dtype = c->array.dtype();
    if (c->array.dtype() != view.dtype) {
      problem = "its chunks mix dtypes " + std::string(name(view.dtype)) + " and " +
                std::string(name(c->array.dtype()));
      return std::nullopt;
    }
    total += c->array.size();
    view.chunks.push_back(&c->array);
  }
  if (total != view.shape.numel()) {
    problem = "its chunks hold " + std::to_string(total) + " elements but its shape " +
              view.shape.str() + " needs " + std::to_string(view.shape.numel());
    return std::nullopt;
  }
  return view;
}

}  // namespace

StateValue chunk_array(const Array& a, size_t max_chunk_bytes) {
  const DType dt = a.dtype();
  const size_t isz = itemsize(dt);
  const size_t per_chunk = std::max<size_t>(1, max_chunk_bytes / isz);
  const size_t n = static_cast<size_t>(a.size());
  std::vector<uint8_t> host(n * isz);
  if (!host.empty()) a.copy_to_host(host.data(), dt);

  StateValue out = map_value();
  StateValue marker;
  marker.kind = StateValue::Kind::boolean;
  marker.b = true;
  out.map->entries.emplace_back(std::string(kChunkedMarker), marker);
  StateValue shape = map_value();
  for (int i = 0; i < a.ndim(); ++i) {
    StateValue d;
    d.kind = StateValue::Kind::integer;
    d.i = a.shape()[i];
    d.u = static_cast<uint64_t>(d.i);
    shape.map->entries.emplace_back(std::to_string(i), d);
  }
  out.map->entries.emplace_back("shape", std::move(shape));
  StateValue chunks = map_value();
  for (size_t start = 0, k = 0; start < n; start += per_chunk, ++k) {
    size_t len = std::min(per_chunk, n - start);
    StateValue c;
    c.kind = StateValue::Kind::array;
    c.array = Array::from_bytes(host.data() + start * isz, len * isz, dt,
                                Shape{static_cast<int64_t>(len)}, a.device());
    chunks.map->entries.emplace_back(std::to_string(k), std::move(c));
  }
  out.map->entries.emplace_back("chunks", std::move(chunks));
  return out;
}

bool is_chunked_array(const StateValue& v) {
  return find_key(v, kChunkedMarker) != nullptr;
}

std::optional<std::pair<DType, Shape>> chunked_array_type(const StateValue& v) {
  if (!is_chunked_array(v)) return std::nullopt;
  std::string problem;
  auto view = view_chunked(v, problem);
  if (!view) return std::nullopt;
  return std::make_pair(view->dtype, view->shape);
}

Array unchunk_array(const StateValue& v, const std::string& where) {
  std::string problem;
  auto view = view_chunked(v, problem);
  if (!view) throw ValueError(where + ": malformed chunked array: " + problem);
  const size_t isz = itemsize(view->dtype);
  std::vector<uint8_t> host(static_cast<size_t>(view->shape.numel()) * isz);
  size_t at = 0;
  for (const Array* c : view->chunks) {
    size_t bytes = static_cast<size_t>(c->size()) * isz;
    if (bytes) c->copy_to_host(host.data() + at, view->dtype);
    at += bytes;
  }
  return Array::from_bytes(host.data(), host.size(), view->dtype, view->shape);
}

}  // namespace kiln::serialization
