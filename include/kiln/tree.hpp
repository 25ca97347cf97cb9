// Pytrees: a leaf Array | an ordered dict with string keys | a list | none — and user structs that
// behave as trees through tree_traits (KILN_TREE).
//
// Dicts keep insertion order (a loaded checkpoint re-encodes to identical bytes). Flattening visits
// dict keys in sorted order and unflattening rebuilds sorted dicts, exactly as JAX does, so what
// comes out of a jitted step has `bias` before `kernel`, as Flax's files do.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "kiln/array.hpp"

namespace kiln {

// A dict key as Tree::operator[] takes it: the key and the user's source line, which a missing
// key's KeyError names.
struct TreeKey {
  TreeKey(const char* key, Loc loc = Loc::current()) : key(key), loc(loc) {}
  TreeKey(std::string_view key, Loc loc = Loc::current()) : key(key), loc(loc) {}
  TreeKey(const std::string& key, Loc loc = Loc::current()) : key(key), loc(loc) {}
  std::string_view key;
  Loc loc;
};

class Tree {
 public:
  using Dict = std::vector<std::pair<std::string, Tree>>;
  using List = std::vector<Tree>;
  enum class Kind : uint8_t { none, leaf, dict, list };

  Tree() = default;  // none
  Tree(Array leaf) : node_(std::move(leaf)) {}
  Tree(Dict d) : node_(std::move(d)) {}
  // Tree::dict({{"a", x}, {"b", y}}) and Tree::list({x, y}).
  static Tree dict(std::initializer_list<std::pair<std::string, Tree>> items = {});
  static Tree list(std::initializer_list<Tree> items = {});
  static Tree list(List items);

  Kind kind() const { return static_cast<Kind>(node_.index()); }
  bool is_none() const { return kind() == Kind::none; }
  bool is_leaf() const { return kind() == Kind::leaf; }
  bool is_dict() const { return kind() == Kind::dict; }
  bool is_list() const { return kind() == Kind::list; }

  // The leaf array (ValueError if this is not a leaf).
  const Array& leaf() const;
  // Dict entry. A missing key is a KeyError naming it, the keys present and the user's line: as
  // Python's dict, reading never inserts (`vars["parms"]` fails there and then).
  const Tree& operator[](TreeKey key) const;
  // The same, writable: replaces an entry that exists. To add one, use entry().
  Tree& operator[](TreeKey key);
  // Dict entry, inserted (as none, at the end) when missing; a none tree becomes a dict. The one
  // way to add a key: `t.entry("bias") = b` (Python's `t["bias"] = b`).
  Tree& entry(std::string_view key);
  const Tree& operator[](size_t i) const;
  Tree& operator[](size_t i);
  bool contains(std::string_view key) const;
  // Number of dict entries or list elements (0 for none, 1 for a leaf).
  size_t size() const;
  void push_back(Tree t);

  const Dict& items() const;
  Dict& items();
  const List& elements() const;
  List& elements();

  // Same structure: kinds, dict keys (order-insensitive, as JAX compares sorted keys) and lengths.
  bool same_structure(const Tree& o) const;
  // Exact equality: structure, key order and every leaf's dtype, shape and elements.
  bool equals(const Tree& o) const;
  // A readable multi-line rendering: keys and leaves as dtype[shape].
  std::string str() const;

 private:
  std::variant<std::monostate, Array, Dict, List> node_;
};

// The structure of a tree without its leaves: what jit keys its cache on and unflatten rebuilds.
class TreeDef {
 public:
  TreeDef() = default;
  explicit TreeDef(Tree skeleton);
  size_t num_leaves() const { return num_leaves_; }
  size_t hash() const { return hash_; }
  bool operator==(const TreeDef& o) const;
  const Tree& skeleton() const { return skeleton_; }

 private:
  Tree skeleton_;  // leaves are empty arrays; dicts are sorted
  size_t num_leaves_ = 0;
  size_t hash_ = 0;
};

// Leaves in JAX order (dict keys sorted).
std::vector<Array> leaves(const Tree& t);
std::pair<std::vector<Array>, TreeDef> flatten(const Tree& t);
// Rebuilds a tree (with sorted dicts) from leaves in flatten order; ValueError on a count mismatch.
Tree unflatten(const TreeDef& def, std::span<const Array> leaves);
// f applied to every leaf; structure (and dict order) kept.
Tree tree_map(const std::function<Array(const Array&)>& f, const Tree& t);
// f applied leafwise to two trees of the same structure (ValueError naming the first mismatch).
Tree tree_map(const std::function<Array(const Array&, const Array&)>& f, const Tree& a,
              const Tree& b);
// f applied leafwise to three trees of the same structure (an optimizer's updates, state, params).
Tree tree_map(const std::function<Array(const Array&, const Array&, const Array&)>& f,
              const Tree& a, const Tree& b, const Tree& c);

// ---- user types as trees ----
//
// tree_traits<T> says how a T flattens into arrays and how it is rebuilt from them:
//   static void flatten(const T&, std::vector<Array>& leaves, size_t& structure_hash);
//   static T rebuild(const T& like, std::span<const Array>& leaves);  // consumes its leaves
// Array, Tree, std::pair, std::tuple and std::vector have traits below; a struct gets them from
// KILN_TREE(Type, field, ...). Fields not named are static: they ride along from `like`, as JAX's
// aux data. A struct with `size_t tree_static_hash() const` makes its static fields part of jit's
// cache key.
template <class T>
struct tree_traits;

void hash_combine(size_t& seed, size_t v);

template <class T>
concept TreeLike = requires(const T& t, std::vector<Array>& v, size_t& h,
                            std::span<const Array>& s) {
  tree_traits<T>::flatten(t, v, h);
  { tree_traits<T>::rebuild(t, s) } -> std::same_as<T>;
};

template <>
struct tree_traits<Array> {
  static void flatten(const Array& a, std::vector<Array>& leaves, size_t& h) {
    leaves.push_back(a);
    hash_combine(h, 0x9e37);
  }
  static Array rebuild(const Array&, std::span<const Array>& leaves);
};

template <>
struct tree_traits<Tree> {
  static void flatten(const Tree& t, std::vector<Array>& leaves, size_t& h);
  static Tree rebuild(const Tree& like, std::span<const Array>& leaves);
};

template <class A, class B>
struct tree_traits<std::pair<A, B>> {
  static void flatten(const std::pair<A, B>& p, std::vector<Array>& leaves, size_t& h) {
    tree_traits<A>::flatten(p.first, leaves, h);
    tree_traits<B>::flatten(p.second, leaves, h);
  }
  static std::pair<A, B> rebuild(const std::pair<A, B>& like, std::span<const Array>& leaves) {
    A a = tree_traits<A>::rebuild(like.first, leaves);
    B b = tree_traits<B>::rebuild(like.second, leaves);
    return {std::move(a), std::move(b)};
  }
};

template <class... Ts>
struct tree_traits<std::tuple<Ts...>> {
  static void flatten(const std::tuple<Ts...>& t, std::vector<Array>& leaves, size_t& h) {
    std::apply([&](const Ts&... xs) { (tree_traits<Ts>::flatten(xs, leaves, h), ...); }, t);
  }
  static std::tuple<Ts...> rebuild(const std::tuple<Ts...>& like, std::span<const Array>& leaves) {
    return std::apply(
        [&](const Ts&... xs) { return std::tuple<Ts...>{tree_traits<Ts>::rebuild(xs, leaves)...}; },
        like);
  }
};

template <class T>
struct tree_traits<std::vector<T>> {
  static void flatten(const std::vector<T>& v, std::vector<Array>& leaves, size_t& h) {
    hash_combine(h, v.size());
    for (const auto& x : v) tree_traits<T>::flatten(x, leaves, h);
  }
  static std::vector<T> rebuild(const std::vector<T>& like, std::span<const Array>& leaves) {
    std::vector<T> out;
    out.reserve(like.size());
    for (const auto& x : like) out.push_back(tree_traits<T>::rebuild(x, leaves));
    return out;
  }
};

// A named data field of a struct declared with KILN_TREE.
template <class T, class M>
struct TreeField {
  const char* name;
  M T::*member;
};

// Flattens any TreeLike value.
template <TreeLike T>
std::vector<Array> tree_leaves(const T& x) {
  std::vector<Array> out;
  size_t h = 0;
  tree_traits<T>::flatten(x, out, h);
  return out;
}

}  // namespace kiln

#define KILN_TREE_FIELD_(Type, f)              \
  ::kiln::TreeField<Type, decltype(Type::f)> { \
#f, &Type::f                               \
  }
#define KILN_TREE_EXPAND_(x) x
#define KILN_TREE_F1_(T, a) KILN_TREE_FIELD_(T, a)
#define KILN_TREE_F2_(T, a, ...) \
  KILN_TREE_FIELD_(T, a), KILN_TREE_EXPAND_(KILN_TREE_F1_(T, __VA_ARGS__))
#define KILN_TREE_F3_(T, a, ...) \
  KILN_TREE_FIELD_(T, a), KILN_TREE_EXPAND_(KILN_TREE_F2_(T, __VA_ARGS__))
#define KILN_TREE_F4_(T, a, ...) \
  KILN_TREE_FIELD_(T, a), KILN_TREE_EXPAND_(KILN_TREE_F3_(T, __VA_ARGS__))
#define KILN_TREE_F5_(T, a, ...) \
  KILN_TREE_FIELD_(T, a), KILN_TREE_EXPAND_(KILN_TREE_F4_(T, __VA_ARGS__))
#define KILN_TREE_F6_(T, a, ...) \
  KILN_TREE_FIELD_(T, a), KILN_TREE_EXPAND_(KILN_TREE_F5_(T, __VA_ARGS__))
#define KILN_TREE_F7_(T, a, ...) \
  KILN_TREE_FIELD_(T, a), KILN_TREE_EXPAND_(KILN_TREE_F6_(T, __VA_ARGS__))
#define KILN_TREE_F8_(T, a, ...) \
  KILN_TREE_FIELD_(T, a), KILN_TREE_EXPAND_(KILN_TREE_F7_(T, __VA_ARGS__))
#define KILN_TREE_PICK_(_1, _2, _3, _4, _5, _6, _7, _8, NAME, ...) NAME

// Makes a struct a tree whose data fields are the ones named (up to 8), in that order:
//   struct TrainState { Array step; Tree params; Tree opt_state; ApplyFn apply_fn; };
//   KILN_TREE(TrainState, step, params, opt_state)   // at namespace scope
#define KILN_TREE(Type, ...)                                                                      \
  template <>                                                                                     \
  struct kiln::tree_traits<Type> {                                                                \
    static auto fields() {                                                                        \
      return std::make_tuple(KILN_TREE_EXPAND_(KILN_TREE_PICK_(                                   \
          __VA_ARGS__, KILN_TREE_F8_, KILN_TREE_F7_, KILN_TREE_F6_, KILN_TREE_F5_, KILN_TREE_F4_, \
          KILN_TREE_F3_, KILN_TREE_F2_, KILN_TREE_F1_)(Type, __VA_ARGS__)));                      \
    }                                                                                             \
    using Impl = ::kiln::detail::StructTree<Type>;                                                \
    static void flatten(const Type& x, std::vector<::kiln::Array>& leaves, size_t& h) {           \
      Impl::flatten(x, fields(), leaves, h);                                                      \
    }                                                                                             \
    static Type rebuild(const Type& like, std::span<const ::kiln::Array>& leaves) {               \
      return Impl::rebuild(like, fields(), leaves);                                               \
    }                                                                                             \
    static ::kiln::Tree to_tree(const Type& x) { return Impl::to_tree(x, fields()); }             \
  }

// KILN_TREE's implementation and jit's output templates: not the API.
#include "kiln/detail/struct_tree.hpp"  // IWYU pragma: export
