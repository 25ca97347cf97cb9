// ir::Graph -> StableHLO MLIR text, in the textual form JAX prints
// (`jax.jit(f).lower(...).as_text()`): the pretty forms of the ops that have one, the generic form
// (`"stablehlo.reduce_window"(...)
// <{...}> ({ ^bb0(...): ... })`) for those that do not. Every SSA value gets a fresh number (%0,
// %1,
// ...; arguments are %arg0, ...), unique across nested regions, so the text parses without
// shadowing questions. docs/export.md lists what each primitive becomes.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "export/elementwise_ops.hpp"
#include "kiln/backend.hpp"
#include "kiln/error.hpp"
#include "kiln/export.hpp"

namespace kiln {
namespace {

using ir::Prim;

std::string element_type(DType t) {
  switch (t) {
    case DType::bool_:
      return "i1";
    case DType::uint8:
      return "ui8";
    case DType::uint16:
      return "ui16";
    case DType::uint32:
      return "ui32";
    case DType::uint64:
      return "ui64";
    case DType::int8:
      return "i8";
    case DType::int16:
      return "i16";
    case DType::int32:
      return "i32";
    case DType::int64:
      return "i64";
    case DType::bfloat16:
      return "bf16";
    case DType::float16:
      return "f16";
    case DType::float32:
      return "f32";
    case DType::float64:
      return "f64";
    case DType::complex64:
      return "complex<f32>";
    case DType::complex128:
      return "complex<f64>";
  }
  throw Error("kiln bug: StableHLO export: no element type for " + std::string(name(t)));
}

std::string tensor_type(DType t, const Shape& s) {
  std::string out = "tensor<";
  for (int64_t d : s) out += std::to_string(d) + "x";
  return out + element_type(t) + ">";
}
std::string tensor_type(const ir::ValueType& vt) {
  return tensor_type(vt.dtype, vt.shape);
}

std::string int_list(std::span<const int64_t> v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}
std::string i64_array(std::span<const int64_t> v) {
  std::string out = "array<i64";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : ": ") + std::to_string(v[i]);
  return out + ">";
}

std::string hex_bits(uint64_t bits, size_t bytes) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%0*llX", static_cast<int>(2 * bytes),
                static_cast<unsigned long long>(bits));
  return buf;
}

// A float element, exactly: decimal (`1.000000e+00`, as MLIR prints) when the decimal text
// reads back to the same bits, else the bit pattern in hex (`0x7FC00000`), which MLIR reads as
// the bits of a float.
std::string float_text(DType t, uint64_t bits) {
  double v = 0;
  if (t == DType::float64) {
    std::memcpy(&v, &bits, 8);
  } else if (t == DType::float32) {
    float f = 0;
    uint32_t b = static_cast<uint32_t>(bits);
    std::memcpy(&f, &b, 4);
    v = f;
  } else if (t == DType::bfloat16) {
    v = to_float(bf16{static_cast<uint16_t>(bits)});
  } else {
    v = to_float(f16{static_cast<uint16_t>(bits)});
  }
  if (std::isfinite(v)) {
    for (int digits : {6, 9, 17}) {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.*e", digits, v);
      bool same = false;
      if (t == DType::float64) {
        same = std::strtod(buf, nullptr) == v && !(v == 0 && std::signbit(v) != (buf[0] == '-'));
      } else if (t == DType::float32) {
        float back = std::strtof(buf, nullptr);
        uint32_t b = 0;
        std::memcpy(&b, &back, 4);
        same = b == static_cast<uint32_t>(bits);
      } else {
        // 16-bit floats: only text whose value is exactly the element (no rounding to argue).
        same = std::strtod(buf, nullptr) == v && !(v == 0 && std::signbit(v) != (buf[0] == '-'));
      }
      if (same) return buf;
    }
  }
  return hex_bits(bits, itemsize(t));
}

std::string element_text(DType t, const uint8_t* p) {
  if (is_complex(t)) {  // (re,im), as JAX writes complex literals
    const DType part = real_dtype(t);
    return "(" + element_text(part, p) + "," + element_text(part, p + itemsize(part)) + ")";
  }
  uint64_t bits = 0;
  std::memcpy(&bits, p, itemsize(t));
  switch (t) {
    case DType::bool_:
      return bits ? "true" : "false";
    case DType::uint8:
    case DType::uint16:
    case DType::uint32:
    case DType::uint64:
      return std::to_string(bits);
    case DType::int8:
      return std::to_string(static_cast<int8_t>(bits));
    case DType::int16:
      return std::to_string(static_cast<int16_t>(bits));
    case DType::int32:
      return std::to_string(static_cast<int32_t>(bits));
    case DType::int64:
      return std::to_string(static_cast<int64_t>(bits));
    default:
      return float_text(t, bits);
  }
}

// `dense<...>`: the splat form when every element is the same, nested brackets otherwise.
std::string dense(DType t, const Shape& s, const uint8_t* data) {
  const size_t item = itemsize(t);
  const int64_t n = s.numel();
  if (n == 0) return "dense<>";
  bool splat = true;
  for (int64_t i = 1; i < n && splat; ++i) splat = std::memcmp(data, data + i * item, item) == 0;
  if (splat) return "dense<" + element_text(t, data) + ">";
  std::string out = "dense<";
  int64_t at = 0;
  auto rec = [&](auto&& self, int dim) -> void {
    if (dim == s.rank()) {
      out += element_text(t, data + (at++) * item);
      return;
    }
    out += "[";
    for (int64_t i = 0; i < s[dim]; ++i) {
      if (i) out += ", ";
      self(self, dim + 1);
    }
    out += "]";
  };
  rec(rec, 0);
  return out + ">";
}

std::string compare_type(DType t) {
  if (is_floating(t) || is_complex(t)) return "FLOAT";  // complex: JAX writes FLOAT too
  if (t == DType::bool_ || is_unsigned(t)) return "UNSIGNED";
  return "SIGNED";
}

// The bits of the identity of max (lowest: -inf, the minimum integer, false) or min (highest).
uint64_t lowest_bits(DType t) {
  switch (t) {
    case DType::int8:
      return 0x80;
    case DType::int16:
      return 0x8000;
    case DType::int32:
      return 0x80000000u;
    case DType::int64:
      return 0x8000000000000000ull;
    case DType::bfloat16:
      return 0xFF80;
    case DType::float16:
      return 0xFC00;
    case DType::float32:
      return 0xFF800000u;
    case DType::float64:
      return 0xFFF0000000000000ull;
    default:
      return 0;  // bool, unsigned
  }
}
uint64_t highest_bits(DType t) {
  switch (t) {
    case DType::bool_:
      return 1;
    case DType::uint8:
      return 0xFF;
    case DType::uint16:
      return 0xFFFF;
    case DType::uint32:
      return 0xFFFFFFFFu;
    case DType::uint64:
      return ~0ull;
    case DType::int8:
      return 0x7F;
    case DType::int16:
      return 0x7FFF;
    case DType::int32:
      return 0x7FFFFFFFu;
    case DType::int64:
      return 0x7FFFFFFFFFFFFFFFull;
    case DType::bfloat16:
      return 0x7F80;
    case DType::float16:
      return 0x7C00;
    case DType::float32:
      return 0x7F800000u;
    default:
      return 0x7FF0000000000000ull;
  }
}

// The combiner of a reduction, window or scan primitive, as a StableHLO op.
std::string combiner(Prim p) {
  switch (p) {
    case Prim::reduce_max:
    case Prim::reduce_window_max:
    case Prim::cummax:
      return "stablehlo.maximum";
    case Prim::reduce_min:
    case Prim::reduce_window_min:
    case Prim::cummin:
      return "stablehlo.minimum";
    case Prim::reduce_prod:
    case Prim::reduce_window_prod:
    case Prim::cumprod:
      return "stablehlo.multiply";
    default:
      return "stablehlo.add";
  }
}

// The bits of the identity of p's combiner in dtype t (the init value JAX writes).
uint64_t identity_bits(Prim p, DType t) {
  const std::string c = combiner(p);
  if (c == "stablehlo.maximum") return lowest_bits(t);
  if (c == "stablehlo.minimum") return highest_bits(t);
  if (c == "stablehlo.multiply") return Scalar::from_int(1, t).bits;
  return 0;
}

// The quiet NaN JAX's sort comparator maps every NaN to (0x7FC00000 in float32).
uint64_t quiet_nan_bits(DType t) {
  switch (t) {
    case DType::bfloat16:
      return 0x7FC0;
    case DType::float16:
      return 0x7E00;
    case DType::float32:
      return 0x7FC00000u;
    default:
      return 0x7FF8000000000000ull;
  }
}

// The op a node exports to: its registry row's (the importer reads the same name back).
std::string op_name(const ir::Node& n) {
  return std::string(ir::info(n.prim).stablehlo);
}

// The comparison direction StableHLO writes: the primitive's name in capitals (eq -> EQ).
std::string compare_direction(Prim p) {
  std::string dir(ir::name(p));
  for (char& c : dir) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return dir;
}

// "b, 0, 1, f"-style: the role of each dimension given (first, second, spatial...) positions.
std::string conv_layout(std::span<const int64_t> spec, char first, char second) {
  std::vector<std::string> roles(spec.size());
  roles[spec[0]] = std::string(1, first);
  roles[spec[1]] = std::string(1, second);
  for (size_t i = 2; i < spec.size(); ++i) roles[spec[i]] = std::to_string(i - 2);
  std::string out = "[";
  for (size_t i = 0; i < roles.size(); ++i) out += (i ? ", " : "") + roles[i];
  return out + "]";
}

// A layout over a mesh in XLA's HloSharding text, as JAX writes it in mhlo.sharding (GSPMD):
// "{replicated}", or "{devices=[t0,t1,...]<=[N]}" — the tile count of each dimension, then the
// devices of the tiles in row-major order as an iota over the mesh: the mesh's device indices,
// arranged as its axes (`<=[s0,s1,...]`), transposed to put the axes in the order the dimensions
// use them (`T(p...)`). Axes no dimension uses hold copies: one more tile dimension, marked
// `last_tile_dim_replicate`. Written in XLA's canonical form: axes of size 1 dropped, axes that
// stay adjacent and in order merged, and no transpose (`<=[N]`) when the order is the mesh's.
std::string hlo_sharding(const ir::MeshSplit& split) {
  const ir::MeshShape& mesh = split.mesh;
  auto axis_index = [&](const std::string& name) {
    for (size_t i = 0; i < mesh.names.size(); ++i)
      if (mesh.names[i] == name) return i;
    throw Error("kiln bug: a layout names mesh axis '" + name + "' its mesh lacks");
  };
  std::vector<int64_t> tiles;
  std::vector<size_t> order;  // mesh axes in the order the tile dimensions use them
  std::vector<bool> used(mesh.names.size(), false);
  for (const auto& axes : split.dims) {
    int64_t n = 1;
    for (const std::string& a : axes) {
      const size_t i = axis_index(a);
      n *= mesh.sizes[i];
      used[i] = true;
      order.push_back(i);
    }
    tiles.push_back(n);
  }
  int64_t copies = 1;
  for (size_t i = 0; i < used.size(); ++i)
    if (!used[i]) {
      copies *= mesh.sizes[i];
      order.push_back(i);
    }
  if (mesh.size() / copies == 1) return "{replicated}";
  // Canonical iota: drop size-1 axes, then merge runs of axes adjacent in both orders.
  std::vector<size_t> kept;
  for (size_t i : order)
    if (mesh.sizes[i] > 1) kept.push_back(i);
  auto next_kept = [&](size_t after) {  // the mesh's next axis of size > 1, or none
    for (size_t j = after + 1; j < mesh.sizes.size(); ++j)
      if (mesh.sizes[j] > 1) return j;
    return mesh.sizes.size();
  };
  std::vector<std::vector<size_t>> runs;  // in transposed order
  for (size_t i : kept)
    if (!runs.empty() && next_kept(runs.back().back()) == i)
      runs.back().push_back(i);
    else
      runs.push_back({i});
  std::vector<size_t> by_mesh(runs.size());  // runs sorted by their first axis: the reshape
  for (size_t k = 0; k < runs.size(); ++k) by_mesh[k] = k;
  std::sort(by_mesh.begin(), by_mesh.end(),
            [&](size_t a, size_t b) { return runs[a].front() < runs[b].front(); });
  std::string s = "{devices=[";
  for (size_t d = 0; d < tiles.size(); ++d) s += (d ? "," : "") + std::to_string(tiles[d]);
  if (copies > 1) s += "," + std::to_string(copies);
  s += "]<=[";
  bool transposed = false;
  for (size_t k = 0; k < by_mesh.size(); ++k) transposed = transposed || by_mesh[k] != k;
  if (!transposed) {
    s += std::to_string(mesh.size()) + "]";
  } else {
    for (size_t k = 0; k < by_mesh.size(); ++k) {
      int64_t n = 1;
      for (size_t i : runs[by_mesh[k]]) n *= mesh.sizes[i];
      s += (k ? "," : "") + std::to_string(n);
    }
    s += "]T(";
    for (size_t k = 0; k < runs.size(); ++k) {
      const size_t pos =
          static_cast<size_t>(std::find(by_mesh.begin(), by_mesh.end(), k) - by_mesh.begin());
      s += (k ? "," : "") + std::to_string(pos);
    }
    s += ")";
  }
  return s + (copies > 1 ? " last_tile_dim_replicate}" : "}");
}

class Emitter {
 public:
  explicit Emitter(const ir::Graph& g) : g_(g), names_(g.nodes.size()) {}

  std::string run() {
    for (const ir::Node& n : g_.nodes) check_supported(n);
    const std::optional<ir::Graph::Sharding>& sharding = g_.sharding;
    if (sharding && (sharding->inputs.size() != g_.inputs.size() ||
                     sharding->outputs.size() != g_.outputs.size()))
      throw Error("kiln bug: a graph's sharding has " + std::to_string(sharding->inputs.size()) +
                  " inputs and " + std::to_string(sharding->outputs.size()) +
                  " outputs for a graph of " + std::to_string(g_.inputs.size()) + " and " +
                  std::to_string(g_.outputs.size()));
    std::string args;
    for (size_t k = 0; k < g_.inputs.size(); ++k) {
      names_[g_.inputs[k]] = "%arg" + std::to_string(k);
      args += (k ? ", " : "") + names_[g_.inputs[k]] + ": " + tensor_type(g_.type(g_.inputs[k]));
      if (sharding) args += " {mhlo.sharding = \"" + hlo_sharding(sharding->inputs[k]) + "\"}";
    }
    for (size_t i = 0; i < g_.nodes.size(); ++i) emit(static_cast<ir::ValueId>(i));
    std::string results, ret_names, ret_types;
    for (size_t k = 0; k < g_.outputs.size(); ++k) {
      const ir::ValueId v = g_.outputs[k];
      const std::string t = tensor_type(g_.type(v));
      const std::string info = g_.outputs.size() == 1 ? "result" : "[" + std::to_string(k) + "]";
      results +=
          (k ? ", " : "") + t + " {jax.result_info = \"" + info + "\"" +
          (sharding ? ", mhlo.sharding = \"" + hlo_sharding(sharding->outputs[k]) + "\"" : "") +
          "}";
      ret_names += (k ? ", " : "") + names_[v];
      ret_types += (k ? ", " : "") + t;
    }
    const int64_t partitions = sharding ? sharding->mesh.size() : 1;
    std::string out = "module @jit_" + symbol(g_.name) +
                      " attributes {mhlo.num_partitions = " + std::to_string(partitions) +
                      " : i32, mhlo.num_replicas = 1 : i32} {\n";
    out += "  func.func public @main(" + args + ") -> (" + results + ") {\n";
    out += body_;
    out +=
        g_.outputs.empty() ? "    return\n" : "    return " + ret_names + " : " + ret_types + "\n";
    out += "  }\n}\n";
    return out;
  }

 private:
  static std::string symbol(const std::string& name) {
    std::string s;
    for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
    return s.empty() ? "f" : s;
  }

  void check_supported(const ir::Node& n) const {
    const std::string prim(ir::name(n.prim));
    if (ir::info(n.prim).kind == ir::PrimKind::collective)
      throw Unsupported(message("StableHLO export: " + prim +
                                    " is a collective, and kiln does not export multi-device "
                                    "programs yet",
                                n.loc,
                                "Run it on kiln's cpu devices (KILN_CPU_DEVICES=N, "
                                "docs/multi-device.md)"));
    if (n.prim == Prim::threefry2x32)
      throw Unsupported(message(
          "StableHLO export: threefry2x32 (random bits) is not exported — accelerator plugins "
          "have no RNG to lower it to",
          n.loc,
          "Initialise on the cpu and device_put: draw the random values (random::normal, "
          "Module::init) outside the exported function and pass them in as arguments"));
  }

  std::string fresh() { return "%" + std::to_string(next_++); }
  void line(const std::string& s, int indent = 4) { body_ += std::string(indent, ' ') + s + "\n"; }
  // bits: the element's low 8 bytes (a complex constant's real part; its imaginary part is 0).
  std::string scalar_constant(DType t, uint64_t bits, int indent = 4) {
    std::string r = fresh();
    uint8_t element[16] = {};
    std::memcpy(element, &bits, sizeof(bits));
    line(r + " = stablehlo.constant dense<" + element_text(t, element) +
             "> : " + tensor_type(t, Shape{}),
         indent);
    return r;
  }
  const std::string& in(const ir::Node& n, size_t i) const { return names_[n.inputs[i]]; }
  std::string in_type(const ir::Node& n, size_t i) const {
    return tensor_type(g_.type(n.inputs[i]));
  }

  void emit(ir::ValueId id) {
    const ir::Node& n = g_.nodes[id];
    const ir::Attrs& a = n.attrs;
    const std::string t = tensor_type(n.type);
    const DType dt = n.type.dtype;
    if (n.prim == Prim::parameter) return;  // named %argK in run()
    if (n.prim == Prim::stop_gradient) {    // identity: the value itself
      names_[id] = in(n, 0);
      return;
    }
    if (is_plain_elementwise(n.prim)) {
      const std::string_view op = ir::info(n.prim).stablehlo;
      std::string operands;
      for (size_t i = 0; i < n.inputs.size(); ++i) operands += (i ? ", " : "") + in(n, i);
      const std::string r = result(id);
      // real, imag and abs of a complex operand change the element type: the functional form.
      const bool retyped = n.inputs.size() == 1 && g_.type(n.inputs[0]).dtype != dt;
      line(r + " = " + std::string(op) + " " + operands + " : " +
           (retyped ? "(" + in_type(n, 0) + ") -> " + t : t) +
           (op.starts_with("chlo.") ? " -> " + t : ""));
    } else if (ir::info(n.prim).kind == ir::PrimKind::compare) {
      const std::string r = result(id);
      line(r + " = stablehlo.compare  " + compare_direction(n.prim) + ", " + in(n, 0) + ", " +
           in(n, 1) + ",  " + compare_type(g_.type(n.inputs[0]).dtype) + " : (" + in_type(n, 0) +
           ", " + in_type(n, 1) + ") -> " + t);
    } else {
      emit_structured(id, n, t, dt, a);
    }
  }

  // A fresh name for node id's result, recorded. Ops that need constants emit those first, so
  // that numbers follow the text.
  std::string result(ir::ValueId id) {
    names_[id] = fresh();
    return names_[id];
  }

  void emit_structured(ir::ValueId id, const ir::Node& n, const std::string& t, DType dt,
                       const ir::Attrs& a) {
    const ir::PrimKind kind = ir::info(n.prim).kind;
    const bool needs_init =
        kind == ir::PrimKind::reduce || kind == ir::PrimKind::window ||
        kind == ir::PrimKind::scan || kind == ir::PrimKind::sort ||
        (n.prim == Prim::convert && is_complex(g_.type(n.inputs[0]).dtype) && !is_complex(dt));
    const std::string r = needs_init ? std::string() : result(id);
    switch (n.prim) {
      case Prim::sharding_constraint:  // JAX's form (GSPMD)
        line(r + " = stablehlo.custom_call @Sharding(" + in(n, 0) +
             ") {backend_config = \"\", mhlo.sharding = \"" + hlo_sharding(a.split) + "\"} : (" +
             in_type(n, 0) + ") -> " + t);
        return;
      case Prim::constant: {
        const uint8_t* data =
            a.literal ? static_cast<const uint8_t*>(a.literal->host_data()) : nullptr;
        if (data == nullptr && n.type.shape.numel() > 0)
          throw Unsupported(message("StableHLO export: a constant's literal is not on the host",
                                    n.loc, "Capture host arrays (device_get) in the function"));
        line(r + " = " + op_name(n) + " " + dense(dt, n.type.shape, data) + " : " + t);
        return;
      }
      case Prim::full:  // one value: always the splat form
        line(r + " = " + op_name(n) + " dense<" +
             element_text(dt, reinterpret_cast<const uint8_t*>(&a.value.bits)) + "> : " + t);
        return;
      case Prim::iota:
        line(r + " = " + op_name(n) + " dim = " + std::to_string(a.axis) + " : " + t);
        return;
      case Prim::convert: {
        // complex -> real keeps the real part: JAX writes stablehlo.real, then the convert.
        std::string x = in(n, 0), x_type = in_type(n, 0);
        const DType from = g_.type(n.inputs[0]).dtype;
        if (is_complex(from) && !is_complex(dt)) {
          const std::string re = fresh();
          x_type = tensor_type(real_dtype(from), n.type.shape);
          line(re + " = stablehlo.real " + x + " : (" + in_type(n, 0) + ") -> " + x_type);
          x = re;
        }
        line((r.empty() ? result(id) : r) + " = " + op_name(n) + " " + x + " : (" + x_type +
             ") -> " + t);
        return;
      }
      case Prim::bitcast_convert:
        line(r + " = " + op_name(n) + " " + in(n, 0) + " : (" + in_type(n, 0) + ") -> " + t);
        return;
      case Prim::reduce_precision:  // format = e5m2: exponent and mantissa bits
        line(r + " = " + op_name(n) + " " + in(n, 0) + ", format = e" +
             std::to_string(a.exponent_bits) + "m" + std::to_string(a.mantissa_bits) + " : " + t);
        return;
      case Prim::select:
        line(r + " = " + op_name(n) + " " + in(n, 0) + ", " + in(n, 1) + ", " + in(n, 2) + " : " +
             in_type(n, 0) + ", " + t);
        return;
      case Prim::broadcast_in_dim:
        line(r + " = " + op_name(n) + " " + in(n, 0) + ", dims = " + int_list(a.dims) + " : (" +
             in_type(n, 0) + ") -> " + t);
        return;
      case Prim::reshape:
        line(r + " = " + op_name(n) + " " + in(n, 0) + " : (" + in_type(n, 0) + ") -> " + t);
        return;
      case Prim::transpose:
        line(r + " = " + op_name(n) + " " + in(n, 0) + ", dims = " + int_list(a.dims) + " : (" +
             in_type(n, 0) + ") -> " + t);
        return;
      case Prim::rev:
        line(r + " = " + op_name(n) + " " + in(n, 0) + ", dims = " + int_list(a.dims) + " : " + t);
        return;
      case Prim::slice: {
        std::string s = "[";
        for (size_t i = 0; i < a.start.size(); ++i) {
          const int64_t stride = i < a.stride.size() ? a.stride[i] : 1;
          s += (i ? ", " : "") + std::to_string(a.start[i]) + ":" + std::to_string(a.limit[i]) +
               (stride != 1 ? ":" + std::to_string(stride) : "");
        }
        line(r + " = " + op_name(n) + " " + in(n, 0) + " " + s + "] : (" + in_type(n, 0) + ") -> " +
             t);
        return;
      }
      case Prim::concatenate: {
        std::string ops, types;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          ops += (i ? ", " : "") + in(n, i);
          types += (i ? ", " : "") + in_type(n, i);
        }
        line(r + " = " + op_name(n) + " " + ops + ", dim = " + std::to_string(a.axis) + " : (" +
             types + ") -> " + t);
        return;
      }
      case Prim::pad:
        line(r + " = " + op_name(n) + " " + in(n, 0) + ", " + in(n, 1) +
             ", low = " + int_list(a.low) + ", high = " + int_list(a.high) + ", interior = " +
             int_list(a.interior) + " : (" + in_type(n, 0) + ", " + in_type(n, 1) + ") -> " + t);
        return;
      case Prim::reduce_sum:
      case Prim::reduce_max:
      case Prim::reduce_min:
      case Prim::reduce_prod: {
        const std::string op = combiner(n.prim);
        const std::string c = scalar_constant(dt, identity_bits(n.prim, dt));
        const std::string reduce_name = result(id);
        line(reduce_name + " = " + op_name(n) + "(" + in(n, 0) + " init: " + c + ") applies " + op +
             " across dimensions = " + int_list(a.dims) + " : (" + in_type(n, 0) + ", " +
             tensor_type(dt, Shape{}) + ") -> " + t);
        return;
      }
      case Prim::argmax:
      case Prim::argmin:
        emit_argmax(id, n, t);
        return;
      case Prim::cumsum:
      case Prim::cumprod:
      case Prim::cummax:
      case Prim::cummin:
        emit_cumulative(id, n, t, dt, a);
        return;
      case Prim::sort:
        emit_sort(id, n);
        return;
      case Prim::top_k: {
        const std::string name = fresh();
        const ir::ValueType& xt = g_.type(n.inputs[0]);
        Shape kshape = xt.shape;
        kshape[kshape.rank() - 1] = a.k;
        line(name + ":2 = chlo.top_k(" + in(n, 0) + ", k = " + std::to_string(a.k) +
             ") : " + in_type(n, 0) + " -> (" + tensor_type(xt.dtype, kshape) + ", " +
             tensor_type(DType::int32, kshape) + ")");
        names_[id] = name + "#" + std::to_string(a.result);
        return;
      }
      case Prim::dot_general: {
        std::string dims;
        if (!a.dot.lhs_batch.empty())
          dims += "batching_dims = " + int_list(a.dot.lhs_batch) + " x " +
                  int_list(a.dot.rhs_batch) + ", ";
        dims += "contracting_dims = " + int_list(a.dot.lhs_contract) + " x " +
                int_list(a.dot.rhs_contract);
        line(r + " = " + op_name(n) + " " + in(n, 0) + ", " + in(n, 1) + ", " + dims +
             ", precision = [DEFAULT, DEFAULT] : (" + in_type(n, 0) + ", " + in_type(n, 1) +
             ") -> " + t);
        return;
      }
      case Prim::convolution: {
        const ir::ConvDims& c = a.conv;
        std::string pad = "[";
        for (size_t i = 0; i < c.padding_low.size(); ++i)
          pad += std::string(i ? ", " : "") + "[" + std::to_string(c.padding_low[i]) + ", " +
                 std::to_string(c.padding_high[i]) + "]";
        pad += "]";
        line(r + " = " + op_name(n) + "(" + in(n, 0) + ", " + in(n, 1) +
             ") dim_numbers = " + conv_layout(c.lhs_spec, 'b', 'f') + "x" +
             conv_layout(c.rhs_spec, 'o', 'i') + "->" + conv_layout(c.out_spec, 'b', 'f') +
             ", window = {stride = " + int_list(c.window_strides) + ", pad = " + pad +
             ", lhs_dilate = " + int_list(c.lhs_dilation) +
             ", rhs_dilate = " + int_list(c.rhs_dilation) +
             "} {batch_group_count = " + std::to_string(c.batch_group_count) +
             " : i64, feature_group_count = " + std::to_string(c.feature_group_count) +
             " : i64, precision_config = [#stablehlo<precision DEFAULT>, #stablehlo<precision "
             "DEFAULT>]} : (" +
             in_type(n, 0) + ", " + in_type(n, 1) + ") -> " + t);
        return;
      }
      case Prim::reduce_window_sum:
      case Prim::reduce_window_max:
      case Prim::reduce_window_min:
      case Prim::reduce_window_prod:
      case Prim::select_and_scatter_add:
        emit_window(id, n, t, dt, a);
        return;
      case Prim::gather:
        line(r + " = \"" + op_name(n) + "\"(" + in(n, 0) + ", " + in(n, 1) +
             ") <{dimension_numbers = " + gather_dims(a.gather, false) +
             ", indices_are_sorted = " + (a.gather.indices_are_sorted ? "true" : "false") +
             ", slice_sizes = " + i64_array(a.gather.slice_sizes) + "}> : (" + in_type(n, 0) +
             ", " + in_type(n, 1) + ") -> " + t);
        return;
      case Prim::scatter:
      case Prim::scatter_add:
      case Prim::scatter_mul:
      case Prim::scatter_min:
      case Prim::scatter_max:
        emit_scatter(r, n, t, dt, a);
        return;
      case Prim::dynamic_slice:
      case Prim::dynamic_update_slice: {
        std::string ops, types;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          ops += (i ? ", " : "") + in(n, i);
          types += (i ? ", " : "") + in_type(n, i);
        }
        const std::string sizes =
            n.prim == Prim::dynamic_slice ? ", sizes = " + int_list(a.shape.vec()) : "";
        line(r + " = " + op_name(n) + " " + ops + sizes + " : (" + types + ") -> " + t);
        return;
      }
      default:
        throw Unsupported(
            message("StableHLO export: no lowering for primitive " + std::string(ir::name(n.prim)),
                    n.loc, "Report it: every kiln primitive should export"));
    }
  }

  // reduce_window_sum / reduce_window_max and select_and_scatter_add: ops with reducer regions.
  void emit_window(ir::ValueId id, const ir::Node& n, const std::string& t, DType dt,
                   const ir::Attrs& a) {
    switch (n.prim) {
      case Prim::reduce_window_sum:
      case Prim::reduce_window_max:
      case Prim::reduce_window_min:
      case Prim::reduce_window_prod:
        emit_reduce_window(id, n.prim, in(n, 0), g_.type(n.inputs[0]), t, window_attrs(a));
        return;
      case Prim::select_and_scatter_add: {
        // kiln: (source, operand); StableHLO: (operand, source, init).
        const std::string c = scalar_constant(dt, 0);
        const std::string name = result(id);
        const std::string st = tensor_type(dt, Shape{});
        line(name + " = \"" + op_name(n) + "\"(" + in(n, 1) + ", " + in(n, 0) + ", " + c + ") <{" +
             window_attrs(a) + "}> ({");
        const std::string x = fresh(), y = fresh(), p = fresh();
        line("^bb0(" + x + ": " + st + ", " + y + ": " + st + "):", 4);
        line(p + " = stablehlo.compare  GE, " + x + ", " + y + ",  " + compare_type(dt) + " : (" +
                 st + ", " + st + ") -> " + tensor_type(DType::bool_, Shape{}),
             6);
        line("stablehlo.return " + p + " : " + tensor_type(DType::bool_, Shape{}), 6);
        line("}, {");
        const std::string u = fresh(), v = fresh(), s = fresh();
        line("^bb0(" + u + ": " + st + ", " + v + ": " + st + "):", 4);
        line(s + " = stablehlo.add " + u + ", " + v + " : " + st, 6);
        line("stablehlo.return " + s + " : " + st, 6);
        line("}) : (" + in_type(n, 1) + ", " + in_type(n, 0) + ", " + st + ") -> " + t);
        return;
      }
      default:
        return;
    }
  }

  // #stablehlo.gather<...> / #stablehlo.scatter<...>, fields in StableHLO's order, empty lists
  // and a zero index_vector_dim left out (as StableHLO prints them).
  static std::string gather_dims(const ir::GatherDims& d, bool scatter) {
    std::string s;
    auto field = [&](const char* name, const std::vector<int64_t>& v) {
      if (!v.empty()) s += std::string(s.empty() ? "" : ", ") + name + " = " + int_list(v);
    };
    field(scatter ? "update_window_dims" : "offset_dims", d.offset_dims);
    field(scatter ? "inserted_window_dims" : "collapsed_slice_dims", d.collapsed_slice_dims);
    field(scatter ? "input_batching_dims" : "operand_batching_dims", d.operand_batching_dims);
    field(scatter ? "scatter_indices_batching_dims" : "start_indices_batching_dims",
          d.start_indices_batching_dims);
    field(scatter ? "scatter_dims_to_operand_dims" : "start_index_map", d.start_index_map);
    if (d.index_vector_dim != 0)  // 0, StableHLO's default, is left out as its printer does
      s += std::string(s.empty() ? "" : ", ") +
           "index_vector_dim = " + std::to_string(d.index_vector_dim);
    return std::string(scatter ? "#stablehlo.scatter<" : "#stablehlo.gather<") + s + ">";
  }

  // A scatter and its update region, as JAX writes it: the replace body returns the update.
  void emit_scatter(const std::string& r, const ir::Node& n, const std::string& t, DType dt,
                    const ir::Attrs& a) {
    const ir::GatherDims& d = a.gather;
    line(r + " = \"" + op_name(n) + "\"(" + in(n, 0) + ", " + in(n, 1) + ", " + in(n, 2) +
         ") <{indices_are_sorted = " + (d.indices_are_sorted ? "true" : "false") +
         ", scatter_dimension_numbers = " + gather_dims(d, true) +
         ", unique_indices = " + (d.unique_indices ? "true" : "false") + "}> ({");
    const std::string st = tensor_type(dt, Shape{});
    const std::string x = fresh(), y = fresh();
    line("^bb0(" + x + ": " + st + ", " + y + ": " + st + "):", 4);
    const char* op = n.prim == Prim::scatter_add   ? "stablehlo.add"
                     : n.prim == Prim::scatter_mul ? "stablehlo.multiply"
                     : n.prim == Prim::scatter_min ? "stablehlo.minimum"
                     : n.prim == Prim::scatter_max ? "stablehlo.maximum"
                                                   : nullptr;
    if (op == nullptr) {
      line("stablehlo.return " + y + " : " + st, 6);
    } else {
      const std::string c = fresh();
      line(c + " = " + op + " " + x + ", " + y + " : " + st, 6);
      line("stablehlo.return " + c + " : " + st, 6);
    }
    line("}) : (" + in_type(n, 0) + ", " + in_type(n, 1) + ", " + in_type(n, 2) + ") -> " + t);
  }

  // A one-operand reduce_window with p's combiner (a reduction or scan primitive) and identity.
  void emit_reduce_window(ir::ValueId id, Prim p, const std::string& x, const ir::ValueType& xt,
                          const std::string& t, const std::string& attrs) {
    const DType dt = xt.dtype;
    const std::string c = scalar_constant(dt, identity_bits(p, dt));
    const std::string name = result(id);
    const std::string st = tensor_type(dt, Shape{});
    line(name + " = \"stablehlo.reduce_window\"(" + x + ", " + c + ") <{" + attrs + "}> ({");
    const std::string u = fresh(), v = fresh(), s = fresh();
    line("^bb0(" + u + ": " + st + ", " + v + ": " + st + "):", 4);
    line(s + " = " + combiner(p) + " " + u + ", " + v + " : " + st, 6);
    line("stablehlo.return " + s + " : " + st, 6);
    line("}) : (" + tensor_type(xt) + ", " + st + ") -> " + t);
  }

  // lax.cumsum & co. as JAX writes them on CPU: a reduce_window whose window spans the axis,
  // padded by n-1 before it (after it, reversed).
  void emit_cumulative(ir::ValueId id, const ir::Node& n, const std::string& t, DType,
                       const ir::Attrs& a) {
    const Shape& s = n.type.shape;
    ir::Attrs w;
    for (int i = 0; i < s.rank(); ++i) {
      const bool along = i == a.axis;
      const int64_t extent = along ? std::max<int64_t>(s[i], 1) : 1;
      w.window.push_back(extent);
      w.stride.push_back(1);
      w.low.push_back(along && !a.reverse ? extent - 1 : 0);
      w.high.push_back(along && a.reverse ? extent - 1 : 0);
    }
    emit_reduce_window(id, n.prim, in(n, 0), g_.type(n.inputs[0]), t, window_attrs(w));
  }

  // lax.sort: one stablehlo.sort of every operand with JAX's comparator (floats made canonical:
  // -0.0 as 0.0, every NaN as one NaN; then TOTALORDER less-than, lexicographic over the keys).
  // The node is result `result` of it.
  void emit_sort(ir::ValueId id, const ir::Node& n) {
    const ir::Attrs& a = n.attrs;
    const std::string bt = tensor_type(DType::bool_, Shape{});
    std::string ops, types, args;
    std::vector<std::string> xs, ys;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      ops += (i ? ", " : "") + in(n, i);
      types += (i ? ", " : "") + in_type(n, i);
      const std::string st = tensor_type(g_.type(n.inputs[i]).dtype, Shape{});
      xs.push_back(fresh());
      ys.push_back(fresh());
      args += (i ? ", " : "") + xs.back() + ": " + st + ", " + ys.back() + ": " + st;
    }
    const std::string name = fresh();
    line(name + ":" + std::to_string(n.inputs.size()) + " = \"stablehlo.sort\"(" + ops +
         ") <{dimension = " + std::to_string(a.axis) + " : i64, is_stable = true}> ({");
    line("^bb0(" + args + "):", 4);
    auto canonical = [&](size_t k, const std::string& v) {
      const DType dt = g_.type(n.inputs[k]).dtype;
      if (!is_floating(dt)) return v;
      const std::string st = tensor_type(dt, Shape{});
      const std::string zero = scalar_constant(dt, 0, 6), is_zero = fresh(), z = fresh();
      line(is_zero + " = stablehlo.compare  EQ, " + v + ", " + zero + ",  FLOAT : (" + st + ", " +
               st + ") -> " + bt,
           6);
      line(z + " = stablehlo.select " + is_zero + ", " + zero + ", " + v + " : " + bt + ", " + st,
           6);
      const std::string nan = scalar_constant(dt, quiet_nan_bits(dt), 6), is_nan = fresh(),
                        c = fresh();
      line(is_nan + " = stablehlo.compare  NE, " + v + ", " + v + ",  FLOAT : (" + st + ", " + st +
               ") -> " + bt,
           6);
      line(c + " = stablehlo.select " + is_nan + ", " + nan + ", " + z + " : " + bt + ", " + st, 6);
      return c;
    };
    auto compare = [&](const char* dir, size_t k, const std::string& x, const std::string& y) {
      const DType dt = g_.type(n.inputs[k]).dtype;
      const std::string st = tensor_type(dt, Shape{}), c = fresh();
      line(c + " = stablehlo.compare  " + dir + ", " + x + ", " + y + ",  " +
               (is_floating(dt) ? std::string("TOTALORDER") : compare_type(dt)) + " : (" + st +
               ", " + st + ") -> " + bt,
           6);
      return c;
    };
    std::string p;  // built from the last key to the first, as JAX does
    for (auto k = static_cast<size_t>(a.num_keys); k-- > 0;) {
      const std::string x = canonical(k, xs[k]), y = canonical(k, ys[k]);
      const std::string lt = compare("LT", k, x, y);
      if (p.empty()) {
        p = lt;
        continue;
      }
      const std::string eq = compare("EQ", k, x, y), both = fresh(), either = fresh();
      line(both + " = stablehlo.and " + eq + ", " + p + " : " + bt, 6);
      line(either + " = stablehlo.or " + lt + ", " + both + " : " + bt, 6);
      p = either;
    }
    line("stablehlo.return " + p + " : " + bt, 6);
    line("}) : (" + types + ") -> (" + types + ")");
    names_[id] = name + "#" + std::to_string(a.result);
  }

  // padding (an Nx2 i64 tensor), window_dimensions, window_strides, as JAX writes them.
  static std::string window_attrs(const ir::Attrs& a) {
    const size_t rank = a.window.size();
    std::vector<int64_t> pad;
    for (size_t i = 0; i < rank; ++i) {
      pad.push_back(i < a.low.size() ? a.low[i] : 0);
      pad.push_back(i < a.high.size() ? a.high[i] : 0);
    }
    std::vector<int64_t> strides = a.stride;
    if (strides.empty()) strides.assign(rank, 1);
    return "padding = " +
           dense(DType::int64, Shape{static_cast<int64_t>(rank), 2},
                 reinterpret_cast<const uint8_t*>(pad.data())) +
           " : " + tensor_type(DType::int64, Shape{static_cast<int64_t>(rank), 2}) +
           ", window_dimensions = " + i64_array(a.window) +
           ", window_strides = " + i64_array(strides);
  }

  // JAX's argmax (argmin): a two-operand reduce over (value, index) that keeps the larger
  // (smaller) value, NaN winning, and on ties the smaller index.
  void emit_argmax(ir::ValueId id, const ir::Node& n, const std::string& t) {
    const ir::ValueType& xt = g_.type(n.inputs[0]);
    const DType dt = xt.dtype;
    const std::string st = tensor_type(dt, Shape{});
    const std::string it = tensor_type(DType::int32, Shape{});
    const std::string bt = tensor_type(DType::bool_, Shape{});
    const std::string ct = compare_type(dt);
    const std::string iota = fresh();
    const std::string iota_t = tensor_type(DType::int32, xt.shape);
    line(iota + " = stablehlo.iota dim = " + std::to_string(n.attrs.axis) + " : " + iota_t);
    const bool is_max = n.prim == Prim::argmax;
    const std::string cv = scalar_constant(dt, is_max ? lowest_bits(dt) : highest_bits(dt));
    const std::string ci = scalar_constant(DType::int32, 0);
    const std::string name = fresh();
    const std::string vt = tensor_type(dt, n.type.shape);
    const std::string av = fresh(), ai = fresh(), bv = fresh(), bi = fresh();
    line(name + ":2 = stablehlo.reduce(" + in(n, 0) + " init: " + cv + "), (" + iota +
         " init: " + ci + ") across dimensions = [" + std::to_string(n.attrs.axis) + "] : (" +
         in_type(n, 0) + ", " + iota_t + ", " + st + ", " + it + ") -> (" + vt + ", " + t + ")");
    line(" reducer(" + av + ": " + st + ", " + bv + ": " + st + ") (" + ai + ": " + it + ", " + bi +
         ": " + it + ")  {");
    auto cmp = [&](const char* dir, const std::string& x, const std::string& y,
                   const std::string& type, const std::string& kind) {
      std::string c = fresh();
      line(c + " = stablehlo.compare  " + dir + ", " + x + ", " + y + ",  " + kind + " : (" + type +
               ", " + type + ") -> " + bt,
           6);
      return c;
    };
    auto logic = [&](const char* op, const std::string& x, const std::string& y) {
      std::string c = fresh();
      line(c + " = " + op + " " + x + ", " + y + " : " + bt, 6);
      return c;
    };
    const std::string gt = cmp(is_max ? "GT" : "LT", av, bv, st, ct);
    const std::string nan = cmp("NE", av, av, st, ct);
    const std::string pick_v = logic("stablehlo.or", gt, nan);
    const std::string eq = cmp("EQ", av, bv, st, ct);
    const std::string lt = cmp("LT", ai, bi, it, "SIGNED");
    const std::string tie = logic("stablehlo.and", eq, lt);
    const std::string pick_i = logic("stablehlo.or", pick_v, tie);
    const std::string v = fresh(), i = fresh();
    line(v + " = stablehlo.select " + pick_v + ", " + av + ", " + bv + " : " + bt + ", " + st, 6);
    line(i + " = stablehlo.select " + pick_i + ", " + ai + ", " + bi + " : " + bt + ", " + it, 6);
    line("stablehlo.return " + v + ", " + i + " : " + st + ", " + it, 6);
    line("}");
    names_[id] = name + "#1";
  }

  const ir::Graph& g_;
  std::vector<std::string> names_;
  std::string body_;
  int next_ = 0;
};

}  // namespace

// KILN_DUMP_STABLEHLO=<dir>: every module exported is also written to <dir>, named by its module
// name and a hash of its text (so a module exported many times is one file), for a plugin's or
// MLIR tool's eyes (docs/export.md). CI's reference lane compiles every module the tests export
// with XLA this way. Written to a temporary name and renamed: processes may dump concurrently.
namespace {
void dump(const ir::Graph& graph, const std::string& text) {
  const char* dir = std::getenv("KILN_DUMP_STABLEHLO");
  if (dir == nullptr || *dir == '\0') return;
  uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  std::string name = graph.name.empty() ? "module" : graph.name;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  const std::filesystem::path final_path =
      std::filesystem::path(dir) / (name.substr(0, 64) + "-" + hex + ".mlir");
  const std::filesystem::path tmp =
      final_path.string() + ".tmp" + std::to_string(static_cast<long>(getpid()));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream out(tmp, std::ios::binary);
  out << text;
  out.close();
  if (!out || (std::filesystem::rename(tmp, final_path, ec), ec)) {
    std::filesystem::remove(tmp, ec);
    throw ValueError("KILN_DUMP_STABLEHLO: could not write " + final_path.string() +
                     ". Point it at a writable directory, or unset it");
  }
}
}  // namespace

std::string to_stablehlo(const ir::Graph& graph) {
  std::string text = Emitter(graph).run();
  dump(graph, text);
  return text;
}

}  // namespace kiln
