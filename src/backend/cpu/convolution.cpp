// convolution (lax.conv_general_dilated). float32 convolutions that oneDNN's convolution
// primitives express go to them (convolution_onednn.cpp); every other form, and every other
// dtype, runs the reference loop below, which reads any dimension numbers, padding (negative
// included), dilation and grouping straight from the operands' buffers.
#include <type_traits>
#include <vector>

#include "backend/cpu/convolution_onednn.hpp"
#include "backend/cpu/element_types.hpp"
#include "backend/cpu/lowerings.hpp"

namespace kiln::cpu {
namespace {

// 16-bit floats accumulate in float32 (as the dot does), integers in wrapping 64-bit unsigned
// arithmetic (exactly what the narrower result would give).
template <class T>
using conv_acc_t = std::conditional_t<std::is_same_v<T, double>, double,
                                      std::conditional_t<kIsFloat<T>, float, uint64_t>>;

template <class T>
conv_acc_t<T> to_acc(T x) {
  if constexpr (kIsFloat<T>) {
    return load(x);
  } else {
    return static_cast<uint64_t>(static_cast<int64_t>(x));
  }
}

template <class T>
T from_acc(conv_acc_t<T> x) {
  if constexpr (kIsFloat<T>) {
    return store<T>(static_cast<compute_t<T>>(x));
  } else {
    return static_cast<T>(x);
  }
}

// A flattened walk over an index space: per position, its offset and its per-dim indices.
struct Positions {
  std::vector<int64_t> offset;
  std::vector<int64_t> index;  // count x rank
};

Positions enumerate(const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
  Positions p;
  const size_t rank = dims.size();
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t n = 0; n < count; ++n) {
    int64_t off = 0;
    for (size_t i = 0; i < rank; ++i) off += idx[i] * strides[i];
    p.offset.push_back(off);
    p.index.insert(p.index.end(), idx.begin(), idx.end());
    for (size_t i = rank; i-- > 0;) {
      if (++idx[i] < dims[i]) break;
      idx[i] = 0;
    }
  }
  return p;
}

struct ConvRefParams : KernelParams {
  int64_t out_batch = 0, out_features = 0;
  int64_t group_out = 0;        // output features per feature group
  int64_t batch_group_out = 0;  // output features per batch group
  int64_t in_per_group = 0;     // rhs in-feature dim
  int64_t lhs_b = 0, lhs_f = 0, rhs_o = 0, rhs_i = 0, out_b = 0, out_o = 0;  // strides
  size_t spatial = 0;
  Positions out_pos, kernel_pos;
  std::vector<int64_t> kernel_dims;
  // Per spatial dim i, for output index o and kernel index k: the lhs offset of the element the
  // pair reads, or -1 where it falls in padding or in a hole of the lhs dilation.
  std::vector<std::vector<int64_t>> lhs_offset;
};

template <class T>
void conv_reference_kernel(const KernelArgs& args, const KernelParams& params) {
  const auto& p = static_cast<const ConvRefParams&>(params);
  const T* lhs = in_ptr<T>(args, 0);
  const T* rhs = in_ptr<T>(args, 1);
  T* out = out_ptr<T>(args);
  const size_t ns = p.spatial;
  const size_t n_out = p.out_pos.offset.size(), n_k = p.kernel_pos.offset.size();
  for (int64_t b = 0; b < p.out_batch; ++b) {
    for (int64_t o = 0; o < p.out_features; ++o) {
      const int64_t group = o / p.group_out, batch_group = o / p.batch_group_out;
      const T* lb =
          lhs + (batch_group * p.out_batch + b) * p.lhs_b + group * p.in_per_group * p.lhs_f;
      const T* rb = rhs + o * p.rhs_o;
      T* ob = out + b * p.out_b + o * p.out_o;
      for (size_t op = 0; op < n_out; ++op) {
        const int64_t* oi = &p.out_pos.index[op * ns];
        conv_acc_t<T> acc = 0;
        for (size_t kp = 0; kp < n_k; ++kp) {
          const int64_t* ki = &p.kernel_pos.index[kp * ns];
          int64_t loff = 0;
          bool inside = true;
          for (size_t i = 0; i < ns && inside; ++i) {
            const int64_t v = p.lhs_offset[i][oi[i] * p.kernel_dims[i] + ki[i]];
            inside = v >= 0;
            loff += v;
          }
          if (!inside) continue;
          const T* l = lb + loff;
          const T* r = rb + p.kernel_pos.offset[kp];
          for (int64_t c = 0; c < p.in_per_group; ++c)
            acc += to_acc(l[c * p.lhs_f]) * to_acc(r[c * p.rhs_i]);
        }
        ob[p.out_pos.offset[op]] = from_acc<T>(acc);
      }
    }
  }
}

Lowered lower_reference(const ir::Node& node, std::span<const ir::ValueType> in) {
  const ir::ConvDims& c = node.attrs.conv;
  const Shape &ls = in[0].shape, &rs = in[1].shape, &os = node.type.shape;
  const std::vector<int64_t> lst = strides_of(ls), rst = strides_of(rs), ost = strides_of(os);
  auto params = std::make_unique<ConvRefParams>();
  ConvRefParams& p = *params;
  auto dim = [](const Shape& s, int64_t d) { return s[static_cast<int>(d)]; };
  auto at = [](const std::vector<int64_t>& v, int64_t d) { return v[static_cast<size_t>(d)]; };
  p.out_batch = dim(os, c.out_spec[0]);
  p.out_features = dim(os, c.out_spec[1]);
  p.group_out = std::max<int64_t>(1, p.out_features / c.feature_group_count);
  p.batch_group_out = std::max<int64_t>(1, p.out_features / c.batch_group_count);
  p.in_per_group = dim(rs, c.rhs_spec[1]);
  p.lhs_b = at(lst, c.lhs_spec[0]);
  p.lhs_f = at(lst, c.lhs_spec[1]);
  p.rhs_o = at(rst, c.rhs_spec[0]);
  p.rhs_i = at(rst, c.rhs_spec[1]);
  p.out_b = at(ost, c.out_spec[0]);
  p.out_o = at(ost, c.out_spec[1]);
  p.spatial = c.lhs_spec.size() - 2;
  std::vector<int64_t> out_dims, out_strides, k_strides;
  for (size_t i = 0; i < p.spatial; ++i) {
    const int64_t n = dim(ls, c.lhs_spec[i + 2]), k = dim(rs, c.rhs_spec[i + 2]);
    const int64_t o = dim(os, c.out_spec[i + 2]);
    out_dims.push_back(o);
    out_strides.push_back(at(ost, c.out_spec[i + 2]));
    p.kernel_dims.push_back(k);
    k_strides.push_back(at(rst, c.rhs_spec[i + 2]));
    std::vector<int64_t> table(static_cast<size_t>(o * k), -1);
    for (int64_t oi = 0; oi < o; ++oi) {
      for (int64_t ki = 0; ki < k; ++ki) {
        // Position in the lhs after dilation, then after padding.
        const int64_t d = oi * c.window_strides[i] + ki * c.rhs_dilation[i] - c.padding_low[i];
        if (d < 0 || d % c.lhs_dilation[i] != 0 || d / c.lhs_dilation[i] >= n) continue;
        table[static_cast<size_t>(oi * k + ki)] =
            d / c.lhs_dilation[i] * at(lst, c.lhs_spec[i + 2]);
      }
    }
    p.lhs_offset.push_back(std::move(table));
  }
  p.out_pos = enumerate(out_dims, out_strides);
  p.kernel_pos = enumerate(p.kernel_dims, k_strides);
  Lowered l;
  l.fn = numeric_kernel(node, in[0].dtype,
                        []<class T>() -> KernelFn { return &conv_reference_kernel<T>; });
  l.params = std::move(params);
  return l;
}

}  // namespace

Lowered lower_convolution(const ir::Node& node, std::span<const ir::ValueType> in) {
  // A node built around the type rule (tests do) is checked here rather than read out of bounds.
  (void)ir::infer_type(node.prim, in, node.attrs, node.loc);
  if (node.type.dtype != in[0].dtype) return lower_widened(node, in, &lower_convolution);
  if (in[0].dtype == DType::float32 && node.type.shape.numel() > 0) {
    if (auto fast = lower_convolution_onednn(node, in)) return std::move(*fast);
  }
  return lower_reference(node, in);
}

}  // namespace kiln::cpu
