// erf and erf_inv as JAX computes them. JAX's normal and truncated-normal samples go through these,
// so the float32 versions reproduce XLA's float32 approximations operation for operation.
#pragma once

namespace kiln::cpu {

// StableHLO's chlo.erf float32 lowering: clamp to [-4, 4], x·α(x²)/β(x²), clamp to [-1, 1].
float erf_f32(float x);
// StableHLO's chlo.erf_inv float32 lowering: Giles' single-precision polynomials in
// w = -log1p(-x²), split at w < 5; ±1 map to ±inf.
float erf_inv_f32(float x);
double erf_f64(double x);
// chlo.lgamma and chlo.digamma as XLA expands them (Lanczos, g = 7), operation for operation; the
// transcendental steps (log, log1p, sin, cos) are the C library's, not XLA's, so results can
// differ from XLA's in the last bits (docs/primitives.md states the measured bound).
float lgamma_f32(float x);
double lgamma_f64(double x);
float digamma_f32(float x);
double digamma_f64(double x);
// Giles' double-precision polynomials (three ranges of w), accurate to ~1e-16 relative.
double erf_inv_f64(double x);

}  // namespace kiln::cpu
