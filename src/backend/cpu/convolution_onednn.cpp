// float32 convolutions through oneDNN 2.6. Two mappings cover a CNN's forward pass and both of its
// gradients (src/transforms/vjp_rules.cpp):
//   - convolution_forward: a convolution without lhs dilation or batch groups — the forward pass,
//     and the lhs cotangent of a stride-1 convolution (a convolution with the flipped kernel).
//   - convolution_backward_weights: the rhs cotangent, which vjp_rules writes as a convolution of
//     lhs (batch and features swapped) with g whose window is g's whole spatial extent. Read back
//     as the forward convolution it differentiates, it is oneDNN's weight gradient, far faster than
//     a forward convolution with a 28x28 window.
// Activations are described in place from their dims and strides (NHWC needs no copy); weights
// are reordered per call into the blocked layout oneDNN's JIT kernels choose (a few KiB, into
// arena scratch), as is a weight gradient back into the result. oneDNN's own scratchpad lives in
// the arena too, so a run allocates nothing but oneDNN's small memory handles.
#include "backend/cpu/convolution_onednn.hpp"

#include <oneapi/dnnl/dnnl.hpp>

#include <vector>

#include "backend/cpu/gemm.hpp"
#include "backend/cpu/threads.hpp"

namespace kiln::cpu {
namespace {

using dnnl::memory;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

size_t align64(size_t n) {
  return (n + 63) & ~size_t{63};
}

struct OnednnConvParams : KernelParams {
  bool backward_weights = false;
  dnnl::primitive prim;
  // forward: src = lhs, weights = rhs (user layout -> oneDNN's), dst = out.
  // backward_weights: src = lhs, diff_dst = rhs, diff_weights = out (oneDNN's -> user layout).
  memory::desc src, diff_dst_or_dst, user_weights, weights, scratchpad;
  bool reorder = false;
  dnnl::reorder weights_reorder;
  size_t weights_offset = 0, scratchpad_offset = 0;
};

void onednn_conv_kernel(const KernelArgs& args, const KernelParams& params) {
  const auto& p = static_cast<const OnednnConvParams&>(params);
  use_threads();
  dnnl::engine& eng = cpu_engine();
  thread_local dnnl::stream stream(eng);
  auto handle = [](const std::byte* b) { return const_cast<void*>(static_cast<const void*>(b)); };
  memory src(p.src, eng, handle(args.in[0]));
  memory other(p.diff_dst_or_dst, eng, p.backward_weights ? handle(args.in[1]) : args.out);
  memory user_w(p.user_weights, eng, p.backward_weights ? args.out : handle(args.in[1]));
  memory w = p.reorder ? memory(p.weights, eng, args.scratch + p.weights_offset) : user_w;
  memory pad(p.scratchpad, eng, args.scratch + p.scratchpad_offset);
  if (!p.backward_weights) {
    if (p.reorder) p.weights_reorder.execute(stream, user_w, w);
    p.prim.execute(stream, {{DNNL_ARG_SRC, src},
                            {DNNL_ARG_WEIGHTS, w},
                            {DNNL_ARG_DST, other},
                            {DNNL_ARG_SCRATCHPAD, pad}});
  } else {
    p.prim.execute(stream, {{DNNL_ARG_SRC, src},
                            {DNNL_ARG_DIFF_DST, other},
                            {DNNL_ARG_DIFF_WEIGHTS, w},
                            {DNNL_ARG_SCRATCHPAD, pad}});
    if (p.reorder) p.weights_reorder.execute(stream, w, user_w);
  }
  stream.wait();
}

int64_t dilate(int64_t n, int64_t d) {
  return n == 0 ? 0 : (n - 1) * d + 1;
}

// A tensor's view in oneDNN's (first, second, spatial...) order: `first`/`second` name the
// operand dims oneDNN puts first (batch / out features) and second (features / in features);
// `groups` > 1 splits `first` into (groups, first / groups), as grouped weights are laid out.
memory::desc view(const Shape& s, int64_t first, int64_t second, const std::vector<int64_t>& sp,
                  int64_t groups = 1) {
  const std::vector<int64_t> st = strides_of(s);
  auto at = [&](int64_t d) { return st[static_cast<size_t>(d)]; };
  auto n = [&](int64_t d) { return s[static_cast<int>(d)]; };
  memory::dims dims, strides;
  if (groups > 1) {
    dims = {groups, n(first) / groups};
    strides = {n(first) / groups * at(first), at(first)};
  } else {
    dims = {n(first)};
    strides = {at(first)};
  }
  dims.push_back(n(second));
  strides.push_back(at(second));
  for (int64_t d : sp) {
    dims.push_back(n(d));
    strides.push_back(at(d));
  }
  return memory::desc(dims, memory::data_type::f32, strides);
}

std::vector<int64_t> spatial_of(const std::vector<int64_t>& spec) {
  return {spec.begin() + 2, spec.end()};
}

// Scratch: the weights in oneDNN's layout (when it differs from the user's), then the scratchpad.
void plan_scratch(OnednnConvParams& p, Lowered& l, const memory::desc& chosen) {
  size_t bytes = 0;
  p.reorder = !(chosen == p.user_weights);
  if (p.reorder) {
    p.weights = chosen;
    p.weights_offset = 0;
    bytes = align64(chosen.get_size());
    p.weights_reorder = p.backward_weights
                            ? dnnl::reorder(dnnl::reorder::primitive_desc(
                                  cpu_engine(), chosen, cpu_engine(), p.user_weights))
                            : dnnl::reorder(dnnl::reorder::primitive_desc(
                                  cpu_engine(), p.user_weights, cpu_engine(), chosen));
  }
  p.scratchpad_offset = bytes;
  bytes += align64(p.scratchpad.get_size());
  l.scratch_bytes = bytes;
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

std::optional<Lowered> forward(const ir::Node& node, std::span<const ir::ValueType> in) {
  const ir::ConvDims& c = node.attrs.conv;
  for (size_t i = 0; i < c.window_strides.size(); ++i)
    if (c.lhs_dilation[i] != 1 || c.padding_low[i] < 0 || c.padding_high[i] < 0)
      return std::nullopt;
  if (c.batch_group_count != 1) return std::nullopt;
  auto params = std::make_unique<OnednnConvParams>();
  OnednnConvParams& p = *params;
  p.src = view(in[0].shape, c.lhs_spec[0], c.lhs_spec[1], spatial_of(c.lhs_spec));
  p.user_weights = view(in[1].shape, c.rhs_spec[0], c.rhs_spec[1], spatial_of(c.rhs_spec),
                        c.feature_group_count);
  p.diff_dst_or_dst = view(node.type.shape, c.out_spec[0], c.out_spec[1], spatial_of(c.out_spec));
  memory::dims strides, dilates, pad_l, pad_r;
  for (size_t i = 0; i < c.window_strides.size(); ++i) {
    strides.push_back(c.window_strides[i]);
    dilates.push_back(c.rhs_dilation[i] - 1);  // oneDNN counts the holes, lax the spacing
    pad_l.push_back(c.padding_low[i]);
    pad_r.push_back(c.padding_high[i]);
  }
  memory::desc any_weights(p.user_weights.dims(), memory::data_type::f32, memory::format_tag::any);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training,
                                    dnnl::algorithm::convolution_direct, p.src, any_weights,
                                    p.diff_dst_or_dst, strides, dilates, pad_l, pad_r);
  dnnl::convolution_forward::primitive_desc pd(d, user_scratchpad(), cpu_engine());
  p.prim = dnnl::convolution_forward(pd);
  p.scratchpad = pd.scratchpad_desc();
  Lowered l;
  plan_scratch(p, l, pd.weights_desc());
  l.fn = &onednn_conv_kernel;
  l.params = std::move(params);
  return l;
}

// The node as the weight gradient of a forward convolution: that convolution's src is lhs with
// batch and features swapped, its diff_dst is rhs (in features = the batch), its strides are the
// node's rhs dilation and its kernel dilation the node's window strides.
std::optional<Lowered> backward_weights(const ir::Node& node, std::span<const ir::ValueType> in) {
  const ir::ConvDims& c = node.attrs.conv;
  if (c.feature_group_count != 1) return std::nullopt;
  const Shape &ls = in[0].shape, &rs = in[1].shape, &os = node.type.shape;
  memory::dims strides, dilates, pad_l, pad_r;
  for (size_t i = 0; i < c.window_strides.size(); ++i) {
    if (c.lhs_dilation[i] != 1 || c.padding_low[i] < 0) return std::nullopt;
    const int64_t n = ls[static_cast<int>(c.lhs_spec[i + 2])];
    const int64_t g = rs[static_cast<int>(c.rhs_spec[i + 2])];
    const int64_t k = dilate(os[static_cast<int>(c.out_spec[i + 2])], c.window_strides[i]);
    const int64_t s = c.rhs_dilation[i], lo = c.padding_low[i];
    // The smallest high padding under which the forward convolution has g outputs.
    const int64_t hi = std::max<int64_t>(0, (g - 1) * s + k - n - lo);
    if (n + lo + hi < k || (n + lo + hi - k) / s + 1 != g) return std::nullopt;
    strides.push_back(s);
    dilates.push_back(c.window_strides[i] - 1);
    pad_l.push_back(lo);
    pad_r.push_back(hi);
  }
  auto params = std::make_unique<OnednnConvParams>();
  OnednnConvParams& p = *params;
  p.backward_weights = true;
  p.src = view(ls, c.lhs_spec[1], c.lhs_spec[0], spatial_of(c.lhs_spec));
  p.diff_dst_or_dst = view(rs, c.rhs_spec[1], c.rhs_spec[0], spatial_of(c.rhs_spec));
  p.user_weights =
      view(os, c.out_spec[1], c.out_spec[0], spatial_of(c.out_spec), c.batch_group_count);
  memory::desc any_weights(p.user_weights.dims(), memory::data_type::f32, memory::format_tag::any);
  dnnl::convolution_forward::desc fd(dnnl::prop_kind::forward_training,
                                     dnnl::algorithm::convolution_direct, p.src, any_weights,
                                     p.diff_dst_or_dst, strides, dilates, pad_l, pad_r);
  dnnl::convolution_forward::primitive_desc hint(fd, cpu_engine());
  dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, p.src,
                                             any_weights, p.diff_dst_or_dst, strides, dilates,
                                             pad_l, pad_r);
  dnnl::convolution_backward_weights::primitive_desc pd(d, user_scratchpad(), cpu_engine(), hint);
  p.prim = dnnl::convolution_backward_weights(pd);
  p.scratchpad = pd.scratchpad_desc();
  Lowered l;
  plan_scratch(p, l, pd.diff_weights_desc());
  l.fn = &onednn_conv_kernel;
  l.params = std::move(params);
  return l;
}

int64_t spatial_volume(const Shape& s, const std::vector<int64_t>& spec) {
  int64_t v = 1;
  for (size_t i = 2; i < spec.size(); ++i) v *= s[static_cast<int>(spec[i])];
  return v;
}

}  // namespace

std::optional<Lowered> lower_convolution_onednn(const ir::Node& node,
                                                std::span<const ir::ValueType> in) {
  const ir::ConvDims& c = node.attrs.conv;
  const size_t ns = c.window_strides.size();
  if (ns < 1 || ns > 3 || in[0].shape.numel() == 0 || in[1].shape.numel() == 0) return std::nullopt;
  // A window larger than the result is a weight gradient (see the top of the file).
  const bool weight_gradient =
      spatial_volume(in[1].shape, c.rhs_spec) > spatial_volume(node.type.shape, c.out_spec);
  // oneDNN's JIT convolutions split their work for the thread count current when the primitive is
  // created and run that many threads ever after, so kiln's count must be set before creation.
  use_threads();
  try {
    if (weight_gradient) {
      if (auto l = backward_weights(node, in)) return l;
    }
    return forward(node, in);
  } catch (const dnnl::error&) {
    return std::nullopt;  // a form oneDNN has no implementation for: the reference loop runs it
  }
}

}  // namespace kiln::cpu
