// nn::Scope: parameter creation (init) and lookup (apply), with Flax's names and rngs.
//
// Flax facts followed here (flax/core/scope.py, flax/linen/module.py):
//  - init(rng) binds one rng stream, 'params' (init with a dict binds several); every scope keeps
//    its own call counter per stream, starting at 0 and incremented *before* use, so a scope's
//    first key has count 1;
//  - make_rng(stream) for a stream that was not given falls back to 'params' (and to its counter),
//    and is InvalidRngError ("needs PRNG for ...") when 'params' was not given either;
//  - a child scope's rng is its parent's LazyRng with the child's name appended to the suffix; a
//    key is fold_in(stream key, SHA-1 of suffix + (count,)) — see fold_in_static.hpp;
//  - param(name) in init calls the initializer with make_rng('params'), so Dense_0's kernel gets
//    suffix ("Dense_0", 1) and its bias ("Dense_0", 2);
//  - a module's variables dict appears in its parent's the first time it stores a variable, so
//    dicts are in creation order and a submodule without parameters leaves no entry;
//  - names are reserved per scope: a second child or parameter of the same name is an error
//    ("Duplicate use of scope name"); with flax_relaxed_naming (the default) two *variables* of
//    different collections may share a name, a child may share none (Flax remembers only the
//    last collection a name was used in; kiln remembers all, so a name is never used twice in one
//    collection); auto names are `Class_<n>`,
//    n counting per class in the parent and not advanced by explicitly named children;
//  - init and apply are one mechanism: init is apply on empty variables with every collection
//    mutable. variable()/param() read what exists; a missing one is created (init_fn, or the
//    initializer on make_rng('params')) only when its collection is mutable, else it is an error
//    (ScopeCollectionNotFound / ScopeVariableNotFoundError); put_variable on an immutable
//    collection is ModifyScopeVariableError ("Cannot update variable ... because collection ...
//    is immutable");
//  - apply(..., mutable=[...]) returns (y, mutable_variables()): the mutable collections present
//    in the root, in their order.
#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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
  Rngs rngs;  // stream -> key
  BatchRows batch_rows;
  Tree variables;  // init: built here; apply: a copy of what was given, updated in place
  std::vector<std::string> mutable_collections;  // apply; init makes every collection mutable
  // "path/name" -> the uses of it so far: "" for a child scope, else a variable's collection
  // (Flax's reservations).
  std::map<std::string, std::vector<std::string>> reserved;

  bool is_mutable(const std::string& collection) const {
    return initializing || std::find(mutable_collections.begin(), mutable_collections.end(),
                                     collection) != mutable_collections.end();
  }
  // The stored variable, or null.
  const Tree* find(const std::string& collection, std::span<const std::string> scope_path,
                   const std::string& name) const {
    if (!variables.is_dict() || !variables.contains(collection)) return nullptr;
    const Tree* node = &variables[collection];
    for (const std::string& s : scope_path) {
      if (!node->is_dict() || !node->contains(s)) return nullptr;
      node = &(*node)[s];
    }
    if (!node->is_dict() || !node->contains(name)) return nullptr;
    return &(*node)[name];
  }
  // Stores a variable, creating its scope's dicts on first use (Flax's _mutable_collection).
  void put(const std::string& collection, std::span<const std::string> scope_path,
           const std::string& name, const Array& value) {
    Tree* node = &variables.entry(collection);
    for (const std::string& s : scope_path) node = &node->entry(s);
    node->entry(name) = Tree(value);
  }
};

namespace {

void check_rngs(const Rngs& rngs, const char* who) {
  for (const auto& [stream, key] : rngs) {
    if (key.empty() || key.dtype() != uint32 || key.shape() != Shape{2})
      throw ValueError(
          std::string("nn ") + who + ": the rng for stream \"" + stream +
          "\" must be a key, uint32[2] as kiln::random::key makes it; got " +
          (key.empty() ? std::string("an empty array") : type_str(key.dtype(), key.shape())));
  }
}

std::string path_of(const std::string& collection, std::span<const std::string> scope_path,
                    const std::string& name) {
  std::string out = collection;
  for (const std::string& s : scope_path) out += "/" + s;
  return out + "/" + name;
}

// Why `collection/path/name` is missing from `vars`: the first key that is not there, the keys
// that are, and a hint for the usual mistakes.
std::string not_found(const Tree& vars, const std::string& collection,
                      std::span<const std::string> scope_path, const std::string& name,
                      const std::string& kind, const Loc& loc, bool mutable_collection) {
  const std::string where = path_of(collection, scope_path, name);
  if (!vars.is_dict() || !vars.contains(collection)) {
    std::string hint = "apply takes the whole variables tree that init returns";
    if (collection != "params")
      hint += " (with its \"" + collection +
              "\"), or list the collection in ApplyOptions::mutable_collections to create it";
    else
      hint = "apply takes the whole variables tree {\"params\": {...}} that init returns";
    return message("nn: " + kind + " " + where + " not found: the variables have no \"" +
                       collection + "\" entry (keys " + keys_of(vars) + ")",
                   loc, hint);
  }
  const Tree* node = &vars[collection];
  std::string at = collection;
  for (size_t i = 0; i <= scope_path.size(); ++i) {
    const std::string& key = i < scope_path.size() ? scope_path[i] : name;
    if (!node->is_dict() || !node->contains(key)) {
      std::string hint = "were the variables made by init of this module?";
      if (i == 0 && node->is_dict() && node->contains(collection))
        hint = "the variables hold {\"" + collection + "\": {\"" + collection +
               "\": ...}}: pass the tree init returned, not wrapped again";
      else if (!mutable_collection && collection != "params")
        hint += " (a missing variable is created only when its collection is mutable)";
      return message("nn: " + kind + " " + where + " not found: " + at + " has no \"" + key +
                         "\" (keys " + keys_of(*node) + ")",
                     loc, hint);
    }
    node = &(*node)[key];
    at += "/" + key;
  }
  return message("nn: " + kind + " " + where + " not found", loc);
}

// Checks a stored value against what the module declares.
const Array& checked(const Tree& node, const std::string& where, const Shape& shape, DType dtype,
                     const Loc& loc, const char* kind) {
  if (!node.is_leaf())
    throw ValueError(message(
        "nn: " + std::string(kind) + " " + where + " is a subtree in the variables, not an array",
        loc));
  const Array& value = node.leaf();
  if (value.shape() != shape)
    throw ShapeError(message("nn: " + std::string(kind) + " " + where +
                                 " has the wrong shape: the module expects " +
                                 type_str(dtype, shape) + ", the variables hold " +
                                 type_str(value.dtype(), value.shape()),
                             loc,
                             "the module's options (features, input size) must match those the "
                             "variables were made with"));
  if (value.dtype() != dtype)
    throw DTypeError(
        message("nn: " + std::string(kind) + " " + where +
                    " has the wrong dtype: the module expects " + type_str(dtype, shape) +
                    ", the variables hold " + type_str(value.dtype(), value.shape()),
                loc, "set the module's param_dtype to match, or convert the variables"));
  return value;
}

}  // namespace

Scope Scope::for_init(const Array& rng) {
  if (rng.empty() || rng.dtype() != uint32 || rng.shape() != Shape{2})
    throw ValueError(
        "nn init: the rng must be a key, uint32[2] as kiln::random::key makes it; got " +
        (rng.empty() ? std::string("an empty array") : type_str(rng.dtype(), rng.shape())));
  return for_init(Rngs{{"params", rng}});
}

Scope Scope::for_init(const Rngs& rngs) {
  check_rngs(rngs, "init");
  auto state = std::make_shared<State>();
  state->initializing = true;
  state->rngs = rngs;
  state->variables = Tree::dict();
  return Scope(std::move(state), "");
}

Scope Scope::for_apply(const Tree& variables, const ApplyOptions& options) {
  check_rngs(options.rngs, "apply");
  auto state = std::make_shared<State>();
  state->initializing = false;
  state->rngs = options.rngs;
  state->variables = variables;
  state->mutable_collections = options.mutable_collections;
  state->batch_rows = options.batch_rows;
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
bool Scope::is_mutable_collection(const std::string& collection) const {
  return root_->is_mutable(collection);
}
bool Scope::has_variable(const std::string& collection, const std::string& name) const {
  return root_->find(collection, rng_suffix_, name) != nullptr;
}
bool Scope::has_rng(const std::string& stream) const {
  return root_->rngs.contains(stream);
}
const BatchRows& Scope::batch_rows() const {
  return root_->batch_rows;
}
const std::string& Scope::path() const {
  return path_;
}
Tree Scope::variables() const {
  return root_->variables;
}
Tree Scope::mutable_variables() const {
  Tree out = Tree::dict();
  if (!root_->variables.is_dict()) return out;
  for (const auto& [collection, tree] : root_->variables.items())
    if (root_->is_mutable(collection)) out.entry(collection) = tree;
  return out;
}

// Flax's reserve(name, col) with flax_relaxed_naming: a name is taken unless both uses are
// variables of different collections. `collection` is empty for a child scope.
void Scope::reserve(const std::string& name, const std::string& collection, const Loc& loc) {
  std::vector<std::string>& uses = root_->reserved[join_path(path_, name)];
  const bool clash = std::any_of(uses.begin(), uses.end(), [&](const std::string& used) {
    return collection.empty() || used.empty() || used == collection;
  });
  if (!clash) {
    uses.push_back(collection);
    return;
  }
  const std::string what = collection.empty() ? "submodule" : "variable";
  throw ValueError(message("nn: duplicate use of the name \"" + name + "\" in " +
                               scope_name(path_) + " (a submodule or variable already has it)",
                           loc, "give the " + what + " another name"));
}

namespace {

// "file.cpp:12:30": two call sites on one line differ in their column only.
std::string site(const Loc& loc) {
  return describe(loc) + ":" + std::to_string(loc.column());
}

bool same_site(const Loc& a, const Loc& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         std::string_view(a.file_name()) == b.file_name();
}

// `later` ran after `earlier` but sits before it in the same function: the order of a call's
// arguments, which C++ leaves unspecified, decided which was created first.
bool before_in_same_function(const Loc& later, const Loc& earlier) {
  if (later.line() == 0 || earlier.line() == 0) return false;  // location unknown
  if (std::string_view(later.file_name()) != earlier.file_name() ||
      std::string_view(later.function_name()) != earlier.function_name())
    return false;
  return later.line() < earlier.line() ||
         (later.line() == earlier.line() && later.column() < earlier.column());
}

}  // namespace

Scope& Scope::child(const std::string& class_name, const std::optional<std::string>& name,
                    Loc loc) {
  std::string n;
  if (name) {
    if (name->empty() || name->find('/') != std::string::npos)
      throw ValueError(message("nn: a module name must be non-empty and without '/', got \"" +
                                   *name + "\" (in " + scope_name(path_) + ")",
                               loc));
    n = *name;
  } else {
    // Flax numbers in call order, which in Python is source order; here it is so unless the two
    // were built as arguments of one call (a loop that comes back to an earlier line has seen
    // that line before, and passes).
    std::vector<Loc>& sites = child_sites_[class_name];
    if (!sites.empty() && before_in_same_function(loc, sites.back()) &&
        std::none_of(sites.begin(), sites.end(), [&](const Loc& l) { return same_site(l, loc); }))
      throw ValueError(message(
          "nn: the " + class_name + " at " + site(loc) + " was created after the one at " +
              site(sites.back()) + " (" + class_name + "_" +
              std::to_string(child_counts_[class_name] - 1) + " in " + scope_name(path_) +
              ") although it comes first in the source: C++ leaves the order in which a call's "
              "arguments are evaluated unspecified (GCC goes right to left), so Flax, which "
              "numbers submodules in source order, would name these two the other way round",
          loc,
          "create them in separate statements (auto a = nn::" + class_name +
              "(...)(s, x); auto b = ...;), or give each a name (.name = \"" + class_name +
              "_0\")"));
    sites.push_back(loc);
    n = class_name + "_" + std::to_string(child_counts_[class_name]++);
  }
  reserve(n, "", loc);
  auto c = std::unique_ptr<Scope>(new Scope(root_, join_path(path_, n)));
  c->rng_suffix_ = rng_suffix_;
  c->rng_suffix_.push_back(n);
  children_.push_back(std::move(c));
  return *children_.back();
}

Array Scope::make_rng(const std::string& stream, Loc loc) {
  std::string bound = stream;
  if (!root_->rngs.contains(stream)) {
    if (!root_->rngs.contains("params")) {
      std::string given;
      for (const auto& [k, v] : root_->rngs) given += (given.empty() ? "\"" : ", \"") + k + "\"";
      const std::string how = root_->initializing
                                  ? "pass it to init: model.init_with({{\"params\", key}, {\"" +
                                        stream + "\", key2}}, ...)"
                                  : "pass it to apply: model.apply_with({.rngs = {{\"" + stream +
                                        "\", key}}}, variables, ...)";
      throw ValueError(message("nn: " + scope_name(path_) + " needs an rng for the \"" + stream +
                                   "\" stream, and none was given (rngs given: " +
                                   (given.empty() ? std::string("none") : given) + ")",
                               loc, how));
    }
    bound = "params";  // Flax's make_rng falls back to 'params' and to its counter
  }
  const int count = ++rng_counts_[bound];
  return random::fold_in(root_->rngs.at(bound),
                         detail::static_fold_data(rng_suffix_, static_cast<uint64_t>(count)), loc);
}

Array Scope::param(const std::string& name, const Initializer& init, const Shape& shape,
                   DType dtype, Loc loc) {
  const std::string where = path_of("params", rng_suffix_, name);
  if (name.empty() || name.find('/') != std::string::npos)
    throw ValueError(message(
        "nn: a parameter name must be non-empty and without '/', got \"" + name + "\"", loc));
  reserve(name, "params", loc);

  if (const Tree* node = root_->find("params", rng_suffix_, name))
    return checked(*node, where, shape, dtype, loc, "parameter");
  if (!root_->is_mutable("params")) {
    const Tree& vars = root_->variables;
    // {"params": {"params": ...}} is a common slip; name it before the generic message.
    throw ValueError(
        not_found(vars, "params", rng_suffix_, name, "parameter", loc, /*mutable=*/false));
  }
  if (!init) throw ValueError(message("nn: no initializer for parameter " + where, loc));
  Array value = init(make_rng("params", loc), shape, dtype);
  if (value.empty() || value.shape() != shape || value.dtype() != dtype)
    throw ShapeError(message("nn: the initializer of " + where + " returned " +
                                 (value.empty() ? std::string("an empty array")
                                                : type_str(value.dtype(), value.shape())) +
                                 ", but the parameter is " + type_str(dtype, shape),
                             loc,
                             "an initializer must return exactly the shape and dtype it is given"));
  root_->put("params", rng_suffix_, name, value);
  return value;
}

Variable Scope::variable(const std::string& collection, const std::string& name,
                         const VariableInit& init, const Shape& shape, DType dtype, Loc loc) {
  const std::string where = path_of(collection, rng_suffix_, name);
  if (collection.empty() || collection.find('/') != std::string::npos)
    throw ValueError(message(
        "nn: a collection name must be non-empty and without '/', got \"" + collection + "\"",
        loc));
  if (name.empty() || name.find('/') != std::string::npos)
    throw ValueError(message(
        "nn: a variable name must be non-empty and without '/', got \"" + name + "\"", loc));
  reserve(name, collection, loc);

  if (const Tree* node = root_->find(collection, rng_suffix_, name)) {
    (void)checked(*node, where, shape, dtype, loc, "variable");
  } else {
    const bool can_create = root_->is_mutable(collection);
    if (!can_create || !init)
      throw ValueError(
          not_found(root_->variables, collection, rng_suffix_, name, "variable", loc, can_create));
    Array value = init(shape, dtype);
    if (value.empty() || value.shape() != shape || value.dtype() != dtype)
      throw ShapeError(
          message("nn: the init function of " + where + " returned " +
                      (value.empty() ? std::string("an empty array")
                                     : type_str(value.dtype(), value.shape())) +
                      ", but the variable is " + type_str(dtype, shape),
                  loc, "an init function must return exactly the shape and dtype it is given"));
    root_->put(collection, rng_suffix_, name, value);
  }
  return Variable(root_, rng_suffix_, collection, name, shape, dtype);
}

std::string Variable::path() const {
  return path_of(collection_, scope_path_, name_);
}

Array Variable::value() const {
  const Tree* node = root_->find(collection_, scope_path_, name_);
  if (node == nullptr || !node->is_leaf())
    throw ValueError("nn: variable " + path() + " is no longer in its scope's variables");
  return node->leaf();
}

void Variable::set_value(const Array& value, Loc loc) {
  if (!root_->is_mutable(collection_))
    throw ValueError(message(
        "nn: cannot update variable " + path() + ": collection \"" + collection_ +
            "\" is immutable in this apply",
        loc,
        "make it mutable: model.apply_with({.mutable_collections = {\"" + collection_ +
            "\"}}, variables, ...), which returns the updated collection beside the output" +
            (collection_ == "batch_stats"
                 ? "; or evaluate with use_running_average = true, which does not update it"
                 : "")));
  if (value.empty() || value.shape() != shape_ || value.dtype() != dtype_)
    throw ShapeError(message("nn: variable " + path() + " is " + type_str(dtype_, shape_) +
                                 ", set_value got " +
                                 (value.empty() ? std::string("an empty array")
                                                : type_str(value.dtype(), value.shape())),
                             loc, "a variable keeps the shape and dtype it was created with"));
  root_->put(collection_, scope_path_, name_, value);
}

}  // namespace kiln::nn
