#include "kiln/tree.hpp"

#include <algorithm>

#include "kiln/error.hpp"

namespace kiln {
namespace {

// Calls f on dict entries in JAX's flatten order: sorted by key. Dicts that came out of jit or grad
// are sorted already, so the common case walks them in place without sorting a copy.
template <class F>
void for_each_sorted(const Tree::Dict& d, F&& f) {
  bool sorted = true;
  for (size_t i = 1; sorted && i < d.size(); ++i) sorted = d[i - 1].first < d[i].first;
  if (sorted) {
    for (const auto& kv : d) f(kv);
    return;
  }
  std::vector<const std::pair<std::string, Tree>*> v;
  v.reserve(d.size());
  for (const auto& kv : d) v.push_back(&kv);
  std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (const auto* kv : v) f(*kv);
}

const char* kind_name(Tree::Kind k) {
  switch (k) {
    case Tree::Kind::none:
      return "none";
    case Tree::Kind::leaf:
      return "an array";
    case Tree::Kind::dict:
      return "a dict";
    case Tree::Kind::list:
      return "a list";
  }
  return "?";
}

void flatten_rec(const Tree& t, std::vector<Array>& leaves, size_t& h) {
  hash_combine(h, static_cast<size_t>(t.kind()) + 1);
  switch (t.kind()) {
    case Tree::Kind::none:
      return;
    case Tree::Kind::leaf:
      leaves.push_back(t.leaf());
      return;
    case Tree::Kind::dict:
      hash_combine(h, t.items().size());
      for_each_sorted(t.items(), [&](const auto& kv) {
        hash_combine(h, std::hash<std::string>{}(kv.first));
        flatten_rec(kv.second, leaves, h);
      });
      return;
    case Tree::Kind::list:
      hash_combine(h, t.elements().size());
      for (const auto& e : t.elements()) flatten_rec(e, leaves, h);
      return;
  }
}

Tree rebuild_rec(const Tree& like, std::span<const Array>& leaves) {
  switch (like.kind()) {
    case Tree::Kind::none:
      return Tree();
    case Tree::Kind::leaf: {
      if (leaves.empty()) throw ValueError("unflatten: fewer leaves than the tree structure needs");
      Array a = leaves.front();
      leaves = leaves.subspan(1);
      return Tree(std::move(a));
    }
    case Tree::Kind::dict: {
      Tree::Dict d;
      d.reserve(like.items().size());
      for_each_sorted(like.items(), [&](const auto& kv) {
        d.emplace_back(kv.first, rebuild_rec(kv.second, leaves));
      });
      return Tree(std::move(d));
    }
    case Tree::Kind::list: {
      Tree::List l;
      for (const auto& e : like.elements()) l.push_back(rebuild_rec(e, leaves));
      return Tree::list(std::move(l));
    }
  }
  return Tree();
}

// f applied leafwise to trees of one structure; the first tree's dict order is kept and the others
// are looked up by key (a tree that went through jit has sorted dicts, another may not).
Tree map_rec(const std::function<Array(std::span<const Array>)>& f,
             std::span<const Tree* const> trees, const std::string& path) {
  const Tree& a = *trees[0];
  for (size_t k = 1; k < trees.size(); ++k) {
    const Tree& b = *trees[k];
    if (a.kind() != b.kind())
      throw ValueError("tree_map: at " + path + " tree 1 has " + kind_name(a.kind()) +
                       " but tree " + std::to_string(k + 1) + " has " + kind_name(b.kind()));
    if ((a.is_dict() || a.is_list()) && a.size() != b.size())
      throw ValueError("tree_map: at " + path + " tree 1 has " + std::to_string(a.size()) +
                       (a.is_dict() ? " keys" : " elements") + " but tree " +
                       std::to_string(k + 1) + " has " + std::to_string(b.size()));
  }
  std::vector<const Tree*> sub(trees.size());
  switch (a.kind()) {
    case Tree::Kind::none:
      return Tree();
    case Tree::Kind::leaf: {
      std::vector<Array> xs;
      xs.reserve(trees.size());
      for (const Tree* t : trees) xs.push_back(t->leaf());
      return Tree(f(xs));
    }
    case Tree::Kind::dict: {
      Tree::Dict d;
      d.reserve(a.size());
      for (const auto& [key, v] : a.items()) {
        sub[0] = &v;
        for (size_t k = 1; k < trees.size(); ++k) {
          if (!trees[k]->contains(key))
            throw ValueError("tree_map: key '" + key + "' at " + path + " is missing in tree " +
                             std::to_string(k + 1));
          sub[k] = &(*trees[k])[key];
        }
        d.emplace_back(key, map_rec(f, sub, path + "/" + key));
      }
      return Tree(std::move(d));
    }
    case Tree::Kind::list: {
      Tree::List l;
      l.reserve(a.size());
      for (size_t i = 0; i < a.size(); ++i) {
        for (size_t k = 0; k < trees.size(); ++k) sub[k] = &trees[k]->elements()[i];
        l.push_back(map_rec(f, sub, path + "/" + std::to_string(i)));
      }
      return Tree::list(std::move(l));
    }
  }
  return Tree();
}

void str_rec(const Tree& t, int indent, std::string& out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  switch (t.kind()) {
    case Tree::Kind::none:
      out += "None";
      return;
    case Tree::Kind::leaf:
      out += std::string(short_name(t.leaf().dtype())) + "[" + t.leaf().shape().dims_str() + "]";
      return;
    case Tree::Kind::dict:
      out += "{";
      for (size_t i = 0; i < t.items().size(); ++i) {
        out += "\n" + pad + "  '" + t.items()[i].first + "': ";
        str_rec(t.items()[i].second, indent + 2, out);
        if (i + 1 < t.items().size()) out += ",";
      }
      out += t.items().empty() ? "}" : "\n" + pad + "}";
      return;
    case Tree::Kind::list:
      out += "[";
      for (size_t i = 0; i < t.elements().size(); ++i) {
        if (i) out += ", ";
        str_rec(t.elements()[i], indent, out);
      }
      out += "]";
      return;
  }
}

}  // namespace

void hash_combine(size_t& seed, size_t v) {
  seed ^= v + 0x9e3779b97f4a7c15ull + (seed << 6) + (seed >> 2);
}

Tree Tree::dict(std::initializer_list<std::pair<std::string, Tree>> items) {
  Tree t{Dict{}};
  for (const auto& [k, v] : items) t.entry(k) = v;
  return t;
}
Tree Tree::list(std::initializer_list<Tree> items) {
  return list(List(items));
}
Tree Tree::list(List items) {
  Tree t;
  t.node_ = std::move(items);
  return t;
}

const Array& Tree::leaf() const {
  if (!is_leaf())
    throw ValueError(std::string("Tree::leaf() on ") + kind_name(kind()) + ", not an array");
  return std::get<Array>(node_);
}

namespace {

[[noreturn]] void missing_key(const Tree& t, const TreeKey& key) {
  if (!t.is_dict())
    throw KeyError(message("key '" + std::string(key.key) + "' looked up in a tree that is " +
                               (t.is_none()   ? "none"
                                : t.is_leaf() ? "a leaf"
                                              : "a list") +
                               ", not a dict",
                           key.loc));
  std::string keys;
  for (const auto& [k, v] : t.items()) keys += (keys.empty() ? "'" : ", '") + k + "'";
  throw KeyError(message("key '" + std::string(key.key) +
                             "' not in the tree; keys present: " + (keys.empty() ? "none" : keys),
                         key.loc,
                         "check the key's spelling; to add a key, write tree.entry(\"" +
                             std::string(key.key) + "\") = value"));
}

}  // namespace

const Tree& Tree::operator[](TreeKey key) const {
  if (is_dict())
    for (const auto& [k, v] : items())
      if (k == key.key) return v;
  missing_key(*this, key);
}

Tree& Tree::operator[](TreeKey key) {
  if (is_dict())
    for (auto& [k, v] : items())
      if (k == key.key) return v;
  missing_key(*this, key);
}

Tree& Tree::entry(std::string_view key) {
  if (is_none()) node_ = Dict{};
  Dict& d = items();
  for (auto& [k, v] : d)
    if (k == key) return v;
  d.emplace_back(std::string(key), Tree());
  return d.back().second;
}

const Tree& Tree::operator[](size_t i) const {
  const List& l = elements();
  if (i >= l.size())
    throw ValueError("index " + std::to_string(i) + " out of range for a list of " +
                     std::to_string(l.size()));
  return l[i];
}
Tree& Tree::operator[](size_t i) {
  List& l = elements();
  if (i >= l.size())
    throw ValueError("index " + std::to_string(i) + " out of range for a list of " +
                     std::to_string(l.size()));
  return l[i];
}

bool Tree::contains(std::string_view key) const {
  if (!is_dict()) return false;
  for (const auto& [k, v] : items())
    if (k == key) return true;
  return false;
}

size_t Tree::size() const {
  switch (kind()) {
    case Kind::none:
      return 0;
    case Kind::leaf:
      return 1;
    case Kind::dict:
      return items().size();
    case Kind::list:
      return elements().size();
  }
  return 0;
}

void Tree::push_back(Tree t) {
  if (is_none()) node_ = List{};
  elements().push_back(std::move(t));
}

const Tree::Dict& Tree::items() const {
  if (!is_dict())
    throw ValueError(std::string("Tree::items() on ") + kind_name(kind()) + ", not a dict");
  return std::get<Dict>(node_);
}
Tree::Dict& Tree::items() {
  if (!is_dict())
    throw ValueError(std::string("Tree::items() on ") + kind_name(kind()) + ", not a dict");
  return std::get<Dict>(node_);
}
const Tree::List& Tree::elements() const {
  if (!is_list())
    throw ValueError(std::string("Tree::elements() on ") + kind_name(kind()) + ", not a list");
  return std::get<List>(node_);
}
Tree::List& Tree::elements() {
  if (!is_list())
    throw ValueError(std::string("Tree::elements() on ") + kind_name(kind()) + ", not a list");
  return std::get<List>(node_);
}

bool Tree::same_structure(const Tree& o) const {
  if (kind() != o.kind()) return false;
  switch (kind()) {
    case Kind::none:
    case Kind::leaf:
      return true;
    case Kind::dict: {
      if (items().size() != o.items().size()) return false;
      for (const auto& [k, v] : items())
        if (!o.contains(k) || !v.same_structure(o[k])) return false;
      return true;
    }
    case Kind::list: {
      if (elements().size() != o.elements().size()) return false;
      for (size_t i = 0; i < elements().size(); ++i)
        if (!elements()[i].same_structure(o.elements()[i])) return false;
      return true;
    }
  }
  return false;
}

bool Tree::equals(const Tree& o) const {
  if (kind() != o.kind()) return false;
  switch (kind()) {
    case Kind::none:
      return true;
    case Kind::leaf: {
      const Array &a = leaf(), &b = o.leaf();
      if (a.dtype() != b.dtype() || !(a.shape() == b.shape())) return false;
      size_t n = static_cast<size_t>(a.size()) * itemsize(a.dtype());
      std::vector<std::byte> x(n), y(n);
      a.copy_to_host(x.data(), a.dtype());
      b.copy_to_host(y.data(), b.dtype());
      return x == y;
    }
    case Kind::dict: {
      if (items().size() != o.items().size()) return false;
      for (size_t i = 0; i < items().size(); ++i)
        if (items()[i].first != o.items()[i].first ||
            !items()[i].second.equals(o.items()[i].second))
          return false;
      return true;
    }
    case Kind::list: {
      if (elements().size() != o.elements().size()) return false;
      for (size_t i = 0; i < elements().size(); ++i)
        if (!elements()[i].equals(o.elements()[i])) return false;
      return true;
    }
  }
  return false;
}

std::string Tree::str() const {
  std::string out;
  str_rec(*this, 0, out);
  return out;
}

TreeDef::TreeDef(Tree skeleton) : skeleton_(std::move(skeleton)) {
  std::vector<Array> leaves;
  flatten_rec(skeleton_, leaves, hash_);
  num_leaves_ = leaves.size();
}

bool TreeDef::operator==(const TreeDef& o) const {
  return hash_ == o.hash_ && num_leaves_ == o.num_leaves_ && skeleton_.same_structure(o.skeleton_);
}

std::vector<Array> leaves(const Tree& t) {
  std::vector<Array> out;
  size_t h = 0;
  flatten_rec(t, out, h);
  return out;
}

std::pair<std::vector<Array>, TreeDef> flatten(const Tree& t) {
  std::vector<Array> out = leaves(t);
  std::vector<Array> blanks(out.size());
  std::span<const Array> it(blanks);
  return {std::move(out), TreeDef(rebuild_rec(t, it))};
}

Tree unflatten(const TreeDef& def, std::span<const Array> leaves) {
  if (leaves.size() != def.num_leaves())
    throw ValueError("unflatten: " + std::to_string(leaves.size()) + " leaves for a tree of " +
                     std::to_string(def.num_leaves()));
  return rebuild_rec(def.skeleton(), leaves);
}

Tree tree_map(const std::function<Array(const Array&)>& f, const Tree& t) {
  const Tree* trees[] = {&t};
  return map_rec([&](std::span<const Array> x) { return f(x[0]); }, trees, ".");
}

Tree tree_map(const std::function<Array(const Array&, const Array&)>& f, const Tree& a,
              const Tree& b) {
  const Tree* trees[] = {&a, &b};
  return map_rec([&](std::span<const Array> x) { return f(x[0], x[1]); }, trees, ".");
}

Tree tree_map(const std::function<Array(const Array&, const Array&, const Array&)>& f,
              const Tree& a, const Tree& b, const Tree& c) {
  const Tree* trees[] = {&a, &b, &c};
  return map_rec([&](std::span<const Array> x) { return f(x[0], x[1], x[2]); }, trees, ".");
}

Array tree_traits<Array>::rebuild(const Array&, std::span<const Array>& leaves) {
  if (leaves.empty()) throw ValueError("tree rebuild: ran out of leaves");
  Array a = leaves.front();
  leaves = leaves.subspan(1);
  return a;
}

void tree_traits<Tree>::flatten(const Tree& t, std::vector<Array>& leaves, size_t& h) {
  flatten_rec(t, leaves, h);
}
Tree tree_traits<Tree>::rebuild(const Tree& like, std::span<const Array>& leaves) {
  return rebuild_rec(like, leaves);
}

}  // namespace kiln
