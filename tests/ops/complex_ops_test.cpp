// complex64 / complex128 at the API: real, imag, conj, complex, angle, abs, JAX's promotion through
// the operators, matmul, fills, and gradients under JAX's convention. Expected values come from
// std::complex (an independent implementation) or from JAX where named.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <vector>

#include "kiln/autodiff.hpp"
#include "kiln/jit.hpp"
#include "kiln/ops.hpp"

namespace kiln {
namespace {

using c64 = std::complex<float>;
using c128 = std::complex<double>;

Array c64_array(std::vector<c64> v, const Shape& s) {
  return Array::from_data<c64>(v, s);
}

const std::vector<c64> kZ = {{1, 2}, {3, -4}, {-0.5f, 0.25f}, {0, -1}};

TEST(ComplexOps, PartsConjugateAndConstructionAreNumpys) {
  const Array z = c64_array(kZ, {4});
  const Array re = real(z), im = imag(z);
  EXPECT_EQ(re.dtype(), float32);
  EXPECT_EQ(im.dtype(), float32);
  std::vector<float> want_re, want_im, want_abs, want_angle;
  std::vector<c64> want_conj;
  for (const c64& v : kZ) {
    want_re.push_back(v.real());
    want_im.push_back(v.imag());
    want_conj.push_back(std::conj(v));
    want_abs.push_back(std::hypot(v.real(), v.imag()));
    want_angle.push_back(std::atan2(v.imag(), v.real()));
  }
  EXPECT_EQ(re.to_vector<float>(), want_re);
  EXPECT_EQ(im.to_vector<float>(), want_im);
  EXPECT_EQ(conj(z).to_vector<c64>(), want_conj);
  EXPECT_EQ(conj(z).dtype(), complex64);
  EXPECT_EQ(abs(z).dtype(), float32);
  EXPECT_EQ(abs(z).to_vector<float>(), want_abs);
  EXPECT_EQ(angle(z).to_vector<float>(), want_angle);
  EXPECT_EQ(complex(re, im).to_vector<c64>(), kZ);
  // Of real arrays: real is x, imag zeros, conj x; angle is 0 or pi (jnp.angle).
  const Array x = Array::from_data<double>(std::vector<double>{2, -3}, {2});
  EXPECT_EQ(real(x).to_vector<double>(), (std::vector<double>{2, -3}));
  EXPECT_EQ(imag(x).to_vector<double>(), (std::vector<double>{0, 0}));
  EXPECT_EQ(conj(x).to_vector<double>(), (std::vector<double>{2, -3}));
  EXPECT_EQ(angle(x).to_vector<double>(), (std::vector<double>{0, std::atan2(0.0, -3.0)}));
  // lax.complex: float64 parts make complex128; integer parts promote to complex64.
  EXPECT_EQ(complex(x, x).dtype(), complex128);
  const Array i = Array::from_data<int32_t>(std::vector<int32_t>{1, 2}, {2});
  EXPECT_EQ(complex(i, 0.5).to_vector<c64>(), (std::vector<c64>{{1, 0.5f}, {2, 0.5f}}));
}

TEST(ComplexOps, OperatorsPromoteAsJax) {
  const Array z = c64_array(kZ, {4});
  const Array f32 = Array::from_data<float>(std::vector<float>{1, 2, 3, 4}, {4});
  const Array f64 = Array::from_data<double>(std::vector<double>{1, 2, 3, 4}, {4});
  EXPECT_EQ((z * f32).dtype(), complex64);
  EXPECT_EQ((f64 + z).dtype(), complex128);  // float64 + complex64 -> complex128 (JAX's lattice)
  EXPECT_EQ((z * 2.0).dtype(), complex64);   // weak scalars keep the array's dtype
  EXPECT_EQ((z + 1).dtype(), complex64);
  std::vector<c64> prod, quot, sum, neg;
  for (size_t k = 0; k < kZ.size(); ++k) {
    const float r = static_cast<float>(k + 1);
    prod.push_back(kZ[k] * r);  // a real factor: exact per part
    sum.push_back(kZ[k] + c64(1, 0));
    neg.push_back(-kZ[k]);
    quot.push_back(kZ[k] / 2.0f);
  }
  EXPECT_EQ((z * f32).to_vector<c64>(), prod);
  EXPECT_EQ((z + 1).to_vector<c64>(), sum);
  EXPECT_EQ((-z).to_vector<c64>(), neg);
  EXPECT_EQ((z / 2.0).to_vector<c64>(), quot);
  // z * conj(z) = |z|^2 + 0i, exactly for these small integers and halves.
  std::vector<c64> norm;
  for (const c64& v : kZ) norm.push_back({v.real() * v.real() + v.imag() * v.imag(), 0});
  EXPECT_EQ((z * conj(z)).to_vector<c64>(), norm);
  EXPECT_EQ((z == conj(conj(z))).to_vector<bool>(), (std::vector<bool>{true, true, true, true}));
  EXPECT_EQ((z != conj(z)).to_vector<bool>(), (std::vector<bool>{true, true, true, true}));
  // Fills of a complex dtype are (value, 0).
  EXPECT_EQ(ones({2}, complex128).to_vector<c128>(), (std::vector<c128>{{1, 0}, {1, 0}}));
  EXPECT_EQ(zeros_like(z).to_vector<c64>(), std::vector<c64>(4, c64(0, 0)));
  EXPECT_EQ(mean(z).item<c64>(), c64(3.5f / 4, -2.75f / 4));
}

TEST(ComplexOps, MatmulIsTheComplexProduct) {
  const Array a = c64_array({{1, 2}, {0, 1}, {-1, 0.5f}, {2, -1}, {0.5f, 0.5f}, {3, 0}}, {2, 3});
  const Array b = c64_array({{1, -1}, {2, 0}, {0, 3}, {1, 1}, {-2, 0.5f}, {0, 0}}, {3, 2});
  const auto av = a.to_vector<c64>(), bv = b.to_vector<c64>();
  std::vector<c64> want(4);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      c128 s = 0;
      for (int k = 0; k < 3; ++k) s += c128(av[i * 3 + k]) * c128(bv[k * 2 + j]);
      want[i * 2 + j] = c64(static_cast<float>(s.real()), static_cast<float>(s.imag()));
    }
  EXPECT_EQ(matmul(a, b).to_vector<c64>(), want);  // small integers and halves: exact
  // A real matrix times a complex one promotes (flax's Dense on complex parameters).
  const Array x = Array::from_data<float>(std::vector<float>{1, 0, 2, 0, 1, -1}, {2, 3});
  EXPECT_EQ(matmul(x, b).dtype(), complex64);
}

// JAX's convention (jax.grad of a real-valued function of a complex input): the values below are
// JAX 0.10.2's (jax.grad(jnp.abs)(3+4j) = 0.6-0.8j; jax.grad(lambda z: jnp.abs(z)**2)(3+4j) =
// 6-8j; jax.vjp(jnp.exp, z)[1](1) = exp(z)).
TEST(ComplexOps, GradientsFollowJaxsConvention) {
  const Array z = Array::from_data<c128>(std::vector<c128>{{3, 4}}, {});
  EXPECT_EQ(grad([](const Array& x) { return abs(x); })(z).item<c128>(), c128(0.6, -0.8));
  EXPECT_EQ(grad([](const Array& x) { return real(x * conj(x)); })(z).item<c128>(), c128(6, -8));
  const c128 g = grad([](const Array& x) { return abs(x) * abs(x); })(z).item<c128>();
  EXPECT_NEAR(g.real(), 6, 1e-12);
  EXPECT_NEAR(g.imag(), -8, 1e-12);
  // grad of |z| at 0 is 0 (JAX replaces |z| = 0 by 1 in the derivative).
  const Array zero = Array::from_data<c128>(std::vector<c128>{{0, 0}}, {});
  EXPECT_EQ(grad([](const Array& x) { return abs(x); })(zero).item<c128>(), c128(0, 0));
  // A holomorphic function's VJP multiplies by f'(z), unconjugated.
  auto [y, pullback] = vjp([](const Array& x) { return exp(x); }, z);
  const c128 ct(0.5, -2);
  const c128 back = pullback(Array::from_data<c128>(std::vector<c128>{ct}, {})).item<c128>();
  const c128 want = ct * std::exp(c128(3, 4));
  EXPECT_NEAR(back.real(), want.real(), 1e-12 * std::abs(want));
  EXPECT_NEAR(back.imag(), want.imag(), 1e-12 * std::abs(want));
  // JAX: jax.grad(jnp.imag)(z) = -1j, jax.grad(jnp.real)(z) = 1.
  EXPECT_EQ(grad([](const Array& w) { return real(w); })(z).item<c128>(), c128(1, 0));
  EXPECT_EQ(grad([](const Array& w) { return imag(w); })(z).item<c128>(), c128(0, -1));
}

TEST(ComplexOps, JitRunsComplexAndOrderingsAreRefusedByName) {
  auto f = jit([](const Array& x) { return sum(exp(x) * conj(x)); });
  const Array z = c64_array(kZ, {4});
  c128 want = 0;
  for (const c64& v : kZ) want += std::exp(c128(v)) * std::conj(c128(v));
  const c64 got = f(z).item<c64>();
  EXPECT_NEAR(got.real(), want.real(), 1e-5 * std::abs(want));
  EXPECT_NEAR(got.imag(), want.imag(), 1e-5 * std::abs(want));
  const Loc line = Loc::current();
  try {
    (void)maximum(z, z, line);
    FAIL() << "expected kiln::DTypeError";
  } catch (const DTypeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("max: needs numeric (not bool) operands, got complex64"), std::string::npos)
        << m;
    EXPECT_NE(m.find("complex_ops_test.cpp:" + std::to_string(line.line())), std::string::npos)
        << m;
  }
  EXPECT_THROW((void)complex(z, z), DTypeError);
}

}  // namespace
}  // namespace kiln
