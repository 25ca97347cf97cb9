// The resume test (issue 4, item 2): training N steps, saving the TrainState, restoring it in a new
// process and training M more must give the same bits — parameters, optimizer state and step — as
// N + M uninterrupted steps.
//
//   checkpoint_resume OPTIMIZER WORKDIR [N M]
//
// runs three child processes of itself: `train` (N steps from init, save), `resume` (restore the
// latest checkpoint, M steps, save) and `straight` (N + M steps from init, save), then compares
// the two final checkpoints leaf by leaf. Exit status 0 when they are identical. OPTIMIZER is one
// of the names in optimizers() below, or `all`.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/checkpoint_programs/child_process.hpp"
#include "kiln/checkpoints.hpp"
#include "kiln/kiln.hpp"
#include "kiln/losses.hpp"
#include "kiln/nn.hpp"
#include "kiln/optim.hpp"
#include "kiln/serialization.hpp"
#include "kiln/train_state.hpp"

namespace {

using namespace kiln;
namespace fs = std::filesystem;
using checkpoint_programs::run_self;

struct MLP : nn::Module<MLP> {
  Array operator()(nn::Scope& s, Array x) const {
    x = relu(nn::Dense({.features = 32})(s, x));
    x = relu(nn::Dense({.features = 16})(s, x));
    return nn::Dense({.features = 1})(s, x);
  }
};

// adamw's mask: decay kernels, not biases (the usual choice, and a non-trivial masked state).
Tree kernels_only(const Tree& t) {
  if (t.is_dict()) {
    Tree out = Tree::dict();
    for (const auto& [k, v] : t.items()) {
      if (v.is_leaf()) {
        bool decay = k != "bias";
        out.entry(k) = Tree(Array::from_data(std::span<const bool>(&decay, 1), Shape{}));
      } else {
        out.entry(k) = kernels_only(v);
      }
    }
    return out;
  }
  throw Error("kernels_only: unexpected tree " + t.str());
}

// Every optimizer kiln has, with hyper-parameters that make each part of its state move.
const std::map<std::string, std::function<optim::GradientTransformation()>>& optimizers() {
  static const std::map<std::string, std::function<optim::GradientTransformation()>> all = {
      {"sgd", [] { return optim::sgd(0.05); }},
      {"sgd_momentum", [] { return optim::sgd(0.05, 0.9); }},
      {"sgd_nesterov", [] { return optim::sgd(0.05, 0.9, true); }},
      {"adam", [] { return optim::adam(1e-2); }},
      {"adamw", [] { return optim::adamw(1e-2, 0.9, 0.999, 1e-8, 0.0, 1e-2); }},
      {"adamw_masked",
       [] { return optim::adamw(1e-2, 0.9, 0.999, 1e-8, 0.0, 1e-2, kernels_only); }},
      {"rmsprop", [] { return optim::rmsprop(1e-3); }},
      {"rmsprop_momentum", [] { return optim::rmsprop(1e-3, 0.9, 1e-8, 0.0, 0.9); }},
      {"chain_clip_adam",
       [] {
         return optim::chain({optim::clip_by_global_norm(0.5), optim::scale_by_adam(),
                              optim::scale_by_learning_rate(1e-2)});
       }},
      // The schedule's count lives in the optimizer state: resuming must continue it, not restart
      // the warmup.
      {"adam_warmup_cosine",
       [] { return optim::adam(optim::warmup_cosine_decay_schedule(0.0, 1e-2, 10, 60)); }},
  };
  return all;
}

// Fixed data from kiln::random: 256 examples of 8 features, a noisy nonlinear target.
struct Data {
  Array x, y;
};
Data make_data() {
  Array x = random::uniform(random::key(1), {256, 8}, float32, -1.0, 1.0);
  Array noise = random::normal(random::key(2), {256, 1}) * 0.1;
  Array y = sin(sum(x, 1, true) * 2.0) + noise;
  return {x, y};
}

TrainState fresh_state(const std::string& optimizer) {
  MLP model;
  return TrainState::create([model](const Tree& p, const Array& x) { return model.apply(p, x); },
                            model.init(random::key(0), ones({1, 8})), optimizers().at(optimizer)());
}

// `steps` jitted steps of full-batch training from `state`.
TrainState train(TrainState state, int steps) {
  Data d = make_data();
  auto step = jit(
      [](const TrainState& s, const Array& x, const Array& y) {
        auto loss_fn = [&](const Tree& params) {
          return losses::mean_squared_error(s.apply(params, x), y);
        };
        auto [loss, grads] = value_and_grad(loss_fn)(s.params);
        return std::make_pair(s.apply_gradients(grads), loss);
      },
      {.backend = "cpu", .name = "train_step"});
  for (int i = 0; i < steps; ++i) state = step(state, d.x, d.y).first;
  return state;
}

// One phase, in a process of its own.
int phase(const std::string& mode, const std::string& optimizer, const fs::path& dir, int steps,
          int expect_start) {
  TrainState state = fresh_state(optimizer);
  if (mode == "resume") {
    state = checkpoints::restore_train_state(dir / "split", state);
    if (state.step.item<int32_t>() != expect_start) {
      std::fprintf(stderr, "resume: restored step %d, expected %d\n", state.step.item<int32_t>(),
                   expect_start);
      return 1;
    }
  }
  state = train(state, steps);
  fs::path out = dir / (mode == "train" ? "split" : mode == "resume" ? "resumed" : "straight");
  checkpoints::save_train_state(out, state, {.keep = 2});
  return 0;
}

// Every leaf of a and b with the same bytes; prints the ones that differ.
bool same_bits(const Tree& a, const Tree& b, const std::string& path) {
  if (a.kind() != b.kind()) {
    std::fprintf(stderr, "%s: structure differs\n", path.c_str());
    return false;
  }
  if (a.is_leaf()) {
    bool same = serialization::to_bytes(a) == serialization::to_bytes(b);
    if (!same) {
      std::fprintf(stderr, "%s differs:\n  resumed  %s\n  straight %s\n", path.c_str(),
                   a.leaf().str().c_str(), b.leaf().str().c_str());
    }
    return same;
  }
  if (a.is_dict()) {
    bool same = a.size() == b.size();
    for (const auto& [k, v] : a.items()) same = same_bits(v, b[k], path + "/" + k) && same;
    return same;
  }
  return true;
}

int compare(const std::string& optimizer, const fs::path& dir, int n, int m) {
  Tree templ = tree_traits<TrainState>::to_tree(fresh_state(optimizer));
  Tree resumed = checkpoints::restore_checkpoint(dir / "resumed", templ);
  Tree straight = checkpoints::restore_checkpoint(dir / "straight", templ);
  Tree at_n = checkpoints::restore_checkpoint(dir / "split", templ);
  if (resumed["step"].leaf().item<int32_t>() != n + m) {
    std::fprintf(stderr, "%s: resumed run ended at step %d, not %d\n", optimizer.c_str(),
                 resumed["step"].leaf().item<int32_t>(), n + m);
    return 1;
  }
  // The training moved the parameters after the checkpoint: the comparison is not vacuous.
  if (serialization::to_bytes(at_n["params"]) == serialization::to_bytes(resumed["params"])) {
    std::fprintf(stderr, "%s: parameters did not change after step %d\n", optimizer.c_str(), n);
    return 1;
  }
  bool same = same_bits(resumed, straight, ".");
  // The files too: equal trees encode to equal bytes, key order included.
  same = same && serialization::read_file(*checkpoints::latest_checkpoint(dir / "resumed")) ==
                     serialization::read_file(*checkpoints::latest_checkpoint(dir / "straight"));
  std::printf("%-20s %d + %d steps resumed in a new process vs %d straight: %s\n",
              optimizer.c_str(), n, m, n + m, same ? "bit-identical" : "DIFFERENT");
  return same ? 0 : 1;
}

int drive(const std::string& optimizer, const fs::path& workdir, int n, int m) {
  fs::path dir = workdir / optimizer;
  fs::remove_all(dir);
  const std::string ns = std::to_string(n), ms = std::to_string(m), nm = std::to_string(n + m);
  struct Step {
    const char* what;
    std::vector<std::string> args;
  };
  for (const Step& s :
       {Step{"train", {"phase", "train", optimizer, dir.string(), ns, "0"}},
        Step{"resume", {"phase", "resume", optimizer, dir.string(), ms, ns}},
        Step{"straight", {"phase", "straight", optimizer, dir.string(), nm, "0"}}}) {
    int rc = run_self(s.args);
    if (rc != 0) {
      std::fprintf(stderr, "%s: the %s process failed (status %d)\n", optimizer.c_str(), s.what,
                   rc);
      return 1;
    }
  }
  int rc = compare(optimizer, dir, n, m);
  if (rc == 0) fs::remove_all(dir);
  return rc;
}

int usage() {
  std::fprintf(stderr, "usage: checkpoint_resume OPTIMIZER|all WORKDIR [N M]\noptimizers:");
  for (const auto& [name, make] : optimizers()) std::fprintf(stderr, " %s", name.c_str());
  std::fprintf(stderr, "\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 6 && args[0] == "phase") {
      return phase(args[1], args[2], args[3], std::stoi(args[4]), std::stoi(args[5]));
    }
    if (args.size() != 2 && args.size() != 4) return usage();
    int n = args.size() == 4 ? std::stoi(args[2]) : 25;
    int m = args.size() == 4 ? std::stoi(args[3]) : 15;
    if (args[0] == "all") {
      int failed = 0;
      for (const auto& [name, make] : optimizers()) failed += drive(name, args[1], n, m) != 0;
      return failed == 0 ? 0 : 1;
    }
    if (!optimizers().contains(args[0])) return usage();
    return drive(args[0], args[1], n, m);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_resume: %s\n", e.what());
    return 1;
  }
}
