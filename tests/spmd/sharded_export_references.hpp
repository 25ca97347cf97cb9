// JAX's own StableHLO text for partitioned programs: tests/spmd/data/sharded_export.txt, made by
// tests/spmd/make_sharded_export_references.py (the reference lane regenerates and compares it).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

namespace kiln::testing {

// The text JAX wrote for `key` ("layout 2x4 a,b P('b',) 2", "data_parallel.main", ...); a test
// failure naming the key when the file lacks it.
inline std::string jax_export_text(const std::string& key) {
  static const std::map<std::string, std::string> texts = [] {
    std::map<std::string, std::string> m;
    std::ifstream in(std::string(KILN_SOURCE_DIR) + "/tests/spmd/data/sharded_export.txt");
    for (std::string line; std::getline(in, line);) {
      const size_t tab = line.find('\t');
      if (tab != std::string::npos) m[line.substr(0, tab)] = line.substr(tab + 1);
    }
    return m;
  }();
  const auto it = texts.find(key);
  if (it == texts.end()) {
    ADD_FAILURE() << "tests/spmd/data/sharded_export.txt has no '" << key << "'";
    return "";
  }
  return it->second;
}

}  // namespace kiln::testing
