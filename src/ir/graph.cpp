#include <sstream>

#include "kiln/backend.hpp"
#include "kiln/error.hpp"
#include "kiln/ir.hpp"

namespace kiln::ir {
namespace {

void hash_mix(size_t& h, size_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
}
void hash_vec(size_t& h, const std::vector<int64_t>& v) {
  hash_mix(h, v.size());
  for (int64_t x : v) hash_mix(h, static_cast<size_t>(x));
}

std::string ints(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  if (v.size() == 1) s += ",";
  return s + ")";
}

// "((1, 1), (0, 2))", as jaxprs print padding.
std::string pairs(const std::vector<int64_t>& low, const std::vector<int64_t>& high) {
  std::string s = "(";
  for (size_t i = 0; i < low.size() && i < high.size(); ++i)
    s += (i ? ", " : "") + std::string("(") + std::to_string(low[i]) + ", " +
         std::to_string(high[i]) + ")";
  if (low.size() == 1) s += ",";
  return s + ")";
}

// Names values a, b, ..., z, ba, bb, ... as jaxprs do.
std::string value_name(ValueId v) {
  std::string s;
  do {
    s.insert(s.begin(), static_cast<char>('a' + v % 26));
    v /= 26;
  } while (v > 0);
  return s;
}

}  // namespace

int64_t MeshShape::size() const {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

bool Attrs::operator==(const Attrs& o) const {
  return shape == o.shape && dtype == o.dtype && dims == o.dims && start == o.start &&
         limit == o.limit && stride == o.stride && low == o.low && high == o.high &&
         interior == o.interior && window == o.window && axis == o.axis && dot == o.dot &&
         conv == o.conv && gather == o.gather && value == o.value && literal == o.literal &&
         index == o.index && collective == o.collective && split == o.split &&
         preferred_element_type == o.preferred_element_type && exponent_bits == o.exponent_bits &&
         mantissa_bits == o.mantissa_bits && reverse == o.reverse && num_keys == o.num_keys &&
         k == o.k && result == o.result;
}

size_t Attrs::hash() const {
  size_t h = 0;
  hash_vec(h, shape.vec());
  hash_mix(h, static_cast<size_t>(dtype));
  for (const auto* v : {&dims,
                        &start,
                        &limit,
                        &stride,
                        &low,
                        &high,
                        &interior,
                        &window,
                        &dot.lhs_contract,
                        &dot.rhs_contract,
                        &dot.lhs_batch,
                        &dot.rhs_batch,
                        &conv.lhs_spec,
                        &conv.rhs_spec,
                        &conv.out_spec,
                        &conv.window_strides,
                        &conv.padding_low,
                        &conv.padding_high,
                        &conv.lhs_dilation,
                        &conv.rhs_dilation,
                        &gather.offset_dims,
                        &gather.collapsed_slice_dims,
                        &gather.operand_batching_dims,
                        &gather.start_indices_batching_dims,
                        &gather.start_index_map,
                        &gather.slice_sizes})
    hash_vec(h, *v);
  hash_mix(h, static_cast<size_t>(gather.index_vector_dim));
  hash_mix(h, (gather.indices_are_sorted ? 1u : 0u) | (gather.unique_indices ? 2u : 0u));
  hash_mix(h, static_cast<size_t>(conv.feature_group_count));
  hash_mix(h, static_cast<size_t>(conv.batch_group_count));
  hash_mix(h, static_cast<size_t>(axis));
  hash_mix(h, value.bits);
  hash_mix(h, static_cast<size_t>(value.dtype));
  hash_mix(h, reinterpret_cast<size_t>(literal.get()));
  hash_mix(h, static_cast<size_t>(index));
  for (const std::string& axis : collective.axes) hash_mix(h, std::hash<std::string>{}(axis));
  hash_mix(h, static_cast<size_t>(collective.axis_size));
  hash_mix(h, static_cast<size_t>(collective.dimension));
  hash_mix(h, static_cast<size_t>(collective.concat_dimension));
  hash_mix(h, static_cast<size_t>(collective.tiled));
  for (const auto& [src, dst] : collective.perm) {
    hash_mix(h, static_cast<size_t>(src));
    hash_mix(h, static_cast<size_t>(dst));
  }
  for (const std::string& axis : split.mesh.names) hash_mix(h, std::hash<std::string>{}(axis));
  hash_vec(h, split.mesh.sizes);
  for (const auto& d : split.dims) {
    hash_mix(h, d.size());
    for (const std::string& axis : d) hash_mix(h, std::hash<std::string>{}(axis));
  }
  if (preferred_element_type) hash_mix(h, 1 + static_cast<size_t>(*preferred_element_type));
  hash_mix(h, static_cast<size_t>(exponent_bits) << 8 | static_cast<size_t>(mantissa_bits));
  hash_mix(h, static_cast<size_t>(reverse));
  hash_mix(h, static_cast<size_t>(num_keys));
  hash_mix(h, static_cast<size_t>(k));
  hash_mix(h, static_cast<size_t>(result));
  return h;
}

std::string ValueType::str() const {
  return std::string(short_name(dtype)) + "[" + shape.dims_str() + "]";
}

std::string attrs_str(Prim p, const Attrs& a) {
  std::string s;
  auto add = [&](const std::string& kv) { s += (s.empty() ? "" : " ") + kv; };
  switch (p) {
    case Prim::full:
      add("value=" + std::to_string(a.value.to_double()));
      break;
    case Prim::iota:
      add("dimension=" + std::to_string(a.axis));
      break;
    case Prim::convert:
    case Prim::bitcast_convert:
      add("new_dtype=" + std::string(name(a.dtype)));
      break;
    case Prim::broadcast_in_dim:
      add("shape=" + ints(a.shape.vec()));
      add("broadcast_dimensions=" + ints(a.dims));
      break;
    case Prim::reshape:
      add("new_sizes=" + ints(a.shape.vec()));
      break;
    case Prim::transpose:
      add("permutation=" + ints(a.dims));
      break;
    case Prim::slice:
      add("start_indices=" + ints(a.start));
      add("limit_indices=" + ints(a.limit));
      add("strides=" + ints(a.stride));
      break;
    case Prim::concatenate:
      add("dimension=" + std::to_string(a.axis));
      break;
    case Prim::pad: {
      std::string cfg = "(";
      for (size_t i = 0; i < a.low.size(); ++i)
        cfg += (i ? ", " : "") + std::string("(") + std::to_string(a.low[i]) + ", " +
               std::to_string(a.high[i]) + ", " + std::to_string(a.interior[i]) + ")";
      add("padding_config=" + cfg + ")");
      break;
    }
    case Prim::sharding_constraint: {
      std::string spec = "P(";
      for (size_t d = 0; d < a.split.dims.size(); ++d) {
        const auto& axes = a.split.dims[d];
        spec += d ? ", " : "";
        if (axes.empty()) spec += "None";
        for (size_t i = 0; i < axes.size(); ++i)
          spec += (axes.size() > 1 && i == 0 ? "(" : i ? ", " : "") + ("'" + axes[i] + "'");
        if (axes.size() > 1) spec += ")";
      }
      add("sharding=" + spec + ")");
      break;
    }
    case Prim::reduce_sum:
    case Prim::reduce_max:
    case Prim::reduce_min:
    case Prim::reduce_prod:
      add("axes=" + ints(a.dims));
      break;
    case Prim::argmax:
    case Prim::argmin:
      add("axes=(" + std::to_string(a.axis) + ",)");
      break;
    case Prim::cumsum:
    case Prim::cumprod:
    case Prim::cummax:
    case Prim::cummin:
      add("axis=" + std::to_string(a.axis));
      add(std::string("reverse=") + (a.reverse ? "True" : "False"));
      break;
    case Prim::sort:
      add("dimension=" + std::to_string(a.axis));
      add("num_keys=" + std::to_string(a.num_keys));
      add("result=" + std::to_string(a.result));
      break;
    case Prim::top_k:
      add("k=" + std::to_string(a.k));
      add("result=" + std::to_string(a.result));
      break;
    case Prim::dot_general:
      add("dimension_numbers=((" + ints(a.dot.lhs_contract) + ", " + ints(a.dot.rhs_contract) +
          "), (" + ints(a.dot.lhs_batch) + ", " + ints(a.dot.rhs_batch) + "))");
      if (a.preferred_element_type)
        add("preferred_element_type=" + std::string(name(*a.preferred_element_type)));
      break;
    case Prim::reduce_precision:
      add("exponent_bits=" + std::to_string(a.exponent_bits));
      add("mantissa_bits=" + std::to_string(a.mantissa_bits));
      break;
    case Prim::convolution: {
      const ConvDims& c = a.conv;
      add("window_strides=" + ints(c.window_strides));
      add("padding=" + pairs(c.padding_low, c.padding_high));
      add("lhs_dilation=" + ints(c.lhs_dilation));
      add("rhs_dilation=" + ints(c.rhs_dilation));
      add("dimension_numbers=ConvDimensionNumbers(lhs_spec=" + ints(c.lhs_spec) +
          ", rhs_spec=" + ints(c.rhs_spec) + ", out_spec=" + ints(c.out_spec) + ")");
      add("feature_group_count=" + std::to_string(c.feature_group_count));
      add("batch_group_count=" + std::to_string(c.batch_group_count));
      if (a.preferred_element_type)
        add("preferred_element_type=" + std::string(name(*a.preferred_element_type)));
      break;
    }
    case Prim::reduce_window_sum:
    case Prim::reduce_window_max:
    case Prim::reduce_window_min:
    case Prim::reduce_window_prod:
    case Prim::select_and_scatter_add:
      add("window_dimensions=" + ints(a.window));
      add("window_strides=" + ints(a.stride));
      add("padding=" + pairs(a.low, a.high));
      break;
    case Prim::rev:
      add("dimensions=" + ints(a.dims));
      break;
    case Prim::psum:
    case Prim::pmax:
    case Prim::all_gather:
    case Prim::psum_scatter:
    case Prim::all_to_all:
    case Prim::ppermute:
    case Prim::axis_index: {
      const CollectiveAttrs& c = a.collective;
      std::string axes = "(";
      for (size_t i = 0; i < c.axes.size(); ++i)
        axes += (i ? ", " : "") + std::string("'") + c.axes[i] + "'";
      add("axes=" + axes + (c.axes.size() == 1 ? ",)" : ")"));
      if (p == Prim::all_gather) add("all_gather_dimension=" + std::to_string(c.dimension));
      if (p == Prim::psum_scatter) add("scatter_dimension=" + std::to_string(c.dimension));
      if (p == Prim::all_gather || p == Prim::psum_scatter)
        add(std::string("tiled=") + (c.tiled ? "True" : "False"));
      if (p == Prim::all_to_all) {
        add("split_axis=" + std::to_string(c.dimension));
        add("concat_axis=" + std::to_string(c.concat_dimension));
      }
      if (p == Prim::ppermute) {
        std::string perm = "(";
        for (size_t i = 0; i < c.perm.size(); ++i)
          perm += (i ? ", " : "") + std::string("(") + std::to_string(c.perm[i].first) + ", " +
                  std::to_string(c.perm[i].second) + ")";
        add("perm=" + perm + ")");
      }
      break;
    }
    case Prim::gather: {
      const GatherDims& d = a.gather;
      add("dimension_numbers=GatherDimensionNumbers(offset_dims=" + ints(d.offset_dims) +
          ", collapsed_slice_dims=" + ints(d.collapsed_slice_dims) + ", start_index_map=" +
          ints(d.start_index_map) + ", operand_batching_dims=" + ints(d.operand_batching_dims) +
          ", start_indices_batching_dims=" + ints(d.start_indices_batching_dims) + ")");
      add("slice_sizes=" + ints(d.slice_sizes));
      add("index_vector_dim=" + std::to_string(d.index_vector_dim));
      add(std::string("indices_are_sorted=") + (d.indices_are_sorted ? "True" : "False"));
      add(std::string("unique_indices=") + (d.unique_indices ? "True" : "False"));
      break;
    }
    case Prim::scatter:
    case Prim::scatter_add:
    case Prim::scatter_mul:
    case Prim::scatter_min:
    case Prim::scatter_max: {
      const GatherDims& d = a.gather;
      add("dimension_numbers=ScatterDimensionNumbers(update_window_dims=" + ints(d.offset_dims) +
          ", inserted_window_dims=" + ints(d.collapsed_slice_dims) +
          ", scatter_dims_to_operand_dims=" + ints(d.start_index_map) +
          ", operand_batching_dims=" + ints(d.operand_batching_dims) +
          ", scatter_indices_batching_dims=" + ints(d.start_indices_batching_dims) + ")");
      add("index_vector_dim=" + std::to_string(d.index_vector_dim));
      add(std::string("indices_are_sorted=") + (d.indices_are_sorted ? "True" : "False"));
      add(std::string("unique_indices=") + (d.unique_indices ? "True" : "False"));
      break;
    }
    case Prim::dynamic_slice:
      add("slice_sizes=" + ints(a.shape.vec()));
      break;
    default:
      break;
  }
  return s.empty() ? "" : "[" + s + "]";
}

ValueId Graph::add(Prim p, std::vector<ValueId> in, Attrs attrs, std::source_location loc) {
  std::vector<ValueType> types;
  types.reserve(in.size());
  for (ValueId v : in) types.push_back(nodes.at(v).type);
  ValueType t = infer_type(p, types, attrs, loc);
  nodes.push_back(Node{p, std::move(in), std::move(attrs), std::move(t), loc});
  return static_cast<ValueId>(nodes.size() - 1);
}

ValueId Graph::add_parameter(ValueType type, std::source_location loc) {
  Attrs a;
  a.index = static_cast<int64_t>(inputs.size());
  nodes.push_back(Node{Prim::parameter, {}, std::move(a), std::move(type), loc});
  auto v = static_cast<ValueId>(nodes.size() - 1);
  inputs.push_back(v);
  return v;
}

void Graph::verify() const {
  auto fail = [&](size_t i, const std::string& why) {
    throw Error("ir verifier: node %" + value_name(static_cast<ValueId>(i)) + " (" +
                std::string(ir::name(nodes[i].prim)) + ") " + why + "\n" + str());
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    int arity = info(n.prim).arity;
    if (arity >= 0 && static_cast<int>(n.inputs.size()) != arity)
      fail(i, "has " + std::to_string(n.inputs.size()) + " operands, expected " +
                  std::to_string(arity));
    std::vector<ValueType> types;
    for (ValueId v : n.inputs) {
      if (v >= i) fail(i, "reads value " + value_name(v) + " before it is defined");
      types.push_back(nodes[v].type);
    }
    if (n.prim == Prim::parameter) {
      if (n.attrs.index < 0 || static_cast<size_t>(n.attrs.index) >= inputs.size() ||
          inputs[n.attrs.index] != i)
        fail(i, "is not listed as graph input " + std::to_string(n.attrs.index));
      continue;
    }
    if (n.prim == Prim::constant) {
      if (!n.attrs.literal ||
          n.attrs.literal->bytes() != n.type.shape.numel() * itemsize(n.type.dtype))
        fail(i, "has a literal whose size does not match " + n.type.str());
      continue;
    }
    ValueType t;
    try {
      t = infer_type(n.prim, types, n.attrs, n.loc);
    } catch (const Error& e) {
      fail(i, std::string("is ill-typed: ") + e.what());
    }
    if (!(t == n.type))
      fail(i, "records type " + n.type.str() + " but its operands give " + t.str());
  }
  for (ValueId v : outputs)
    if (v >= nodes.size())
      throw Error("ir verifier: output names undefined value " + value_name(v));
}

std::string Graph::str() const {
  std::ostringstream os;
  os << "{ lambda ; ";
  for (ValueId v : inputs) os << value_name(v) << ":" << nodes[v].type.str() << " ";
  os << ". let\n";
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (n.prim == Prim::parameter) continue;
    os << "    " << value_name(static_cast<ValueId>(i)) << ":" << n.type.str() << " = "
       << ir::name(n.prim) << attrs_str(n.prim, n.attrs);
    for (ValueId v : n.inputs) os << " " << value_name(v);
    os << "\n";
  }
  os << "  in (";
  for (size_t i = 0; i < outputs.size(); ++i) os << (i ? ", " : "") << value_name(outputs[i]);
  if (outputs.size() == 1) os << ",";
  os << ") }";
  return os.str();
}

}  // namespace kiln::ir
