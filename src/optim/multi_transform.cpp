// optax.multi_transform / optax.partition (optax/transforms/_combining.py) over optax.masked
// (transforms/_masking.py): each label's transformation sees the params and updates with the other
// labels' leaves replaced by MaskedNode — an empty NamedTuple, which Flax writes as {} and kiln
// holds as an empty dict — and its updates replace the leaves of its label.
// State PartitionState(inner_states={label: MaskedState(inner_state)}).
#include <memory>
#include <set>
#include <utility>

#include "kiln/optim.hpp"

namespace kiln::optim {
namespace {

// `t` with every leaf replaced by f(path, leaf); dict order kept.
Tree map_with_path(const Tree& t, const std::function<Tree(const std::string&, const Array&)>& f,
                   const std::string& path = "") {
  auto join = [&](const std::string& k) { return path.empty() ? k : path + "/" + k; };
  switch (t.kind()) {
    case Tree::Kind::leaf:
      return f(path, t.leaf());
    case Tree::Kind::dict: {
      Tree::Dict d;
      for (const auto& [k, v] : t.items()) d.emplace_back(k, map_with_path(v, f, join(k)));
      return Tree(std::move(d));
    }
    case Tree::Kind::list: {
      Tree::List l;
      for (size_t i = 0; i < t.size(); ++i)
        l.push_back(map_with_path(t[i], f, join(std::to_string(i))));
      return Tree::list(std::move(l));
    }
    case Tree::Kind::none:
      break;
  }
  return t;
}

// `base` with the leaves that are leaves in `from` (one label's updates, the others masked)
// replaced by them.
Tree take_label(const Tree& base, const Tree& from) {
  switch (base.kind()) {
    case Tree::Kind::leaf:
      return from.is_leaf() ? from : base;
    case Tree::Kind::dict: {
      Tree::Dict d;
      for (const auto& [k, v] : base.items()) d.emplace_back(k, take_label(v, from[k]));
      return Tree(std::move(d));
    }
    case Tree::Kind::list: {
      Tree::List l;
      for (size_t i = 0; i < base.size(); ++i) l.push_back(take_label(base[i], from[i]));
      return Tree::list(std::move(l));
    }
    case Tree::Kind::none:
      break;
  }
  return base;
}

}  // namespace

GradientTransformation multi_transform(std::map<std::string, GradientTransformation> transforms,
                                       std::function<std::string(const std::string& path)> label) {
  auto txs =
      std::make_shared<const std::map<std::string, GradientTransformation>>(std::move(transforms));
  auto label_of =
      std::make_shared<const std::function<std::string(const std::string&)>>(std::move(label));
  // The tree with only `group`'s leaves; the others are MaskedNode ({}).
  auto masked = [label_of](const Tree& t, const std::string& group) {
    if (t.is_none()) return t;
    return map_with_path(t, [&](const std::string& path, const Array& x) {
      return (*label_of)(path) == group ? Tree(x) : Tree::dict();
    });
  };
  auto check_labels = [txs, label_of](const Tree& params) {
    std::set<std::string> unknown;
    map_with_path(params, [&](const std::string& path, const Array& x) {
      if (!txs->contains((*label_of)(path))) unknown.insert(path + " -> " + (*label_of)(path));
      return Tree(x);
    });
    if (unknown.empty()) return;
    std::string listed, keys;
    for (const auto& u : unknown) listed += (listed.empty() ? "" : ", ") + u;
    for (const auto& [k, v] : *txs) keys += (keys.empty() ? "" : ", ") + k;
    throw ValueError("optim::multi_transform: some parameters have no transformation: " + listed +
                     "; the transformations are: " + keys);
  };
  GradientTransformation t;
  t.init = [txs, masked, check_labels](const Tree& params) {
    check_labels(params);
    Tree inner = Tree::dict();
    for (const auto& [group, tx] : *txs)
      inner.entry(group) = Tree::dict({{"inner_state", tx.init(masked(params, group))}});
    return Tree::dict({{"inner_states", std::move(inner)}});
  };
  t.update = [txs, masked, check_labels](const Tree& updates, const Tree& state,
                                         const Tree& params) {
    check_labels(updates);
    Tree out = updates;
    Tree inner = Tree::dict();
    for (const auto& [group, tx] : *txs) {
      auto [u, s] = tx.update(masked(updates, group), state["inner_states"][group]["inner_state"],
                              masked(params, group));
      out = take_label(out, u);
      inner.entry(group) = Tree::dict({{"inner_state", std::move(s)}});
    }
    return std::make_pair(std::move(out), Tree::dict({{"inner_states", std::move(inner)}}));
  };
  return t;
}

}  // namespace kiln::optim
