// The user-facing autodiff API (include/kiln/autodiff.hpp): grad, value_and_grad, vjp and has_aux
// over trees, closures, user structs and nesting, eagerly and under jit, and its errors. The
// gradients checked here are worked out by hand (or by plain C++ loops) in float64, so an error in
// the transformation itself, not only in one VJP rule, shows up as a wrong number.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kiln/kiln.hpp"

// A user struct as a tree: `w` and `b` are differentiated, `name` is static and rides along.
namespace autodiff_test {
struct Linear {
  kiln::Array w;
  kiln::Array b;
  std::string name;
};
}  // namespace autodiff_test
KILN_TREE(autodiff_test::Linear, w, b);

namespace kiln {
namespace {

using autodiff_test::Linear;

Array f64(const std::vector<double>& values, const Shape& shape) {
  return array(std::span<const double>(values), shape);
}

std::vector<double> host(const Array& a) {
  return a.to_vector<double>();
}

void expect_near(const Array& got, const std::vector<double>& want, double tol = 1e-12) {
  std::vector<double> g = host(got);
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], tol) << "element " << i;
}

// A small least-squares problem: pred = x @ w + b, loss = mean((pred - y)^2) over all elements.
struct Problem {
  static constexpr int64_t n = 4, d = 3, k = 2;
  std::vector<double> x{0.5, -1.0, 2.0, 1.5, 0.25, -0.75, -2.0, 1.0, 0.5, 0.0, 3.0, -1.25};
  std::vector<double> y{1.0, -0.5, 0.25, 2.0, -1.5, 0.75, 0.5, 0.0};
  std::vector<double> w{0.1, -0.2, 0.3, 0.4, -0.5, 0.6};
  std::vector<double> b{0.05, -0.15};

  Array xa() const { return f64(x, {n, d}); }
  Array ya() const { return f64(y, {n, k}); }
  Tree params() const {
    // Inserted as w, b: the gradient must come back sorted (b, w), as JAX flattens dicts.
    return Tree::dict({{"w", f64(w, {d, k})}, {"b", f64(b, {k})}});
  }

  // The residual r = x w + b - y, computed on the host.
  std::vector<double> residual() const {
    std::vector<double> r(n * k);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) {
        double s = b[j] - y[i * k + j];
        for (int64_t c = 0; c < d; ++c) s += x[i * d + c] * w[c * k + j];
        r[i * k + j] = s;
      }
    return r;
  }
  double loss() const {
    double s = 0;
    for (double v : residual()) s += v * v;
    return s / (n * k);
  }
  // dL/dw = 2/(nk) x^T r, dL/db = 2/(nk) sum_i r.
  std::vector<double> grad_w() const {
    std::vector<double> r = residual(), g(d * k, 0.0);
    for (int64_t c = 0; c < d; ++c)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t i = 0; i < n; ++i) g[c * k + j] += 2.0 / (n * k) * x[i * d + c] * r[i * k + j];
    return g;
  }
  std::vector<double> grad_b() const {
    std::vector<double> r = residual(), g(k, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j) g[j] += 2.0 / (n * k) * r[i * k + j];
    return g;
  }
};

Array predict(const Tree& p, const Array& x) {
  return matmul(x, p["w"].leaf()) + p["b"].leaf();
}

Array mse(const Tree& p, const Array& x, const Array& y) {
  Array r = predict(p, x) - y;
  return mean(r * r);
}

void expect_sorted_grads(const Tree& g, const Problem& pb) {
  ASSERT_TRUE(g.is_dict());
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g.items()[0].first, "b");
  EXPECT_EQ(g.items()[1].first, "w");
  EXPECT_EQ(g["w"].leaf().dtype(), float64);
  EXPECT_EQ(g["w"].leaf().shape().str(), (Shape{3, 2}).str());
  expect_near(g["w"].leaf(), pb.grad_w());
  expect_near(g["b"].leaf(), pb.grad_b());
}

// ---- trees ----

TEST(Autodiff, GradOfDictParamsReturnsSortedDictOfGradients) {
  Problem pb;
  Tree g = grad(mse)(pb.params(), pb.xa(), pb.ya());
  expect_sorted_grads(g, pb);
}

TEST(Autodiff, ValueAndGradReturnsTheLossAndTheGradient) {
  Problem pb;
  auto [value, g] = value_and_grad(mse)(pb.params(), pb.xa(), pb.ya());
  EXPECT_EQ(value.shape().rank(), 0);
  EXPECT_NEAR(value.item<double>(), pb.loss(), 1e-12);
  expect_sorted_grads(g, pb);
}

TEST(Autodiff, GradOfAListOfArraysReturnsAListOfGradients) {
  // d/da sum(a * b) = b and d/db = a, each in its own position of the list.
  Tree xs = Tree::list({f64({1, 2, 3}, {3}), f64({-4, 5, -6}, {3})});
  Tree g = grad([](const Tree& t) { return sum(t[0].leaf() * t[1].leaf()); })(xs);
  ASSERT_TRUE(g.is_list());
  ASSERT_EQ(g.size(), 2u);
  expect_near(g[0].leaf(), {-4, 5, -6});
  expect_near(g[1].leaf(), {1, 2, 3});
}

TEST(Autodiff, HasAuxReturnsAuxBesideTheGradientAndDoesNotDifferentiateIt) {
  Problem pb;
  // The aux carries the predictions: it is returned as computed, and contributes no gradient.
  auto loss_with_aux = [](const Tree& p, const Array& x, const Array& y) {
    Array pred = predict(p, x);
    Array r = pred - y;
    return std::make_pair(mean(r * r), Tree::dict({{"pred", pred}}));
  };
  auto [g, aux] = grad(loss_with_aux, {.has_aux = true})(pb.params(), pb.xa(), pb.ya());
  expect_sorted_grads(g, pb);
  std::vector<double> pred = pb.residual();
  for (size_t i = 0; i < pred.size(); ++i) pred[i] += pb.y[i];
  expect_near(aux["pred"].leaf(), pred);

  auto [value_aux, g2] =
      value_and_grad(loss_with_aux, {.has_aux = true})(pb.params(), pb.xa(), pb.ya());
  EXPECT_NEAR(value_aux.first.item<double>(), pb.loss(), 1e-12);
  expect_near(value_aux.second["pred"].leaf(), pred);
  expect_sorted_grads(g2, pb);

  // Under jit too: the pair {grad, aux} is a tree.
  auto step = jit([loss_with_aux](const Tree& p, const Array& x, const Array& y) {
    return grad(loss_with_aux, {.has_aux = true})(p, x, y);
  });
  auto [gj, auxj] = step(pb.params(), pb.xa(), pb.ya());
  expect_sorted_grads(gj, pb);
  expect_near(auxj["pred"].leaf(), pred);
}

TEST(Autodiff, VjpPullsBackACotangentThroughANonScalarFunction) {
  // f(x) = 2 sin(x): the pullback of ct is 2 cos(x) ct, elementwise.
  Array x = f64({0.3, -1.2, 2.5}, {3});
  auto [y, pullback] = vjp([](const Array& a) { return sin(a) * 2.0; }, x);
  expect_near(y, {2 * std::sin(0.3), 2 * std::sin(-1.2), 2 * std::sin(2.5)});
  Array gx = pullback(f64({1.0, -2.0, 0.5}, {3}));
  expect_near(gx, {2 * std::cos(0.3), -4 * std::cos(-1.2), std::cos(2.5)});
  // The pullback can be called again with another cotangent.
  expect_near(pullback(f64({0, 0, 1}, {3})), {0, 0, 2 * std::cos(2.5)});
}

TEST(Autodiff, VjpOfADictToAPairPullsBackEveryLeaf) {
  // f({a, b}) = (a * b, sum(a)): cotangents (u, v) pull back to a: u b + v, b: u a.
  Tree in = Tree::dict({{"a", f64({1, 2}, {2})}, {"b", f64({3, -4}, {2})}});
  auto f = [](const Tree& t) {
    return std::make_pair(t["a"].leaf() * t["b"].leaf(), sum(t["a"].leaf()));
  };
  auto [y, pullback] = vjp(f, in);
  expect_near(y.first, {3, -8});
  expect_near(y.second, {3});
  Tree g = pullback(std::make_pair(f64({0.5, -1}, {2}), f64({2}, {})));
  expect_near(g["a"].leaf(), {0.5 * 3 + 2, -1 * -4 + 2});
  expect_near(g["b"].leaf(), {0.5 * 1, -1 * 2});
}

// ---- closures ----

TEST(Autodiff, ClosureOverDataGivesTheSameGradientAsPassingIt) {
  Problem pb;
  Array x = pb.xa(), y = pb.ya();
  // x and y are captured concrete arrays: constants of the traced graph, never differentiated.
  Tree g = grad([x, y](const Tree& p) { return mse(p, x, y); })(pb.params());
  expect_sorted_grads(g, pb);
}

TEST(Autodiff, GradOfAFunctionThatIgnoresItsInputIsZero) {
  Array c = f64({1, 2}, {2});
  Array g = grad([c](const Array&) { return sum(c); })(f64({5, 6, 7}, {3}));
  EXPECT_EQ(g.dtype(), float64);
  EXPECT_EQ(host(g), (std::vector<double>{0, 0, 0}));
}

TEST(Autodiff, GradKeepsFloat32) {
  Array x = array({0.5f, -1.5f});
  Array g = grad([](const Array& a) { return sum(a * a * a); })(x);
  EXPECT_EQ(g.dtype(), float32);
  expect_near(g, {3 * 0.25, 3 * 2.25}, 1e-6);
}

// ---- jit ----

TEST(Autodiff, GradInsideJitEqualsEager) {
  Problem pb;
  auto step = jit([](const Tree& p, const Array& x, const Array& y) { return grad(mse)(p, x, y); });
  Tree eager = grad(mse)(pb.params(), pb.xa(), pb.ya());
  Tree jitted = step(pb.params(), pb.xa(), pb.ya());
  ASSERT_TRUE(jitted.same_structure(eager));
  EXPECT_EQ(jitted.items()[0].first, "b");
  for (const char* key : {"b", "w"}) {
    SCOPED_TRACE(key);
    std::vector<double> e = host(eager[key].leaf());
    expect_near(jitted[key].leaf(), e);
  }
  // A second call with the same signature reuses the compiled gradient.
  Tree again = step(pb.params(), pb.xa(), pb.ya());
  expect_near(again["w"].leaf(), pb.grad_w());
  EXPECT_EQ(step.cache_size(), 1u);
}

TEST(Autodiff, ValueAndGradInsideJitEqualsEager) {
  Problem pb;
  auto step = jit(
      [](const Tree& p, const Array& x, const Array& y) { return value_and_grad(mse)(p, x, y); });
  auto [value, g] = step(pb.params(), pb.xa(), pb.ya());
  EXPECT_NEAR(value.item<double>(), pb.loss(), 1e-12);
  expect_sorted_grads(g, pb);
}

// ---- user structs ----

TEST(Autodiff, GradOfAKilnTreeStructIsTheSameStructWithStaticFieldsKept) {
  Problem pb;
  Linear model{f64(pb.w, {3, 2}), f64(pb.b, {2}), "dense"};
  auto loss = [](const Linear& m, const Array& x, const Array& y) {
    Array r = matmul(x, m.w) + m.b - y;
    return mean(r * r);
  };
  Linear g = grad(loss)(model, pb.xa(), pb.ya());
  EXPECT_EQ(g.name, "dense");
  expect_near(g.w, pb.grad_w());
  expect_near(g.b, pb.grad_b());

  Linear gj = jit([loss](const Linear& m, const Array& x, const Array& y) {
    return grad(loss)(m, x, y);
  })(model, pb.xa(), pb.ya());
  EXPECT_EQ(gj.name, "dense");
  expect_near(gj.w, pb.grad_w());
  expect_near(gj.b, pb.grad_b());
}

// ---- nesting ----

Array cube(const Array& x) {
  return x * x * x;
}

TEST(Autodiff, SecondDerivativeOfCubeIsSixX) {
  Array x = f64({1.5}, {});
  auto d2 = grad(grad(cube));
  EXPECT_NEAR(grad(cube)(x).item<double>(), 3 * 1.5 * 1.5, 1e-12);
  EXPECT_NEAR(d2(x).item<double>(), 6 * 1.5, 1e-12);
  EXPECT_NEAR(grad(grad(grad(cube)))(x).item<double>(), 6.0, 1e-12);

  auto d2_jit = jit([](const Array& a) { return grad(grad(cube))(a); });
  EXPECT_NEAR(d2_jit(x).item<double>(), 6 * 1.5, 1e-12);
  EXPECT_NEAR(d2_jit(f64({-2.0}, {})).item<double>(), 6 * -2.0, 1e-12);
}

TEST(Autodiff, NestedGradThroughAClosedOverOuterTracer) {
  // d/dx [d/dy (x y^2)] = d/dx [2 x y] = 2 y: the inner function closes over the outer tracer x,
  // so its gradient must still depend on x for the outer grad to see.
  Array y = f64({1.25}, {});
  auto outer = [y](const Array& x) {
    return grad([&x](const Array& yy) { return x * yy * yy; })(y);
  };
  EXPECT_NEAR(outer(f64({3.0}, {})).item<double>(), 2 * 3.0 * 1.25, 1e-12);
  EXPECT_NEAR(grad(outer)(f64({3.0}, {})).item<double>(), 2 * 1.25, 1e-12);
  EXPECT_NEAR(
      jit([outer](const Array& x) { return grad(outer)(x); })(f64({3.0}, {})).item<double>(),
      2 * 1.25, 1e-12);
}

// ---- errors ----

TEST(Autodiff, GradOfANonScalarFunctionThrowsGradErrorNamingTheCallSite) {
  Array x = f64({1, 2, 3}, {3});
  const int line = __LINE__ + 2;  // the line of the grad call below
  try {
    (void)grad([](const Array& a) { return a * 2.0; })(x);
    FAIL() << "no GradError";
  } catch (const GradError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("scalar"), std::string::npos) << msg;
    EXPECT_NE(msg.find("autodiff_test.cpp:" + std::to_string(line)), std::string::npos) << msg;
  }
}

TEST(Autodiff, GradWithRespectToAnInt32ArrayThrowsGradError) {
  Array ints = array(std::span<const int32_t>(std::vector<int32_t>{1, 2, 3}), {3});
  auto f = [](const Array& a) { return sum(astype(a, float32)); };
  EXPECT_THROW((void)grad(f)(ints), GradError);
  try {
    (void)grad(f)(ints);
  } catch (const GradError& e) {
    EXPECT_NE(std::string(e.what()).find("i32[3]"), std::string::npos) << e.what();
  }
  // Integer data is fine as a later, non-differentiated argument.
  Array g = grad([](const Array& w, const Array& i) { return sum(w * astype(i, float64)); })(
      f64({0, 0, 0}, {3}), ints);
  expect_near(g, {1, 2, 3});
}

TEST(Autodiff, HasAuxMismatchThrowsGradError) {
  Array x = f64({1, 2}, {2});
  // has_aux promised but only a value returned.
  EXPECT_THROW((void)grad([](const Array& a) { return sum(a); }, {.has_aux = true})(x), GradError);
  // A {value, aux} pair returned without has_aux.
  auto with_aux = [](const Array& a) { return std::make_pair(sum(a), a); };
  EXPECT_THROW((void)grad(with_aux)(x), GradError);
  try {
    (void)value_and_grad(with_aux)(x);
    FAIL() << "no GradError";
  } catch (const GradError& e) {
    EXPECT_NE(std::string(e.what()).find("has_aux"), std::string::npos) << e.what();
  }
}

TEST(Autodiff, VjpWithACotangentOfTheWrongShapeThrowsGradError) {
  Array x = f64({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {2, 3});
  auto [y, pullback] = vjp([](const Array& a) { return exp(a); }, x);
  EXPECT_THROW((void)pullback(f64({1, 1, 1, 1, 1, 1}, {3, 2})), GradError);
  EXPECT_THROW((void)pullback(f64({1, 1, 1}, {3})), GradError);
  // Same shape but another dtype is a mismatch too.
  EXPECT_THROW((void)pullback(ones({2, 3}, float32)), GradError);
  EXPECT_NO_THROW((void)pullback(ones({2, 3}, float64)));
}

}  // namespace
}  // namespace kiln
