#include <gtest/gtest.h>

#include "kiln/jit.hpp"
#include "kiln/ops.hpp"
#include "kiln/tree.hpp"

namespace kiln {
namespace {

std::vector<std::string> keys(const Tree& t) {
  std::vector<std::string> k;
  for (const auto& [key, v] : t.items()) k.push_back(key);
  return k;
}

TEST(Tree, DictsKeepInsertionOrderButFlattenSorted) {
  Tree t = Tree::dict({{"kernel", full({2}, 1.0)}, {"bias", full({1}, 2.0)}});
  EXPECT_EQ(keys(t), (std::vector<std::string>{"kernel", "bias"}));
  auto leaves = kiln::leaves(t);
  ASSERT_EQ(leaves.size(), 2u);
  EXPECT_EQ(leaves[0].shape(), Shape{1});  // bias first: JAX flattens dicts in sorted key order
  EXPECT_EQ(leaves[1].shape(), Shape{2});
}

TEST(Tree, UnflattenRebuildsSortedDicts) {
  Tree t = Tree::dict({{"z", Tree::list({ones({3}), Tree()})}, {"a", zeros({2, 2})}});
  auto [leaves, def] = flatten(t);
  EXPECT_EQ(def.num_leaves(), 2u);
  Tree back = unflatten(def, leaves);
  EXPECT_EQ(keys(back), (std::vector<std::string>{"a", "z"}));
  EXPECT_TRUE(back["z"][1].is_none());
  EXPECT_TRUE(back.same_structure(t));
  EXPECT_FALSE(back.equals(t));  // same structure, different key order
  EXPECT_THROW(unflatten(def, std::vector<Array>{leaves[0]}), ValueError);
}

TEST(Tree, StructureEqualityIgnoresKeyOrderButNotKeysOrKinds) {
  Tree a = Tree::dict({{"x", ones({1})}, {"y", ones({1})}});
  Tree b = Tree::dict({{"y", ones({1})}, {"x", ones({1})}});
  Tree c = Tree::dict({{"x", ones({1})}, {"w", ones({1})}});
  Tree d = Tree::dict({{"x", ones({1})}, {"y", Tree::list({ones({1})})}});
  EXPECT_TRUE(a.same_structure(b));
  EXPECT_FALSE(a.same_structure(c));
  EXPECT_FALSE(a.same_structure(d));
  EXPECT_EQ(flatten(a).second, flatten(b).second);
  EXPECT_FALSE(flatten(a).second == flatten(c).second);
}

TEST(Tree, TreeMapKeepsOrderAndReportsMismatchPath) {
  Tree a = Tree::dict({{"k", full({2}, 3.0)}, {"b", full({1}, 1.0)}});
  Tree doubled = tree_map([](const Array& x) { return x * 2.0; }, a);
  EXPECT_EQ(keys(doubled), (std::vector<std::string>{"k", "b"}));
  EXPECT_EQ(doubled["k"].leaf().to_vector<float>(), (std::vector<float>{6, 6}));
  Tree other = Tree::dict({{"k", full({2}, 1.0)}, {"b", Tree::list({ones({1})})}});
  try {
    tree_map([](const Array& x, const Array& y) { return x + y; }, a, other);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("./b"), std::string::npos) << e.what();
  }
}

TEST(Tree, MissingKeyListsThoseThatExist) {
  Tree a = Tree::dict({{"kernel", ones({1})}});
  try {
    (void)static_cast<const Tree&>(a)["bias"];
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'kernel'"), std::string::npos);
  }
}

struct State {
  Array step;
  Tree params;
  int static_tag = 7;  // not a data field: rides along from the template
};

}  // namespace
}  // namespace kiln

KILN_TREE(kiln::State, step, params);

namespace kiln {
namespace {

TEST(Tree, UserStructsFlattenTheirDataFieldsInDeclarationOrder) {
  State s{scalar(3, int32), Tree::dict({{"w", ones({2})}}), 11};
  auto leaves = tree_leaves(s);
  ASSERT_EQ(leaves.size(), 2u);
  EXPECT_EQ(leaves[0].dtype(), int32);
  Tree t = tree_traits<State>::to_tree(s);
  EXPECT_EQ(keys(t), (std::vector<std::string>{"step", "params"}));
  std::vector<Array> replaced = {scalar(4, int32), full({2}, 5.0)};
  std::span<const Array> it(replaced);
  State r = tree_traits<State>::rebuild(s, it);
  EXPECT_EQ(r.step.item<int32_t>(), 4);
  EXPECT_EQ(r.params["w"].leaf().to_vector<float>(), (std::vector<float>{5, 5}));
  EXPECT_EQ(r.static_tag, 11);
}

TEST(Tree, UserStructsPassThroughJit) {
  auto step = jit([](const State& s) {
    State next = s;
    next.step = s.step + 1;
    next.params = tree_map([](const Array& w) { return w * 0.5; }, s.params);
    return next;
  });
  State s{scalar(0, int32), Tree::dict({{"w", full({3}, 8.0)}}), 42};
  for (int i = 0; i < 3; ++i) s = step(s);
  EXPECT_EQ(s.step.item<int32_t>(), 3);
  EXPECT_EQ(s.params["w"].leaf().to_vector<float>(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(s.static_tag, 42);
  EXPECT_EQ(step.cache_size(), 1u);
}

}  // namespace
}  // namespace kiln
