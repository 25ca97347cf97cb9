#include "import/while_loop.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>

#include "kiln/backend.hpp"
#include "kiln/error.hpp"
#include "passes/fold_constants.hpp"

namespace kiln::mlir {
namespace {

using ir::Prim;
using ir::ValueId;

// Values larger than this are not computed at import (a loop counter is a scalar; threefry's
// rotation tables are 16 bytes): they stay graph values, and a condition that needs one is
// refused like a data-dependent one.
constexpr size_t kFoldBytes = size_t{64} << 10;

size_t byte_size(const ir::ValueType& t) {
  return static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype);
}

bool is_literal(const ir::Node& n) {
  return n.prim == Prim::constant || n.prim == Prim::full;
}

// Which values of the graph being imported are computable from constants alone, and their values
// as literal nodes, computed (by the CPU backend's kernels, so bit-identical to a run) when asked.
class ConstantValues {
 public:
  explicit ConstantValues(ir::Graph& g) : g_(g) {}

  // Whether v depends on literals and iotas only (no parameter).
  bool known(ValueId v) {
    for (size_t i = known_.size(); i < g_.nodes.size(); ++i) {
      const ir::Node& n = g_.nodes[i];
      bool k = n.inputs.empty() ? is_literal(n) || n.prim == Prim::iota : true;
      for (ValueId u : n.inputs) k = k && known_[u];
      known_.push_back(k);
    }
    return known_[v];
  }

  // A constant or full node holding v's value; nullopt when v is not known, or it (or a value it
  // is computed from) is larger than kFoldBytes, or the backend cannot compute it.
  std::optional<ValueId> literal(ValueId v) {
    if (!known(v)) return std::nullopt;
    if (is_literal(g_.nodes[v])) return v;
    if (auto it = folded_.find(v); it != folded_.end()) return it->second;
    // The values v needs that are not literals yet, computed in id order (inputs come first).
    std::vector<ValueId> need, stack{v};
    while (!stack.empty()) {
      const ValueId u = stack.back();
      stack.pop_back();
      if (is_literal(g_.nodes[u]) || folded_.count(u) ||
          std::find(need.begin(), need.end(), u) != need.end())
        continue;
      if (byte_size(g_.nodes[u].type) > kFoldBytes) return std::nullopt;
      need.push_back(u);
      for (ValueId w : g_.nodes[u].inputs) stack.push_back(w);
    }
    std::sort(need.begin(), need.end());
    for (ValueId u : need) {
      ir::Node n = g_.nodes[u];
      for (ValueId& w : n.inputs)
        if (!is_literal(g_.nodes[w])) w = folded_.at(w);
      ir::Attrs a;
      try {
        a.literal = passes::evaluate_on_literals(g_, n);
      } catch (const Error&) {
        return std::nullopt;
      }
      g_.nodes.push_back(ir::Node{Prim::constant, {}, std::move(a), n.type, n.loc});
      const auto id = static_cast<ValueId>(g_.nodes.size() - 1);
      folded_[u] = id;
    }
    return folded_.at(v);
  }

  bool true_scalar(ValueId literal) const {
    const ir::Node& n = g_.nodes[literal];
    if (n.prim == Prim::full) return n.attrs.value.bits != 0;
    uint8_t b = 0;
    std::memcpy(&b, n.attrs.literal->host_data(), 1);
    return b != 0;
  }

 private:
  ir::Graph& g_;
  std::vector<uint8_t> known_;
  std::unordered_map<ValueId, ValueId> folded_;
};

std::string type_list(const ir::Graph& g, const std::vector<ValueId>& vs) {
  std::string out;
  for (ValueId v : vs) out += (out.empty() ? "" : ", ") + type_text(g.type(v));
  return out;
}

}  // namespace

std::vector<ValueId> unroll_while(const Op& op, const std::vector<ValueId>& inits, ir::Graph& g,
                                  const RegionLowering& lower_region,
                                  std::string_view source_name) {
  const std::string at = where(source_name, op.pos);
  if (op.regions.size() != 2)
    throw ValueError(at + "stablehlo.while takes two regions (cond and do), found " +
                     std::to_string(op.regions.size()) + ". Write cond { ... } do { ... }");
  const Region& cond = op.regions[0];
  const Region& body = op.regions[1];
  ConstantValues consts(g);
  std::vector<ValueId> carried = inits;
  for (int64_t iteration = 0;; ++iteration) {
    // The counter (and whatever else only constants feed) becomes a literal again, so the
    // condition folds and the body sees a constant. Broadcasts stay: the backend reads a
    // broadcast splat as a scalar.
    for (ValueId& v : carried) {
      const ir::Node& n = g.nodes[v];
      if (is_literal(n) || n.prim == Prim::broadcast_in_dim) continue;
      if (auto c = consts.literal(v)) v = *c;
    }
    const std::vector<ValueId> test = lower_region(cond, carried);
    if (test.size() != 1 || g.type(test[0]).dtype != DType::bool_ ||
        g.type(test[0]).shape.rank() != 0)
      throw ValueError(at + "stablehlo.while's cond region must return one tensor<i1>, found (" +
                       type_list(g, test) + "). Return the loop's condition");
    const std::optional<ValueId> decided = consts.literal(test[0]);
    if (!decided) {
      // Name the loop-carried values the condition reads that are not constants.
      std::vector<std::string> reads;
      for (const Op& c : cond.ops)
        for (const std::string& name : c.operands)
          for (size_t k = 0; k < cond.args.size(); ++k) {
            const std::string what = name + " (loop-carried value " + std::to_string(k) + ")";
            if (cond.args[k].first == name && !consts.known(carried[k]) &&
                std::find(reads.begin(), reads.end(), what) == reads.end())
              reads.push_back(what);
          }
      std::string depends =
          "values kiln does not compute at import (over 64 KiB, an op the CPU backend cannot "
          "run, or values defined outside the loop from the function's arguments)";
      if (!reads.empty()) {
        depends.clear();
        for (const std::string& r : reads) depends += (depends.empty() ? "" : ", ") + r;
        depends += reads.size() == 1 ? ", which is" : ", which are";
        depends += " computed from the function's arguments";
      }
      throw Unsupported(
          at + "stablehlo.while is not supported here: its trip count depends on " + depends +
          (iteration > 0 ? " (at iteration " + std::to_string(iteration) + ")" : std::string()) +
          "; kiln imports while loops whose trip count is static (a counter running from a "
          "constant to a constant, as lax.fori_loop with constant bounds writes). Give the loop "
          "constant bounds, or unroll it in the program");
    }
    if (!consts.true_scalar(*decided)) return carried;
    if (iteration == kMaxWhileIterations)
      throw Unsupported(at + "stablehlo.while runs more than " +
                        std::to_string(kMaxWhileIterations) +
                        " iterations: kiln imports a while loop by unrolling it, and stops "
                        "there. Run fewer iterations per loop (or split the program)");
    std::vector<ValueId> next = lower_region(body, carried);
    bool same = next.size() == carried.size();
    for (size_t k = 0; same && k < next.size(); ++k) same = g.type(next[k]) == g.type(carried[k]);
    if (!same)
      throw ValueError(at + "stablehlo.while's do region returns (" + type_list(g, next) +
                       ") but the loop carries (" + type_list(g, carried) +
                       "). Return one value of each loop-carried type");
    carried = std::move(next);
  }
}

}  // namespace kiln::mlir
