#include <gtest/gtest.h>

#include <cstdio>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/losses.hpp"
#include "kiln/models.hpp"
#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "kiln/random.hpp"
#include "kiln/train_state.hpp"
#include "pass_testing.hpp"
#include "passes/pipeline.hpp"

namespace kiln {
namespace {

using pass_testing::run;

template <class... Args>
std::vector<pass_testing::Bytes> leaf_bytes(const Args&... args) {
  std::vector<Array> leaves;
  size_t h = 0;
  (tree_traits<Args>::flatten(args, leaves, h), ...);
  std::vector<pass_testing::Bytes> out;
  for (const Array& a : leaves) {
    const auto* p = static_cast<const std::byte*>(a.buffer()->host_data());
    out.emplace_back(p, p + a.buffer()->bytes());
  }
  return out;
}

int count(const ir::Graph& g, ir::Prim p) {
  int n = 0;
  for (const auto& node : g.nodes) n += node.prim == p;
  return n;
}

TEST(Pipeline, SmallFunctionBeforeAndAfter) {
  auto f = jit([](const Array& x) {
    Array y = reshape(reshape(x, {2, 2}), {4}) * 1.0f;            // a chain and an identity
    Array z = exp(x) + exp(x) * (full({}, 2.0) / full({}, 4.0));  // a duplicate, a constant
    return y - z;
  });
  Array x = array({0.5f, -0.0f, 3, -7});
  ir::Graph g = f.lower(x).graph();
  ir::Graph after = passes::optimize(g);
  after.verify();
  EXPECT_LT(after.nodes.size(), g.nodes.size()) << g.str() << "\n" << after.str();
  EXPECT_EQ(count(after, ir::Prim::exp), 1) << after.str();
  EXPECT_EQ(count(after, ir::Prim::reshape), 0) << after.str();
  EXPECT_EQ(count(after, ir::Prim::div), 0) << after.str();
  EXPECT_EQ(run(after, leaf_bytes(x)), run(g, leaf_bytes(x)));
  // The backend's compile runs the pipeline: its outputs are the unoptimized graph's, bit for bit.
  EXPECT_EQ(std::vector<pass_testing::Bytes>{pass_testing::bytes_of(f(x).to_vector<float>())},
            run(g, leaf_bytes(x)));
}

TEST(Pipeline, OutputsMayNameParametersAndConstants) {
  auto f =
      jit([](const Array& x) { return std::make_pair(x * 1.0f, full({2}, 2.0) * full({2}, 3.0)); });
  Array x = array({1, 2});
  ir::Graph after = passes::optimize(f.lower(x).graph());
  after.verify();
  EXPECT_EQ(after.outputs[0], after.inputs[0]);
  EXPECT_EQ(after.nodes[after.outputs[1]].prim, ir::Prim::constant);
  auto [a, b] = f(x);
  EXPECT_EQ(a.to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{6, 6}));
}

// The Fashion-MNIST MLP's train step (as classification::Trainer builds it), optimized: it prints
// the node counts before and after and checks the step's results are bit-identical.
TEST(Pipeline, MlpTrainStepIsBitIdentical) {
  const models::ImageClassifier m = models::image_classifier("mlp");
  const Array key = random::key(1);
  Tree variables = m.init(key, zeros({1, 28 * 28}));
  TrainState state = TrainState::create(
      [m](const Tree& p, const Array& x) { return m.apply(p, x, false, Array()); }, variables,
      optim::adam(1e-3));
  auto step = jit(
      [m](const TrainState& s, const Array& x, const Array& y, const Array& dropout_key) {
        auto loss_fn = [&](const Tree& params) {
          Array logits = m.apply(params, x, /*train=*/true, dropout_key);
          Array loss = mean(losses::softmax_cross_entropy_with_integer_labels(logits, y));
          Array correct = sum(astype(equal(argmax(logits, 1), y), int32));
          return std::make_pair(loss, correct);
        };
        auto [out, grads] = value_and_grad(loss_fn, {.has_aux = true})(s.params);
        return std::make_tuple(s.apply_gradients(grads), out.first, out.second);
      },
      {.backend = "cpu", .name = "train_step"});
  const int64_t batch = 32;
  Array x = random::uniform(random::key(2), {batch, 28 * 28});
  std::vector<int32_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);
  Array y = array(std::span<const int32_t>(labels), {batch});
  Array dk = random::key(3);
  ir::Graph g = step.lower(state, x, y, dk).graph();
  ir::Graph after = passes::optimize(g);
  after.verify();
  std::printf("mlp train step (batch %lld): %zu nodes before the passes, %zu after\n",
              static_cast<long long>(batch), g.nodes.size(), after.nodes.size());
  EXPECT_LE(after.nodes.size(), g.nodes.size());
  const auto in = leaf_bytes(state, x, y, dk);
  EXPECT_EQ(run(after, in), run(g, in));
}

}  // namespace
}  // namespace kiln
