// libFuzzer target: flax.serialization.from_bytes as kiln does it (decode + restore against a
// template, checking keys, shapes and dtypes), on arbitrary bytes, against two fixed templates
// (fuzz_templates.hpp): a small Flax params tree and a TrainState-like tree.
//
// Properties:
//  1. from_bytes either returns a tree or throws kiln::Error; anything else is a bug.
//  2. A restored tree has the template's structure and every leaf the template's dtype and shape,
//     and it round-trips: from_bytes(templ, to_bytes(restored)) equals it exactly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "fuzz_templates.hpp"
#include "kiln/error.hpp"
#include "kiln/serialization.hpp"

namespace ks = kiln::serialization;

namespace {

// Template and result agree in structure, key order, dtypes and shapes (a none in the template
// may come back as an array: Flax returns the state unchanged there).
bool matches_template(const kiln::Tree& templ, const kiln::Tree& t) {
  using K = kiln::Tree::Kind;
  if (templ.kind() == K::none) return t.is_none() || t.is_leaf();
  if (templ.kind() != t.kind()) return false;
  switch (templ.kind()) {
    case K::none:
      return true;
    case K::leaf:
      return templ.leaf().dtype() == t.leaf().dtype() && templ.leaf().shape() == t.leaf().shape();
    case K::dict:
      if (templ.items().size() != t.items().size()) return false;
      for (size_t i = 0; i < templ.items().size(); ++i)
        if (templ.items()[i].first != t.items()[i].first ||
            !matches_template(templ.items()[i].second, t.items()[i].second))
          return false;
      return true;
    case K::list:
      if (templ.size() != t.size()) return false;
      for (size_t i = 0; i < templ.size(); ++i)
        if (!matches_template(templ.elements()[i], t.elements()[i])) return false;
      return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<kiln::Tree> kTemplates = kiln_fuzz::templates();
  const std::vector<uint8_t> input(data, data + size);
  for (size_t which = 0; which < kTemplates.size(); ++which) {
    const kiln::Tree& templ = kTemplates[which];
    kiln::Tree restored;
    try {
      restored = ks::from_bytes(templ, input, "<fuzz>");
    } catch (const kiln::Error&) {
      continue;  // refusing bad input with kiln::Error is the expected outcome
    }
    const std::string name = "template " + std::to_string(which) + ": ";
    if (!matches_template(templ, restored))
      kiln_fuzz::property_failed(name +
                                 "from_bytes returned a tree that does not match the template");
    std::vector<uint8_t> bytes;
    try {
      bytes = ks::to_bytes(restored);
    } catch (const kiln::Error& e) {
      kiln_fuzz::property_failed(name + "to_bytes refused a restored tree: " + e.what());
    }
    kiln::Tree again;
    try {
      again = ks::from_bytes(templ, bytes, "<re-encoded>");
    } catch (const kiln::Error& e) {
      kiln_fuzz::property_failed(name +
                                 "from_bytes refused to_bytes of a restored tree: " + e.what());
    }
    if (!again.equals(restored))
      kiln_fuzz::property_failed(name + "from_bytes(to_bytes(restored)) differs from restored");
  }
  return 0;
}
