// nn::Scope: parameter creation (init) and lookup (apply), with Flax's names and rngs.
//
// Flax facts followed here (flax/core/scope.py, flax/linen/module.py):
//  - init binds one rng stream, 'params'; every scope keeps its own call counter per stream,
//    starting at 0 and incremented *before* use, so a scope's first key has count 1;
//  - make_rng(stream) for a stream that was not given falls back to 'params' (and to its counter);
//  - a child scope's rng is its parent's LazyRng with the child's name appended to the suffix; a
//  key
//    is fold_in(stream key, SHA-1 of suffix + (count,)) — see fold_in_static.hpp;
//  - param(name) in init calls the initializer with make_rng('params'), so Dense_0's kernel gets
//    suffix ("Dense_0", 1) and its bias ("Dense_0", 2);
//  - a module's variables dict appears in its parent's the first time it stores a variable, so
//    dicts are in creation order and a submodule without parameters leaves no entry;
//  - names are reserved per scope: a second child or parameter of the same name is an error
//    ("Duplicate use of scope name"); auto names are `Class_<n>`, n counting per class in the
//    parent and not advanced by explicitly named children.
#include <set>

#include "kiln/nn.hpp"
#include "kiln/random.hpp"
#include "nn/fold_in_static.hpp"

namespace kiln::nn {

namespace {

std::string type_str(DType dtype, const Shape& shape) {
  return std::string(short_name(dtype)) + "[" + shape.dims_str() + "]";
}

std::string join_path(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "/" + b;
}

// "scope \"a/b\"", or "the root scope" for the empty path.
std::string scope_name(const std::string& path) {
  return path.empty() ? "the root scope" : "scope \"" + path + "\"";
}

std::string keys_of(const Tree& t) {
  if (!t.is_dict()) return "(not a dict)";
  std::string out = "[";
  for (const auto& [k, v] : t.items()) out += (out.size() > 1 ? ", " : "") + k;
  return out + "]";
}

}  // namespace

struct Scope::State {
  bool initializing = false;
  Array rng;       // init: the 'params' stream key
  Tree variables;  // init: built here; apply: as given
  // "path/name" of every child scope and parameter made so far (Flax's reservations).
  std::set<std::string> reserved;
};

Scope Scope::for_init(const Array& rng) {
  if (rng.empty() || rng.dtype() != uint32 || rng.shape() != Shape{2})
    throw ValueError(
        "nn init: the rng must be a key, uint32[2] as kiln::random::key makes it; got " +
        (rng.empty() ? std::string("an empty array") : type_str(rng.dtype(), rng.shape())));
  auto state = std::make_shared<State>();
  state->initializing = true;
  state->rng = rng;
  state->variables = Tree::dict();
  return Scope(std::move(state), "");
}

Scope Scope::for_apply(const Tree& variables) {
  auto state = std::make_shared<State>();
  state->initializing = false;
  state->variables = variables;
  return Scope(std::move(state), "");
}

Scope::Scope(std::shared_ptr<State> root, std::string path)
    : root_(std::move(root)), path_(std::move(path)) {}
Scope::Scope(Scope&&) noexcept = default;
Scope& Scope::operator=(Scope&&) noexcept = default;
Scope::~Scope() = default;

bool Scope::is_initializing() const {
  return root_->initializing;
}
const std::string& Scope::path() const {
  return path_;
}
Tree Scope::variables() const {
  return root_->variables;
}

Scope& Scope::child(const std::string& class_name, const std::optional<std::string>& name) {
  std::string n;
  if (name) {
    if (name->empty() || name->find('/') != std::string::npos)
      throw ValueError("nn: a module name must be non-empty and without '/', got \"" + *name +
                       "\" (in " + scope_name(path_) + ")");
    n = *name;
  } else {
    n = class_name + "_" + std::to_string(child_counts_[class_name]++);
  }
  const std::string full = join_path(path_, n);
  if (!root_->reserved.insert(full).second)
    throw ValueError("nn: duplicate use of the name \"" + n + "\" in " + scope_name(path_) +
                     " (a submodule or parameter already has it); give the module another name");
  auto c = std::unique_ptr<Scope>(new Scope(root_, full));
  c->rng_suffix_ = rng_suffix_;
  c->rng_suffix_.push_back(n);
  children_.push_back(std::move(c));
  return *children_.back();
}

Array Scope::make_rng(const std::string& stream) {
  if (!root_->initializing)
    throw ValueError("nn: make_rng(\"" + stream + "\") in " + scope_name(path_) +
                     " during apply, which has no rng streams; draw the randomness outside the "
                     "module and pass "
                     "it in");
  // Only 'params' is bound, so every stream falls back to it and to its counter (Flax's make_rng).
  const int count = ++rng_counts_["params"];
  return random::fold_in(root_->rng,
                         detail::static_fold_data(rng_suffix_, static_cast<uint64_t>(count)));
}

Array Scope::param(const std::string& name, const Initializer& init, const Shape& shape,
                   DType dtype, Loc loc) {
  const std::string full = join_path(path_, name);
  const std::string where = "params/" + full;
  if (name.empty() || name.find('/') != std::string::npos)
    throw ValueError(message(
        "nn: a parameter name must be non-empty and without '/', got \"" + name + "\"", loc));
  if (!root_->reserved.insert(full).second)
    throw ValueError(message(
        "nn: duplicate parameter " + where + " (a submodule or parameter already has the name)",
        loc, "give it another name"));

  if (root_->initializing) {
    if (!init) throw ValueError(message("nn: no initializer for parameter " + where, loc));
    Array value = init(make_rng("params"), shape, dtype);
    if (value.empty() || value.shape() != shape || value.dtype() != dtype)
      throw ShapeError(
          message("nn: the initializer of " + where + " returned " +
                      (value.empty() ? std::string("an empty array")
                                     : type_str(value.dtype(), value.shape())) +
                      ", but the parameter is " + type_str(dtype, shape),
                  loc, "an initializer must return exactly the shape and dtype it is given"));
    // Store it, creating this scope's dicts on first use (Flax's _mutable_collection).
    Tree* node = &root_->variables["params"];
    for (const std::string& s : rng_suffix_) node = &(*node)[s];
    (*node)[name] = Tree(value);
    return value;
  }

  // apply: find it, then check it against what the module declares.
  const Tree& vars = root_->variables;
  if (!vars.is_dict() || !vars.contains("params"))
    throw ValueError(message(
        "nn: parameter " + where + " not found: the variables have no \"params\" entry (keys " +
            keys_of(vars) + ")",
        loc, "apply takes the whole variables tree {\"params\": {...}} that init returns"));
  const Tree* node = &vars["params"];
  std::string at = "params";
  for (size_t i = 0; i <= rng_suffix_.size(); ++i) {
    const std::string& key = i < rng_suffix_.size() ? rng_suffix_[i] : name;
    if (!node->is_dict() || !node->contains(key)) {
      std::string hint = "were the variables made by init of this module?";
      if (i == 0 && node->is_dict() && node->contains("params"))
        hint =
            "the variables hold {\"params\": {\"params\": ...}}: pass the tree init returned, not "
            "wrapped again";
      throw ValueError(message("nn: parameter " + where + " not found: " + at + " has no \"" + key +
                                   "\" (keys " + keys_of(*node) + ")",
                               loc, hint));
    }
    node = &(*node)[key];
    at += "/" + key;
  }
  if (!node->is_leaf())
    throw ValueError(
        message("nn: parameter " + where + " is a subtree in the variables, not an array", loc));
  const Array& value = node->leaf();
  if (value.shape() != shape)
    throw ShapeError(message("nn: parameter " + where +
                                 " has the wrong shape: the module expects " +
                                 type_str(dtype, shape) + ", the variables hold " +
                                 type_str(value.dtype(), value.shape()),
                             loc,
                             "the module's options (features, input size) must match those the "
                             "variables were made with"));
  if (value.dtype() != dtype)
    throw DTypeError(
        message("nn: parameter " + where + " has the wrong dtype: the module expects " +
                    type_str(dtype, shape) + ", the variables hold " +
                    type_str(value.dtype(), value.shape()),
                loc, "set the module's param_dtype to match, or convert the variables"));
  return value;
}

}  // namespace kiln::nn
