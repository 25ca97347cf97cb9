// Tree's dict access as Python's dict: reading a missing key is a KeyError that names the key, the
// keys present and the user's line, and inserts nothing; entry() is the one way to add a key.
#include <gtest/gtest.h>

#include <string>

#include "kiln/ops.hpp"
#include "kiln/tree.hpp"

namespace kiln {
namespace {

TEST(TreeKey, AMisspeltKeyIsAKeyErrorNamingItTheKeysAndTheLine) {
  Tree vars = Tree::dict({{"params", Tree::dict({{"w", zeros({2})}})}});
  const int line = __LINE__ + 2;
  try {
    (void)vars["parms"];  // non-const: no insertion either
    FAIL() << "expected a KeyError";
  } catch (const KeyError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("key 'parms' not in the tree"), std::string::npos) << what;
    EXPECT_NE(what.find("keys present: 'params'"), std::string::npos) << what;
    EXPECT_NE(what.find("tree_key_test.cpp:" + std::to_string(line)), std::string::npos) << what;
    EXPECT_NE(what.find("tree.entry(\"parms\") = value"), std::string::npos) << what;
  }
  EXPECT_EQ(vars.size(), 1u);
  EXPECT_FALSE(vars.contains("parms"));
  const Tree& c = vars;
  EXPECT_THROW((void)c["params"]["b"], KeyError);
  EXPECT_THROW((void)c["params"]["w"]["x"], KeyError);  // a leaf has no keys
}

TEST(TreeKey, EntryAddsAKeyAndOperatorIndexReplacesAnExistingOne) {
  Tree t;
  t.entry("a").entry("b") = ones({1});
  EXPECT_TRUE(t["a"]["b"].is_leaf());
  t["a"]["b"] = zeros({3});
  EXPECT_EQ(t["a"]["b"].leaf().size(), 3);
  t.entry("a").entry("c") = zeros({1});  // entry on an existing key returns it
  EXPECT_EQ(t["a"].size(), 2u);
  EXPECT_THROW(t["z"] = ones({1}), KeyError);
}

}  // namespace
}  // namespace kiln
