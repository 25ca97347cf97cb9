#include "export_command.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include "kiln/error.hpp"
#include "kiln/export.hpp"
#include "kiln/jit.hpp"
#include "kiln/models.hpp"
#include "kiln/ops.hpp"
#include "kiln/random.hpp"
#include "kiln/serialization.hpp"

namespace kiln_tool {
namespace {

using namespace kiln;

// The parameters in `path` (checked against `templ`), or `templ` itself when no file is given.
Tree params_or_init(const std::string& path, const Tree& templ, const std::string& model) {
  if (path.empty()) return templ;
  try {
    return serialization::load(path, templ);
  } catch (const ValueError& e) {
    throw ValueError(std::string(e.what()) + " (checked against --model " + model +
                     "'s parameters: is the file from another model?)");
  }
}

}  // namespace

// The parameters are function arguments, not constants: as JAX's `jax.jit(apply).lower(params, x)`,
// @main takes the parameter leaves first (in the tree's flattening order), then the input batch,
// so one exported module serves any trained parameters of that architecture.
int export_model(const ExportArgs& args) {
  if (args.batch <= 0)
    throw ValueError(message("--batch must be positive, got " + std::to_string(args.batch), Loc{},
                             "Give the number of examples per call, e.g. --batch 32"));
  if (args.out.empty())
    throw ValueError(message("no output file", Loc{}, "Give one with -o FILE.mlir"));
  std::string text;
  if (args.model == "tutorial") {
    const models::TutorialMLP model;
    const Array example = zeros({args.batch, 4});
    const Tree vars = params_or_init(args.params, model.init(random::key(0), example), args.model);
    auto apply = jit([model](const Tree& v, const Array& x) { return model.apply(v, x); },
                     {.name = "tutorial"});
    text = export_stablehlo(apply, vars, example);
  } else {
    std::vector<std::string> names = models::image_classifier_names();
    names.insert(names.begin(), "tutorial");
    models::ImageClassifier m;
    try {
      m = models::image_classifier(args.model);
    } catch (const ValueError&) {
      std::string known;
      for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
      throw ValueError(
          message("unknown model \"" + args.model + "\"", Loc{}, "Known models: " + known));
    }
    const Array example = m.layout == data::Layout::flat ? zeros({args.batch, 28 * 28})
                                                         : zeros({args.batch, 28, 28, 1});
    const Tree vars = params_or_init(args.params, m.init(random::key(0), example), args.model);
    auto apply = jit([m](const Tree& v, const Array& x) { return m.apply(v, x, false, Array()); },
                     {.name = args.model});
    text = export_stablehlo(apply, vars, example);
  }
  serialization::write_file(args.out, std::vector<uint8_t>(text.begin(), text.end()));
  std::printf("%s: StableHLO for %s, batch %lld (%zu bytes)\n", args.out.c_str(),
              args.model.c_str(), static_cast<long long>(args.batch), text.size());
  return 0;
}

}  // namespace kiln_tool
