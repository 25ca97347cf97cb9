// Implementation details of kiln/tree.hpp, which includes this header: what KILN_TREE's traits
// do, and what jit keeps to rebuild a function's outputs. Nothing here is kiln's API: it may
// change in any release (docs/decisions.md, "Public headers").
#pragma once

#include <optional>
#include <span>
#include <tuple>
#include <vector>

#include "kiln/tree.hpp"

namespace kiln::detail {

// What KILN_TREE's traits do, from a struct's data fields in declaration order (Flax's
// to_state_dict order).
template <class T>
struct StructTree {
  template <class Fields>
  static void flatten(const T& x, const Fields& fields, std::vector<Array>& leaves, size_t& h) {
    if constexpr (requires { x.tree_static_hash(); }) hash_combine(h, x.tree_static_hash());
    std::apply([&](const auto&... f) { (flatten_field(x, f, leaves, h), ...); }, fields);
  }
  template <class Fields>
  static T rebuild(const T& like, const Fields& fields, std::span<const Array>& leaves) {
    return rebuild_into(like, like, fields, leaves);
  }
  // `like` with its data fields emptied: the static fields alone. Rebuilding into a copy of it
  // instead of a copy of `like` skips copying every tree that the rebuild replaces anyway (jit
  // keeps one per output, see OutputTemplate).
  template <class Fields>
  static T hollow(const T& like, const Fields& fields) {
    T out = like;
    std::apply([&](const auto&... f) { ((out.*(f.member) = {}), ...); }, fields);
    return out;
  }
  // `out` (static fields) with each data field rebuilt in the structure of `like`'s.
  template <class Fields>
  static T rebuild_into(T out, const T& like, const Fields& fields,
                        std::span<const Array>& leaves) {
    std::apply([&](const auto&... f) { (rebuild_field(out, like, f, leaves), ...); }, fields);
    return out;
  }
  // The struct as a dict tree {field: subtree}, as Flax's to_state_dict makes it.
  template <class Fields>
  static Tree to_tree(const T& x, const Fields& fields) {
    Tree t = Tree::dict();
    std::apply([&](const auto&... f) { ((t.entry(f.name) = to_tree_value(x.*(f.member))), ...); },
               fields);
    return t;
  }

 private:
  template <class F>
  static void flatten_field(const T& x, const F& f, std::vector<Array>& leaves, size_t& h) {
    using M = std::remove_cvref_t<decltype(x.*(f.member))>;
    tree_traits<M>::flatten(x.*(f.member), leaves, h);
  }
  template <class F>
  static void rebuild_field(T& out, const T& like, const F& f, std::span<const Array>& leaves) {
    using M = std::remove_cvref_t<decltype(like.*(f.member))>;
    out.*(f.member) = tree_traits<M>::rebuild(like.*(f.member), leaves);
  }
  template <class M>
  static Tree to_tree_value(const M& m) {
    if constexpr (std::is_same_v<M, Tree> || std::is_same_v<M, Array>) {
      return Tree(m);
    } else {
      return tree_traits<M>::to_tree(m);
    }
  }
};

// What jit keeps to rebuild a function's output on every call: the first traced output (its
// structure) and, for KILN_TREE structs, a copy holding only the static fields — rebuilding into a
// copy of that costs the static fields, not a deep copy of every tree that is then replaced.
template <class T>
struct OutputTemplate {
  static constexpr bool kHollow = requires { tree_traits<T>::fields(); };

  explicit OutputTemplate(T traced) : like(std::move(traced)) {
    if constexpr (kHollow) hollow = StructTree<T>::hollow(like, tree_traits<T>::fields());
  }
  T rebuild(std::span<const Array>& leaves) const {
    if constexpr (kHollow)
      return StructTree<T>::rebuild_into(*hollow, like, tree_traits<T>::fields(), leaves);
    else
      return tree_traits<T>::rebuild(like, leaves);
  }

  T like;
  std::optional<T> hollow;  // kHollow types only
};

}  // namespace kiln::detail
