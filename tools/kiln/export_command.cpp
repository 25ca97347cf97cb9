#include "export_command.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include "exit_status.hpp"
#include "kiln/error.hpp"
#include "kiln/export.hpp"
#include "kiln/jit.hpp"
#include "kiln/models.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"
#include "kiln/serialization.hpp"
#include "kiln/trace.hpp"
#include "params_file.hpp"

namespace kiln_tool {
namespace {

using namespace kiln;

// The parameters in `path` (checked against `templ`), or `templ` itself when no file is given.
Tree params_or_init(const std::string& path, const Tree& templ, const std::string& model) {
  if (path.empty()) return templ;
  return load_params(path, templ, model);
}

// StableHLO for `apply(variables, x)` with x of `input` type. Traced from the types alone, as
// jax.jit(f).lower(ShapeDtypeStruct(...)) does: no input array is made, so a large --batch costs
// nothing but its number in the text.
template <class F>
std::string lower_for(const F& apply, const Tree& variables, const ir::ValueType& input,
                      const std::string& name) {
  std::vector<Array> leaves;
  size_t ignored = 0;
  tree_traits<Tree>::flatten(variables, leaves, ignored);
  std::vector<ir::ValueType> types;
  for (const Array& a : leaves) types.push_back(type_of(a));
  types.push_back(input);
  Traced t = trace(
      types,
      [&](std::span<const Array> tracers) {
        std::span<const Array> it = tracers;
        const Tree v = tree_traits<Tree>::rebuild(variables, it);
        return std::vector<Array>{apply(v, it.front())};
      },
      Loc::current());
  t.graph.name = name;
  return to_stablehlo(t.graph);
}

}  // namespace

// The parameters are function arguments, not constants: as JAX's `jax.jit(apply).lower(params, x)`,
// @main takes the parameter leaves first (in the tree's flattening order), then the input batch,
// so one exported module serves any trained parameters of that architecture.
int export_model(const ExportArgs& args) {
  if (args.batch <= 0)
    throw UsageError(message("--batch must be positive, got " + std::to_string(args.batch), Loc{},
                             "Give the number of examples per call, e.g. --batch 32"));
  if (args.out.empty())
    throw ValueError(message("no output file", Loc{}, "Give one with -o FILE.mlir"));
  serialization::refuse_read_only(args.out, {.replace_read_only = args.force});
  std::string text;
  // The parameters do not depend on the batch: they are made for a batch of one.
  if (args.model == "tutorial") {
    const models::TutorialMLP model;
    const Tree vars =
        params_or_init(args.params, model.init(random::key(0), zeros({1, 4})), args.model);
    text = lower_for([&](const Tree& v, const Array& x) { return model.apply(v, x); }, vars,
                     {DType::float32, Shape{args.batch, 4}}, "tutorial");
  } else {
    std::vector<std::string> names = models::image_classifier_names();
    names.insert(names.begin(), "tutorial");
    models::ImageClassifier m;
    try {
      m = models::image_classifier(args.model, Loc{});
    } catch (const ValueError&) {
      std::string known;
      for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
      throw UsageError(
          message("unknown model \"" + args.model + "\"", Loc{}, "Known models: " + known));
    }
    const bool flat = m.layout == data::Layout::flat;
    const Array example = flat ? zeros({1, 28 * 28}) : zeros({1, 28, 28, 1});
    const Tree vars = params_or_init(args.params, m.init(random::key(0), example), args.model);
    const Shape input = flat ? Shape{args.batch, 28 * 28} : Shape{args.batch, 28, 28, 1};
    text = lower_for([&](const Tree& v, const Array& x) { return m.apply(v, x, false, Array()); },
                     vars, {DType::float32, input}, args.model);
  }
  serialization::write_file(args.out, std::vector<uint8_t>(text.begin(), text.end()),
                            {.replace_read_only = args.force});
  std::printf("%s: StableHLO for %s, batch %lld (%zu bytes)\n", args.out.c_str(),
              args.model.c_str(), static_cast<long long>(args.batch), text.size());
  return 0;
}

}  // namespace kiln_tool
