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

}  // namespace

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
