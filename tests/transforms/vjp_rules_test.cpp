// The VJP rule of every differentiable primitive (src/transforms/vjp_rules.cpp), checked against
// central finite differences. Each check differentiates L(x...) = sum(f(x...) * w), where w is a
// fixed array of distinct non-zero weights so that every element of f's result reaches the
// gradient with its own factor (a rule that permutes or drops cotangent elements cannot pass).
// Everything runs in float64, so the finite differences (step 1e-6 relative, error about
// eps * |L| / h + h^2 |L'''| ~ 1e-10) are far more accurate than the 1e-6 tolerance.
//
// Every check also runs the gradient under kiln::jit and requires it to agree with the eager one,
// and checks that f really records the primitive under test (the ops API may lower an operation
// differently, or skip it, as astype does when the dtype already matches).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kiln/kiln.hpp"

namespace kiln {
namespace {

using Args = std::vector<Array>;
using Fn = std::function<Array(const Args&)>;

Array f64(const std::vector<double>& values, const Shape& shape) {
  return array(std::span<const double>(values), shape);
}

// n distinct values spread over [lo, hi): the fractional parts of a golden-ratio sequence, which
// never repeat, so there are no ties for abs/max/min/reduce_max to split.
std::vector<double> spread(int64_t n, double lo, double hi, int salt = 0) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) {
    double t = 0.5 + 0.6180339887498949 * static_cast<double>(i + 1) + 0.1234567 * salt;
    v.push_back(lo + (hi - lo) * (t - std::floor(t)));
  }
  return v;
}

Array spread_array(const Shape& shape, double lo, double hi, int salt = 0) {
  return f64(spread(shape.numel(), lo, hi, salt), shape);
}

// Distinct-magnitude, mixed-sign weights. They are dyadic (multiples of 1/8), so they are exact in
// float32 too, which the convert round trip relies on.
Array weights(const Shape& shape) {
  std::vector<double> w;
  for (int64_t i = 0; i < shape.numel(); ++i) {
    double m = 0.25 + 0.125 * static_cast<double>((i * 7 + 3) % 13);
    w.push_back(i % 3 == 0 ? -m : m);
  }
  return f64(w, shape);
}

// Whether f's lowered text records a node of `prim` ("    c:f64[2,3] = exp b").
::testing::AssertionResult records(const Fn& f, const Args& xs, const std::string& prim) {
  std::string text = jit(f).lower(xs).text();
  for (const char* after : {" ", "["}) {
    if (text.find(" = " + prim + after) != std::string::npos) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "f does not record " << prim << ":\n" << text;
}

struct FdOptions {
  double rel_step = 1e-6;  // h = rel_step * max(1, |x_i|)
  double tol = 1e-6;       // |grad - fd| <= tol * max(1, |fd|)
};

// Checks grad(sum(f(xs) * w)) w.r.t. every element of every operand against central differences,
// and the jitted gradient against the eager one. Returns the eager gradient for further checks.
Args expect_grad_matches_fd(const Fn& f, const Args& xs, const std::string& prim,
                            FdOptions opt = {}) {
  EXPECT_TRUE(records(f, xs, prim));
  Array y = f(xs);
  EXPECT_EQ(y.dtype(), float64);
  Array w = weights(y.shape());
  auto loss = [f, w](const Args& args) { return sum(mul(f(args), w)); };

  Args g = grad(loss)(xs);
  Args gj = jit([loss](const Args& args) { return grad(loss)(args); })(xs);
  EXPECT_EQ(g.size(), xs.size());
  EXPECT_EQ(gj.size(), xs.size());
  if (g.size() != xs.size() || gj.size() != xs.size()) return g;

  for (size_t k = 0; k < xs.size(); ++k) {
    SCOPED_TRACE("operand " + std::to_string(k) + " of " + prim);
    EXPECT_EQ(g[k].dtype(), float64);
    EXPECT_EQ(g[k].shape().str(), xs[k].shape().str());
    EXPECT_EQ(gj[k].dtype(), float64);
    EXPECT_EQ(gj[k].shape().str(), xs[k].shape().str());
    if (!(g[k].shape() == xs[k].shape()) || !(gj[k].shape() == xs[k].shape())) continue;
    std::vector<double> ge = g[k].to_vector<double>();
    std::vector<double> gjit = gj[k].to_vector<double>();
    std::vector<double> x = xs[k].to_vector<double>();
    for (size_t i = 0; i < x.size(); ++i) {
      double h = opt.rel_step * std::max(1.0, std::abs(x[i]));
      auto loss_at = [&](double xi) {
        std::vector<double> moved = x;
        moved[i] = xi;
        Args args = xs;
        args[k] = f64(moved, xs[k].shape());
        return loss(args).item<double>();
      };
      double fd = (loss_at(x[i] + h) - loss_at(x[i] - h)) / (2 * h);
      double tol = opt.tol * std::max(1.0, std::abs(fd));
      EXPECT_NEAR(ge[i], fd, tol) << "element " << i << " at x = " << x[i];
      // Same graph, compiled as one executable: only summation order may differ.
      EXPECT_NEAR(gjit[i], ge[i], 1e-12 * std::max(1.0, std::abs(ge[i]))) << "jit, element " << i;
    }
  }
  return g;
}

// For the piecewise-constant primitives: the gradient is exactly zero, eagerly and under jit (and
// the finite differences agree, since no input is near a jump).
void expect_zero_grad(const Fn& f, const Array& x, const std::string& prim) {
  Args g = expect_grad_matches_fd(f, {x}, prim);
  ASSERT_EQ(g.size(), 1u);
  for (double v : g[0].to_vector<double>()) EXPECT_EQ(v, 0.0);
}

Fn unary(Array (*op)(const Array&, Loc)) {
  return [op](const Args& a) { return op(a[0], Loc::current()); };
}

Fn binary(Array (*op)(const Operand&, const Operand&, Loc)) {
  return [op](const Args& a) { return op(a[0], a[1], Loc::current()); };
}

const Shape kShape{2, 3};

// ---- elementwise unary ----

TEST(VjpRules, NegMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(neg), {spread_array(kShape, -2, 2)}, "neg");
}

TEST(VjpRules, AbsAwayFromZeroMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(abs), {f64({-1.7, -0.4, 0.3, 2.2, -3.1, 0.9}, kShape)}, "abs");
}

// JAX's _abs_jvp_rule is select(x >= 0, g, -g): at 0 (and -0) the derivative is +1, not
// sign(0) = 0. (Finite differences cannot decide this; it is the convention kiln promises to
// share.)
TEST(VjpRules, AbsAtZeroHasGradientOneAsInJax) {
  Array x = f64({0.0, -0.0, 2.0, -2.0}, {4});
  auto loss = [](const Array& a) { return sum(abs(a)); };
  for (const Array& g : {grad(loss)(x), jit([loss](const Array& a) { return grad(loss)(a); })(x)}) {
    EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{1, 1, 1, -1}));
  }
}

TEST(VjpRules, ExpMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(exp), {spread_array(kShape, -2, 2)}, "exp");
}

TEST(VjpRules, LogOfPositiveInputsMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(log), {spread_array(kShape, 0.2, 4)}, "log");
}

TEST(VjpRules, Log1pMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(log1p), {spread_array(kShape, -0.8, 3)}, "log1p");
}

TEST(VjpRules, Expm1MatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(expm1), {spread_array(kShape, -2, 2)}, "expm1");
}

TEST(VjpRules, SqrtOfPositiveInputsMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(sqrt), {spread_array(kShape, 0.2, 4)}, "sqrt");
}

TEST(VjpRules, RsqrtOfPositiveInputsMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(rsqrt), {spread_array(kShape, 0.2, 4)}, "rsqrt");
}

TEST(VjpRules, TanhMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(tanh), {spread_array(kShape, -2, 2)}, "tanh");
}

TEST(VjpRules, LogisticMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(logistic), {spread_array(kShape, -3, 3)}, "logistic");
}

TEST(VjpRules, SinMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(sin), {spread_array(kShape, -3, 3)}, "sin");
}

TEST(VjpRules, CosMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(cos), {spread_array(kShape, -3, 3)}, "cos");
}

TEST(VjpRules, ErfMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(erf), {spread_array(kShape, -2, 2)}, "erf");
}

TEST(VjpRules, ErfInvInsideOpenIntervalMatchesFiniteDifferences) {
  expect_grad_matches_fd(unary(erf_inv), {spread_array(kShape, -0.9, 0.9)}, "erf_inv");
}

TEST(VjpRules, SignHasExactlyZeroGradient) {
  expect_zero_grad(unary(sign), f64({-1.7, -0.4, 0.3, 2.2, -3.1, 0.9}, kShape), "sign");
}

// Inputs sit at least 0.1 from every integer and half-integer, so no step of h reaches a jump.
TEST(VjpRules, FloorHasExactlyZeroGradient) {
  expect_zero_grad(unary(floor), f64({-1.7, -0.3, 0.2, 2.8, -3.1, 1.35}, kShape), "floor");
}

TEST(VjpRules, CeilHasExactlyZeroGradient) {
  expect_zero_grad(unary(ceil), f64({-1.7, -0.3, 0.2, 2.8, -3.1, 1.35}, kShape), "ceil");
}

TEST(VjpRules, RoundHasExactlyZeroGradient) {
  expect_zero_grad(unary(round), f64({-1.7, -0.3, 0.2, 2.8, -3.1, 1.35}, kShape), "round");
}

TEST(VjpRules, StopGradientHasExactlyZeroGradient) {
  // Only the gradient is cut: the finite differences of stop_gradient(x) (the identity) are w, so
  // they are not compared; the value still is.
  Array x = spread_array(kShape, -2, 2);
  Fn f = [](const Args& a) { return stop_gradient(a[0]); };
  EXPECT_TRUE(records(f, {x}, "stop_gradient"));
  EXPECT_EQ(f({x}).to_vector<double>(), x.to_vector<double>());
  Array w = weights(kShape);
  auto loss = [f, w](const Args& a) { return sum(mul(f(a), w)); };
  Args g = grad(loss)(Args{x});
  Args gj = jit([loss](const Args& a) { return grad(loss)(a); })(Args{x});
  ASSERT_EQ(g.size(), 1u);
  ASSERT_EQ(gj.size(), 1u);
  EXPECT_EQ(g[0].dtype(), float64);
  EXPECT_EQ(g[0].shape().str(), kShape.str());
  for (double v : g[0].to_vector<double>()) EXPECT_EQ(v, 0.0);
  for (double v : gj[0].to_vector<double>()) EXPECT_EQ(v, 0.0);
}

// A gradient stopped on one path still flows through the other: d/dx [x * stop_gradient(x)] = x.
TEST(VjpRules, StopGradientCutsOnlyItsOwnPath) {
  Array x = spread_array(kShape, -2, 2);
  Args g = grad([](const Args& a) { return sum(mul(a[0], stop_gradient(a[0]))); })(Args{x});
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].to_vector<double>(), x.to_vector<double>());
}

TEST(VjpRules, ConvertFloat64ToFloat32AndBackPassesTheCotangentThrough) {
  Array x = spread_array(kShape, -2, 2);
  Fn f = [](const Args& a) { return astype(astype(a[0], float32), float64); };
  // float32 rounding quantises the finite differences (relative error ~ 6e-8 / h), so they take a
  // larger step and a looser tolerance; the exact value is checked below.
  Args g = expect_grad_matches_fd(f, {x}, "convert_element_type", {.rel_step = 1e-2, .tol = 1e-4});
  ASSERT_EQ(g.size(), 1u);
  // The cotangent goes f64 -> f32 -> f64 unchanged, because the weights are exact in float32.
  EXPECT_EQ(g[0].to_vector<double>(), weights(kShape).to_vector<double>());
}

// ---- elementwise binary ----

TEST(VjpRules, AddMatchesFiniteDifferencesForBothOperands) {
  expect_grad_matches_fd(binary(add), {spread_array(kShape, -2, 2), spread_array(kShape, -2, 2, 1)},
                         "add");
}

TEST(VjpRules, SubMatchesFiniteDifferencesForBothOperands) {
  expect_grad_matches_fd(binary(sub), {spread_array(kShape, -2, 2), spread_array(kShape, -2, 2, 1)},
                         "sub");
}

TEST(VjpRules, MulMatchesFiniteDifferencesForBothOperands) {
  expect_grad_matches_fd(binary(mul), {spread_array(kShape, -2, 2), spread_array(kShape, -2, 2, 1)},
                         "mul");
}

TEST(VjpRules, MulOfAnOperandWithItselfAccumulatesBothCotangents) {
  expect_grad_matches_fd([](const Args& a) { return mul(a[0], a[0]); },
                         {spread_array(kShape, -2, 2)}, "mul");
}

TEST(VjpRules, DivMatchesFiniteDifferencesForBothOperands) {
  expect_grad_matches_fd(binary(div),
                         {spread_array(kShape, -2, 2), spread_array(kShape, 0.5, 3, 1)}, "div");
}

// Away from the jumps of rem (where x / y is an integer): every |x / y| has a fractional part in
// [0.09, 0.6], with both signs of x and of y.
TEST(VjpRules, RemAwayFromDiscontinuitiesMatchesFiniteDifferencesForBothOperands) {
  Array x = f64({3.7, -2.3, 5.1, -0.6, 1.3, 4.4}, kShape);
  Array y = f64({1.5, 1.1, -2.0, 0.9, 0.5, -1.7}, kShape);
  expect_grad_matches_fd(binary(rem), {x, y}, "rem");
}

TEST(VjpRules, PowOfPositiveBaseMatchesFiniteDifferencesForBothOperands) {
  expect_grad_matches_fd(
      binary(pow), {spread_array(kShape, 0.3, 2.5), spread_array(kShape, -1.5, 2.5, 1)}, "pow");
}

// JAX's _pow_jvp_lhs / _pow_jvp_rhs at a zero base: d/dx is 0 where y == 0 (not 0 * 0^-1 = nan)
// and y x^(y-1) otherwise (1 at y = 1); d/dy reads log(0) as 0, so it is 0, not -inf * 0 = nan.
TEST(VjpRules, PowAtZeroBaseFollowsJaxConventions) {
  Array x = f64({0.0, 0.0, 0.0}, {3});
  Array y = f64({0.0, 1.0, 2.0}, {3});
  auto loss = [](const Args& a) { return sum(pow(a[0], a[1])); };
  for (const Args& g :
       {grad(loss)(Args{x, y}), jit([loss](const Args& a) { return grad(loss)(a); })(Args{x, y})}) {
    ASSERT_EQ(g.size(), 2u);
    EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{0, 1, 0}));
    EXPECT_EQ(g[1].to_vector<double>(), (std::vector<double>{0, 0, 0}));
  }
}

TEST(VjpRules, MaxOfDistinctValuesMatchesFiniteDifferencesForBothOperands) {
  expect_grad_matches_fd(binary(maximum),
                         {spread_array(kShape, -2, 2), spread_array(kShape, -2, 2, 3)}, "max");
}

TEST(VjpRules, MinOfDistinctValuesMatchesFiniteDifferencesForBothOperands) {
  expect_grad_matches_fd(binary(minimum),
                         {spread_array(kShape, -2, 2), spread_array(kShape, -2, 2, 3)}, "min");
}

// JAX's _balanced_eq: where both operands equal the result, each gets half the cotangent.
void expect_tie_split_evenly(const Fn& f) {
  Array x = f64({1.0, -2.0, 3.5}, {3});
  Array y = f64({1.0, 0.0, 3.5}, {3});  // ties at 0 and 2; element 1 is decided
  auto loss = [f](const Args& a) { return sum(f(a)); };
  for (const Args& g :
       {grad(loss)(Args{x, y}), jit([loss](const Args& a) { return grad(loss)(a); })(Args{x, y})}) {
    ASSERT_EQ(g.size(), 2u);
    std::vector<double> gx = g[0].to_vector<double>(), gy = g[1].to_vector<double>();
    EXPECT_EQ(gx[0], 0.5);
    EXPECT_EQ(gy[0], 0.5);
    EXPECT_EQ(gx[2], 0.5);
    EXPECT_EQ(gy[2], 0.5);
    EXPECT_EQ(gx[1] + gy[1], 1.0);
    EXPECT_EQ(gx[1] * gy[1], 0.0);
  }
}

TEST(VjpRules, MaxSplitsTheCotangentOfATieEqually) {
  expect_tie_split_evenly(binary(maximum));
  Args g = grad([](const Args& a) { return sum(maximum(a[0], a[1])); })(
      Args{f64({1.0, -2.0, 3.5}, {3}), f64({1.0, 0.0, 3.5}, {3})});
  EXPECT_EQ(g[1].to_vector<double>()[1], 1.0);  // 0 > -2: y wins element 1
}

TEST(VjpRules, MinSplitsTheCotangentOfATieEqually) {
  expect_tie_split_evenly(binary(minimum));
  Args g = grad([](const Args& a) { return sum(minimum(a[0], a[1])); })(
      Args{f64({1.0, -2.0, 3.5}, {3}), f64({1.0, 0.0, 3.5}, {3})});
  EXPECT_EQ(g[0].to_vector<double>()[1], 1.0);  // -2 < 0: x wins element 1
}

// ---- select ----

TEST(VjpRules, SelectRoutesTheCotangentToTheChosenOperand) {
  // The predicate is a constant of the graph: it has no cotangent.
  Array pred = greater(f64({1, -1, -1, 1, 1, -1}, kShape), 0.0);
  Fn f = [pred](const Args& a) { return where(pred, a[0], a[1]); };
  Args g = expect_grad_matches_fd(f, {spread_array(kShape, -2, 2), spread_array(kShape, -2, 2, 1)},
                                  "select");
  ASSERT_EQ(g.size(), 2u);
  std::vector<double> w = weights(kShape).to_vector<double>();
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{w[0], 0, 0, w[3], w[4], 0}));
  EXPECT_EQ(g[1].to_vector<double>(), (std::vector<double>{0, w[1], w[2], 0, 0, w[5]}));
}

// A predicate computed from x itself (through a comparison, which has no VJP) still only routes.
TEST(VjpRules, SelectWithAPredicateComputedFromTheInputMatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return where(greater(a[0], 0.0), mul(a[0], a[0]), neg(a[0])); };
  expect_grad_matches_fd(f, {f64({-1.7, -0.4, 0.3, 2.2, -3.1, 0.9}, kShape)}, "select");
}

// ---- shape ----

TEST(VjpRules, BroadcastInDimWithSizeOneAndNewDimsSumsTheCotangent) {
  // [3,1,2] -> [4,3,5,2]: result dim 0 is new, operand dim 1 (size 1) is stretched to 5.
  Fn f = [](const Args& a) { return broadcast_in_dim(a[0], {4, 3, 5, 2}, {1, 2, 3}); };
  expect_grad_matches_fd(f, {spread_array({3, 1, 2}, -2, 2)}, "broadcast_in_dim");
}

TEST(VjpRules, BroadcastInDimOfAScalarSumsTheCotangent) {
  Fn f = [](const Args& a) { return broadcast_in_dim(a[0], {2, 3}, {}); };
  expect_grad_matches_fd(f, {f64({0.7}, {})}, "broadcast_in_dim");
}

TEST(VjpRules, ReshapeMatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return reshape(a[0], {4, 6}); };
  expect_grad_matches_fd(f, {spread_array({2, 3, 4}, -2, 2)}, "reshape");
}

TEST(VjpRules, TransposeOfRank3MatchesFiniteDifferences) {
  // perm (2, 0, 1) is not its own inverse, so applying perm instead of its inverse would fail.
  Fn f = [](const Args& a) { return transpose(a[0], {2, 0, 1}); };
  expect_grad_matches_fd(f, {spread_array({2, 3, 4}, -2, 2)}, "transpose");
}

TEST(VjpRules, SliceWithStrideAndNonzeroStartMatchesFiniteDifferences) {
  // [7,6] from (1,2) to (6,6) by (2,1): rows 1,3,5 and columns 2..5; the rest get zero.
  Fn f = [](const Args& a) { return slice(a[0], {1, 2}, {6, 6}, {2, 1}); };
  Args g = expect_grad_matches_fd(f, {spread_array({7, 6}, -2, 2)}, "slice");
  ASSERT_EQ(g.size(), 1u);
  std::vector<double> gv = g[0].to_vector<double>();
  EXPECT_EQ(gv[0 * 6 + 3], 0.0);
  EXPECT_EQ(gv[2 * 6 + 3], 0.0);
  EXPECT_EQ(gv[6 * 6 + 5], 0.0);
}

TEST(VjpRules, SliceWithStrideInEveryDimMatchesFiniteDifferences) {
  // The limit is not reached exactly (2 + 2*3 = 8 > 7): the last stride overshoots it.
  Fn f = [](const Args& a) { return slice(a[0], {1, 2}, {6, 7}, {2, 3}); };
  expect_grad_matches_fd(f, {spread_array({7, 7}, -2, 2)}, "slice");
}

TEST(VjpRules, ConcatenateOfThreeArraysAlongAxis1MatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return concatenate({a[0], a[1], a[2]}, 1); };
  expect_grad_matches_fd(f,
                         {spread_array({2, 1, 3}, -2, 2), spread_array({2, 3, 3}, -2, 2, 1),
                          spread_array({2, 2, 3}, -2, 2, 2)},
                         "concatenate");
}

TEST(VjpRules, PadWithLowHighAndInteriorMatchesFiniteDifferencesForOperandAndPaddingValue) {
  // [3,2] -> [1+3+2+2, 0+2+2+1] = [8,5]; the padding value fills 40 - 6 = 34 positions.
  Fn f = [](const Args& a) { return pad(a[0], a[1], {1, 0}, {2, 1}, {1, 2}); };
  Args g = expect_grad_matches_fd(f, {spread_array({3, 2}, -2, 2), f64({0.3}, {})}, "pad");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[1].shape().str(), Shape{}.str());
}

// ---- reductions ----

TEST(VjpRules, ReduceSumOverTwoAxesMatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return sum(a[0], {0, 2}); };
  expect_grad_matches_fd(f, {spread_array({3, 4, 5}, -2, 2)}, "reduce_sum");
}

TEST(VjpRules, ReduceMaxOverTwoAxesMatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return max(a[0], {0, 2}); };
  expect_grad_matches_fd(f, {spread_array({3, 4, 5}, -2, 2)}, "reduce_max");
}

TEST(VjpRules, ReduceMinOverTwoAxesMatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return min(a[0], {0, 2}); };
  expect_grad_matches_fd(f, {spread_array({3, 4, 5}, -2, 2)}, "reduce_min");
}

// JAX's _reduce_chooser_jvp_rule: the positions attaining the max share the cotangent equally.
void expect_reduce_tie_split(Array (*reduce)(const Array&, Axes, bool, Loc), double tied) {
  Array x = f64({0.0, tied, tied, 0.5, 7.0, -7.0}, {2, 3});  // row 0 ties, row 1 does not
  auto loss = [reduce](const Args& a) {
    return sum(mul(reduce(a[0], 1, false, Loc::current()), f64({1.0, 2.0}, {2})));
  };
  for (const Args& g :
       {grad(loss)(Args{x}), jit([loss](const Args& a) { return grad(loss)(a); })(Args{x})}) {
    ASSERT_EQ(g.size(), 1u);
    std::vector<double> want = tied > 0 ? std::vector<double>{0, 0.5, 0.5, 0, 2, 0}
                                        : std::vector<double>{0, 0.5, 0.5, 0, 0, 2};
    EXPECT_EQ(g[0].to_vector<double>(), want);
  }
}

TEST(VjpRules, ReduceMaxSplitsTheCotangentOfATieEqually) {
  expect_reduce_tie_split(max, 3.0);
}

TEST(VjpRules, ReduceMinSplitsTheCotangentOfATieEqually) {
  expect_reduce_tie_split(min, -3.0);
}

// ---- contraction ----

TEST(VjpRules, DotGeneralWithBatchAndOddContractingDimsMatchesFiniteDifferences) {
  // lhs [2,3,4] contracts dim 1 with rhs [3,2,5] dim 0; batch is lhs dim 0 with rhs dim 1.
  // Result [2,4,5]: batch, lhs free, rhs free.
  ir::DotDims d{.lhs_contract = {1}, .rhs_contract = {0}, .lhs_batch = {0}, .rhs_batch = {1}};
  Fn f = [d](const Args& a) { return dot_general(a[0], a[1], d); };
  expect_grad_matches_fd(f, {spread_array({2, 3, 4}, -2, 2), spread_array({3, 2, 5}, -2, 2, 1)},
                         "dot_general");
}

TEST(VjpRules, DotGeneralWithTwoContractingDimsPairedOutOfOrderMatchesFiniteDifferences) {
  // lhs [4,3,2] dims (0,1) pair with rhs [3,5,4] dims (2,0): the pairing is not monotone, so the
  // rule must map each contracting dim back through its partner rather than by position.
  ir::DotDims d{.lhs_contract = {0, 1}, .rhs_contract = {2, 0}, .lhs_batch = {}, .rhs_batch = {}};
  Fn f = [d](const Args& a) { return dot_general(a[0], a[1], d); };
  expect_grad_matches_fd(f, {spread_array({4, 3, 2}, -2, 2), spread_array({3, 5, 4}, -2, 2, 1)},
                         "dot_general");
}

TEST(VjpRules, DotGeneralWithTwoBatchDimsMatchesFiniteDifferences) {
  // Batch pairs (lhs 2, rhs 0) and (lhs 0, rhs 2): batch dims out of order on both sides.
  ir::DotDims d{.lhs_contract = {1}, .rhs_contract = {1}, .lhs_batch = {2, 0}, .rhs_batch = {0, 2}};
  Fn f = [d](const Args& a) { return dot_general(a[0], a[1], d); };
  expect_grad_matches_fd(
      f, {spread_array({2, 3, 4, 2}, -2, 2), spread_array({4, 3, 2, 3}, -2, 2, 1)}, "dot_general");
}

TEST(VjpRules, MatmulOfVectorAndMatrixMatchesFiniteDifferences) {
  expect_grad_matches_fd([](const Args& a) { return matmul(a[0], a[1]); },
                         {spread_array({3}, -2, 2), spread_array({3, 4}, -2, 2, 1)}, "dot_general");
}

TEST(VjpRules, MatmulOfMatrixAndVectorMatchesFiniteDifferences) {
  expect_grad_matches_fd([](const Args& a) { return matmul(a[0], a[1]); },
                         {spread_array({4, 3}, -2, 2), spread_array({3}, -2, 2, 1)}, "dot_general");
}

TEST(VjpRules, ADenseKernelsGradientIsOneProductWithoutATranspose) {
  // x [5,3] · k [3,4]: dL/dk = xᵀ·g comes out of dot_general(x, g) in k's own order, so the
  // kernel's gradient is one product and no transposed copy of it.
  Fn f = [](const Args& a) { return matmul(a[0], a[1]); };
  const Args xs = {spread_array({5, 3}, -2, 2), spread_array({3, 4}, -2, 2, 1)};
  expect_grad_matches_fd(f, xs, "dot_general");
  const Array w = weights({5, 4});
  auto loss = [&](const Array& k, const Array& x) { return sum(f({x, k}) * w); };
  const std::string text = jit([&](const Array& k, const Array& x) { return grad(loss)(k, x); })
                               .lower(xs[1], xs[0])
                               .text();
  EXPECT_EQ(text.find("transpose"), std::string::npos) << text;
  EXPECT_NE(text.find("f64[3,4] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))]"),
            std::string::npos)
      << text;
}

// ---- convolution and windows ----

using Pads = std::vector<std::pair<int64_t, int64_t>>;

Fn conv_fn(ConvOptions o) {
  return [o](const Args& a) { return conv_general_dilated(a[0], a[1], o); };
}

// lax.padtype_to_pads for a conv's spatial dims, given the NHWC input and HWIO kernel.
Pads pads_for(const Shape& in, const Shape& k, std::vector<int64_t> strides, const char* kind) {
  std::vector<int64_t> sp = {in[1], in[2]}, win = {k[0], k[1]};
  return padtype_to_pads(sp, win, strides, kind);
}

TEST(VjpRules, ConvolutionStride1SameNhwcHwioMatchesFiniteDifferences) {
  Shape x{2, 5, 4, 3}, k{3, 3, 3, 4};
  expect_grad_matches_fd(conv_fn({.padding = pads_for(x, k, {1, 1}, "SAME")}),
                         {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)},
                         "conv_general_dilated");
}

TEST(VjpRules, ConvolutionStride2ValidMatchesFiniteDifferences) {
  // 7 and 6 leave rows and columns no window reaches: their lhs cotangent is zero.
  Shape x{1, 7, 6, 2}, k{3, 2, 2, 3};
  expect_grad_matches_fd(conv_fn({.window_strides = {2, 2}}),
                         {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)},
                         "conv_general_dilated");
}

TEST(VjpRules, ConvolutionStride2SameWithOddSizesMatchesFiniteDifferences) {
  Shape x{2, 6, 5, 2}, k{3, 3, 2, 2};
  expect_grad_matches_fd(
      conv_fn({.window_strides = {2, 2}, .padding = pads_for(x, k, {2, 2}, "SAME")}),
      {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)}, "conv_general_dilated");
}

TEST(VjpRules, ConvolutionWithExplicitPaddingAndRhsDilationMatchesFiniteDifferences) {
  Shape x{1, 6, 7, 2}, k{2, 3, 2, 3};
  expect_grad_matches_fd(
      conv_fn({.window_strides = {1, 2}, .padding = {{2, 0}, {1, 3}}, .rhs_dilation = {2, 2}}),
      {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)}, "conv_general_dilated");
}

TEST(VjpRules, ConvolutionWithNegativePaddingMatchesFiniteDifferences) {
  Shape x{1, 7, 6, 2}, k{2, 2, 2, 2};
  expect_grad_matches_fd(conv_fn({.window_strides = {2, 1}, .padding = {{-1, 1}, {1, -2}}}),
                         {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)},
                         "conv_general_dilated");
}

TEST(VjpRules, ConvolutionWithLhsDilationMatchesFiniteDifferences) {
  Shape x{1, 4, 3, 2}, k{3, 2, 2, 2};
  expect_grad_matches_fd(
      conv_fn({.window_strides = {2, 1}, .padding = {{1, 2}, {0, 1}}, .lhs_dilation = {2, 3}}),
      {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)}, "conv_general_dilated");
}

TEST(VjpRules, ConvolutionWithFeatureGroupsMatchesFiniteDifferences) {
  // 3 groups: 6 input features, 2 per group; 6 output features, 2 per group.
  Shape x{2, 4, 4, 6}, k{3, 2, 2, 6};
  expect_grad_matches_fd(
      conv_fn({.window_strides = {2, 1}, .padding = {{1, 1}, {0, 1}}, .feature_group_count = 3}),
      {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)}, "conv_general_dilated");
}

TEST(VjpRules, ConvolutionNchwOihwWithStrideMatchesFiniteDifferences) {
  Shape x{2, 3, 6, 5}, k{4, 3, 3, 2};
  expect_grad_matches_fd(conv_fn({.window_strides = {2, 2},
                                  .padding = {{1, 1}, {0, 1}},
                                  .rhs_dilation = {1, 2},
                                  .lhs_spec = "NCHW",
                                  .rhs_spec = "OIHW",
                                  .out_spec = "NCHW"}),
                         {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)},
                         "conv_general_dilated");
}

TEST(VjpRules, ConvolutionWithMixedLayoutsAndOneSpatialDimMatchesFiniteDifferences) {
  // lhs batch-last, rhs in-feature first, out feature-first: the specs are read, not assumed.
  Shape x{5, 3, 2}, k{3, 2, 4};
  expect_grad_matches_fd(conv_fn({.window_strides = {2},
                                  .padding = {{1, 2}},
                                  .lhs_spec = "WCN",
                                  .rhs_spec = "IWO",
                                  .out_spec = "CNW"}),
                         {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)},
                         "conv_general_dilated");
}

TEST(VjpRules, ConvolutionWithBatchGroupsMatchesFiniteDifferences) {
  // batch_group_count only comes from differentiating grouped convolutions; bound directly here.
  Fn f = [](const Args& a) {
    ir::Attrs at;
    at.conv = {.lhs_spec = {0, 3, 1, 2},
               .rhs_spec = {3, 2, 0, 1},
               .out_spec = {0, 3, 1, 2},
               .window_strides = {1, 2},
               .padding_low = {1, 0},
               .padding_high = {0, 1},
               .lhs_dilation = {1, 1},
               .rhs_dilation = {1, 1},
               .batch_group_count = 2};
    return bind(ir::Prim::convolution, a, at, Loc::current());
  };
  Shape x{4, 4, 3, 3}, k{2, 2, 3, 4};
  Args xs = {spread_array(x, -2, 2), spread_array(k, -1, 1, 1)};
  EXPECT_EQ(f(xs).shape(), (Shape{2, 4, 2, 4}));
  expect_grad_matches_fd(f, xs, "conv_general_dilated");
}

TEST(VjpRules, ReduceWindowSumPoolMatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return reduce_window_sum(a[0], {1, 2, 2, 1}, {1, 2, 2, 1}, {}); };
  expect_grad_matches_fd(f, {spread_array({2, 5, 4, 3}, -2, 2)}, "reduce_window_sum");
}

TEST(VjpRules, ReduceWindowSumWithOverlapAndPaddingMatchesFiniteDifferences) {
  Fn f = [](const Args& a) {
    return reduce_window_sum(a[0], {3, 2, 1}, {2, 1, 1}, {{1, 2}, {0, 1}, {0, 0}});
  };
  expect_grad_matches_fd(f, {spread_array({6, 4, 2}, -2, 2)}, "reduce_window_sum");
}

TEST(VjpRules, ReduceWindowSumWithPaddingWiderThanTheWindowMatchesFiniteDifferences) {
  // The transpose's padding comes out negative here.
  Fn f = [](const Args& a) { return reduce_window_sum(a[0], {2, 1}, {1, 2}, {{3, 2}, {2, 3}}); };
  expect_grad_matches_fd(f, {spread_array({4, 5}, -2, 2)}, "reduce_window_sum");
}

TEST(VjpRules, ReduceWindowMaxPoolMatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return reduce_window_max(a[0], {1, 2, 2, 1}, {1, 2, 2, 1}, {}); };
  expect_grad_matches_fd(f, {spread_array({2, 5, 4, 3}, -2, 2)}, "reduce_window_max");
}

TEST(VjpRules, ReduceWindowMaxWithOverlapAndPaddingMatchesFiniteDifferences) {
  Fn f = [](const Args& a) {
    return reduce_window_max(a[0], {3, 3, 1}, {2, 1, 1}, {{1, 1}, {1, 0}, {0, 0}});
  };
  expect_grad_matches_fd(f, {spread_array({5, 4, 2}, -2, 2)}, "reduce_window_max");
}

TEST(VjpRules, ReduceWindowMaxSendsATiedWindowsCotangentToItsFirstMaximum) {
  // As JAX's select_and_scatter_add: each window's whole cotangent goes to the first maximum of
  // the window, and windows sharing a maximum add up.
  Array x = f64({3, 3, 1, 2, 2}, {5});
  auto loss = [](const Args& a) {
    return sum(mul(reduce_window_max(a[0], {2}, {1}, {}), f64({1, 10, 100, 1000}, {4})));
  };
  // windows: [3,3] -> x0, [3,1] -> x1, [1,2] -> x3, [2,2] -> x3
  std::vector<double> want = {1, 10, 0, 1100, 0};
  EXPECT_EQ(grad(loss)(Args{x})[0].to_vector<double>(), want);
  EXPECT_EQ(jit([loss](const Args& a) { return grad(loss)(a); })(Args{x})[0].to_vector<double>(),
            want);
}

TEST(VjpRules, RevMatchesFiniteDifferences) {
  Fn f = [](const Args& a) { return rev(a[0], {0, 2}); };
  expect_grad_matches_fd(f, {spread_array({2, 3, 4}, -2, 2)}, "rev");
}

// ---- through bind ----

// The rules see the node itself, not the API call: binding a primitive directly differentiates the
// same way (here exp, whose rule reuses the primal result).
TEST(VjpRules, BoundPrimitiveUsesTheSameRule) {
  Fn f = [](const Args& a) { return bind(ir::Prim::exp, a, {}, Loc::current()); };
  expect_grad_matches_fd(f, {spread_array(kShape, -2, 2)}, "exp");
}

}  // namespace
}  // namespace kiln
