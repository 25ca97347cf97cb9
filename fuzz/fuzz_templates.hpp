// The fixed templates flax_from_bytes_fuzzer restores against, shared with make_seed_corpus so the
// seeds are valid files for them: a small Flax params tree and a TrainState-like tree (step,
// params, optax-layout Adam state), with leaves of every dtype kiln stores.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/tree.hpp"

namespace kiln_fuzz {

// A deterministic array: element bytes 0, 1, 2, ... (any bit pattern is a valid element).
inline kiln::Array patterned(kiln::DType dt, kiln::Shape shape, uint8_t start = 0) {
  std::vector<uint8_t> bytes(static_cast<size_t>(shape.numel()) * kiln::itemsize(dt));
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(start + i);
  if (dt == kiln::DType::bool_)
    for (auto& b : bytes) b &= 1;
  return kiln::Array::from_bytes(bytes.data(), bytes.size(), dt, shape);
}

// {"params": {"Dense_0": {"bias": f32[4], "kernel": f32[3,4]}, "Dense_1": {...}}}
inline kiln::Tree params_template() {
  using kiln::Tree;
  return Tree::dict(
      {{"params",
        Tree::dict({{"Dense_0", Tree::dict({{"bias", patterned(kiln::float32, {4})},
                                            {"kernel", patterned(kiln::float32, {3, 4}, 7)}})},
                    {"Dense_1", Tree::dict({{"bias", patterned(kiln::float32, {2})},
                                            {"kernel", patterned(kiln::float32, {4, 2}, 9)}})}})}});
}

// {"step": int32[], "params": ..., "opt_state": {"0": {"count", "mu", "nu"}, "1": {}},
//  "extra": every other dtype, a none, a list} — optax's Adam layout plus the dtypes kiln has.
inline kiln::Tree train_state_template() {
  using kiln::Tree;
  Tree params = params_template();
  Tree adam = Tree::dict({{"count", patterned(kiln::int32, {})}, {"mu", params}, {"nu", params}});
  return Tree::dict(
      {{"step", patterned(kiln::int32, {})},
       {"params", params},
       {"opt_state", Tree::list({adam, Tree::dict()})},
       {"extra", Tree::dict({{"bf16", patterned(kiln::bfloat16, {2, 2})},
                             {"f16", patterned(kiln::float16, {3})},
                             {"f64", patterned(kiln::float64, {})},
                             {"i8", patterned(kiln::int8, {5})},
                             {"i16", patterned(kiln::int16, {3})},
                             {"i64", patterned(kiln::int64, {})},
                             {"u8", patterned(kiln::uint8, {2, 0})},
                             {"u16", patterned(kiln::uint16, {2})},
                             {"u32", patterned(kiln::uint32, {1})},
                             {"u64", patterned(kiln::uint64, {2})},
                             {"c64", patterned(kiln::complex64, {2})},
                             {"flag", patterned(kiln::bool_, {})},
                             {"mask", patterned(kiln::bool_, {4})},
                             {"nothing", Tree()},
                             {"layers", Tree::list({patterned(kiln::float32, {1}), Tree()})}})}});
}

inline std::vector<kiln::Tree> templates() {
  return {params_template(), train_state_template()};
}

}  // namespace kiln_fuzz
