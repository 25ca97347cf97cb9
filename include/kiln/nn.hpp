// Flax-style modules: a model is a struct whose operator()(nn::Scope&, inputs...) creates its
// variables through the scope and computes its output. The same code initialises (a scope that
// creates variables from rngs) and applies (a scope that reads them from a variables tree).
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
// Names follow Flax: submodules are `ClassName_<n>`, counted per parent and class; variables are
// created in call order (`kernel` before `bias`); `init` returns every collection made
// ({"params": {...}, "batch_stats": {...}}) in creation order.
//
// Collections other than "params" (BatchNorm's "batch_stats") and rngs other than "params"
// (Dropout's "dropout") work as in Flax's model.apply(variables, x, rngs=..., mutable=[...]):
//
//   auto [y, updates] = model.apply_with({.rngs = {{"dropout", key}},
//                                         .mutable_collections = {"batch_stats"}},
//                                        variables, x, /*train=*/true);
//   // updates == {"batch_stats": {...}}: only the mutable collections, as Flax returns them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/tree.hpp"

namespace kiln::nn {

// (key, shape, dtype) -> a new parameter array. Keys are uint32[2] (kiln::random).
using Initializer = std::function<Array(const Array& key, const Shape& shape, DType dtype)>;
// (shape, dtype) -> the first value of a non-parameter variable (Flax's variable init_fn takes no
// rng: BatchNorm's running mean is `lambda s: jnp.zeros(s, jnp.float32)`).
using VariableInit = std::function<Array(const Shape& shape, DType dtype)>;
// Rng streams by name, as Flax's rngs dict: {{"params", key}, {"dropout", key2}}.
using Rngs = std::map<std::string, Array>;

// The rows a call's batch holds of a larger one: rows [start, start + B) of `total` (total 0: the
// batch is whole). Set when a global batch is split over processes (kiln::distributed), so that
// stochastic layers draw for the whole batch and keep these rows: each row gets the random
// numbers it would get unsplit, and the split run trains as the whole one.
struct BatchRows {
  int64_t start = 0;
  int64_t total = 0;
};

// Flax's model.apply(variables, ..., rngs=..., mutable=[...]). (`mutable` is a C++ keyword.)
struct ApplyOptions {
  Rngs rngs = {};                                     // streams make_rng may draw from
  std::vector<std::string> mutable_collections = {};  // writable, and returned by apply_with
  BatchRows batch_rows = {};                          // kiln's own: see BatchRows
};

class Variable;

// Where variables live while a module runs. init: creates them (with rngs derived as Flax derives
// them); apply: reads them from the variables tree and checks their shapes; a variable of a mutable
// collection may be written (and, when missing, created) during apply too.
class Scope {
 public:
  // A scope that creates variables from `rng` (Flax's {'params': rng}).
  static Scope for_init(const Array& rng);
  // A scope that creates variables from several streams ({"params": k1, "dropout": k2}).
  static Scope for_init(const Rngs& rngs);
  // A scope that reads variables from `variables` ({"params": {...}, "batch_stats": {...}}).
  static Scope for_apply(const Tree& variables, const ApplyOptions& options = {});

  // The parameter `name` of this scope: created with `init(make_rng("params"), shape, dtype)` in
  // init mode, read (and checked against shape and dtype) in apply mode.
  Array param(const std::string& name, const Initializer& init, const Shape& shape,
              DType dtype = float32, Loc loc = Loc::current());
  // The variable `name` of `collection` ("batch_stats"): created with `init(shape, dtype)` when it
  // is missing and the collection is mutable (always in init), else read and checked. An empty
  // `init` means it must exist already.
  Variable variable(const std::string& collection, const std::string& name,
                    const VariableInit& init, const Shape& shape, DType dtype = float32,
                    Loc loc = Loc::current());
  // The child scope for a submodule of class `class_name`: named `<class_name>_<n>`, n counting
  // per class within this scope (Flax's auto-naming). An explicit `name` overrides it.
  //
  // Flax numbers submodules in call order, which in Python is source order. C++ leaves the order
  // in which a call's arguments are evaluated unspecified (GCC goes right to left), so two layers
  // built as arguments of one call would be numbered in reverse: `loc` (the layer's call site)
  // catches that — an auto-named child created, in the same function, at a source position before
  // the previous one of its class and never seen before is a ValueError saying how to fix it.
  Scope& child(const std::string& class_name, const std::optional<std::string>& name = std::nullopt,
               Loc loc = Loc::current());
  // A fresh rng for stream `stream` ("params", "dropout"), as Flax's make_rng: a stream that was
  // not given falls back to "params"; ValueError when neither was given.
  Array make_rng(const std::string& stream = "params", Loc loc = Loc::current());
  bool has_rng(const std::string& stream) const;
  // The apply's ApplyOptions::batch_rows (whole in init).
  const BatchRows& batch_rows() const;

  bool is_initializing() const;
  // Whether variables of `collection` may be written: every collection in init; those named in
  // ApplyOptions::mutable_collections in apply.
  bool is_mutable_collection(const std::string& collection) const;
  bool has_variable(const std::string& collection, const std::string& name) const;
  // This scope's path from the root, "/"-joined ("Dense_0"); empty at the root.
  const std::string& path() const;
  // All variables, as created (init) or given and updated (apply): {"params": {...}, ...}.
  Tree variables() const;
  // The mutable collections as they are now (Flax's mutable_variables): in apply, what
  // apply_with returns beside the output; in init, everything.
  Tree mutable_variables() const;

  Scope(Scope&&) noexcept;
  Scope& operator=(Scope&&) noexcept;
  ~Scope();

 private:
  friend class Variable;
  struct State;
  explicit Scope(std::shared_ptr<State> root, std::string path);
  void reserve(const std::string& name, const std::string& collection, const Loc& loc);
  std::shared_ptr<State> root_;
  std::string path_;
  std::vector<std::string> rng_suffix_;  // names from the root, for rng derivation
  std::map<std::string, int> child_counts_;
  // Per class, the call sites of its auto-named children, in creation order (see child()).
  std::map<std::string, std::vector<Loc>> child_sites_;
  std::map<std::string, int> rng_counts_;
  std::vector<std::unique_ptr<Scope>> children_;
};

// A handle on one variable of a scope (Flax's Variable): value() reads what the variables hold
// now, set_value() writes it — only when its collection is mutable (ValueError naming the
// collection and the path otherwise), and only with the shape and dtype it was declared with.
class Variable {
 public:
  Array value() const;
  void set_value(const Array& value, Loc loc = Loc::current());
  const std::string& collection() const { return collection_; }
  const std::string& name() const { return name_; }
  // "batch_stats/BatchNorm_0/mean".
  std::string path() const;

 private:
  friend class Scope;
  Variable(std::shared_ptr<Scope::State> root, std::vector<std::string> scope_path,
           std::string collection, std::string name, Shape shape, DType dtype)
      : root_(std::move(root)),
        scope_path_(std::move(scope_path)),
        collection_(std::move(collection)),
        name_(std::move(name)),
        shape_(shape),
        dtype_(dtype) {}
  std::shared_ptr<Scope::State> root_;
  std::vector<std::string> scope_path_;
  std::string collection_;
  std::string name_;
  Shape shape_;
  DType dtype_;
};

// How init()/apply() run a module in the root scope: a built-in layer (nn::Dense, nn::Conv, ...)
// defines in_scope(Scope& own, inputs...) — its body, run in the scope given — beside
// operator()(Scope& parent, inputs...), which runs it in a child scope `Dense_<n>`. At the root it
// runs in_scope, so `nn::Dense({.features = 2}).init(key, x)` is {"params": {"kernel", "bias"}},
// with the root's rngs, as Flax's nn.Dense(2).init(key, x). A user's module is its operator().
template <class M, class... Inputs>
decltype(auto) run_at_root(const M& m, Scope& s, const Inputs&... inputs) {
  if constexpr (requires { m.in_scope(s, inputs...); })
    return m.in_scope(s, inputs...);
  else
    return m(s, inputs...);
}

// CRTP base giving a module init() and apply(). Derived defines operator()(Scope&, Inputs...).
template <class Derived>
struct Module {
  // Flax's model.init(rng, inputs...): every collection the module creates.
  template <class... Inputs>
  Tree init(const Array& rng, const Inputs&... inputs) const {
    Scope s = Scope::for_init(rng);
    (void)run_at_root(static_cast<const Derived&>(*this), s, inputs...);
    return s.variables();
  }
  // Flax's model.init({"params": k1, "dropout": k2}, inputs...).
  template <class... Inputs>
  Tree init_with(const Rngs& rngs, const Inputs&... inputs) const {
    Scope s = Scope::for_init(rngs);
    (void)run_at_root(static_cast<const Derived&>(*this), s, inputs...);
    return s.variables();
  }
  // Flax's model.apply(variables, inputs...): no rngs, nothing mutable.
  template <class... Inputs>
  auto apply(const Tree& variables, const Inputs&... inputs) const {
    Scope s = Scope::for_apply(variables);
    return run_at_root(static_cast<const Derived&>(*this), s, inputs...);
  }
  // Flax's model.apply(variables, inputs..., rngs=..., mutable=[...]) -> (output, the mutable
  // collections after the call, e.g. {"batch_stats": {...}}).
  template <class... Inputs>
  auto apply_with(const ApplyOptions& options, const Tree& variables,
                  const Inputs&... inputs) const {
    Scope s = Scope::for_apply(variables, options);
    auto out = run_at_root(static_cast<const Derived&>(*this), s, inputs...);
    return std::make_pair(std::move(out), s.mutable_variables());
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

// flax.linen.Dense: y = x · kernel + bias, kernel (in, out), bias (out,). Also a module of its
// own: `nn::Dense({.features = 2}).init(key, x)` (see run_at_root).
struct Dense : Module<Dense> {
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
  // In a child scope of `scope`, Dense_<n> (or options.name).
  Array operator()(Scope& scope, const Array& x, Loc loc = Loc::current()) const;
  // In `own` itself (the root, for init/apply).
  Array in_scope(Scope& own, const Array& x, Loc loc = Loc::current()) const;
};

// Keeps the leading (batch) axis and merges the rest: (N, d1, d2, ...) -> (N, d1·d2·...), as
// `x.reshape((x.shape[0], -1))` in Flax examples. ShapeError for a 0-d input.
Array flatten(const Array& x, Loc loc = Loc::current());

}  // namespace kiln::nn
