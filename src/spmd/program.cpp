#include "spmd/program.hpp"

#include <algorithm>
#include <climits>

#include "backend/cpu/collectives.hpp"
#include "core/array_impl.hpp"
#include "core/buffer_list.hpp"
#include "kiln/error.hpp"
#include "transforms/output_pool.hpp"

namespace kiln::spmd {
namespace {

bool is_collective(const ir::Node& n) {
  return ir::info(n.prim).kind == ir::PrimKind::collective;
}
// Nodes that need no input (constants, fills, iotas): copied into every stage that reads them.
bool is_source(const ir::Node& n) {
  return n.inputs.empty() && n.prim != ir::Prim::parameter && !is_collective(n);
}

}  // namespace

// Level L: first the collectives of level L (L >= 1), then the local graph of level L.
struct Program::Stage {
  std::vector<ir::ValueId> collectives;    // nodes of graph_, run in order
  ir::Graph local;                         // empty when the level has no local nodes
  std::vector<ir::ValueId> local_inputs;   // graph_ values feeding local's parameters
  std::vector<ir::ValueId> local_outputs;  // graph_ values local computes for later use
  std::unique_ptr<Executable> exe;
  // Per device, kOutputPoolDepth arrays per local output, written again once they are dead.
  std::vector<std::vector<std::shared_ptr<ArrayImpl>>> output_pool;
};

Program::Program(ir::Graph g, Mesh mesh) : graph_(std::move(g)), mesh_(std::move(mesh)) {
  const auto& nodes = graph_.nodes;
  for (const ir::Node& n : nodes)
    if (is_collective(n))
      for (const std::string& axis : n.attrs.collective.axes)
        if (!mesh_.has_axis(axis))
          throw ValueError(message(std::string(ir::name(n.prim)) + " over axis '" + axis +
                                       "', which " + mesh_.str() + " does not have",
                                   n.loc));

  // Only what the outputs need runs: a dead collective would still exchange (the cpu backend
  // drops dead local nodes itself, but never sees the collectives).
  std::vector<bool> live(nodes.size(), false);
  for (ir::ValueId v : graph_.outputs) live[v] = true;
  for (size_t i = nodes.size(); i-- > 0;)
    if (live[i])
      for (ir::ValueId u : nodes[i].inputs) live[u] = true;

  // Levels: a collective sits one above its operands; a local node at the highest of them.
  std::vector<int> level(nodes.size(), 0);
  int top = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    int l = 0;
    for (ir::ValueId u : nodes[i].inputs) l = std::max(l, level[u]);
    level[i] = is_collective(nodes[i]) ? l + 1 : l;
    top = std::max(top, level[i]);
  }
  // A local node is then moved down to the level of its first reader (a collective reads from the
  // level below its own), so work that waits for no collective runs beside the work that reads it
  // and fuses with it: Adam's decay of its moments joins the update after the gradients' psum
  // instead of being written out in full before it. Readers come later in the graph, so one pass
  // from the end sees their final levels.
  std::vector<int> first_reader(nodes.size(), INT_MAX);
  for (size_t i = nodes.size(); i-- > 0;) {
    const bool local =
        !is_collective(nodes[i]) && !is_source(nodes[i]) && nodes[i].prim != ir::Prim::parameter;
    if (!live[i]) continue;
    if (local && first_reader[i] != INT_MAX) level[i] = std::max(level[i], first_reader[i]);
    const int reads_at = is_collective(nodes[i]) ? level[i] - 1 : level[i];
    for (ir::ValueId u : nodes[i].inputs) first_reader[u] = std::min(first_reader[u], reads_at);
  }
  // Values read outside the level that computes them: by a later level, a collective or the
  // graph's outputs.
  std::vector<bool> exported(nodes.size(), false);
  for (size_t i = 0; i < nodes.size(); ++i)
    if (live[i])
      for (ir::ValueId u : nodes[i].inputs)
        if (is_collective(nodes[i]) || is_collective(nodes[u]) || level[u] != level[i])
          exported[u] = true;
  for (ir::ValueId v : graph_.outputs) exported[v] = true;
  // A source read by a local node of a later level is copied into that level's stage (local_of),
  // so only one read by a collective or the outputs becomes a buffer: a fill Adam broadcasts to a
  // kernel's shape would otherwise be written out in full on every device at every step.
  std::vector<bool> source_buffer(nodes.size(), false);
  for (size_t i = 0; i < nodes.size(); ++i)
    if (live[i] && is_collective(nodes[i]))
      for (ir::ValueId u : nodes[i].inputs) source_buffer[u] = true;
  for (ir::ValueId v : graph_.outputs) source_buffer[v] = true;

  stages_.resize(static_cast<size_t>(top) + 1);
  for (int l = 0; l <= top; ++l) {
    Stage& s = stages_[static_cast<size_t>(l)];
    std::vector<ir::ValueId> map(nodes.size(), UINT32_MAX);
    // The stage's value for u: a copy of a source node, else a parameter fed from outside.
    auto local_of = [&](ir::ValueId u) -> ir::ValueId {
      if (map[u] != UINT32_MAX) return map[u];
      const ir::Node& n = nodes[u];
      if (is_source(n)) {
        s.local.nodes.push_back(n);
        map[u] = static_cast<ir::ValueId>(s.local.nodes.size() - 1);
      } else {
        s.local_inputs.push_back(u);
        map[u] = s.local.add_parameter(n.type, n.loc);
      }
      return map[u];
    };
    for (size_t i = 0; i < nodes.size(); ++i) {
      const ir::Node& n = nodes[i];
      if (!live[i] || level[i] != l || n.prim == ir::Prim::parameter) continue;
      if (is_collective(n)) {
        s.collectives.push_back(static_cast<ir::ValueId>(i));
        continue;
      }
      if (is_source(n)) {
        // At level 0 when something outside needs it; elsewhere copied where it is read.
        if (l == 0 && source_buffer[i]) {
          local_of(static_cast<ir::ValueId>(i));
          s.local_outputs.push_back(static_cast<ir::ValueId>(i));
        }
        continue;
      }
      std::vector<ir::ValueId> ins;
      for (ir::ValueId u : n.inputs) ins.push_back(local_of(u));
      s.local.nodes.push_back(ir::Node{n.prim, std::move(ins), n.attrs, n.type, n.loc});
      map[i] = static_cast<ir::ValueId>(s.local.nodes.size() - 1);
      if (exported[i]) s.local_outputs.push_back(static_cast<ir::ValueId>(i));
    }
    for (ir::ValueId v : s.local_outputs) s.local.outputs.push_back(map[v]);
    if (!s.local.outputs.empty()) {
      s.local.name = graph_.name + "_stage" + std::to_string(l);
      const Device d = mesh_.devices().front();
      s.exe = d.backend()->compile(s.local, d);
      s.output_pool.assign(mesh_.devices().size(), std::vector<std::shared_ptr<ArrayImpl>>(
                                                       s.local_outputs.size() * kOutputPoolDepth));
    }
  }
}

Program::~Program() = default;

std::vector<std::vector<Array>> Program::run(const std::vector<std::vector<Array>>& inputs) {
  std::lock_guard lock(mutex_);
  const size_t devices = mesh_.devices().size();
  if (inputs.size() != graph_.inputs.size())
    throw ValueError("SPMD program '" + graph_.name + "': " + std::to_string(inputs.size()) +
                     " inputs for a graph of " + std::to_string(graph_.inputs.size()));
  // env[v][k]: value v on device k.
  std::vector<std::vector<Array>> env(graph_.nodes.size());
  for (size_t i = 0; i < inputs.size(); ++i) env[graph_.inputs[i]] = inputs[i];
  for (Stage& s : stages_) {
    for (ir::ValueId c : s.collectives) {
      const ir::Node& n = graph_.nodes[c];
      BufferList in(devices);
      ir::ValueType in_type;
      if (!n.inputs.empty()) {
        in_type = graph_.type(n.inputs[0]);
        for (size_t k = 0; k < devices; ++k)
          in[k] = live_buffer(*ArrayAccess::impl(env[n.inputs[0]][k]), n.loc).get();
      }
      auto out = cpu::run_collective(n, in_type, mesh_, in.span());
      env[c].clear();
      for (auto& b : out)
        env[c].push_back(Array::from_buffer(std::move(b), n.type.dtype, n.type.shape));
    }
    if (!s.exe) continue;
    for (ir::ValueId v : s.local_outputs) env[v].resize(devices);
    for (size_t k = 0; k < devices; ++k) {
      const Device d = mesh_.devices()[k];
      BufferList in(s.local_inputs.size());
      for (size_t i = 0; i < s.local_inputs.size(); ++i)
        in[i] = live_buffer(*ArrayAccess::impl(env[s.local_inputs[i]][k]), {}).get();
      std::vector<Array> outs;
      BufferList out(s.local_outputs.size());
      std::span<std::shared_ptr<ArrayImpl>> pool = s.output_pool[k];
      for (size_t o = 0; o < s.local_outputs.size(); ++o) {
        outs.push_back(take_output(pool.subspan(o * kOutputPoolDepth, kOutputPoolDepth),
                                   graph_.type(s.local_outputs[o]), d));
        out[o] = ArrayAccess::impl(outs.back())->buffer.get();
      }
      s.exe->run(in.span(), out.span());
      for (size_t o = 0; o < s.local_outputs.size(); ++o) env[s.local_outputs[o]][k] = outs[o];
    }
  }
  std::vector<std::vector<Array>> result;
  for (ir::ValueId v : graph_.outputs) result.push_back(env[v]);
  return result;
}

std::string Program::describe() const {
  std::string out;
  for (size_t l = 0; l < stages_.size(); ++l) {
    const Stage& s = stages_[l];
    for (ir::ValueId c : s.collectives) {
      const ir::Node& n = graph_.nodes[c];
      out += "collective %" + std::to_string(c) + " = " + std::string(ir::name(n.prim)) +
             ir::attrs_str(n.prim, n.attrs) + " -> " + n.type.str() + "\n";
    }
    if (s.exe)
      out += "stage " + std::to_string(l) + ": " + std::to_string(s.local.nodes.size()) +
             " nodes on each of " + std::to_string(mesh_.devices().size()) + " devices\n";
  }
  return out;
}

}  // namespace kiln::spmd
