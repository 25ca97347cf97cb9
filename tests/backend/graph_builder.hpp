// Builds an ir::Graph node by node with the types written out, for the backends' tests. Each
// output() runs Graph::verify, so a graph a test writes by hand is one the type rules accept;
// a test of what a backend does with an ill-typed graph clears `verified` and says so.
#pragma once

#include <gtest/gtest.h>

#include <source_location>
#include <vector>

#include "kiln/error.hpp"
#include "kiln/ir.hpp"

namespace kiln::testing {

struct GraphBuilder {
  ir::Graph g;
  bool verified = true;

  ir::ValueId param(DType t, Shape s) {
    ir::Attrs a;
    a.index = static_cast<int64_t>(g.inputs.size());
    ir::ValueId v = push(ir::Prim::parameter, {}, a, {t, s});
    g.inputs.push_back(v);
    return v;
  }
  ir::ValueId push(ir::Prim p, std::vector<ir::ValueId> in, ir::Attrs a, ir::ValueType t,
                   std::source_location loc = {}) {
    g.nodes.push_back(ir::Node{p, std::move(in), std::move(a), std::move(t), loc});
    return static_cast<ir::ValueId>(g.nodes.size() - 1);
  }
  ir::ValueId full(DType t, Shape s, double value) {
    ir::Attrs a;
    a.shape = s;
    a.dtype = t;
    a.value = Scalar::from_double(value, t);
    return push(ir::Prim::full, {}, a, {t, s});
  }
  ir::ValueId bcast(ir::ValueId x, Shape s, std::vector<int64_t> dims) {
    ir::Attrs a;
    a.shape = s;
    a.dims = std::move(dims);
    return push(ir::Prim::broadcast_in_dim, {x}, a, {g.nodes[x].type.dtype, s});
  }
  // Broadcasts x over the leading dims of s (x has s's trailing dims).
  ir::ValueId trailing(ir::ValueId x, Shape s) {
    const int r = g.nodes[x].type.shape.rank();
    std::vector<int64_t> dims;
    for (int k = 0; k < r; ++k) dims.push_back(s.rank() - r + k);
    return bcast(x, s, dims);
  }
  ir::ValueId unary(ir::Prim p, ir::ValueId x) { return push(p, {x}, {}, g.nodes[x].type); }
  ir::ValueId binary(ir::Prim p, ir::ValueId x, ir::ValueId y) {
    return push(p, {x, y}, {}, g.nodes[x].type);
  }
  ir::ValueId compare(ir::Prim p, ir::ValueId x, ir::ValueId y) {
    return push(p, {x, y}, {}, {DType::bool_, g.nodes[x].type.shape});
  }
  ir::ValueId select(ir::ValueId c, ir::ValueId x, ir::ValueId y) {
    return push(ir::Prim::select, {c, x, y}, {}, g.nodes[x].type);
  }
  // x [m, k] · w [k, n]: dot_general contracting x's dim 1 with w's dim 0.
  ir::ValueId matmul(ir::ValueId x, ir::ValueId w) {
    ir::Attrs a;
    a.dot.lhs_contract = {1};
    a.dot.rhs_contract = {0};
    const Shape& xs = g.nodes[x].type.shape;
    const Shape& ws = g.nodes[w].type.shape;
    return push(ir::Prim::dot_general, {x, w}, a, {g.nodes[x].type.dtype, Shape{xs[0], ws[1]}});
  }
  void output(ir::ValueId v) {
    g.outputs.push_back(v);
    if (!verified) return;
    try {
      g.verify();
    } catch (const Error& e) {
      ADD_FAILURE() << "a hand-built graph the type rules refuse: " << e.what();
    }
  }
};

}  // namespace kiln::testing
