// StableHLO MLIR text -> ir::Graph: the reverse of src/export/stablehlo.cpp. The syntax lives in
// mlir_syntax.cpp; here each op name maps to a kiln primitive and the reader of its attributes
// (derived from the registry's rows, plus the ops JAX writes that kiln does not), and every node
// goes through ir::Graph::add, so its type is inferred and then checked against the type the text
// declares.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <unordered_map>
#include <vector>

#include "export/elementwise_ops.hpp"
#include "import/dense_literal.hpp"
#include "import/mlir_syntax.hpp"
#include "import/sort_comparator.hpp"
#include "import/while_loop.hpp"
#include "kiln/backend.hpp"
#include "kiln/error.hpp"
#include "kiln/import.hpp"
#include "passes/dead_code.hpp"

namespace kiln {
namespace {

using ir::Prim;
using ir::ValueId;
using mlir::Attr;
using mlir::Op;
using mlir::Pos;
using mlir::type_text;

// The identity of a reduction's combiner, as bits of `t`: what kiln's reductions start from, and
// what the exporter writes as their init value.
uint64_t identity_bits(Prim combine, DType t) {
  const size_t bits = 8 * itemsize(t);
  const uint64_t all = bits == 64 ? ~0ull : (1ull << bits) - 1;
  if (combine == Prim::add) return 0;
  if (combine == Prim::mul) return Scalar::from_int(1, t).bits;
  const bool max = combine == Prim::max;
  switch (t) {
    case DType::bfloat16:
      return max ? 0xFF80 : 0x7F80;
    case DType::float16:
      return max ? 0xFC00 : 0x7C00;
    case DType::float32:
      return max ? 0xFF800000u : 0x7F800000u;
    case DType::float64:
      return max ? 0xFFF0000000000000ull : 0x7FF0000000000000ull;
    default:
      break;
  }
  if (is_unsigned(t) || t == DType::bool_) return max ? 0 : (t == DType::bool_ ? 1 : all);
  const uint64_t sign = 1ull << (bits - 1);
  return max ? sign : sign - 1;  // the minimum / maximum two's-complement value
}

class Importer;
using Lower = std::vector<ValueId> (Importer::*)(const Op&, const std::vector<ValueId>&, Prim);

// One row per op name: the primitive it becomes and the reader of its attributes.
struct OpRule {
  std::string_view name;
  Prim prim;
  Lower lower;
};

class Importer {
 public:
  Importer(const mlir::Module& m, std::string_view source) : m_(m), source_(source) {}

  ir::Graph run();
  static const OpRule* rule(std::string_view name);

  // --- lowerings (one per row shape of kOps) ---
  std::vector<ValueId> elementwise(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> compare(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> convert(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> constant(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> iota(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> broadcast_in_dim(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> reshape(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> dims_op(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> slice(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> concatenate(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> pad(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> reduce(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> dot_general(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> dot(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> convolution(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> reduce_window(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> select_and_scatter(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> gather(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> scatter(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> dynamic_slice(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> sort(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> top_k(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> custom_call(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> clamp(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> is_finite(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> square(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> inverse_trig(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> reduce_precision(const Op& op, const std::vector<ValueId>& in, Prim p);
  std::vector<ValueId> cosh(const Op& op, const std::vector<ValueId>& in, Prim p);

 private:
  using Env = std::unordered_map<std::string, ValueId>;

  std::vector<ValueId> call(const mlir::Func& f, const std::vector<ValueId>& args, Pos at,
                            int depth);
  void lower(const Op& op, Env& env, int depth);
  // One instance of a region of `op` (a while's cond or body) lowered in the scope `env`: its
  // arguments and values are visible to its ops only (sibling regions reuse names).
  std::vector<ValueId> region_instance(const Op& op, const mlir::Region& r,
                                       const std::vector<ValueId>& args, Env& env, int depth);
  const mlir::Func* find(std::string_view name) const {
    for (const mlir::Func& f : m_.funcs)
      if (f.name == name) return &f;
    return nullptr;
  }

  [[noreturn]] void fail(Pos at, const std::string& what, const std::string& hint) const {
    throw ValueError(mlir::where(source_, at) + what + (hint.empty() ? "" : ". " + hint));
  }
  [[noreturn]] void unsupported(Pos at, const std::string& what, const std::string& hint) const {
    throw Unsupported(mlir::where(source_, at) + what + ". " + hint);
  }

  // Appends a node; a type error from kiln's shape rules becomes an error at the op's line.
  ValueId add(const Op& op, Prim p, std::vector<ValueId> in, ir::Attrs a);
  ValueId add_full(DType t, const Shape& s, uint64_t bits);
  ValueId broadcast_scalar(const Op& op, ValueId scalar, const Shape& s);
  // The type the text declares for result k (function form, or the single type of a pretty form).
  const ir::ValueType* declared(const Op& op, size_t k) const;

  // Attribute readers: the first of `names` present (pretty and generic spellings differ).
  const Attr* find_attr(const Op& op, std::initializer_list<std::string_view> names) const;
  std::vector<int64_t> ints(const Op& op, std::initializer_list<std::string_view> names) const;
  std::vector<int64_t> ints_or(const Op& op, std::initializer_list<std::string_view> names,
                               size_t n, int64_t fill) const;
  int64_t integer(const Op& op, std::initializer_list<std::string_view> names, int64_t fallback,
                  bool required) const;
  std::vector<int64_t> to_ints(const Attr& a) const;
  // The one binary op a reducer region applies to its two arguments: "stablehlo.add", ...
  std::string region_combiner(const Op& op, const mlir::Region& r) const;
  // Folds a non-identity init value into a reduction's result: combine(result, init).
  ValueId with_init(const Op& op, ValueId result, ValueId init, Prim combine);
  ValueId convert_to(const Op& op, ValueId v, DType t);
  // The cumulative primitive a reduce_window is, when JAX's cumsum/cumprod/cummax/cummin form:
  // a window spanning one axis, padded by its length - 1 before it (or after it: reverse).
  bool cumulative(const ir::Attrs& window, const Shape& s, ir::Attrs& scan) const;
  // Whether v is a `full` of `bits`, or a broadcast of one (JAX broadcasts init values to
  // their own 0-d shape), or (complex, whose values are literals) a zero literal when bits is 0.
  bool is_full_with(ValueId v, uint64_t bits) const {
    while (g_.nodes[v].prim == Prim::broadcast_in_dim) v = g_.nodes[v].inputs[0];
    const ir::Node& n = g_.nodes[v];
    if (n.prim == Prim::constant && bits == 0 && is_complex(n.type.dtype) && n.attrs.literal) {
      const auto* p = static_cast<const uint8_t*>(n.attrs.literal->host_data());
      return std::all_of(p, p + n.attrs.literal->bytes(), [](uint8_t b) { return b == 0; });
    }
    return n.prim == Prim::full && n.attrs.value.bits == bits;
  }
  void window_attrs(const Op& op, const ValueId operand, ir::Attrs& a) const;
  ir::GatherDims gather_dims(const Op& op, const char* attr, bool scatter) const;
  void result_dtype_as_preferred(const Op& op, const std::vector<ValueId>& in, ir::Attrs& a) const;

  const mlir::Module& m_;
  std::string_view source_;
  ir::Graph g_;
};

// The ops with their own readers, named by their primitive's row (the name the exporter writes);
// the plain elementwise ops need no reader of their own (op_rules below).
struct Reader {
  Prim prim;
  Lower lower;
};
const Reader kReaders[] = {
    {Prim::eq, &Importer::compare},  // stablehlo.compare: the direction picks eq ... ge
    {Prim::select, &Importer::elementwise},
    {Prim::constant, &Importer::constant},  // full exports as a constant too
    {Prim::iota, &Importer::iota},
    {Prim::convert, &Importer::convert},
    {Prim::bitcast_convert, &Importer::convert},
    {Prim::reduce_precision, &Importer::reduce_precision},
    {Prim::broadcast_in_dim, &Importer::broadcast_in_dim},
    {Prim::reshape, &Importer::reshape},
    {Prim::transpose, &Importer::dims_op},
    {Prim::rev, &Importer::dims_op},
    {Prim::slice, &Importer::slice},
    {Prim::concatenate, &Importer::concatenate},
    {Prim::pad, &Importer::pad},
    {Prim::reduce_sum, &Importer::reduce},  // stablehlo.reduce: also reduce_max/min, argmax
    {Prim::dot_general, &Importer::dot_general},
    {Prim::convolution, &Importer::convolution},
    {Prim::reduce_window_sum, &Importer::reduce_window},  // and reduce_window_max
    {Prim::select_and_scatter_add, &Importer::select_and_scatter},
    {Prim::gather, &Importer::gather},
    {Prim::scatter, &Importer::scatter},  // the update region picks scatter_add, ...
    {Prim::dynamic_slice, &Importer::dynamic_slice},
    {Prim::dynamic_update_slice, &Importer::dynamic_slice},
    {Prim::sort, &Importer::sort},
    {Prim::top_k, &Importer::top_k},
    {Prim::sharding_constraint, &Importer::custom_call},  // stablehlo.custom_call @Sharding
};

// Ops JAX writes that kiln does not export: each lowers to the primitives it starts from.
const OpRule kJaxOps[] = {
    {"stablehlo.clamp", Prim::max, &Importer::clamp},
    {"stablehlo.is_finite", Prim::lt, &Importer::is_finite},  // jax.nn.logsumexp uses it
    {"stablehlo.dot", Prim::dot_general, &Importer::dot},
    {"chlo.square", Prim::mul, &Importer::square},        // jnp.square (LayerNorm's variance)
    {"chlo.asin", Prim::atan2, &Importer::inverse_trig},  // jnp.arcsin, arccos, arctan
    {"chlo.acos", Prim::atan2, &Importer::inverse_trig},
    {"chlo.atan", Prim::atan2, &Importer::inverse_trig},
    {"chlo.cosh", Prim::exp, &Importer::cosh},  // NetKet's log_cosh
};

// Ops the parser must accept that are not lowered to nodes: calls, returns, while loops.
bool is_control(std::string_view name) {
  return name == "call" || name == "func.call" || name == "return" || name == "func.return" ||
         name == "stablehlo.return" || name == "stablehlo.while";
}

const std::vector<OpRule>& op_rules() {
  static const std::vector<OpRule> rules = [] {
    std::vector<OpRule> r;
    for (const ir::PrimInfo& row : ir::registry::kPrimTable)
      if (is_plain_elementwise(row.prim))
        r.push_back({row.stablehlo, row.prim, &Importer::elementwise});
    for (const Reader& k : kReaders) r.push_back({ir::info(k.prim).stablehlo, k.prim, k.lower});
    r.insert(r.end(), std::begin(kJaxOps), std::end(kJaxOps));
    return r;
  }();
  return rules;
}

const OpRule* Importer::rule(std::string_view name) {
  for (const OpRule& r : op_rules())
    if (r.name == name) return &r;
  return nullptr;
}

// --- attribute readers ----------------------------------------------------------------------

const Attr* Importer::find_attr(const Op& op, std::initializer_list<std::string_view> names) const {
  for (std::string_view n : names)
    if (const Attr* a = op.attr(n)) return a;
  return nullptr;
}

std::vector<int64_t> Importer::to_ints(const Attr& a) const {
  std::vector<int64_t> out;
  switch (a.kind) {
    case Attr::Kind::integer:
      return {a.integer};
    case Attr::Kind::list:
      for (const Attr& item : a.items) {
        if (item.kind != Attr::Kind::integer)
          fail(item.pos, "expected an integer, found '" + item.text + "'",
               "Write integer lists as [1, 2] or array<i64: 1, 2>");
        out.push_back(item.integer);
      }
      return out;
    case Attr::Kind::dense: {  // dense<[1, 2]> : tensor<2xi64>, or a splat dense<1>
      if (!is_integer(a.type.dtype))
        fail(a.pos, "expected an integer dense<...>, found one of " + type_text(a.type),
             "Use tensor<Nxi64>");
      const std::vector<const Attr*> flat = mlir::dense_elements(a);
      const int64_t n = a.type.shape.numel();
      if (!(static_cast<int64_t>(flat.size()) == n || (flat.size() == 1 && n <= (1 << 20))))
        fail(a.pos,
             "dense literal has " + std::to_string(flat.size()) + " elements for " +
                 type_text(a.type),
             "Give one element per position, or one for all");
      for (int64_t i = 0; i < n; ++i) {
        const Attr& e = *flat[flat.size() == 1 ? 0 : i];
        if (e.kind != Attr::Kind::integer) fail(e.pos, "expected an integer in dense<...>", "");
        out.push_back(e.integer);
      }
      return out;
    }
    default:
      fail(a.pos, "expected a list of integers", "Write [1, 2], array<i64: 1, 2> or dense<...>");
  }
}

std::vector<int64_t> Importer::ints(const Op& op,
                                    std::initializer_list<std::string_view> names) const {
  const Attr* a = find_attr(op, names);
  if (!a)
    fail(op.pos, op.name + " lacks its '" + std::string(*names.begin()) + "' attribute",
         "Write it as the op's syntax requires (docs/import.md)");
  return to_ints(*a);
}

std::vector<int64_t> Importer::ints_or(const Op& op, std::initializer_list<std::string_view> names,
                                       size_t n, int64_t fill) const {
  const Attr* a = find_attr(op, names);
  return a ? to_ints(*a) : std::vector<int64_t>(n, fill);
}

int64_t Importer::integer(const Op& op, std::initializer_list<std::string_view> names,
                          int64_t fallback, bool required) const {
  const Attr* a = find_attr(op, names);
  if (!a) {
    if (required)
      fail(op.pos, op.name + " lacks its '" + std::string(*names.begin()) + "' attribute",
           "Write it as the op's syntax requires (docs/import.md)");
    return fallback;
  }
  const std::vector<int64_t> v = to_ints(*a);
  if (v.size() != 1) fail(a->pos, "expected one integer", "");
  return v[0];
}

// --- building nodes -------------------------------------------------------------------------

ValueId Importer::add(const Op& op, Prim p, std::vector<ValueId> in, ir::Attrs a) {
  const int arity = ir::info(p).arity;
  if (arity >= 0 && static_cast<int>(in.size()) != arity)
    fail(op.pos,
         op.name + " takes " + std::to_string(arity) + " operand" + (arity == 1 ? "" : "s") +
             ", found " + std::to_string(in.size()),
         "Pass exactly the operands the op takes");
  try {
    return g_.add(p, std::move(in), std::move(a), {});
  } catch (const Error& e) {
    fail(op.pos, op.name + ": " + e.what(), "Fix the operands or attributes the text gives");
  }
}

ValueId Importer::add_full(DType t, const Shape& s, uint64_t bits) {
  ir::Attrs a;
  a.shape = s;
  a.dtype = t;
  a.value = Scalar{t, bits};
  g_.nodes.push_back(ir::Node{Prim::full, {}, std::move(a), {t, s}, {}});
  return static_cast<ValueId>(g_.nodes.size() - 1);
}

ValueId Importer::broadcast_scalar(const Op& op, ValueId scalar, const Shape& s) {
  if (g_.type(scalar).shape == s) return scalar;
  ir::Attrs a;
  a.shape = s;
  return add(op, Prim::broadcast_in_dim, {scalar}, a);
}

const ir::ValueType* Importer::declared(const Op& op, size_t k) const {
  if (op.function_type) return k < op.result_types.size() ? &op.result_types[k] : nullptr;
  return op.types.empty() ? nullptr : &op.types.back();
}

ValueId Importer::with_init(const Op& op, ValueId result, ValueId init, Prim combine) {
  if (is_full_with(init, identity_bits(combine, g_.type(init).dtype))) return result;
  if (g_.type(init).shape.rank() != 0)
    fail(op.pos, op.name + ": the init value must be a scalar, found " + type_text(g_.type(init)),
         "Pass a tensor<T> init value");
  const ValueId b = broadcast_scalar(op, init, g_.type(result).shape);
  return add(op, combine, {result, b}, {});
}

std::string Importer::region_combiner(const Op& op, const mlir::Region& r) const {
  if (const Attr* a = op.attr("applies")) return a->text;
  // ^bb0(%a, %b): %r = OP %a, %b; return %r
  if (r.args.size() == 2 && r.ops.size() == 2 && r.ops[0].operands.size() == 2 &&
      r.ops[0].results.size() == 1 && r.ops[1].operands.size() == 1 &&
      r.ops[1].operands[0] == r.ops[0].results[0]) {
    const Op& body = r.ops[0];
    const bool args_in_order =
        body.operands[0] == r.args[0].first && body.operands[1] == r.args[1].first;
    const bool args_swapped =
        body.operands[0] == r.args[1].first && body.operands[1] == r.args[0].first;
    if (args_in_order || args_swapped) return body.name;
  }
  return "";
}

// --- lowerings ------------------------------------------------------------------------------

// On i1, StableHLO's maximum and add are logical or, minimum and multiply logical and (JAX writes
// them for jnp.maximum/minimum of bools, and lax.add/mul of bools); kiln's arithmetic rows take
// no bool, so they read as the logic ops. A select whose predicate is a scalar (JAX's lax.select
// and jnp.where of a 0-d condition) broadcasts it.
std::vector<ValueId> Importer::elementwise(const Op& op, const std::vector<ValueId>& in, Prim p) {
  if (in.size() == 2 && g_.type(in[0]).dtype == DType::bool_) {
    if (p == Prim::max || p == Prim::add) p = Prim::or_;
    if (p == Prim::min || p == Prim::mul) p = Prim::and_;
  }
  if (p == Prim::select && in.size() == 3 && g_.type(in[0]).shape.rank() == 0 &&
      g_.type(in[1]).shape.rank() > 0)
    return {add(op, p, {broadcast_scalar(op, in[0], g_.type(in[1]).shape), in[1], in[2]}, {})};
  return {add(op, p, in, {})};
}

// XLA's expansions of chlo.asin / acos / atan for real operands (the same ops kiln's arcsin,
// arccos and arctan write): r = sqrt((1 - x)(1 + x)); asin = 2·atan2(x, 1 + r) (as a sum),
// acos = atan2(r, x), atan = atan2(x, 1).
std::vector<ValueId> Importer::inverse_trig(const Op& op, const std::vector<ValueId>& in, Prim) {
  if (in.size() != 1 || !is_floating(g_.type(in[0]).dtype))
    fail(op.pos, op.name + " takes one floating-point operand", "");
  const ir::ValueType& t = g_.type(in[0]);
  const ValueId x = in[0];
  const ValueId one = add_full(t.dtype, t.shape, Scalar::from_double(1.0, t.dtype).bits);
  if (op.name == "chlo.atan") return {add(op, Prim::atan2, {x, one}, {})};
  const ValueId r =
      add(op, Prim::sqrt,
          {add(op, Prim::mul, {add(op, Prim::sub, {one, x}, {}), add(op, Prim::add, {x, one}, {})},
               {})},
          {});
  if (op.name == "chlo.acos") return {add(op, Prim::atan2, {r, x}, {})};
  const ValueId half = add(op, Prim::atan2, {x, add(op, Prim::add, {r, one}, {})}, {});
  return {add(op, Prim::add, {half, half}, {})};
}

// stablehlo.reduce_precision %x, format = e5m2 (pretty) or exponent_bits / mantissa_bits
// attributes (generic).
std::vector<ValueId> Importer::reduce_precision(const Op& op, const std::vector<ValueId>& in,
                                                Prim p) {
  ir::Attrs a;
  if (const Attr* f = op.attr("format")) {
    const std::string& s = f->text;
    const size_t m = s.find('m');
    char* end = nullptr;
    if (s.size() < 4 || s[0] != 'e' || m == std::string::npos || m < 2)
      fail(f->pos,
           "reduce_precision format must be e<exponent bits>m<mantissa bits>, found '" + s + "'",
           "Write format = e5m2");
    a.exponent_bits = static_cast<int32_t>(std::strtol(s.c_str() + 1, &end, 10));
    if (end != s.c_str() + m)
      fail(f->pos,
           "reduce_precision format must be e<exponent bits>m<mantissa bits>, found '" + s + "'",
           "Write format = e5m2");
    a.mantissa_bits = static_cast<int32_t>(std::strtol(s.c_str() + m + 1, &end, 10));
    if (*end != '\0' || m + 1 == s.size())
      fail(f->pos,
           "reduce_precision format must be e<exponent bits>m<mantissa bits>, found '" + s + "'",
           "Write format = e5m2");
  } else {
    a.exponent_bits = static_cast<int32_t>(integer(op, {"exponent_bits"}, 0, true));
    a.mantissa_bits = static_cast<int32_t>(integer(op, {"mantissa_bits"}, 0, true));
  }
  return {add(op, p, in, a)};
}

// A product whose declared result dtype is not its operands' carries it as
// preferred_element_type (JAX's int8 -> int32, bfloat16 -> float32 products).
void Importer::result_dtype_as_preferred(const Op& op, const std::vector<ValueId>& in,
                                         ir::Attrs& a) const {
  const ir::ValueType* t = declared(op, 0);
  if (t && !in.empty() && t->dtype != g_.type(in[0]).dtype) a.preferred_element_type = t->dtype;
}

std::vector<ValueId> Importer::compare(const Op& op, const std::vector<ValueId>& in, Prim) {
  std::string dir;
  if (!op.keywords.empty()) {
    dir = op.keywords[0];
  } else if (const Attr* a = op.attr("comparison_direction")) {
    dir = a->text.substr(a->text.find_last_of(' ') + 1);  // "comparison_direction GT"
  }
  // The exporter writes the primitive's name in capitals (eq -> EQ).
  for (const ir::PrimInfo& row : ir::registry::kPrimTable) {
    if (row.kind != ir::PrimKind::compare || row.name.size() != dir.size()) continue;
    if (std::equal(dir.begin(), dir.end(), row.name.begin(),
                   [](char d, char c) { return d == std::toupper(static_cast<unsigned char>(c)); }))
      return {add(op, row.prim, in, {})};
  }
  fail(op.pos, "stablehlo.compare needs a direction (EQ, NE, LT, LE, GT, GE), found '" + dir + "'",
       "Write stablehlo.compare GT, %a, %b : ...");
}

std::vector<ValueId> Importer::clamp(const Op& op, const std::vector<ValueId>& in, Prim) {
  if (in.size() != 3)
    fail(op.pos,
         "stablehlo.clamp takes 3 operands (min, x, max), found " + std::to_string(in.size()),
         "Pass min, x, max");
  const Shape& s = g_.type(in[1]).shape;
  const ValueId lo = broadcast_scalar(op, in[0], s), hi = broadcast_scalar(op, in[2], s);
  return {add(op, Prim::min, {add(op, Prim::max, {in[1], lo}, {}), hi}, {})};
}

// |x| < inf: false for infinities and NaNs, exactly is_finite.
std::vector<ValueId> Importer::is_finite(const Op& op, const std::vector<ValueId>& in, Prim p) {
  if (in.size() != 1 || !is_floating(g_.type(in[0]).dtype))
    fail(op.pos, "stablehlo.is_finite takes one floating-point operand", "");
  const ir::ValueType& t = g_.type(in[0]);
  const ValueId inf = add_full(t.dtype, t.shape, identity_bits(Prim::min, t.dtype));
  return {add(op, p, {add(op, Prim::abs, in, {}), inf}, {})};
}

// x * x, as XLA expands it.
std::vector<ValueId> Importer::square(const Op& op, const std::vector<ValueId>& in, Prim p) {
  if (in.size() != 1) fail(op.pos, "chlo.square takes one operand", "");
  return {add(op, p, {in[0], in[0]}, {})};
}

// CHLO's expansion, exp(x + log 1/2) + exp(-x + log 1/2): it overflows only where cosh does.
std::vector<ValueId> Importer::cosh(const Op& op, const std::vector<ValueId>& in, Prim p) {
  if (in.size() != 1) fail(op.pos, "chlo.cosh takes one operand", "");
  const ir::ValueType t = g_.type(in[0]);
  const DType part = real_dtype(t.dtype);
  if (!is_floating(part))
    fail(op.pos, "chlo.cosh takes a floating-point or complex operand, found " + type_text(t), "");
  ValueId log_half = add_full(part, t.shape, Scalar::from_double(std::log(0.5), part).bits);
  if (is_complex(t.dtype)) {  // (log 1/2, 0): a full holds a real value
    ir::Attrs a;
    a.dtype = t.dtype;
    log_half = add(op, Prim::convert, {log_half}, a);
  }
  const ValueId up = add(op, p, {add(op, Prim::add, {in[0], log_half}, {})}, {});
  const ValueId down = add(op, p, {add(op, Prim::sub, {log_half, in[0]}, {})}, {});
  return {add(op, Prim::add, {up, down}, {})};
}

std::vector<ValueId> Importer::convert(const Op& op, const std::vector<ValueId>& in, Prim p) {
  const ir::ValueType* t = declared(op, 0);
  if (!t) fail(op.pos, op.name + " needs its result type", "Write : (tensor<..>) -> tensor<..>");
  ir::Attrs a;
  a.dtype = t->dtype;
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::iota(const Op& op, const std::vector<ValueId>& in, Prim p) {
  const ir::ValueType* t = declared(op, 0);
  if (!t || !in.empty()) fail(op.pos, "stablehlo.iota takes no operands and a result type", "");
  ir::Attrs a;
  a.shape = t->shape;
  a.dtype = t->dtype;
  a.axis = integer(op, {"dim", "iota_dimension"}, 0, true);
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::broadcast_in_dim(const Op& op, const std::vector<ValueId>& in,
                                                Prim p) {
  const ir::ValueType* t = declared(op, 0);
  if (!t) fail(op.pos, op.name + " needs its result type", "Write : (tensor<..>) -> tensor<..>");
  ir::Attrs a;
  a.shape = t->shape;
  a.dims = ints(op, {"dims", "broadcast_dimensions"});
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::reshape(const Op& op, const std::vector<ValueId>& in, Prim p) {
  const ir::ValueType* t = declared(op, 0);
  if (!t) fail(op.pos, op.name + " needs its result type", "Write : (tensor<..>) -> tensor<..>");
  ir::Attrs a;
  a.shape = t->shape;
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::dims_op(const Op& op, const std::vector<ValueId>& in, Prim p) {
  ir::Attrs a;
  a.dims = ints(op, {"dims", "permutation", "dimensions"});
  if (p == Prim::rev) std::sort(a.dims.begin(), a.dims.end());
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::slice(const Op& op, const std::vector<ValueId>& in, Prim p) {
  ir::Attrs a;
  a.start = ints(op, {"start_indices"});
  a.limit = ints(op, {"limit_indices"});
  a.stride = ints_or(op, {"strides"}, a.start.size(), 1);
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::concatenate(const Op& op, const std::vector<ValueId>& in, Prim p) {
  if (in.empty()) fail(op.pos, "stablehlo.concatenate of no operands", "Pass at least one");
  ir::Attrs a;
  a.axis = integer(op, {"dim", "dimension"}, 0, true);
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::pad(const Op& op, const std::vector<ValueId>& in, Prim p) {
  ir::Attrs a;
  a.low = ints(op, {"low", "edge_padding_low"});
  a.high = ints(op, {"high", "edge_padding_high"});
  a.interior = ints_or(op, {"interior", "interior_padding"}, a.low.size(), 0);
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::dot_general(const Op& op, const std::vector<ValueId>& in, Prim p) {
  ir::Attrs a;
  if (const Attr* d = op.attr("dot_dimension_numbers")) {  // #stablehlo.dot<...>
    auto field = [&](const char* name) {
      const Attr* f = d->field(name);
      return f ? to_ints(*f) : std::vector<int64_t>{};
    };
    a.dot.lhs_batch = field("lhs_batching_dimensions");
    a.dot.rhs_batch = field("rhs_batching_dimensions");
    a.dot.lhs_contract = field("lhs_contracting_dimensions");
    a.dot.rhs_contract = field("rhs_contracting_dimensions");
  } else {  // batching_dims = [0] x [0], contracting_dims = [1] x [0]
    auto pair = [&](const char* name, std::vector<int64_t>& lhs, std::vector<int64_t>& rhs) {
      const Attr* f = op.attr(name);
      if (!f) return;
      if (f->kind != Attr::Kind::list || f->text != "x" || f->items.size() != 2)
        fail(f->pos, std::string(name) + " must be written [..] x [..]", "");
      lhs = to_ints(f->items[0]);
      rhs = to_ints(f->items[1]);
    };
    pair("batching_dims", a.dot.lhs_batch, a.dot.rhs_batch);
    pair("contracting_dims", a.dot.lhs_contract, a.dot.rhs_contract);
  }
  result_dtype_as_preferred(op, in, a);
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::dot(const Op& op, const std::vector<ValueId>& in, Prim p) {
  if (in.size() != 2) fail(op.pos, "stablehlo.dot takes 2 operands", "");
  const int lr = g_.type(in[0]).shape.rank(), rr = g_.type(in[1]).shape.rank();
  if (lr < 1 || lr > 2 || rr < 1 || rr > 2)
    fail(op.pos, "stablehlo.dot takes vectors or matrices", "Use stablehlo.dot_general");
  ir::Attrs a;
  a.dot.lhs_contract = {lr - 1};
  a.dot.rhs_contract = {0};
  result_dtype_as_preferred(op, in, a);
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::convolution(const Op& op, const std::vector<ValueId>& in, Prim p) {
  if (in.size() != 2) fail(op.pos, "stablehlo.convolution takes 2 operands", "");
  const Attr* layout = find_attr(op, {"dim_numbers", "dimension_numbers"});
  if (!layout || layout->kind != Attr::Kind::list || layout->text != "->" ||
      layout->items.size() != 3)
    fail(op.pos,
         "stablehlo.convolution needs dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]",
         "Write the layouts as JAX prints them");
  const size_t rank = g_.type(in[0]).shape.rank();
  if (rank < 2) fail(op.pos, "stablehlo.convolution of an operand of rank < 2", "");
  // "[b, 0, 1, f]": the dimension holding batch, feature, spatial 0, 1 ... -> (b, f, 0, 1, ...)
  auto spec = [&](const Attr& l, const char* first, const char* second) {
    std::vector<int64_t> s(l.items.size(), -1);
    if (l.items.size() != rank) fail(l.pos, "a layout of the wrong rank", "");
    std::vector<bool> seen(rank, false);
    for (size_t i = 0; i < l.items.size(); ++i) {
      const Attr& r = l.items[i];
      int64_t slot = -1;
      if (r.kind == Attr::Kind::keyword && r.text == first) slot = 0;
      if (r.kind == Attr::Kind::keyword && r.text == second) slot = 1;
      if (r.kind == Attr::Kind::integer && r.integer >= 0 &&
          r.integer < static_cast<int64_t>(rank) - 2)
        slot = r.integer + 2;
      if (slot < 0 || seen[slot])
        fail(r.pos, "bad convolution layout entry '" + r.text + "'",
             std::string("Name each of ") + first + ", " + second +
                 " and the spatial dimensions 0, 1, ... once");
      seen[slot] = true;
      s[slot] = static_cast<int64_t>(i);
    }
    return s;
  };
  ir::Attrs a;
  a.conv.lhs_spec = spec(layout->items[0], "b", "f");
  a.conv.rhs_spec = spec(layout->items[1], "o", "i");
  a.conv.out_spec = spec(layout->items[2], "b", "f");
  const size_t n = rank - 2;
  const Attr* window = op.attr("window");
  auto window_ints = [&](const char* pretty, const char* generic, int64_t fill) {
    if (window && window->kind == Attr::Kind::dict)
      if (const Attr* f = window->field(pretty)) return to_ints(*f);
    if (const Attr* f = op.attr(generic)) return to_ints(*f);
    return std::vector<int64_t>(n, fill);
  };
  a.conv.window_strides = window_ints("stride", "window_strides", 1);
  a.conv.lhs_dilation = window_ints("lhs_dilate", "lhs_dilation", 1);
  a.conv.rhs_dilation = window_ints("rhs_dilate", "rhs_dilation", 1);
  std::vector<int64_t> pads;
  const Attr* pad_attr =
      window && window->kind == Attr::Kind::dict ? window->field("pad") : nullptr;
  if (!pad_attr) pad_attr = op.attr("padding");
  if (pad_attr && pad_attr->kind == Attr::Kind::list) {
    for (const Attr& pr : pad_attr->items) {
      const std::vector<int64_t> v = to_ints(pr);
      if (v.size() != 2) fail(pr.pos, "a padding entry must be [low, high]", "");
      pads.insert(pads.end(), v.begin(), v.end());
    }
  } else if (pad_attr) {
    pads = to_ints(*pad_attr);
  } else {
    pads.assign(2 * n, 0);
  }
  if (pads.size() != 2 * n)
    fail(op.pos,
         "stablehlo.convolution: padding has " + std::to_string(pads.size() / 2) + " entries for " +
             std::to_string(n) + " spatial dimensions",
         "Give one [low, high] per spatial dimension");
  for (size_t i = 0; i < n; ++i) {
    a.conv.padding_low.push_back(pads[2 * i]);
    a.conv.padding_high.push_back(pads[2 * i + 1]);
  }
  const Attr* reverse = window && window->kind == Attr::Kind::dict ? window->field("reverse")
                                                                   : op.attr("window_reversal");
  if (reverse)
    for (const Attr& r : reverse->items)
      if ((r.kind == Attr::Kind::keyword && r.text == "true") ||
          (r.kind == Attr::Kind::integer && r.integer != 0))
        unsupported(op.pos, "stablehlo.convolution with window reversal",
                    "kiln's convolution does not reverse windows: reverse the kernel instead");
  a.conv.feature_group_count = integer(op, {"feature_group_count"}, 1, false);
  a.conv.batch_group_count = integer(op, {"batch_group_count"}, 1, false);
  result_dtype_as_preferred(op, in, a);
  return {add(op, p, in, a)};
}

std::vector<ValueId> Importer::reduce(const Op& op, const std::vector<ValueId>& in, Prim) {
  if (in.empty() || in.size() % 2 != 0 || op.regions.size() > 1 ||
      (op.regions.empty() && !op.attr("applies")))
    fail(op.pos, "stablehlo.reduce needs operands, as many init values and one reducer body",
         "Write stablehlo.reduce(%x init: %c) applies stablehlo.add across dimensions = [..]");
  const size_t n = in.size() / 2;
  ir::Attrs a;
  a.dims = ints(op, {"dimensions"});
  std::sort(a.dims.begin(), a.dims.end());
  const mlir::Region empty;
  const mlir::Region& body = op.regions.empty() ? empty : op.regions[0];
  if (n == 1) {
    const std::string combiner = region_combiner(op, body);
    const DType t = g_.type(in[0]).dtype;
    if ((combiner == "stablehlo.and" || combiner == "stablehlo.or") && t == DType::bool_) {
      // jnp.all / jnp.any (and JAX's checks of index vectors in gather's "fill" mode): the
      // minimum / maximum of the bools as uint8.
      const bool all = combiner == "stablehlo.and";
      const ValueId r = add(op, all ? Prim::reduce_min : Prim::reduce_max,
                            {convert_to(op, in[0], DType::uint8)}, a);
      const ValueId b = convert_to(op, r, DType::bool_);
      if (is_full_with(in[1], all ? 1 : 0)) return {b};
      return {add(op, all ? Prim::and_ : Prim::or_,
                  {b, broadcast_scalar(op, in[1], g_.type(b).shape)}, {})};
    }
    Prim reduction = Prim::reduce_sum, combine = Prim::add;
    if (combiner == "stablehlo.maximum") {
      reduction = Prim::reduce_max;
      combine = Prim::max;
    } else if (combiner == "stablehlo.minimum") {
      reduction = Prim::reduce_min;
      combine = Prim::min;
    } else if (combiner == "stablehlo.multiply") {
      reduction = Prim::reduce_prod;
      combine = Prim::mul;
    } else if (combiner != "stablehlo.add") {
      unsupported(op.pos,
                  "stablehlo.reduce with a " + (combiner.empty() ? "multi-op" : combiner) +
                      " body (of " + std::string(name(t)) +
                      "): kiln reduces with add, multiply, maximum and minimum, and and/or of "
                      "bools",
                  "Express the reduction with those");
    }
    return {with_init(op, add(op, reduction, {in[0]}, a), in[1], combine)};
  }
  // JAX's argmax / argmin: reduce (x, iota along the axis) with a comparator whose first compare
  // is GT (argmax) or LT (argmin): keep the larger (smaller) value, NaN winning, ties to the
  // smaller index.
  const ir::Node& idx = g_.nodes[in[1]];
  const bool arg_shape = n == 2 && a.dims.size() == 1 && idx.prim == Prim::iota &&
                         idx.attrs.axis == a.dims[0] &&
                         g_.type(in[1]).shape == g_.type(in[0]).shape;
  std::string first_compare;
  for (const Op& b : body.ops)
    if (b.name == "stablehlo.compare") {
      first_compare = !b.keywords.empty()              ? b.keywords[0]
                      : b.attr("comparison_direction") ? b.attr("comparison_direction")->text
                                                       : "";
      break;
    }
  const bool is_max = first_compare.find("GT") != std::string::npos;
  const bool is_min = first_compare.find("LT") != std::string::npos;
  if (!arg_shape || (!is_max && !is_min))
    unsupported(op.pos,
                "stablehlo.reduce of " + std::to_string(n) +
                    " operands: kiln imports only the argmax/argmin form (values, iota) with a GT "
                    "or LT comparator",
                "Use argmax or argmin, or reduce each operand on its own");
  ir::Attrs am;
  am.axis = a.dims[0];
  // Bools are ordered as 0 and 1: their argmax is the argmax of the uint8 values.
  const ValueId x =
      g_.type(in[0]).dtype == DType::bool_ ? convert_to(op, in[0], DType::uint8) : in[0];
  ValueId values = add(op, is_max ? Prim::reduce_max : Prim::reduce_min, {x}, a);
  if (x != in[0]) values = convert_to(op, values, DType::bool_);
  values = with_init(op, values, in[2], is_max ? Prim::max : Prim::min);
  ValueId index = add(op, is_max ? Prim::argmax : Prim::argmin, {x}, am);
  if (g_.type(in[1]).dtype != DType::int32) index = convert_to(op, index, g_.type(in[1]).dtype);
  return {values, index};
}

ValueId Importer::convert_to(const Op& op, ValueId v, DType t) {
  if (g_.type(v).dtype == t) return v;
  ir::Attrs c;
  c.dtype = t;
  return add(op, Prim::convert, {v}, c);
}

bool Importer::cumulative(const ir::Attrs& w, const Shape& s, ir::Attrs& scan) const {
  int axis = -1;
  for (int i = 0; i < s.rank(); ++i) {
    const auto u = static_cast<size_t>(i);
    if (w.stride[u] != 1) return false;
    if (w.window[u] == 1 && w.low[u] == 0 && w.high[u] == 0) continue;
    const int64_t len = s[i];
    const bool forward = w.low[u] == len - 1 && w.high[u] == 0;
    const bool backward = w.low[u] == 0 && w.high[u] == len - 1;
    if (axis >= 0 || w.window[u] != len || len < 2 || !(forward || backward)) return false;
    axis = i;
    scan.reverse = backward;
  }
  if (axis < 0) return false;
  scan.axis = axis;
  return true;
}

void Importer::window_attrs(const Op& op, const ValueId operand, ir::Attrs& a) const {
  const size_t rank = g_.type(operand).shape.rank();
  a.window = ints(op, {"window_dimensions"});
  a.stride = ints_or(op, {"window_strides"}, rank, 1);
  for (const char* dil : {"base_dilations", "window_dilations"})
    for (int64_t d : ints_or(op, {dil}, rank, 1))
      if (d != 1)
        unsupported(op.pos, op.name + " with " + dil + " other than 1",
                    "kiln's windows are undilated: dilate with stablehlo.pad interior padding");
  const std::vector<int64_t> pads = ints_or(op, {"padding"}, 2 * rank, 0);
  if (pads.size() != 2 * rank)
    fail(op.pos,
         op.name + ": padding has " + std::to_string(pads.size()) + " entries for rank " +
             std::to_string(rank),
         "Give a tensor<Nx2xi64> of [low, high] per dimension");
  for (size_t i = 0; i < rank; ++i) {
    a.low.push_back(pads[2 * i]);
    a.high.push_back(pads[2 * i + 1]);
  }
}

std::vector<ValueId> Importer::reduce_window(const Op& op, const std::vector<ValueId>& in, Prim) {
  if (in.size() != 2 || op.regions.size() != 1)
    unsupported(op.pos, "stablehlo.reduce_window of " + std::to_string(in.size() / 2) + " operands",
                "kiln imports reduce_window of one operand and one init value");
  const std::string combiner = region_combiner(op, op.regions[0]);
  Prim prim = Prim::reduce_window_sum, combine = Prim::add, scan = Prim::cumsum;
  if (combiner == "stablehlo.maximum") {
    prim = Prim::reduce_window_max;
    combine = Prim::max;
    scan = Prim::cummax;
  } else if (combiner == "stablehlo.minimum") {
    prim = Prim::reduce_window_min;
    combine = Prim::min;
    scan = Prim::cummin;
  } else if (combiner == "stablehlo.multiply") {
    prim = Prim::reduce_window_prod;
    combine = Prim::mul;
    scan = Prim::cumprod;
  } else if (combiner != "stablehlo.add") {
    unsupported(op.pos,
                "stablehlo.reduce_window with a " + (combiner.empty() ? "multi-op" : combiner) +
                    " body: kiln has windowed add, multiply, maximum and minimum",
                "Use those");
  }
  ir::Attrs a;
  window_attrs(op, in[0], a);
  // lax.cumsum & co. (an identity init: another init would enter every padded window).
  const ir::ValueType& x = g_.type(in[0]);
  ir::Attrs s;
  if (ir::accepts(scan, x.dtype) && is_full_with(in[1], identity_bits(combine, x.dtype)) &&
      cumulative(a, x.shape, s))
    return {add(op, scan, {in[0]}, s)};
  return {with_init(op, add(op, prim, {in[0]}, a), in[1], combine)};
}

std::vector<ValueId> Importer::select_and_scatter(const Op& op, const std::vector<ValueId>& in,
                                                  Prim p) {
  if (in.size() != 3 || op.regions.size() != 2)
    fail(op.pos, "stablehlo.select_and_scatter takes (operand, source, init) and two regions", "");
  const mlir::Region& select = op.regions[0];
  const bool select_ge = select.ops.size() == 2 && select.ops[0].name == "stablehlo.compare" &&
                         ((!select.ops[0].keywords.empty() && select.ops[0].keywords[0] == "GE") ||
                          (select.ops[0].attr("comparison_direction") &&
                           select.ops[0].attr("comparison_direction")->text.ends_with("GE")));
  if (!select_ge || region_combiner(op, op.regions[1]) != "stablehlo.add")
    unsupported(op.pos, "stablehlo.select_and_scatter other than (compare GE, add)",
                "kiln imports the max-pooling gradient form only");
  ir::Attrs a;
  window_attrs(op, in[0], a);
  return {with_init(op, add(op, p, {in[1], in[0]}, a), in[2], Prim::add)};
}

// #stablehlo.gather<...> / #stablehlo.scatter<...> (absent lists are empty), and the
// indices_are_sorted / unique_indices flags.
ir::GatherDims Importer::gather_dims(const Op& op, const char* attr, bool scatter) const {
  const Attr* d = op.attr(attr);
  if (!d || d->kind != Attr::Kind::dict)
    fail(op.pos,
         op.name + " lacks its " + attr + " = #stablehlo." + (scatter ? "scatter" : "gather") +
             "<...>",
         "Write the dimension numbers as JAX prints them");
  auto field = [&](const char* name) {
    const Attr* f = d->field(name);
    return f ? to_ints(*f) : std::vector<int64_t>{};
  };
  ir::GatherDims g;
  g.offset_dims = field(scatter ? "update_window_dims" : "offset_dims");
  g.collapsed_slice_dims = field(scatter ? "inserted_window_dims" : "collapsed_slice_dims");
  g.operand_batching_dims = field(scatter ? "input_batching_dims" : "operand_batching_dims");
  g.start_indices_batching_dims =
      field(scatter ? "scatter_indices_batching_dims" : "start_indices_batching_dims");
  g.start_index_map = field(scatter ? "scatter_dims_to_operand_dims" : "start_index_map");
  // index_vector_dim = 0 is StableHLO's default, which its printer leaves out.
  const Attr* ivd = d->field("index_vector_dim");
  if (ivd && ivd->kind != Attr::Kind::integer)
    fail(ivd->pos, op.name + ": index_vector_dim must be an integer", "");
  g.index_vector_dim = ivd ? ivd->integer : 0;
  auto flag = [&](const char* name) {
    const Attr* f = op.attr(name);
    return f && f->kind == Attr::Kind::keyword && f->text == "true";
  };
  g.indices_are_sorted = flag("indices_are_sorted");
  g.unique_indices = flag("unique_indices");
  return g;
}

std::vector<ValueId> Importer::gather(const Op& op, const std::vector<ValueId>& in, Prim p) {
  ir::Attrs a;
  a.gather = gather_dims(op, "dimension_numbers", false);
  a.gather.unique_indices = false;  // a scatter's flag; gather has none
  a.gather.slice_sizes = ints(op, {"slice_sizes"});
  return {add(op, p, in, a)};
}

// The update region names the combiner: `return %update` replaces, a binary op of the two
// arguments combines.
std::vector<ValueId> Importer::scatter(const Op& op, const std::vector<ValueId>& in, Prim) {
  if (in.size() != 3 || op.regions.size() != 1)
    unsupported(op.pos,
                "stablehlo.scatter of " + std::to_string(in.size()) +
                    " operands: kiln imports "
                    "scatters of one operand, its indices and one updates tensor",
                "Scatter each operand on its own");
  const mlir::Region& body = op.regions[0];
  Prim p = Prim::scatter;
  const bool returns_update = body.args.size() == 2 && body.ops.size() == 1 &&
                              body.ops[0].operands.size() == 1 &&
                              body.ops[0].operands[0] == body.args[1].first;
  if (!returns_update) {
    const std::string combiner = region_combiner(op, body);
    if (combiner == "stablehlo.add") {
      p = Prim::scatter_add;
    } else if (combiner == "stablehlo.multiply") {
      p = Prim::scatter_mul;
    } else if (combiner == "stablehlo.minimum") {
      p = Prim::scatter_min;
    } else if (combiner == "stablehlo.maximum") {
      p = Prim::scatter_max;
    } else {
      unsupported(op.pos,
                  "stablehlo.scatter with a " + (combiner.empty() ? "multi-op" : combiner) +
                      " update region: kiln scatters with replace, add, multiply, minimum and "
                      "maximum",
                  "Express the update with one of those");
    }
  }
  ir::Attrs a;
  a.gather = gather_dims(op, "scatter_dimension_numbers", true);
  return {add(op, p, in, a)};
}

// dynamic_slice: `sizes = [..]` (pretty) or slice_sizes = array<i64: ..> (generic).
std::vector<ValueId> Importer::dynamic_slice(const Op& op, const std::vector<ValueId>& in, Prim p) {
  ir::Attrs a;
  if (p == Prim::dynamic_slice) a.shape = Shape(ints(op, {"sizes", "slice_sizes"}));
  return {add(op, p, in, a)};
}

// lax.sort: one sort node per result, each the operand it names sorted by the keys. The
// comparator must compute kiln's ordering (JAX's, for some num_keys): import/sort_comparator.cpp
// runs it on probes to find out.
std::vector<ValueId> Importer::sort(const Op& op, const std::vector<ValueId>& in, Prim p) {
  if (in.empty() || op.regions.size() != 1)
    fail(op.pos, "stablehlo.sort takes operands and one comparator region", "");
  std::vector<DType> dtypes;
  for (ValueId v : in) dtypes.push_back(g_.type(v).dtype);
  const int rank = g_.type(in[0]).shape.rank();
  ir::Attrs a;
  a.axis = integer(op, {"dimension"}, -1, false);
  if (a.axis < 0) a.axis += rank;
  a.num_keys = mlir::sort_comparator_keys(op.regions[0], dtypes, source_);
  if (a.num_keys == 0)
    unsupported(op.pos,
                "stablehlo.sort with a comparator kiln does not recognise: kiln sorts ascending "
                "in JAX's order (-0.0 equal to 0.0, NaNs last), lexicographically over the "
                "first operands",
                "Sort with jnp.sort / lax.sort (descending: reverse the result, as jnp does)");
  std::vector<ValueId> out;
  for (size_t r = 0; r < in.size(); ++r) {
    a.result = static_cast<int64_t>(r);
    out.push_back(add(op, p, in, a));
  }
  return out;
}

// chlo.top_k(%x, k = K): values and int32 indices of the K largest along the last axis.
std::vector<ValueId> Importer::top_k(const Op& op, const std::vector<ValueId>& in, Prim p) {
  ir::Attrs a;
  a.k = integer(op, {"k"}, 0, true);
  std::vector<ValueId> out;
  for (int64_t r = 0; r < 2; ++r) {
    a.result = r;
    out.push_back(add(op, p, in, a));
  }
  return out;
}

// A sharding constraint (custom_call @Sharding) is its operand: an imported graph runs on one
// device, and mhlo.sharding names no mesh axes to rebuild the layout from. Other targets are
// code kiln cannot see into.
std::vector<ValueId> Importer::custom_call(const Op& op, const std::vector<ValueId>& in, Prim) {
  if (op.callee != "Sharding")
    unsupported(
        op.pos,
        "stablehlo.custom_call @" + op.callee + " is not supported: kiln has no primitive for it",
        "Express the function without it (docs/import.md lists the ops kiln imports)");
  if (in.size() != 1) fail(op.pos, "custom_call @Sharding takes one operand", "");
  return {in[0]};
}

// dense<...> becomes a `full` (one value) or a `constant` (a host literal).
std::vector<ValueId> Importer::constant(const Op& op, const std::vector<ValueId>& in, Prim) {
  const Attr* v = op.attr("value");
  if (!v || v->kind != Attr::Kind::dense || !in.empty())
    fail(op.pos, "stablehlo.constant needs a dense<...> value and no operands",
         "Write stablehlo.constant dense<1.0> : tensor<f32>");
  const ir::ValueType& t = v->type;
  auto [bytes, splat] = mlir::dense_bytes(*v, source_);
  const size_t item = itemsize(t.dtype);
  // A full holds one real Scalar: a complex value, splat or not, is a literal (JAX writes complex
  // splats as one element broadcast, so the literal is small).
  if (splat && is_complex(t.dtype)) {
    std::vector<uint8_t> all(static_cast<size_t>(t.shape.numel()) * item);
    for (size_t i = 0; i < all.size(); i += item) std::memcpy(all.data() + i, bytes.data(), item);
    bytes = std::move(all);
  } else if (splat || (t.shape.numel() == 1 && !is_complex(t.dtype))) {
    uint64_t bits = 0;
    if (!bytes.empty()) std::memcpy(&bits, bytes.data(), item);
    return {add_full(t.dtype, t.shape, bits)};
  }
  ir::Attrs a;
  a.literal = allocate_host(bytes.size(), Device{});
  if (!bytes.empty()) std::memcpy(a.literal->host_data(), bytes.data(), bytes.size());
  g_.nodes.push_back(ir::Node{Prim::constant, {}, std::move(a), t, {}});
  return {static_cast<ValueId>(g_.nodes.size() - 1)};
}

// --- functions ------------------------------------------------------------------------------

// Inlining can multiply a module's size (f calls g twice, g calls h twice, ...): past this many
// nodes the import stops rather than exhaust memory. Real models inline to far fewer.
constexpr size_t kMaxNodes = size_t{1} << 18;

void Importer::lower(const Op& op, Env& env, int depth) {
  if (g_.nodes.size() > kMaxNodes)
    unsupported(op.pos,
                "the module inlines to more than " + std::to_string(kMaxNodes) +
                    " nodes (calls of calls multiply, while loops unroll)",
                "Split the model, or call fewer functions more than once");
  std::vector<ValueId> in;
  for (size_t i = 0; i < op.operands.size(); ++i) {
    auto it = env.find(op.operands[i]);
    if (it == env.end())
      fail(op.operand_pos[i], op.name + " uses " + op.operands[i] + ", which is not defined",
           "Define a value before its use (names are per function)");
    in.push_back(it->second);
  }
  if (op.function_type) {
    if (op.operand_types.size() != in.size())
      fail(op.pos,
           op.name + " has " + std::to_string(in.size()) + " operands but its type lists " +
               std::to_string(op.operand_types.size()),
           "Give one type per operand");
    for (size_t i = 0; i < in.size(); ++i)
      if (!(op.operand_types[i] == g_.type(in[i])))
        fail(op.operand_pos[i],
             op.name + ": operand " + op.operands[i] + " is " + type_text(g_.type(in[i])) +
                 " but the type says " + type_text(op.operand_types[i]),
             "Make the op's type match its operands");
  }
  std::vector<ValueId> out;
  if (op.name == "call" || op.name == "func.call") {
    const mlir::Func* f = find(op.callee);
    if (!f) fail(op.pos, op.name + " of @" + op.callee + ", which is not defined", "Define it");
    out = call(*f, in, op.pos, depth + 1);
  } else if (op.name == "stablehlo.while") {
    out = mlir::unroll_while(
        op, in, g_,
        [&](const mlir::Region& r, const std::vector<ValueId>& args) {
          return region_instance(op, r, args, env, depth);
        },
        source_);
  } else if (const OpRule* r = rule(op.name)) {
    out = (this->*(r->lower))(op, in, r->prim);
  } else {
    fail(op.pos, op.name + " is not allowed here", "Use return only at the end of a function");
  }
  if (out.size() != op.results.size())
    fail(op.pos,
         op.name + " gives " + std::to_string(out.size()) + " result" +
             (out.size() == 1 ? "" : "s") + " but the text names " +
             std::to_string(op.results.size()),
         "Name each result (%r, or %r:N for N results)");
  for (size_t k = 0; k < out.size(); ++k) {
    const ir::ValueType* want = (op.name == "call" || op.name == "func.call") && !op.function_type
                                    ? nullptr
                                    : declared(op, k);
    if (want && !(*want == g_.type(out[k])))
      fail(op.pos,
           op.name + ": the text says the result is " + type_text(*want) + " but kiln infers " +
               type_text(g_.type(out[k])) + " from the operands",
           "Fix the result type or the operands");
    if (!env.emplace(op.results[k], out[k]).second)
      fail(op.pos, op.results[k] + " is defined twice", "Give each value its own name");
  }
}

std::vector<ValueId> Importer::call(const mlir::Func& f, const std::vector<ValueId>& args, Pos at,
                                    int depth) {
  if (depth > 64)
    fail(at, "calls nested more than 64 deep (is @" + f.name + " recursive?)",
         "kiln inlines calls; recursion cannot be inlined");
  if (args.size() != f.body.args.size())
    fail(at,
         "@" + f.name + " takes " + std::to_string(f.body.args.size()) + " arguments, given " +
             std::to_string(args.size()),
         "Pass one value per argument");
  Env env;
  for (size_t i = 0; i < args.size(); ++i) {
    if (!(f.body.args[i].second == g_.type(args[i])))
      fail(at,
           "argument " + std::to_string(i) + " of @" + f.name + " is " +
               type_text(f.body.args[i].second) + ", given " + type_text(g_.type(args[i])),
           "Pass values of the declared types");
    env[f.body.args[i].first] = args[i];
  }
  for (const Op& op : f.body.ops) {
    if (op.name != "return" && op.name != "func.return") {
      lower(op, env, depth);
      continue;
    }
    std::vector<ValueId> out;
    for (size_t i = 0; i < op.operands.size(); ++i) {
      auto it = env.find(op.operands[i]);
      if (it == env.end())
        fail(op.operand_pos[i], "return of " + op.operands[i] + ", which is not defined",
             "Return values defined in the function");
      out.push_back(it->second);
    }
    if (out.size() != f.results.size())
      fail(op.pos,
           "@" + f.name + " returns " + std::to_string(out.size()) + " values but declares " +
               std::to_string(f.results.size()),
           "Return one value per declared result");
    for (size_t k = 0; k < out.size(); ++k)
      if (!(f.results[k] == g_.type(out[k])))
        fail(op.pos,
             "@" + f.name + " result " + std::to_string(k) + " is " + type_text(g_.type(out[k])) +
                 " but the function declares " + type_text(f.results[k]),
             "Make the signature match the returned values");
    return out;
  }
  fail(f.pos, "@" + f.name + " has no return", "End the function with return");
}

std::vector<ValueId> Importer::region_instance(const Op& op, const mlir::Region& r,
                                               const std::vector<ValueId>& args, Env& env,
                                               int depth) {
  if (args.size() != r.args.size())
    fail(op.pos,
         op.name + "'s region takes " + std::to_string(r.args.size()) + " arguments, given " +
             std::to_string(args.size()),
         "Give the region one argument per loop-carried value");
  std::vector<std::string> scoped;  // the names this instance defines, forgotten after it
  for (size_t i = 0; i < args.size(); ++i) {
    if (!(r.args[i].second == g_.type(args[i])))
      fail(op.pos,
           op.name + ": region argument " + r.args[i].first + " is " + type_text(r.args[i].second) +
               ", given " + type_text(g_.type(args[i])),
           "Make the region's argument types those of the loop-carried values");
    if (!env.emplace(r.args[i].first, args[i]).second)
      fail(op.pos, r.args[i].first + " is defined twice", "Give each value its own name");
    scoped.push_back(r.args[i].first);
  }
  std::vector<ValueId> out;
  bool returned = false;
  for (const Op& inner : r.ops) {
    if (returned)
      fail(inner.pos, inner.name + " after the region's stablehlo.return",
           "End the region with stablehlo.return");
    if (inner.name != "stablehlo.return") {
      lower(inner, env, depth);
      scoped.insert(scoped.end(), inner.results.begin(), inner.results.end());
      continue;
    }
    for (size_t i = 0; i < inner.operands.size(); ++i) {
      auto it = env.find(inner.operands[i]);
      if (it == env.end())
        fail(inner.operand_pos[i],
             "stablehlo.return of " + inner.operands[i] + ", which is not defined",
             "Return values defined in the region or above it");
      out.push_back(it->second);
    }
    returned = true;
  }
  if (!returned) fail(op.pos, op.name + "'s region has no stablehlo.return", "End it with one");
  for (const std::string& name : scoped) env.erase(name);
  return out;
}

ir::Graph Importer::run() {
  const mlir::Func* main = find("main");
  if (!main)
    fail({1, 1}, "no @main function in the module",
         "The entry point must be func.func public @main (as jax.jit(f).lower(...) writes)");
  for (const auto& [name, type] : main->body.args) g_.add_parameter(type);
  g_.outputs = call(*main, g_.inputs, main->pos, 0);
  // JAX's module names are jit_<function>; kiln's exporter writes the same.
  g_.name = m_.name.starts_with("jit_") ? m_.name.substr(4) : (m_.name.empty() ? "f" : m_.name);
  // Init values, argmax's iota, uncalled results and unused results of a sort leave nodes nothing
  // reads.
  return passes::dead_code_elimination(g_);
}

}  // namespace

ir::Graph from_stablehlo(std::string_view text, std::string_view source_name) {
  // MLIR bytecode's magic number: what JAX hands a PJRT plugin unless asked for text.
  if (text.starts_with("ML\xEFR"))
    throw Unsupported(mlir::where(source_name, {1, 1}) +
                      "MLIR bytecode is not supported, only MLIR text. Pass the text form "
                      "(jax.jit(f).lower(...).as_text(), or mlir-opt/stablehlo-opt without "
                      "--emit-bytecode)");
  const mlir::Module m = mlir::parse_module(text, source_name, [](std::string_view name) {
    return is_control(name) || Importer::rule(name) != nullptr;
  });
  return Importer(m, source_name).run();
}

}  // namespace kiln
