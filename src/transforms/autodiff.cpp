// Reverse mode over a traced graph: replay it forward in the current context, then walk it backward
// applying each node's VJP rule to the cotangent of its result.
#include "kiln/autodiff.hpp"

#include "kiln/ops.hpp"
#include "transforms/vjp_rules.hpp"

namespace kiln {
namespace {

// Which nodes depend on the first `n_wrt` graph inputs: only those need cotangents.
std::vector<bool> depends_on_wrt(const ir::Graph& g, size_t n_wrt) {
  std::vector<bool> dep(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    if (n.prim == ir::Prim::parameter) {
      dep[i] = static_cast<size_t>(n.attrs.index) < n_wrt;
      continue;
    }
    // A Grad::none node stays on the path, so that a cotangent reaching it is an error below.
    if (ir::info(n.prim).grad == ir::Grad::zero) continue;
    for (ir::ValueId v : n.inputs) dep[i] = dep[i] || dep[v];
  }
  return dep;
}

void accumulate(Array& slot, const Array& ct, const Loc& loc) {
  slot = slot.empty() ? ct : add(slot, ct, loc);
}

std::pair<std::vector<Array>, std::vector<Array>> backward_pass(
    const ir::Graph& g, std::span<const Array> inputs, size_t n_wrt,
    const std::function<std::vector<Array>(std::span<const Array>)>& seeds, const char* who,
    const Loc& loc) {
  // Forward: every intermediate value, in the current context (eager or the enclosing trace).
  std::vector<Array> env = eval_graph_values(g, inputs);
  std::vector<Array> args;
  std::vector<Array> outputs;
  for (ir::ValueId v : g.outputs) outputs.push_back(env[v]);

  // Backward.
  std::vector<bool> dep = depends_on_wrt(g, n_wrt);
  std::vector<Array> ct(g.nodes.size());
  std::vector<Array> out_cts = seeds(outputs);
  for (size_t k = 0; k < out_cts.size() && k < g.outputs.size(); ++k) {
    if (out_cts[k].empty()) continue;
    const Array& o = outputs[k];
    if (out_cts[k].dtype() != o.dtype() || !(out_cts[k].shape() == o.shape()))
      throw GradError(message(
          std::string(who) + ": cotangent " + std::string(short_name(out_cts[k].dtype())) + "[" +
              out_cts[k].shape().dims_str() + "] does not match output " + std::to_string(k) +
              " of type " + std::string(short_name(o.dtype())) + "[" + o.shape().dims_str() + "]",
          loc));
    if (dep[g.outputs[k]]) accumulate(ct[g.outputs[k]], out_cts[k], loc);
  }
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const ir::Node& n = g.nodes[i];
    if (ct[i].empty() || !dep[i] || n.prim == ir::Prim::parameter) continue;
    if (ir::info(n.prim).grad == ir::Grad::none)
      throw GradError(message(std::string(who) + ": " + std::string(ir::name(n.prim)) +
                                  " is not differentiable, and the differentiated output depends "
                                  "on its result through a differentiable path",
                              n.loc,
                              "wrap its operand in kiln::stop_gradient if its gradient is zero "
                              "by intent, or compute it outside the differentiated function"));
    args.clear();
    for (ir::ValueId v : n.inputs) args.push_back(env[v]);
    std::vector<Array> in_cts = autodiff::vjp({n, args, env[i], ct[i]});
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      if (in_cts[j].empty() || !dep[n.inputs[j]]) continue;
      accumulate(ct[n.inputs[j]], in_cts[j], n.loc);
    }
    ct[i] = Array();  // free it as soon as it is consumed
  }
  std::vector<Array> grads;
  for (size_t k = 0; k < n_wrt; ++k) {
    Array& c = ct[g.inputs[k]];
    grads.push_back(c.empty() ? zeros_like(inputs[k], loc) : c);
  }
  return {std::move(outputs), std::move(grads)};
}

}  // namespace

std::pair<std::vector<Array>, std::vector<Array>> detail::vjp_core(
    std::span<const Array> primals, const TraceBody& body,
    const std::function<std::vector<Array>(std::span<const Array>)>& seeds, const char* who,
    const Loc& loc) {
  std::vector<ir::ValueType> types;
  for (size_t i = 0; i < primals.size(); ++i) {
    const Array& p = primals[i];
    if (p.empty())
      throw ValueError(message(
          std::string(who) + ": argument leaf " + std::to_string(i) + " is an empty kiln::Array",
          loc));
    if (!is_floating(p.dtype()) && !is_complex(p.dtype()))
      throw GradError(message(
          std::string(who) + " requires floating-point or complex inputs, but leaf " +
              std::to_string(i) + " of the differentiated argument is " +
              std::string(short_name(p.dtype())) + "[" + p.shape().dims_str() + "]",
          loc, "pass integer data as a later argument (it is not differentiated) or astype it"));
    types.push_back(type_of(p));
  }
  Traced t = trace(types, body, loc);
  std::vector<Array> inputs(primals.begin(), primals.end());
  inputs.insert(inputs.end(), t.lifted.begin(), t.lifted.end());
  return backward_pass(t.graph, inputs, primals.size(), seeds, who, loc);
}

namespace detail {

std::vector<Array> scalar_seed(std::span<const Array> outputs, const char* who, const Loc& loc) {
  if (outputs.empty())
    throw GradError(message(std::string(who) + ": the function returned no value", loc));
  const Array& y = outputs[0];
  if (y.ndim() != 0 || !is_floating(y.dtype()))
    throw GradError(message(std::string(who) + " requires a real scalar output, got " +
                                std::string(short_name(y.dtype())) + "[" + y.shape().dims_str() +
                                "]",
                            loc,
                            "reduce it to a scalar (kiln::sum or kiln::mean), or use kiln::vjp for "
                            "non-scalar outputs"));
  return {ones_like(y, loc)};
}

void check_output_kind(bool returns_array, bool returns_pair, bool has_aux, const char* who,
                       const Loc& loc) {
  if (has_aux && !returns_pair)
    throw GradError(
        message(std::string(who) + " with has_aux needs the function to return {value, aux}", loc));
  if (!has_aux && !returns_array)
    throw GradError(
        message(std::string(who) + " needs the function to return a scalar Array", loc,
                returns_pair ? "it returns a pair: pass {.has_aux = true} to return auxiliary data"
                             : "return the scalar loss"));
}

}  // namespace detail
}  // namespace kiln
