#include "backend/cpu/special_functions.hpp"

#include <array>
#include <cmath>
#include <limits>

// Bit-exactness needs every multiply and add rounded separately, as XLA's elementwise HLO does:
// never let the compiler contract them into FMAs here.
#pragma GCC optimize("fp-contract=off")

namespace kiln::cpu {
namespace {

// Horner's rule, highest coefficient first, as StableHLO's materializePolynomialApproximation
// builds it (p = p·x + c).
template <class T, size_t N>
T horner(T x, const std::array<T, N>& c) {
  T p = c[0];
  for (size_t i = 1; i < N; ++i) p = p * x + c[i];
  return p;
}

// Coefficients from StableHLO's ChloLegalizeToStablehlo.cpp (materializeErfApproximationF32,
// the rational interpolant Eigen also uses).
constexpr std::array<float, 7> kErfAlpha = {
    -2.72614225801306e-10f, 2.77068142495902e-08f,  -2.10102402082508e-06f, -5.69250639462346e-05f,
    -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f,
};
constexpr std::array<float, 5> kErfBeta = {
    -1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
    -7.37332916720468e-03f, -1.42647390514189e-02f,
};

// Giles, "Approximating the erfinv function" (GPU Computing Gems), single precision, as in
// StableHLO's erfInv32.
constexpr std::array<float, 9> kErfInvSmallW = {2.81022636e-08f,  3.43273939e-07f, -3.5233877e-06f,
                                                -4.39150654e-06f, 0.00021858087f,  -0.00125372503f,
                                                -0.00417768164f,  0.246640727f,    1.50140941f};
constexpr std::array<float, 9> kErfInvLargeW = {-0.000200214257f, 0.000100950558f, 0.00134934322f,
                                                -0.00367342844f,  0.00573950773f,  -0.0076224613f,
                                                0.00943887047f,   1.00167406f,     2.83297682f};

// Giles' double-precision coefficients (w < 6.25, w < 16, otherwise), as in StableHLO's erfInv64.
constexpr std::array<double, 23> kErfInvW625 = {
    -3.6444120640178196996e-21, -1.685059138182016589e-19,  1.2858480715256400167e-18,
    1.115787767802518096e-17,   -1.333171662854620906e-16,  2.0972767875968561637e-17,
    6.6376381343583238325e-15,  -4.0545662729752068639e-14, -8.1519341976054721522e-14,
    2.6335093153082322977e-12,  -1.2975133253453532498e-11, -5.4154120542946279317e-11,
    1.051212273321532285e-09,   -4.1126339803469836976e-09, -2.9070369957882005086e-08,
    4.2347877827932403518e-07,  -1.3654692000834678645e-06, -1.3882523362786468719e-05,
    0.0001867342080340571352,   -0.00074070253416626697512, -0.0060336708714301490533,
    0.24015818242558961693,     1.6536545626831027356};
constexpr std::array<double, 19> kErfInvW16 = {
    2.2137376921775787049e-09, 9.0756561938885390979e-08, -2.7517406297064545428e-07,
    1.8239629214389227755e-08, 1.5027403968909827627e-06, -4.013867526981545969e-06,
    2.9234449089955446044e-06, 1.2475304481671778723e-05, -4.7318229009055733981e-05,
    6.8284851459573175448e-05, 2.4031110387097893999e-05, -0.0003550375203628474796,
    0.00095328937973738049703, -0.0016882755560235047313, 0.0024914420961078508066,
    -0.0037512085075692412107, 0.005370914553590063617,   1.0052589676941592334,
    3.0838856104922207635};
constexpr std::array<double, 17> kErfInvWLarge = {
    -2.7109920616438573243e-11, -2.5556418169965252055e-10, 1.5076572693500548083e-09,
    -3.7894654401267369937e-09, 7.6157012080783393804e-09,  -1.4960026627149240478e-08,
    2.9147953450901080826e-08,  -6.7711997758452339498e-08, 2.2900482228026654717e-07,
    -9.9298272942317002539e-07, 4.5260625972231537039e-06,  -1.9681778105531670567e-05,
    7.5995277030017761139e-05,  -0.00021503011930044477347, -0.00013871931833623122026,
    1.0103004648645343977,      4.8499064014085844221};

// The Lanczos approximation (g = 7, 8 terms after the base) StableHLO's chlo.lgamma and
// chlo.digamma expansions use, with the constants XLA folds them to in each type: 1/7.5, log(7.5),
// log(pi), log(sqrt(2 pi)); the base coefficient rounds to 1 in float32.
template <class T>
struct Lanczos;
template <>
struct Lanczos<float> {
  static constexpr float base = 1.0f, inv_7_5 = 0.13333334f, log_7_5 = 2.01490307f,
                         log_pi = 1.14472985f, log_sqrt_2pi = 0.918938518f, pi = 3.14159274f;
  static constexpr std::array<float, 8> c = {676.520386f,     -1259.13916f,   771.323425f,
                                             -176.615036f,    12.5073433f,    -0.138571098f,
                                             9.98436917e-06f, 1.50563267e-07f};
};
template <>
struct Lanczos<double> {
  static constexpr double base = 0.99999999999980993, inv_7_5 = 0.13333333333333333,
                          log_7_5 = 2.0149030205422647, log_pi = 1.1447298858494002,
                          log_sqrt_2pi = 0.91893853320467267, pi = 3.1415926535897931;
  static constexpr std::array<double, 8> c = {
      676.5203681218851,  -1259.1392167224028,  771.32342877765313,     -176.61502916214059,
      12.507343278686905, -0.13857109526572012, 9.9843695780195716e-06, 1.5056327351493116e-07};
};

// lgamma(x) = log|Γ(x)|, operation for operation as XLA runs chlo.lgamma (reflection below 0.5).
template <class T>
T lgamma_lanczos(T x) {
  using L = Lanczos<T>;
  const bool reflect = x < T(0.5);
  const T z = reflect ? -x : x + T(-1);
  T a = L::c[0] / (z + T(1)) + L::base;
  for (size_t i = 1; i < L::c.size(); ++i) a = a + L::c[i] / (z + static_cast<T>(i + 1));
  const T t = z + T(7.5);
  const T log_t = std::log1p(z * L::inv_7_5) + L::log_7_5;
  const T log_y = ((z + T(0.5)) - t / log_t) * log_t + L::log_sqrt_2pi + std::log(a);
  const T abs_x = std::fabs(x);
  const T frac = abs_x - std::floor(abs_x);
  const T reduced = T(0.5) < frac ? T(1) - frac : frac;
  const T denom = std::log(std::sin(reduced * L::pi));
  const T reflection = std::isfinite(denom) ? (L::log_pi - denom) - log_y : -denom;
  const T r = reflect ? reflection : log_y;
  return abs_x == std::numeric_limits<T>::infinity() ? abs_x : r;
}

// digamma(x), as XLA runs chlo.digamma (reflection below 0.5; NaN at 0 and negative integers).
template <class T>
T digamma_lanczos(T x) {
  using L = Lanczos<T>;
  const bool reflect = x < T(0.5);
  const T z = reflect ? -x : x + T(-1);
  const T log_t = std::log1p(z * L::inv_7_5) + L::log_7_5;
  T num = T(0);
  for (size_t i = 0; i < L::c.size(); ++i) {
    const T zi = z + static_cast<T>(i + 1);
    num = num - L::c[i] / (zi * zi);
  }
  T denom = L::c[0] / (z + T(1)) + L::base;
  for (size_t i = 1; i < L::c.size(); ++i) denom = denom + L::c[i] / (z + static_cast<T>(i + 1));
  const T y = (log_t + num / denom) - T(7) / (z + T(7.5));
  const T reduced = (x + std::fabs(std::floor(x + T(0.5)))) * L::pi;
  const T reflection = y - (std::cos(reduced) * L::pi) / std::sin(reduced);
  const T r = reflect ? reflection : y;
  return x <= T(0) && x == std::floor(x) ? std::numeric_limits<T>::quiet_NaN() : r;
}

}  // namespace

float lgamma_f32(float x) {
  return lgamma_lanczos(x);
}
double lgamma_f64(double x) {
  return lgamma_lanczos(x);
}
float digamma_f32(float x) {
  return digamma_lanczos(x);
}
double digamma_f64(double x) {
  return digamma_lanczos(x);
}

float erf_f32(float x) {
  // NaN passes both clamps unchanged, as stablehlo.clamp propagates it.
  if (x < -4.0f) x = -4.0f;
  if (x > 4.0f) x = 4.0f;
  float x2 = x * x;
  float r = (x * horner(x2, kErfAlpha)) / horner(x2, kErfBeta);
  if (r < -1.0f) r = -1.0f;
  if (r > 1.0f) r = 1.0f;
  return r;
}

float erf_inv_f32(float x) {
  float w = -std::log1p(x * -x);
  bool small = w < 5.0f;
  w = small ? w - 2.5f : std::sqrt(w) - 3.0f;
  const auto& c = small ? kErfInvSmallW : kErfInvLargeW;
  float p = c[0];
  for (size_t i = 1; i < c.size(); ++i) p = c[i] + p * w;
  if (std::fabs(x) == 1.0f) return x * std::numeric_limits<float>::infinity();
  return p * x;
}

double erf_f64(double x) {
  return std::erf(x);
}

double erf_inv_f64(double x) {
  double w = -std::log1p(x * -x);
  double p;
  if (w < 6.25) {
    p = horner(w - 3.125, kErfInvW625);
  } else if (w < 16.0) {
    p = horner(std::sqrt(w) - 3.25, kErfInvW16);
  } else {
    p = horner(std::sqrt(w) - 5.0, kErfInvWLarge);
  }
  if (std::fabs(x) == 1.0) return x * std::numeric_limits<double>::infinity();
  return p * x;
}

}  // namespace kiln::cpu
