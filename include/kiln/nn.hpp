// Flax-style modules: a model is a struct whose operator()(nn::Scope&, inputs...) creates its
// parameters through the scope and computes its output. The same code initialises (a scope that
// creates parameters from an rng) and applies (a scope that reads them from a variables tree).
//
//   struct SimpleMLP : kiln::nn::Module<SimpleMLP> {
//     int features = 8;
//     kiln::Array operator()(kiln::nn::Scope& s, kiln::Array x) const {
//       x = kiln::nn::Dense({.features = features})(s, x);
//       return kiln::nn::Dense({.features = 1})(s, kiln::relu(x));
//     }
//   };
//   kiln::Tree variables = SimpleMLP{}.init(kiln::random::key(0), kiln::ones({1, 4}));
//   kiln::Array y = SimpleMLP{}.apply(variables, x);
//
// Names follow Flax: submodules are `ClassName_<n>`, counted per parent and class; parameters are
// created in call order (`kernel` before `bias`); `init` returns {"params": {...}}.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/tree.hpp"

namespace kiln::nn {

// (key, shape, dtype) -> a new parameter array. Keys are uint32[2] (kiln::random).
using Initializer = std::function<Array(const Array& key, const Shape& shape, DType dtype)>;

// Where parameters live while a module runs. init: creates them (with rngs derived as Flax derives
// them); apply: reads them from the variables tree and checks their shapes.
class Scope {
 public:
  // A scope that creates parameters from `rng` (Flax's {'params': rng}).
  static Scope for_init(const Array& rng);
  // A scope that reads parameters from `variables` ({"params": {...}}).
  static Scope for_apply(const Tree& variables);

  // The parameter `name` of this scope: created with `init(key, shape, dtype)` in init mode,
  // read (and checked against shape and dtype) in apply mode.
  Array param(const std::string& name, const Initializer& init, const Shape& shape,
              DType dtype = float32, Loc loc = Loc::current());
  // The child scope for a submodule of class `class_name`: named `<class_name>_<n>`, n counting
  // per class within this scope (Flax's auto-naming). An explicit `name` overrides it.
  Scope& child(const std::string& class_name,
               const std::optional<std::string>& name = std::nullopt);
  // A fresh rng for stream `stream` ("params", "dropout"), as Flax's make_rng.
  Array make_rng(const std::string& stream = "params");

  bool is_initializing() const;
  // This scope's path from the root, "/"-joined ("Dense_0"); empty at the root.
  const std::string& path() const;
  // The variables created (init) or given (apply): {"params": {...}}.
  Tree variables() const;

  Scope(Scope&&) noexcept;
  Scope& operator=(Scope&&) noexcept;
  ~Scope();

 private:
  struct State;
  explicit Scope(std::shared_ptr<State> root, std::string path);
  std::shared_ptr<State> root_;
  std::string path_;
  std::vector<std::string> rng_suffix_;  // names from the root, for rng derivation
  std::map<std::string, int> child_counts_;
  std::map<std::string, int> rng_counts_;
  std::vector<std::unique_ptr<Scope>> children_;
};

// CRTP base giving a module init() and apply(). Derived defines operator()(Scope&, Inputs...).
template <class Derived>
struct Module {
  template <class... Inputs>
  Tree init(const Array& rng, const Inputs&... inputs) const {
    Scope s = Scope::for_init(rng);
    (void)static_cast<const Derived&> (*this)(s, inputs...);
    return s.variables();
  }
  template <class... Inputs>
  auto apply(const Tree& variables, const Inputs&... inputs) const {
    Scope s = Scope::for_apply(variables);
    return static_cast<const Derived&>(*this)(s, inputs...);
  }
};

namespace initializers {
Initializer constant(double value);
Initializer zeros();
Initializer ones();
Initializer normal(double stddev = 1e-2);
Initializer uniform(double scale = 1e-2);  // [0, scale)
Initializer truncated_normal(double stddev = 1e-2, double lower = -2.0, double upper = 2.0);
// mode: "fan_in" | "fan_out" | "fan_avg"; distribution: "truncated_normal" | "normal" | "uniform".
Initializer variance_scaling(double scale, const std::string& mode, const std::string& distribution,
                             int in_axis = -2, int out_axis = -1);
Initializer lecun_normal();
Initializer lecun_uniform();
Initializer glorot_normal();
Initializer glorot_uniform();
Initializer xavier_normal();
Initializer xavier_uniform();
Initializer he_normal();
Initializer he_uniform();
Initializer kaiming_normal();
Initializer kaiming_uniform();
}  // namespace initializers

// flax.linen.Dense: y = x · kernel + bias, kernel (in, out), bias (out,).
struct Dense {
  struct Options {
    int64_t features = 0;
    bool use_bias = true;
    Initializer kernel_init = initializers::lecun_normal();
    Initializer bias_init = initializers::zeros();
    std::optional<DType> dtype =
        std::nullopt;  // computation dtype (default: promoted input/params)
    DType param_dtype = float32;
    std::optional<std::string> name = std::nullopt;  // default: Dense_<n>
  };
  Options options;

  explicit Dense(Options o) : options(std::move(o)) {}
  Array operator()(Scope& scope, const Array& x, Loc loc = Loc::current()) const;
};

}  // namespace kiln::nn
