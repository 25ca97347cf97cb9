#include "primitives/cases.hpp"

#include <algorithm>
#include <cstring>
#include <random>

namespace kiln::harness {
namespace {

using ir::Prim;
using ir::PrimKind;

int bits_of(DType t) {
  return static_cast<int>(8 * itemsize(t));
}
uint64_t width_mask(DType t) {
  return bits_of(t) == 64 ? ~0ull : (1ull << bits_of(t)) - 1;
}
int mantissa_bits(DType t) {
  switch (t) {
    case DType::bfloat16:
      return 7;
    case DType::float16:
      return 10;
    case DType::float32:
      return 23;
    default:
      return 52;
  }
}

std::vector<uint64_t> edge_values(DType t) {
  if (t == DType::bool_) return {0, 1};
  std::vector<uint64_t> v;
  if (is_integer(t)) {
    const uint64_t sign = 1ull << (bits_of(t) - 1);
    for (int64_t x : {0, 1, 2, 3, 7, 100, -1, -2, -100})
      v.push_back(static_cast<uint64_t>(x) & width_mask(t));
    v.push_back(sign);      // the signed minimum / 2^(w-1)
    v.push_back(sign - 1);  // the signed maximum
    return v;
  }
  const int m = mantissa_bits(t);
  const uint64_t sign = 1ull << (bits_of(t) - 1);
  const uint64_t inf = ((sign - 1) >> m) << m;
  const uint64_t max_finite = inf - 1;
  for (uint64_t b : {uint64_t{0}, inf, uint64_t{1}, (uint64_t{1} << m) - 1, max_finite}) {
    v.push_back(b);         // +0, +inf, smallest and largest denormal, largest finite
    v.push_back(b | sign);  // and their negatives
  }
  v.push_back(inf | (1ull << (m - 1)));  // a quiet NaN
  for (double x : {1.0, -1.0, 0.5, -2.5, 3.0, 0.3, -0.7, 2.0, 10.0, -100.0})
    v.push_back(Scalar::from_double(x, t).bits);
  return v;
}

HostArray host(DType t, Shape s, std::vector<uint64_t> bits) {
  return {t, std::move(s), std::move(bits)};
}

// Counting values 0, 1, 2, ... (wrapping in narrow types), for cases whose values do not matter.
HostArray counting(DType t, const Shape& s) {
  std::vector<uint64_t> bits(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < bits.size(); ++i)
    bits[i] = is_floating(t)      ? Scalar::from_double(static_cast<double>(i % 50) - 20.5, t).bits
              : t == DType::bool_ ? (i % 3 == 0)
                                  : (i * 37 + 5) & width_mask(t);
  return host(t, s, std::move(bits));
}

// The wider result dtype the preferred_element_type cases ask of a product of t (JAX's
// int8 -> int32 and bfloat16/float16 -> float32), if any.
std::optional<DType> wider_product_dtype(DType t) {
  switch (t) {
    case DType::int8:
    case DType::int16:
      return DType::int32;
    case DType::uint8:
      return DType::uint32;
    case DType::bfloat16:
    case DType::float16:
      return DType::float32;
    default:
      return std::nullopt;
  }
}

// The shapes every elementwise primitive runs on besides its edge-value vector.
const std::vector<Shape>& small_shapes() {
  static const std::vector<Shape> s = {Shape{0}, Shape{1}, Shape{1, 1}, Shape{2, 0, 3},
                                       Shape{2, 3}};
  return s;
}

std::vector<Case> elementwise_cases(Prim p, DType t) {
  const ir::PrimInfo& row = ir::info(p);
  const std::vector<uint64_t> e = edge_values(t);
  std::vector<Case> out;
  std::vector<DType> results = {t};
  if (p == Prim::convert || p == Prim::bitcast_convert) {
    results.clear();
    for (int d = 0; d < kNumDTypes; ++d) {
      const auto to = static_cast<DType>(d);
      if ((ir::kRealDTypes & ir::dtype_bit(to)) == 0) continue;
      if (p == Prim::bitcast_convert &&
          (itemsize(to) != itemsize(t) || (to == DType::bool_) != (t == DType::bool_)))
        continue;  // its type rule refuses these (shape_inference.cpp)
      results.push_back(to);
    }
  }
  // reduce_precision: the operand's own format first (the identity: the VJP check's float64 case),
  // then narrower ones (fp8's e5m2 and e4m3, bfloat16's, float16's) and a tiny e2m1.
  std::vector<std::pair<int, int>> formats = {{0, 0}};
  if (p == Prim::reduce_precision) {
    const int e = t == DType::float64 ? 11 : t == DType::float16 ? 5 : 8;
    formats = {{e, mantissa_bits(t)}, {5, 2}, {4, 3}, {8, 7}, {5, 10}, {2, 1}};
  }
  for (const auto& [e_bits, m_bits] : formats)
    for (DType to : results) {
      ir::Attrs a;
      a.dtype = to;
      a.exponent_bits = e_bits;
      a.mantissa_bits = m_bits;
      std::string suffix = to == t ? "" : " -> " + std::string(name(to));
      if (p == Prim::reduce_precision)
        suffix += " e" + std::to_string(e_bits) + "m" + std::to_string(m_bits);
      if (row.arity == 1) {
        out.push_back({p,
                       {host(t, Shape{static_cast<int64_t>(e.size())}, e)},
                       a,
                       std::string(name(t)) + " edge values" + suffix});
      } else if (p == Prim::select) {
        std::vector<uint64_t> pred, x, y;
        for (size_t i = 0; i < e.size(); ++i) {
          pred.push_back(i % 2);
          x.push_back(e[i]);
          y.push_back(e[e.size() - 1 - i]);
        }
        const Shape s{static_cast<int64_t>(e.size())};
        out.push_back({p,
                       {host(DType::bool_, s, pred), host(t, s, x), host(t, s, y)},
                       a,
                       std::string(name(t)) + " edge values"});
      } else {
        std::vector<uint64_t> x, y;  // every pair of edge values
        for (uint64_t u : e)
          for (uint64_t v : e) {
            x.push_back(u);
            y.push_back(v);
          }
        const Shape s{static_cast<int64_t>(x.size())};
        out.push_back(
            {p, {host(t, s, x), host(t, s, y)}, a, std::string(name(t)) + " edge value pairs"});
      }
      // The shapes once per primitive and dtype (reduce_precision: with the operand's format,
      // the second case the VJP check differentiates); the other formats on the edge values.
      if (e_bits != formats.front().first || m_bits != formats.front().second) continue;
      for (const Shape& s : small_shapes()) {
        std::vector<HostArray> in;
        for (int k = 0; k < row.arity; ++k)
          in.push_back(p == Prim::select && k == 0 ? counting(DType::bool_, s) : counting(t, s));
        out.push_back({p, std::move(in), a, std::string(name(t)) + s.str() + suffix});
      }
    }
  return out;
}

// The cases of the primitives with attributes: one per interesting shape, size-0 and size-1 dims
// included. References for these are the cpu's results (other backends must match them bit for
// bit), their own unit tests, the VJP check and the export round trip.
std::vector<Case> structured_cases(Prim p, DType t) {
  std::vector<Case> out;
  auto add = [&](std::vector<HostArray> in, ir::Attrs a, std::string what) {
    out.push_back({p, std::move(in), std::move(a), std::string(name(t)) + " " + what});
  };
  ir::Attrs a;
  switch (p) {
    case Prim::full:
      for (const Shape& s : {Shape{2, 3}, Shape{0}, Shape{}}) {
        a.shape = s;
        a.dtype = t;
        a.value = Scalar{t, edge_values(t).back()};
        add({}, a, s.str());
      }
      break;
    case Prim::iota:
      for (const auto& [s, axis] : {std::pair{Shape{2, 3}, 1}, {Shape{4, 0}, 0}, {Shape{1}, 0}}) {
        a.shape = s;
        a.dtype = t;
        a.axis = axis;
        add({}, a, s.str());
      }
      break;
    case Prim::broadcast_in_dim:
      a.shape = Shape{2, 3, 4};
      a.dims = {1, 2};
      add({counting(t, Shape{3, 1})}, a, "[3,1] -> [2,3,4]");
      a.shape = Shape{0, 3};
      a.dims = {1};
      add({counting(t, Shape{3})}, a, "[3] -> [0,3]");
      break;
    case Prim::reshape:
      a.shape = Shape{3, 2};
      add({counting(t, Shape{2, 3})}, a, "[2,3] -> [3,2]");
      a.shape = Shape{0, 5};
      add({counting(t, Shape{5, 0})}, a, "[5,0] -> [0,5]");
      break;
    case Prim::transpose:
      a.dims = {2, 0, 1};
      add({counting(t, Shape{2, 3, 4})}, a, "[2,3,4] (2,0,1)");
      a.dims = {1, 0};
      add({counting(t, Shape{1, 0})}, a, "[1,0] (1,0)");
      break;
    case Prim::slice:
      a.start = {1, 0};
      a.limit = {3, 5};
      a.stride = {1, 2};
      add({counting(t, Shape{4, 5})}, a, "[4,5][1:3, 0:5:2]");
      a.start = {0};
      a.limit = {0};
      a.stride = {1};
      add({counting(t, Shape{3})}, a, "[3][0:0]");
      break;
    case Prim::concatenate:
      a.axis = 1;
      add({counting(t, Shape{2, 1}), counting(t, Shape{2, 0}), counting(t, Shape{2, 3})}, a,
          "[2,1] [2,0] [2,3] axis 1");
      break;
    case Prim::pad:
      a.low = {1, 0};
      a.high = {0, 2};
      a.interior = {1, 0};
      add({counting(t, Shape{3, 2}), host(t, Shape{}, {edge_values(t).back()})}, a, "[3,2]");
      // Negative edge padding crops (lax.pad), also past interior padding (second: the VJP
      // check differentiates the first two float64 cases).
      a.low = {-1, 2};
      a.high = {-2, -1};
      a.interior = {1, 0};
      add({counting(t, Shape{4, 3}), host(t, Shape{}, {edge_values(t).back()})}, a,
          "[4,3] low (-1,2) high (-2,-1)");
      a.low = {2};
      a.high = {1};
      a.interior = {0};
      add({counting(t, Shape{0}), host(t, Shape{}, {edge_values(t)[1]})}, a, "[0]");
      a.low = {-3};
      a.high = {0};
      a.interior = {0};
      add({counting(t, Shape{3}), host(t, Shape{}, {edge_values(t)[1]})}, a, "[3] cropped to [0]");
      break;
    case Prim::rev:
      a.dims = {0, 2};
      add({counting(t, Shape{2, 1, 3})}, a, "[2,1,3] dims (0,2)");
      break;
    case Prim::reduce_sum:
    case Prim::reduce_max:
    case Prim::reduce_min:
    case Prim::reduce_prod:
      a.dims = {1};
      add({counting(t, Shape{2, 5})}, a, "[2,5] over 1");
      add({counting(t, Shape{2, 0})}, a, "[2,0] over 1");
      a.dims = {0, 1};
      add({host(t, Shape{1, static_cast<int64_t>(edge_values(t).size())}, edge_values(t))}, a,
          "edge values over all");
      break;
    case Prim::argmax:
    case Prim::argmin:
      a.axis = 1;
      add({host(t, Shape{1, static_cast<int64_t>(edge_values(t).size())}, edge_values(t))}, a,
          "edge values");
      add({counting(t, Shape{3, 1})}, a, "[3,1]");
      break;
    case Prim::dot_general:
      a.dot = ir::DotDims{{1}, {0}, {}, {}};
      add({counting(t, Shape{2, 3}), counting(t, Shape{3, 4})}, a, "[2,3]x[3,4]");
      add({counting(t, Shape{2, 0}), counting(t, Shape{0, 4})}, a, "[2,0]x[0,4]");
      a.dot = ir::DotDims{{2}, {1}, {0}, {0}};
      add({counting(t, Shape{2, 1, 3}), counting(t, Shape{2, 3, 2})}, a, "batched");
      // preferred_element_type: the narrow types' products accumulated in a wider one.
      if (const std::optional<DType> wide = wider_product_dtype(t)) {
        a.preferred_element_type = wide;
        a.dot = ir::DotDims{{1}, {0}, {}, {}};
        add({counting(t, Shape{3, 40}), counting(t, Shape{40, 2})}, a,
            "[3,40]x[40,2] -> " + std::string(name(*wide)));
        a.dot = ir::DotDims{{2}, {1}, {0}, {0}};
        add({counting(t, Shape{2, 1, 3}), counting(t, Shape{2, 3, 2})}, a,
            "batched -> " + std::string(name(*wide)));
      }
      break;
    case Prim::convolution:
      a.conv.lhs_spec = {0, 1, 2, 3};
      a.conv.rhs_spec = {0, 1, 2, 3};
      a.conv.out_spec = {0, 1, 2, 3};
      a.conv.window_strides = {1, 2};
      a.conv.padding_low = {1, 0};
      a.conv.padding_high = {0, 1};
      a.conv.lhs_dilation = {1, 1};
      a.conv.rhs_dilation = {1, 1};
      add({counting(t, Shape{1, 2, 4, 5}), counting(t, Shape{3, 2, 2, 2})}, a, "NCHW 2x2");
      if (const std::optional<DType> wide = wider_product_dtype(t)) {
        a.preferred_element_type = wide;
        add({counting(t, Shape{1, 2, 4, 5}), counting(t, Shape{3, 2, 2, 2})}, a,
            "NCHW 2x2 -> " + std::string(name(*wide)));
      }
      break;
    case Prim::reduce_window_sum:
    case Prim::reduce_window_max:
    case Prim::reduce_window_min:
    case Prim::reduce_window_prod:
      a.window = {2, 2};
      a.stride = {1, 2};
      a.low = {0, 1};
      a.high = {1, 0};
      add({counting(t, Shape{3, 4})}, a, "[3,4] window 2x2");
      break;
    case Prim::select_and_scatter_add:
      a.window = {2, 2};
      a.stride = {2, 2};
      a.low = {0, 0};
      a.high = {0, 0};
      add({counting(t, Shape{2, 2}), counting(t, Shape{4, 4})}, a, "[4,4] window 2x2");
      break;
    case Prim::gather: {
      const DType i32 = DType::int32;
      auto idx = [&](Shape sh, std::vector<int64_t> v) {
        std::vector<uint64_t> b;
        for (int64_t x : v) b.push_back(static_cast<uint64_t>(x) & 0xFFFFFFFFu);
        return host(i32, std::move(sh), std::move(b));
      };
      a.gather = {};
      a.gather.offset_dims = {1};
      a.gather.collapsed_slice_dims = {0};
      a.gather.start_index_map = {0};
      a.gather.index_vector_dim = 1;
      a.gather.slice_sizes = {1, 3};
      add({counting(t, Shape{4, 3}), idx(Shape{3, 1}, {1, 3, 1})}, a, "[4,3] rows (1,3,1)");
      add({counting(t, Shape{4, 3}), idx(Shape{0, 1}, {})}, a, "[4,3] no rows");
      // Out-of-range starts clamp: -1 -> 0, 5 -> 2 for a window of 2 rows.
      a.gather = {};
      a.gather.offset_dims = {1, 2};
      a.gather.start_index_map = {0};
      a.gather.index_vector_dim = 1;
      a.gather.slice_sizes = {2, 3};
      add({counting(t, Shape{4, 3}), idx(Shape{2, 1}, {-1, 5})}, a, "[4,3] clamped windows");
      // Batching dims (take_along_axis): row r reads its own columns.
      a.gather = {};
      a.gather.collapsed_slice_dims = {1};
      a.gather.operand_batching_dims = {0};
      a.gather.start_indices_batching_dims = {0};
      a.gather.start_index_map = {1};
      a.gather.index_vector_dim = 2;
      a.gather.slice_sizes = {1, 1};
      add({counting(t, Shape{3, 4}), idx(Shape{3, 2, 1}, {0, 3, 2, 2, 1, 0})}, a,
          "[3,4] batched columns");
      // A two-component index vector in dim 0, and a [1,2] window.
      a.gather = {};
      a.gather.offset_dims = {1};
      a.gather.collapsed_slice_dims = {0};
      a.gather.start_index_map = {0, 1};
      a.gather.index_vector_dim = 0;
      a.gather.slice_sizes = {1, 2};
      add({counting(t, Shape{4, 5}), idx(Shape{2, 3}, {0, 3, 2, 4, 1, 0})}, a,
          "[4,5] (row, col) vectors in dim 0");
      break;
    }
    case Prim::scatter:
    case Prim::scatter_add:
    case Prim::scatter_mul:
    case Prim::scatter_min:
    case Prim::scatter_max: {
      auto idx = [&](Shape sh, std::vector<int64_t> v) {
        std::vector<uint64_t> b;
        for (int64_t x : v) b.push_back(static_cast<uint64_t>(x) & 0xFFFFFFFFu);
        return host(DType::int32, std::move(sh), std::move(b));
      };
      ir::GatherDims rows;
      rows.offset_dims = {1};
      rows.collapsed_slice_dims = {0};
      rows.start_index_map = {0};
      rows.index_vector_dim = 1;
      ir::GatherDims batched;
      batched.collapsed_slice_dims = {1};
      batched.operand_batching_dims = {0};
      batched.start_indices_batching_dims = {0};
      batched.start_index_map = {1};
      batched.index_vector_dim = 2;
      auto unique_rows = [&] {
        a.gather = rows;
        a.gather.unique_indices = true;
        add({counting(t, Shape{4, 3}), idx(Shape{2, 1}, {2, 0}), counting(t, Shape{2, 3})}, a,
            "[4,3] rows (2,0)");
      };
      auto unique_batched = [&] {
        a.gather = batched;
        a.gather.unique_indices = true;
        add({counting(t, Shape{3, 4}), idx(Shape{3, 2, 1}, {0, 3, 2, 1, 1, 0}),
             counting(t, Shape{3, 2})},
            a, "[3,4] batched columns");
      };
      auto repeated = [&] {
        a.gather = rows;
        add({counting(t, Shape{4, 3}), idx(Shape{3, 1}, {1, 3, 1}), counting(t, Shape{3, 3})}, a,
            "[4,3] rows (1,3,1)");
      };
      auto dropped = [&] {
        a.gather = rows;
        add({counting(t, Shape{4, 3}), idx(Shape{3, 1}, {-1, 4, 2}), counting(t, Shape{3, 3})}, a,
            "[4,3] rows (-1,4,2): two dropped");
        add({counting(t, Shape{4, 3}), idx(Shape{0, 1}, {}), counting(t, Shape{0, 3})}, a,
            "[4,3] no updates");
      };
      // scatter_mul differentiates with unique indices only: its gradient cases (the first two)
      // are those; the others start with repeated indices.
      if (p == Prim::scatter_mul) {
        unique_rows();
        unique_batched();
        repeated();
      } else {
        repeated();
        unique_batched();
        unique_rows();
      }
      dropped();
      break;
    }
    case Prim::dynamic_slice:
    case Prim::dynamic_update_slice: {
      auto start = [](int64_t v) {
        return host(DType::int32, Shape{}, {static_cast<uint64_t>(v) & 0xFFFFFFFFu});
      };
      const bool update = p == Prim::dynamic_update_slice;
      auto with_starts = [&](Shape operand, Shape sizes, int64_t s0, int64_t s1,
                             const std::string& what) {
        std::vector<HostArray> in = {counting(t, operand)};
        if (update) in.push_back(counting(t, sizes));
        in.push_back(start(s0));
        in.push_back(start(s1));
        a.shape = update ? Shape{} : sizes;
        add(std::move(in), a, what);
      };
      with_starts(Shape{4, 5}, Shape{2, 3}, 1, 2, "[4,5] at (1,2)");
      with_starts(Shape{4, 5}, Shape{2, 3}, -1, 9, "[4,5] at (-1,9): clamped to (0,2)");
      with_starts(Shape{4, 5}, Shape{0, 3}, 2, 1, "[4,5] empty window");
      break;
    }
    case Prim::cumsum:
    case Prim::cumprod:
    case Prim::cummax:
    case Prim::cummin: {
      const auto n = static_cast<int64_t>(edge_values(t).size());
      a.axis = 1;
      add({host(t, Shape{1, n}, edge_values(t))}, a, "edge values along 1");
      a.reverse = true;
      add({counting(t, Shape{2, 5})}, a, "[2,5] along 1 reversed");
      a.axis = 0;
      add({counting(t, Shape{20, 2})}, a, "[20,2] along 0 reversed (two tiles)");
      a.reverse = false;
      add({counting(t, Shape{40, 1})}, a, "[40,1] along 0 (three tiles)");
      add({counting(t, Shape{0, 3})}, a, "[0,3] along 0");
      break;
    }
    case Prim::sort: {
      const auto n = static_cast<int64_t>(edge_values(t).size());
      a.axis = 1;
      a.num_keys = 1;
      add({host(t, Shape{1, n}, edge_values(t))}, a, "edge values");
      std::vector<uint64_t> reversed = edge_values(t);
      std::reverse(reversed.begin(), reversed.end());
      HostArray keys = host(t, Shape{1, n}, edge_values(t)), other = host(t, Shape{1, n}, reversed);
      a.result = 1;
      add({keys, other}, a, "edge values, carrying them reversed");
      a.num_keys = 2;
      add({keys, other}, a, "edge values then reversed ones as keys");
      a.axis = 0;
      a.num_keys = 1;
      a.result = 0;
      add({counting(t, Shape{3, 0})}, a, "[3,0] along 0");
      add({counting(t, Shape{1, 4})}, a, "[1,4] along 0");
      break;
    }
    case Prim::top_k: {
      const auto n = static_cast<int64_t>(edge_values(t).size());
      for (int64_t r : {0, 1}) {
        a.result = r;
        a.k = 5;
        add({host(t, Shape{1, n}, edge_values(t))}, a, "edge values, k 5");
        a.k = 4;
        add({counting(t, Shape{3, 4})}, a, "[3,4], k 4");
        a.k = 0;
        add({counting(t, Shape{2, 0})}, a, "[2,0], k 0");
      }
      break;
    }
    case Prim::threefry2x32:
      add({host(t, Shape{2}, {0x12345678u, 0x9abcdef0u}), counting(t, Shape{2, 3})}, {},
          "key, counts [2,3]");
      add({host(t, Shape{2}, {0, 0}), counting(t, Shape{2, 0})}, {}, "counts [2,0]");
      break;
    default:
      break;
  }
  return out;
}

bool is_elementwise(PrimKind k) {
  return k == PrimKind::unary || k == PrimKind::binary || k == PrimKind::compare ||
         k == PrimKind::select;
}

}  // namespace

std::vector<Case> cases(Prim p, DType t) {
  if (p == Prim::parameter || p == Prim::constant) return {};
  if (is_elementwise(ir::info(p).kind)) return elementwise_cases(p, t);
  return structured_cases(p, t);
}

std::vector<Case> gradient_cases(Prim p) {
  const DType t = DType::float64;
  std::mt19937_64 rng(static_cast<uint64_t>(p) + 1);
  std::uniform_real_distribution<double> u(0.3, 0.9);
  std::vector<Case> out;
  for (Case c : cases(p, t)) {
    if (c.attrs.dtype != t && (p == Prim::convert)) continue;  // float64 -> float64 only
    size_t elements = 0;
    for (HostArray& h : c.in) {
      if (h.dtype != t) continue;
      // Smooth and tie-free: distinct values in (0.3, 0.9), away from poles and kinks; erf_inv and
      // the rest are defined there.
      for (uint64_t& b : h.bits) b = Scalar::from_double(u(rng), t).bits;
      elements += h.bits.size();
    }
    if (elements > 0) out.push_back(std::move(c));
    if (out.size() == 2) break;
  }
  return out;
}

Array to_array(const HostArray& h, Device device) {
  const size_t w = itemsize(h.dtype);
  std::vector<uint8_t> bytes(h.bits.size() * w);
  for (size_t i = 0; i < h.bits.size(); ++i) std::memcpy(&bytes[i * w], &h.bits[i], w);
  return Array::from_bytes(bytes.data(), bytes.size(), h.dtype, h.shape, device);
}

HostArray to_host(const Array& a) {
  const size_t w = itemsize(a.dtype());
  std::vector<uint8_t> bytes(static_cast<size_t>(a.size()) * w);
  if (!bytes.empty()) a.copy_to_host(bytes.data(), a.dtype());
  HostArray h{a.dtype(), a.shape(), std::vector<uint64_t>(static_cast<size_t>(a.size()))};
  for (size_t i = 0; i < h.bits.size(); ++i) std::memcpy(&h.bits[i], &bytes[i * w], w);
  return h;
}

}  // namespace kiln::harness
