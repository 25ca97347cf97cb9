#include "import/sort_comparator.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "import/dense_literal.hpp"
#include "kiln/error.hpp"

namespace kiln::mlir {
namespace {

// A scalar value of the comparator: its dtype and its bits (Scalar's encoding).
using Value = Scalar;

double as_double(const Value& v) {
  return v.to_double();
}

// Signed integers as int64, unsigned and bool as uint64 (order-preserving, within the dtype).
bool int_less(const Value& a, const Value& b) {
  if (is_unsigned(a.dtype) || a.dtype == DType::bool_) return a.bits < b.bits;
  return a.to_int() < b.to_int();
}

// XLA's total order of floats: -NaN < -inf < ... < -0 < +0 < ... < +inf < +NaN.
uint64_t total_order_key(double d) {
  const auto b = std::bit_cast<uint64_t>(d);
  return (b >> 63) != 0 ? ~b : b | (uint64_t{1} << 63);
}

std::string direction_of(const Op& op) {
  for (const std::string& k : op.keywords)
    for (const char* d : {"EQ", "NE", "LT", "LE", "GT", "GE"})
      if (k == d) return k;
  if (const Attr* a = op.attr("comparison_direction")) return a->text.substr(a->text.size() - 2);
  return "";
}

std::string compare_type_of(const Op& op) {
  for (const std::string& k : op.keywords)
    if (k == "FLOAT" || k == "TOTALORDER" || k == "SIGNED" || k == "UNSIGNED") return k;
  if (const Attr* a = op.attr("compare_type")) return a->text.substr(a->text.find_last_of(' ') + 1);
  return "";
}

std::optional<bool> compare(const std::string& dir, const std::string& type, const Value& a,
                            const Value& b) {
  bool lt = false, eq = false, unordered = false;
  if (is_floating(a.dtype)) {
    const double x = as_double(a), y = as_double(b);
    if (type == "TOTALORDER") {
      lt = total_order_key(x) < total_order_key(y);
      eq = total_order_key(x) == total_order_key(y);
    } else {
      unordered = std::isnan(x) || std::isnan(y);
      lt = x < y;
      eq = x == y;
    }
  } else {
    lt = int_less(a, b);
    eq = a.bits == b.bits;
  }
  if (unordered) return dir == "NE";
  if (dir == "EQ") return eq;
  if (dir == "NE") return !eq;
  if (dir == "LT") return lt;
  if (dir == "LE") return lt || eq;
  if (dir == "GT") return !lt && !eq;
  if (dir == "GE") return !lt;
  return std::nullopt;
}

Value boolean(bool b) {
  return Value{DType::bool_, b ? 1u : 0u};
}

// Runs the comparator on `args`; nullopt when it uses something the probe does not know.
std::optional<bool> run(const Region& r, const std::vector<Value>& args, std::string_view source) {
  std::unordered_map<std::string, Value> env;
  for (size_t i = 0; i < r.args.size(); ++i) env[r.args[i].first] = args[i];
  auto get = [&](size_t k, const Op& op) -> std::optional<Value> {
    if (k >= op.operands.size()) return std::nullopt;
    auto it = env.find(op.operands[k]);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  for (const Op& op : r.ops) {
    if (op.name == "stablehlo.return") {
      const std::optional<Value> v = get(0, op);
      if (!v || op.operands.size() != 1 || v->dtype != DType::bool_) return std::nullopt;
      return v->bits != 0;
    }
    if (op.results.size() != 1) return std::nullopt;
    std::optional<Value> out;
    if (op.name == "stablehlo.constant") {
      const Attr* v = op.attr("value");
      if (!v || v->kind != Attr::Kind::dense || v->type.shape.rank() != 0) return std::nullopt;
      const DenseBytes d = dense_bytes(*v, source);
      Value c{v->type.dtype, 0};
      std::memcpy(&c.bits, d.bytes.data(), std::min<size_t>(d.bytes.size(), 8));
      out = c;
    } else if (op.name == "stablehlo.compare") {
      const auto a = get(0, op), b = get(1, op);
      if (!a || !b) return std::nullopt;
      const std::optional<bool> c = compare(direction_of(op), compare_type_of(op), *a, *b);
      if (!c) return std::nullopt;
      out = boolean(*c);
    } else if (op.name == "stablehlo.select") {
      const auto p = get(0, op), a = get(1, op), b = get(2, op);
      if (!p || !a || !b) return std::nullopt;
      out = p->bits != 0 ? *a : *b;
    } else if (op.name == "stablehlo.and" || op.name == "stablehlo.or" ||
               op.name == "stablehlo.xor") {
      const auto a = get(0, op), b = get(1, op);
      if (!a || !b || a->dtype != DType::bool_ || b->dtype != DType::bool_) return std::nullopt;
      const bool x = a->bits != 0, y = b->bits != 0;
      out = boolean(op.name == "stablehlo.and"  ? x && y
                    : op.name == "stablehlo.or" ? x || y
                                                : x != y);
    } else if (op.name == "stablehlo.not") {
      const auto a = get(0, op);
      if (!a || a->dtype != DType::bool_) return std::nullopt;
      out = boolean(a->bits == 0);
    } else {
      return std::nullopt;
    }
    env[op.results[0]] = *out;
  }
  return std::nullopt;
}

// The edge values of a dtype: the probe's alphabet.
std::vector<Value> probes(DType t) {
  std::vector<Value> v;
  if (is_floating(t)) {
    const double inf = std::numeric_limits<double>::infinity();
    for (double d : {-inf, -1.5, -0.0, 0.0, 1.5, inf}) v.push_back(Scalar::from_double(d, t));
    const Value nan = Scalar::from_double(std::numeric_limits<double>::quiet_NaN(), t);
    v.push_back(nan);
    v.push_back(Value{t, nan.bits | (uint64_t{1} << (8 * itemsize(t) - 1))});  // -NaN
  } else if (t == DType::bool_) {
    v = {boolean(false), boolean(true)};
  } else {
    const size_t bits = 8 * itemsize(t);
    const uint64_t all = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    if (is_unsigned(t)) {
      v = {Value{t, 0}, Value{t, 1}, Value{t, all}};
    } else {
      const uint64_t sign = uint64_t{1} << (bits - 1);
      v = {Value{t, sign}, Value{t, all}, Value{t, 0}, Value{t, 1}, Value{t, sign - 1}};
    }
  }
  return v;
}

// kiln's ordering of one key: JAX's canonical floats (-0 as 0, one NaN after +inf).
int key_order(const Value& a, const Value& b) {
  if (is_floating(a.dtype)) {
    auto canon = [](double d) {
      if (d == 0) return 0.0;
      if (std::isnan(d)) return std::numeric_limits<double>::quiet_NaN();
      return d;
    };
    const uint64_t x = total_order_key(canon(as_double(a))),
                   y = total_order_key(canon(as_double(b)));
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return int_less(a, b) ? -1 : a.bits == b.bits ? 0 : 1;
}

}  // namespace

int sort_comparator_keys(const Region& comparator, std::span<const DType> dtypes,
                         std::string_view source_name) {
  const size_t n = dtypes.size();
  if (comparator.args.size() != 2 * n) return 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < 2; ++k) {
      const ir::ValueType& t = comparator.args[2 * i + k].second;
      if (t.dtype != dtypes[i] || t.shape.rank() != 0) return 0;
    }
  std::vector<std::vector<Value>> alphabet;
  for (DType t : dtypes) alphabet.push_back(probes(t));
  std::vector<bool> possible(n + 1, true);  // possible[k]: num_keys = k still fits
  possible[0] = false;
  uint64_t state = 0x9E3779B97F4A7C15ull;  // a fixed sequence: the same probes every import
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  for (int trial = 0; trial < 4096; ++trial) {
    std::vector<Value> args(2 * n, Value{});
    for (size_t i = 0; i < n; ++i) {
      const std::vector<Value>& a = alphabet[i];
      args[2 * i] = a[next() % a.size()];
      // Ties half of the time: they decide whether later keys count.
      args[2 * i + 1] = next() % 2 == 0 ? args[2 * i] : a[next() % a.size()];
    }
    const std::optional<bool> got = run(comparator, args, source_name);
    if (!got) return 0;
    for (size_t k = 1; k <= n; ++k) {
      int order = 0;
      for (size_t i = 0; i < k && order == 0; ++i) order = key_order(args[2 * i], args[2 * i + 1]);
      if ((order < 0) != *got) possible[k] = false;
    }
  }
  for (size_t k = 1; k <= n; ++k)
    if (possible[k]) return static_cast<int>(k);
  return 0;
}

}  // namespace kiln::mlir
