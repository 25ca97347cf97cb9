// Runs a graph on kiln's cpu device, arrays in, arrays out: what the tests that import a program
// (tests/corpus, tests/reference) do with it.
#pragma once

#include <memory>
#include <vector>

#include "kiln/array.hpp"
#include "kiln/backend.hpp"
#include "kiln/device.hpp"
#include "kiln/ir.hpp"

namespace kiln::testing {

inline std::vector<Array> run_graph(const ir::Graph& g, const std::vector<Array>& inputs) {
  Backend* cpu = find_backend("cpu");
  const Device d = devices("cpu")[0];
  auto exe = cpu->compile(g, d);
  std::vector<Buffer*> in;
  for (const Array& a : inputs) in.push_back(a.buffer().get());
  std::vector<std::shared_ptr<Buffer>> out_bufs;
  std::vector<Buffer*> out;
  for (ir::ValueId v : g.outputs) {
    const ir::ValueType& t = g.type(v);
    out_bufs.push_back(cpu->allocate(static_cast<size_t>(t.shape.numel()) * itemsize(t.dtype), d));
    out.push_back(out_bufs.back().get());
  }
  exe->run(in, out);
  std::vector<Array> result;
  for (size_t i = 0; i < out_bufs.size(); ++i)
    result.push_back(
        Array::from_buffer(out_bufs[i], g.type(g.outputs[i]).dtype, g.type(g.outputs[i]).shape));
  return result;
}

}  // namespace kiln::testing
