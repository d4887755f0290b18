"""Independent evaluations of the NoisyNet linear layer with factorised noise.

The layer involves square roots, so exact rationals cannot hold it.  Two oracles:

- :func:`noisy_linear_symbolic`: sympy, with every float converted to an exact Rational and
  f(x) = sgn(x) sqrt(|x|) kept symbolic; the exact value is rounded to float once, at the
  end.  Slow, for the cross-checks.
- :func:`noisy_linear_precise`: mpmath at 50 significant digits, summing the expanded form
  mu^w x + f(eps_out) * (sigma^w * f(eps_in)) x + mu^b + sigma^b f(eps_out) (the noise
  factored out of the sum over inputs, unlike the reference's per-weight loop).  The error
  is below 1e-45 relative: far below a float64 answer's rounding.  Fast; the check uses it.
"""

from __future__ import annotations

import mpmath
import numpy as np
import sympy

__all__ = ["noisy_linear_symbolic", "noisy_linear_precise"]

PRECISION = 50


def _rational(x: float) -> sympy.Rational:
    return sympy.Rational(*float(x).as_integer_ratio())


def _f_symbolic(x: float):
    value = _rational(x)
    return sympy.sign(value) * sympy.sqrt(abs(value))


def noisy_linear_symbolic(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out
                          ) -> np.ndarray:
    """y[n, i] exactly (sympy), rounded to float64 once."""
    x, weight_mu, weight_sigma = (np.asarray(a, dtype=float) for a in (x, weight_mu, weight_sigma))
    f_in = [_f_symbolic(e) for e in noise_in]
    f_out = [_f_symbolic(e) for e in noise_out]
    n_out, n_in = weight_mu.shape
    y = np.zeros((x.shape[0], n_out))
    for n in range(x.shape[0]):
        for i in range(n_out):
            value = _rational(bias_mu[i]) + _rational(bias_sigma[i]) * f_out[i]
            value += sum(((_rational(weight_mu[i, j]) + _rational(weight_sigma[i, j]) * f_out[i] * f_in[j])
                          * _rational(x[n, j]) for j in range(n_in)), sympy.Integer(0))
            y[n, i] = float(sympy.N(value, PRECISION))
    return y


def noisy_linear_precise(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out
                         ) -> np.ndarray:
    """y[n, i] with mpmath at 50 digits, the noise factored out of the input sum."""
    x, weight_mu, weight_sigma = (np.asarray(a, dtype=float) for a in (x, weight_mu, weight_sigma))
    n_out, n_in = weight_mu.shape
    with mpmath.workdps(PRECISION):
        def f(e):
            e = mpmath.mpf(float(e))
            return mpmath.sign(e) * mpmath.sqrt(abs(e))

        f_in = [f(e) for e in noise_in]
        f_out = [f(e) for e in noise_out]
        y = np.zeros((x.shape[0], n_out))
        for n in range(x.shape[0]):
            for i in range(n_out):
                mean_part = mpmath.fsum(mpmath.mpf(float(weight_mu[i, j])) * mpmath.mpf(float(x[n, j]))
                                        for j in range(n_in))
                noise_part = mpmath.fsum(mpmath.mpf(float(weight_sigma[i, j])) * f_in[j]
                                         * mpmath.mpf(float(x[n, j])) for j in range(n_in))
                bias = mpmath.mpf(float(bias_mu[i])) + mpmath.mpf(float(bias_sigma[i])) * f_out[i]
                y[n, i] = float(mean_part + f_out[i] * noise_part + bias)
    return y
