r"""Noisy networks: a linear layer with learned, factorised Gaussian parameter noise.

Source: seed 000 "其他改进内容：多步学习、噪声网络和值分布强化学习等" (噪声网络:
:math:`y = (Wx + b) + ((W_{noisy}\odot\epsilon_w)x + b_{noisy}\odot\epsilon_b)`), seed 003,
4-6 (4).  Paper: Fortunato et al. (2018), "Noisy Networks for Exploration", ICLR: §3,
eq. (9) and the factorised noise of §3(b), eqs. (10)-(11).

The noise sample is an *input* here (``noise_in``, ``noise_out``: standard normal draws in a
real layer), so the layer is a deterministic function that a check can judge exactly.
"""

from __future__ import annotations

import numpy as np

from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = ["factorised_noise_scale", "noisy_linear"]


def factorised_noise_scale(x):
    r"""The scaling of factorised noise, :math:`f(x) = \operatorname{sgn}(x)\sqrt{|x|}`.

    Source: Fortunato et al. (2018), §3(b): "we used f(x) = sgn(x)√|x|".  With x standard
    normal, f(x) keeps the sign, so the products f(ε_i) f(ε_j) are symmetric about 0.

    >>> factorised_noise_scale(np.array([-4.0, 0.0, 0.25]))
    array([-2. ,  0. ,  0.5])
    """
    x = validation.as_float_array(x, "noise", ndim=None)
    return np.sign(x) * np.sqrt(np.abs(x))


def noisy_linear(x, weight_mu, weight_sigma, bias_mu, bias_sigma, noise_in, noise_out) -> np.ndarray:
    r"""A NoisyNet linear layer with factorised Gaussian noise, for a batch of inputs.

    .. math:: y = (\mu^w + \sigma^w \odot \varepsilon^w)\, x + \mu^b + \sigma^b \odot \varepsilon^b,
    .. math:: \varepsilon^w_{i,j} = f(\varepsilon^{out}_i)\, f(\varepsilon^{in}_j),\qquad
              \varepsilon^b_i = f(\varepsilon^{out}_i),\qquad f(x) = \operatorname{sgn}(x)\sqrt{|x|}

    Source: Fortunato et al. (2018), eq. (9) and §3(b) (with p inputs and q outputs, p + q
    unit Gaussian draws instead of pq + q); the notes' form (seed 000, 噪声网络) is the same
    layer with W = μ^w, W_noisy = σ^w, but calls ε_w, ε_b scalars that are annealed to 0,
    an erratum (spec ``noisy.factorised-linear``): ε^w is a q × p matrix and ε^b a q-vector,
    resampled, never annealed; the learned σ decide how much noise remains.

    Conventions: ``x[n, j]`` a batch of inputs; ``weight_mu[i, j]``, ``weight_sigma[i, j]``
    (q outputs × p inputs); ``bias_mu[i]``, ``bias_sigma[i]``; ``noise_in[j]`` and
    ``noise_out[i]`` the unit Gaussian draws ε_j, ε_i; returns ``y[n, i]``.

    Example: one input x = 1, μ^w = 1, σ^w = 1, μ^b = 0, σ^b = 1, ε_in = 4, ε_out = -1:
    f = (2, -1), ε^w = -2, ε^b = -1, y = (1 + 1·(-2))·1 + 0 + 1·(-1) = -2.

    >>> noisy_linear([[1.0]], [[1.0]], [[1.0]], [0.0], [1.0], [4.0], [-1.0])
    array([[-2.]])
    """
    x = validation.as_float_array(x, "x", ndim=2)
    weight_mu = validation.as_float_array(weight_mu, "weight_mu", ndim=2)
    n_out, n_in = weight_mu.shape
    if x.shape[1] != n_in:
        raise InvalidInputError(f"x must have shape (batch, {n_in}) to match weight_mu {weight_mu.shape}, "
                                f"got {x.shape}")
    weight_sigma = validation.as_float_array(weight_sigma, "weight_sigma", ndim=2)
    validation.check_shape(weight_sigma, (n_out, n_in), "weight_sigma")
    shapes = {"bias_mu": (bias_mu, n_out), "bias_sigma": (bias_sigma, n_out),
              "noise_in": (noise_in, n_in), "noise_out": (noise_out, n_out)}
    vectors = {}
    for name, (value, size) in shapes.items():
        vectors[name] = validation.as_float_array(value, name, ndim=1)
        validation.check_shape(vectors[name], (size,), name)
    scaled_in = factorised_noise_scale(vectors["noise_in"])
    scaled_out = factorised_noise_scale(vectors["noise_out"])

    y = np.zeros((x.shape[0], n_out))
    for n in range(x.shape[0]):
        for i in range(n_out):
            total = vectors["bias_mu"][i] + vectors["bias_sigma"][i] * scaled_out[i]
            for j in range(n_in):
                weight = weight_mu[i, j] + weight_sigma[i, j] * scaled_out[i] * scaled_in[j]
                total += weight * x[n, j]
            y[n, i] = total
    return y
