// What SPMD partitioning emits (src/spmd/partition.cpp): per-shard products and exactly the
// collectives a layout needs. Partitioning is graph work only, so these run on one device;
// sharded_jit_test.cpp runs the results on several.
#include <gtest/gtest.h>

#include <map>

#include "kiln/indexing.hpp"
#include "kiln/kiln.hpp"
#include "spmd/partition.hpp"

namespace kiln {
namespace {

using spmd::Layout;

Layout split(int rank, int dim, const std::string& axis) {
  Layout l = Layout::replicated(rank);
  l.dims[static_cast<size_t>(dim)] = {axis};
  return l;
}

std::map<std::string, int> collectives(const ir::Graph& g) {
  std::map<std::string, int> n;
  for (const ir::Node& node : g.nodes)
    if (ir::info(node.prim).kind == ir::PrimKind::collective) ++n[std::string(ir::name(node.prim))];
  return n;
}

ir::Graph lowered_matmul(const Shape& x, const Shape& w) {
  return jit([](const Array& a, const Array& b) { return matmul(a, b); })
      .lower(zeros(x), zeros(w))
      .graph();
}

TEST(Partition, RowsSplitAgainstReplicatedWeightsNeedNoCollective) {
  struct Mlp : nn::Module<Mlp> {
    Array operator()(nn::Scope& s, Array x) const {
      x = relu(nn::Dense({.features = 8})(s, x));
      return nn::Dense({.features = 8})(s, x);
    }
  } model;
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const ir::Graph g = jit([model](const Tree& p, const Array& x) { return model.apply(p, x); })
                          .lower(params, ones({8, 8}))
                          .graph();
  std::vector<Layout> in;
  for (ir::ValueId v : g.inputs) in.push_back(Layout::replicated(g.type(v).shape.rank()));
  in.back() = split(2, 0, "data");  // the input batch; parameters replicated
  const spmd::Partitioned p = spmd::partition(g, {{"data"}, {2}}, in, {split(2, 0, "data")});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.local.type(p.local.inputs.back()).shape, (Shape{4, 8}));
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{4, 8}));
}

TEST(Partition, FeatureSplitInputAgainstOutputSplitKernelGathersTheInputOnce) {
  const ir::Graph g = lowered_matmul({8, 8}, {8, 8});
  const spmd::Partitioned p = spmd::partition(
      g, {{"model"}, {2}}, {split(2, 1, "model"), split(2, 1, "model")}, {split(2, 1, "model")});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"all_gather", 1}})) << p.local.str();
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{8, 4}));
}

TEST(Partition, ContractedSplitIsOnePsum) {
  const ir::Graph g = lowered_matmul({8, 16}, {16, 8});
  const spmd::Partitioned p = spmd::partition(g, {{"i"}, {4}}, {split(2, 1, "i"), split(2, 0, "i")},
                                              {Layout::replicated(2)});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"psum", 1}})) << p.local.str();
  EXPECT_EQ(p.local.type(p.local.inputs[0]).shape, (Shape{8, 4}));
}

TEST(Partition, ReplicatedToSplitKeepsTheDevicesBlockWithoutGathering) {
  const ir::Graph g = jit([](const Array& a) { return a * 2.0; }).lower(zeros({8, 3})).graph();
  const spmd::Partitioned p =
      spmd::partition(g, {{"i"}, {4}}, {Layout::replicated(2)}, {split(2, 0, "i")});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"axis_index", 1}})) << p.local.str();
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{2, 3}));
}

TEST(Partition, SumOverASplitDimensionIsOnePsumAndMaxGathers) {
  const ir::Graph sum_rows =
      jit([](const Array& a) { return sum(a, Axes{0}); }).lower(zeros({8, 3})).graph();
  spmd::Partitioned p = spmd::partition(sum_rows, {{"i"}, {4}}, {split(2, 0, "i")}, {std::nullopt});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"psum", 1}})) << p.local.str();
  EXPECT_EQ(p.outputs[0], Layout::replicated(1));
  // Summing the kept dimension leaves rows split, with nothing to exchange.
  const ir::Graph sum_cols =
      jit([](const Array& a) { return sum(a, Axes{1}); }).lower(zeros({8, 3})).graph();
  p = spmd::partition(sum_cols, {{"i"}, {4}}, {split(2, 0, "i")}, {std::nullopt});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.outputs[0], split(1, 0, "i"));
  const ir::Graph max_rows =
      jit([](const Array& a) { return max(a, Axes{0}); }).lower(zeros({8, 3})).graph();
  p = spmd::partition(max_rows, {{"i"}, {4}}, {split(2, 0, "i")}, {std::nullopt});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"all_gather", 1}})) << p.local.str();
}

// The collectives the outputs need (spmd::Program runs only those).
std::map<std::string, int> live_collectives(const ir::Graph& g) {
  std::vector<bool> live(g.nodes.size(), false);
  for (ir::ValueId v : g.outputs) live[v] = true;
  for (size_t i = g.nodes.size(); i-- > 0;)
    if (live[i])
      for (ir::ValueId u : g.nodes[i].inputs) live[u] = true;
  std::map<std::string, int> n;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (live[i] && ir::info(g.nodes[i].prim).kind == ir::PrimKind::collective)
      ++n[std::string(ir::name(g.nodes[i].prim))];
  return n;
}

// Data-parallel training's gradient: per-device products over the device's rows, and one psum
// (the all-reduce) per parameter.
TEST(Partition, DataParallelGradientIsOnePsumPerParameter) {
  struct Mlp : nn::Module<Mlp> {
    Array operator()(nn::Scope& s, Array x) const {
      x = relu(nn::Dense({.features = 8})(s, x));
      return nn::Dense({.features = 8})(s, x);
    }
  } model;
  const Tree params = model.init(random::key(0), zeros({8, 8}));
  const ir::Graph g =
      jit([model](const Tree& p, const Array& x, const Array& y) {
        return grad([&](const Tree& q) { return mean(square(model.apply(q, x) - y)); })(p);
      })
          .lower(params, ones({8, 8}), ones({8, 8}))
          .graph();
  std::vector<Layout> in;
  for (ir::ValueId v : g.inputs) in.push_back(Layout::replicated(g.type(v).shape.rank()));
  in[in.size() - 2] = in[in.size() - 1] = split(2, 0, "data");
  std::vector<std::optional<Layout>> out;
  for (ir::ValueId v : g.outputs) out.push_back(Layout::replicated(g.type(v).shape.rank()));
  const spmd::Partitioned p = spmd::partition(g, {{"data"}, {2}}, in, out);
  EXPECT_EQ(live_collectives(p.local), (std::map<std::string, int>{{"psum", 4}})) << p.local.str();
}

// reshape keeps the split of a group's major-most dimension: flattening rows split keeps them
// split, and back; a split minor dimension is gathered.
TEST(Partition, ReshapeKeepsTheMajorMostSplit) {
  const ir::Graph flatten =
      jit([](const Array& a) { return reshape(a, {32}) * 2.0; }).lower(zeros({8, 4})).graph();
  spmd::Partitioned p = spmd::partition(flatten, {{"i"}, {4}}, {split(2, 0, "i")}, {std::nullopt});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.outputs[0], split(1, 0, "i"));
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{8}));
  const ir::Graph unflatten = jit([](const Array& a) {
                                return reshape(a, {2, 8, 2});
                              })
                                  .lower(zeros({32}))
                                  .graph();
  p = spmd::partition(unflatten, {{"i"}, {2}}, {split(1, 0, "i")}, {std::nullopt});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.outputs[0], split(3, 0, "i"));
  // (32,) over 4 devices into (2, 16): 4 does not divide the leading 2, so the value is gathered.
  const ir::Graph uneven = jit([](const Array& a) {
                             return reshape(a, {2, 16});
                           })
                               .lower(zeros({32}))
                               .graph();
  p = spmd::partition(uneven, {{"i"}, {4}}, {split(1, 0, "i")}, {std::nullopt});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"all_gather", 1}})) << p.local.str();
  // A split minor dimension of a merged group is gathered.
  p = spmd::partition(flatten, {{"i"}, {4}}, {split(2, 1, "i")}, {std::nullopt});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"all_gather", 1}})) << p.local.str();
  EXPECT_EQ(p.outputs[0], Layout::replicated(1));
}

// Convolution over a split batch is a convolution per shard; over a kernel split by output
// feature, one per block of features. Pooling and cumulative sums over other dimensions too.
TEST(Partition, ConvolutionAndPoolingOverASplitBatchNeedNoCollective) {
  const ir::Graph cnn =
      jit([](const Array& x, const Array& k) {
        const Array y = relu(conv_general_dilated(x, k, {.padding = {{1, 1}, {1, 1}}}));
        return cumsum(nn::max_pool(y, {2, 2}, {2, 2}) + nn::avg_pool(y, {2, 2}, {2, 2}), 3);
      })
          .lower(zeros({8, 6, 6, 3}), zeros({3, 3, 3, 4}))
          .graph();
  const Layout batch = split(4, 0, "i");
  spmd::Partitioned p =
      spmd::partition(cnn, {{"i"}, {4}}, {batch, Layout::replicated(4)}, {std::nullopt});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.outputs[0], batch);
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{2, 3, 3, 4}));
  // Output features split: the kernel's O dimension, the result's channels (cumsum runs along
  // them, so they are gathered once at the end).
  const ir::Graph conv =
      jit([](const Array& x, const Array& k) { return conv_general_dilated(x, k); })
          .lower(zeros({8, 6, 6, 3}), zeros({3, 3, 3, 4}))
          .graph();
  p = spmd::partition(conv, {{"i"}, {2}}, {Layout::replicated(4), split(4, 3, "i")},
                      {std::nullopt});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.outputs[0], split(4, 3, "i"));
  // A split spatial dimension is gathered (no halo exchange).
  p = spmd::partition(conv, {{"i"}, {2}}, {split(4, 1, "i"), Layout::replicated(4)},
                      {std::nullopt});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"all_gather", 1}})) << p.local.str();
  // Input features split on both sides: per-device partial sums, one psum.
  p = spmd::partition(conv, {{"i"}, {3}}, {split(4, 3, "i"), split(4, 2, "i")},
                      {Layout::replicated(4)});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"psum", 1}})) << p.local.str();
}

// A data-parallel CNN's gradient: every convolution, pooling and their transposes per shard —
// the kernel's gradient contracts the batch as the convolution's feature dimension, leaving
// partial sums — and one psum per parameter, no all_gather.
TEST(Partition, ConvolutionalGradientOverASplitBatchIsOnePsumPerParameter) {
  const ir::Graph g =
      jit([](const Array& x, const Array& k1, const Array& k2, const Array& y) {
        auto loss = [&](const Array& a, const Array& b) {
          Array h = relu(conv_general_dilated(x, a, {.padding = {{1, 1}, {1, 1}}}));
          h = nn::max_pool(h, {2, 2}, {2, 2});
          h = conv_general_dilated(h, b);  // (8, 1, 1, 2)
          return mean(square(reshape(h, {8, 2}) - y));
        };
        return std::vector<Array>{grad([&](const Array& a) { return loss(a, k2); })(k1),
                                  grad([&](const Array& b) { return loss(k1, b); })(k2)};
      })
          .lower(zeros({8, 6, 6, 3}), zeros({3, 3, 3, 4}), zeros({3, 3, 4, 2}), zeros({8, 2}))
          .graph();
  const Layout batch = split(4, 0, "i");
  const spmd::Partitioned p = spmd::partition(
      g, {{"i"}, {4}}, {batch, Layout::replicated(4), Layout::replicated(4), split(2, 0, "i")},
      {Layout::replicated(4), Layout::replicated(4)});
  EXPECT_EQ(live_collectives(p.local), (std::map<std::string, int>{{"psum", 2}})) << p.local.str();
}

// An embedding lookup with the token ids split: each device gathers its own rows from the whole
// table.
TEST(Partition, GatherOfSplitIndicesFromAWholeTableNeedsNoCollective) {
  const ir::Graph lookup =
      jit([](const Array& table, const Array& ids) { return take(table, ids, 0); })
          .lower(zeros({10, 4}), zeros({8, 3}, int32))
          .graph();
  const spmd::Partitioned p = spmd::partition(
      lookup, {{"i"}, {4}}, {Layout::replicated(2), split(2, 0, "i")}, {std::nullopt});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.outputs[0], split(3, 0, "i"));
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{2, 3, 4}));
}

// A dynamic slice (update) across the columns of a value split by rows: each device slices its
// rows; slicing the split dimension itself gathers it.
// The lookup's gradient: each device scatter-adds its rows' cotangents into zeros, and one psum
// adds the devices' tables (no all_gather of the cotangents). Into a table that is not zeros, the
// first device of the group adds it (a select by axis_index).
TEST(Partition, ScatterAddOfSplitUpdatesIsPartialSums) {
  const ir::Graph g =
      jit([](const Array& table, const Array& ids) {
        return grad([&](const Array& t) { return sum(square(take(t, ids, 0))); })(table);
      })
          .lower(zeros({10, 4}), zeros({8}, int32))
          .graph();
  spmd::Partitioned p = spmd::partition(g, {{"i"}, {4}}, {Layout::replicated(2), split(1, 0, "i")},
                                        {Layout::replicated(2)});
  EXPECT_EQ(live_collectives(p.local), (std::map<std::string, int>{{"psum", 1}})) << p.local.str();
  ir::GatherDims rows;  // table.at[ids].add(updates)
  rows.offset_dims = {1};
  rows.collapsed_slice_dims = {0};
  rows.start_index_map = {0};
  rows.index_vector_dim = 1;
  const ir::Graph add = jit([&](const Array& t, const Array& i, const Array& u) {
                          return scatter_add(t, reshape(i, {8, 1}), u, rows);
                        })
                            .lower(zeros({10, 4}), zeros({8}, int32), zeros({8, 4}))
                            .graph();
  p = spmd::partition(add, {{"i"}, {4}},
                      {Layout::replicated(2), split(1, 0, "i"), split(2, 0, "i")},
                      {Layout::replicated(2)});
  EXPECT_EQ(live_collectives(p.local), (std::map<std::string, int>{{"psum", 1}, {"axis_index", 1}}))
      << p.local.str();
}

TEST(Partition, DynamicSlicesAlongAWholeDimensionKeepTheSplit) {
  const ir::Graph g = jit([](const Array& x, const Array& i) {
                        const Array window = dynamic_slice_in_dim(x, i, 2, 1);  // (8, 2)
                        return dynamic_update_slice_in_dim(x, window * 2.0, i, 1);
                      })
                          .lower(zeros({8, 6}), zeros({}, int32))
                          .graph();
  spmd::Partitioned p =
      spmd::partition(g, {{"i"}, {4}}, {split(2, 0, "i"), Layout::replicated(0)}, {std::nullopt});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.outputs[0], split(2, 0, "i"));
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{2, 6}));
  p = spmd::partition(g, {{"i"}, {2}}, {split(2, 1, "i"), Layout::replicated(0)}, {std::nullopt});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"all_gather", 1}})) << p.local.str();
}

// A reshape keeps the split of leading dimensions it leaves as they are ([8, 3] -> [8, 3, 1]:
// the rows stay where they are); one whose result no device's block of rows makes ([8, 3] ->
// [3, 8]: 3 rows cannot be split over 4 devices, and each column mixes every block) gathers it
// first.
TEST(Partition, AReshapeKeepsTheSplitOfTheDimensionsItLeaves) {
  auto lowered = [](std::vector<int64_t> to) {
    return jit([to](const Array& x) { return reshape(x, to); }).lower(zeros({8, 3})).graph();
  };
  spmd::Partitioned p =
      spmd::partition(lowered({8, 3, 1}), {{"i"}, {4}}, {split(2, 0, "i")}, {std::nullopt});
  EXPECT_TRUE(collectives(p.local).empty()) << p.local.str();
  EXPECT_EQ(p.outputs[0], split(3, 0, "i"));
  EXPECT_EQ(p.local.type(p.local.outputs[0]).shape, (Shape{2, 3, 1}));
  p = spmd::partition(lowered({3, 8}), {{"i"}, {4}}, {split(2, 0, "i")}, {std::nullopt});
  EXPECT_EQ(collectives(p.local), (std::map<std::string, int>{{"all_gather", 1}})) << p.local.str();
  EXPECT_EQ(p.outputs[0], Layout::replicated(2));
}

TEST(Partition, PropagatedLayoutsPrintAsPartitionSpecs) {
  Layout l = split(2, 1, "model");
  EXPECT_EQ(l.str(), "P(None, 'model')");
  l.partial = {"i"};
  EXPECT_EQ(l.str(), "P(None, 'model') partial over 'i'");
}

}  // namespace
}  // namespace kiln
