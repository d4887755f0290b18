"""The NoisyNet linear layer with factorised noise: the reference against a 50-digit mpmath
evaluation, that oracle against exact sympy, and the layer's structure (rank-one weight
noise built from f, odd noise, sigma = 0 is the plain layer); each main test shown able to
fail with a catalogued bug planted.

Tolerance: y is a sum of p + 1 products of numbers of size at most `scale`, each rounded
once, plus a correctly rounded square root: SAFETY * (p + 2) * eps * scale.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rlspec
from rlspec.oracles.methods import accuracy
from rlspec.oracles import noisy_networks as oracle
from rlspec.reference import noisy_networks
from rlspec.toy_mdps import strategies
from rlspec.validation import InvalidInputError

import bugs_deep_value as bugs
import user_implementations_deep_value as user
from mutation import fails

EPS, SAFETY = accuracy.EPS, accuracy.SAFETY
NOISE = st.sampled_from([-1.0, 0.25, 2.25, -0.25, 0.0, 1.0, -2.25, 4.0, 0.5, -0.81, 1.3])


def quarters(shape, bound=2):
    return strategies.reward_tables(tuple(shape), bound=bound, denominator=4)


@st.composite
def layers(draw, max_size=3):
    batch, n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    return {"x": draw(quarters([batch, n_in])), "weight_mu": draw(quarters([n_out, n_in])),
            "weight_sigma": np.abs(draw(quarters([n_out, n_in], bound=1))),
            "bias_mu": draw(quarters([n_out])), "bias_sigma": np.abs(draw(quarters([n_out], bound=1))),
            "noise_in": np.array(draw(st.lists(NOISE, min_size=n_in, max_size=n_in))),
            "noise_out": np.array(draw(st.lists(NOISE, min_size=n_out, max_size=n_out)))}


def _tolerance(layer) -> float:
    scale = 1.0 + sum(float(np.abs(value).max()) for value in layer.values()) ** 2
    return SAFETY * (layer["x"].shape[1] + 2) * EPS * scale


@pytest.mark.spec("noisy.factorised-linear")
@given(layers())
def test_noisy_linear_matches_the_precise_oracle(layer):
    np.testing.assert_allclose(noisy_networks.noisy_linear(**layer), oracle.noisy_linear_precise(**layer),
                               rtol=0, atol=_tolerance(layer))


@pytest.mark.spec("noisy.factorised-linear")
@given(layers(max_size=2))
def test_noisy_oracles_agree(layer):
    """Both round a (nearly) exact value to float once: they agree to the last bit or two."""
    np.testing.assert_allclose(oracle.noisy_linear_precise(**layer), oracle.noisy_linear_symbolic(**layer),
                               rtol=2 * EPS, atol=1e-300)


@pytest.mark.spec("noisy.factorised-linear")
@given(layers())
def test_weight_noise_is_the_outer_product_of_f(layer):
    """With mu = 0, sigma_w = 1, sigma_b = 0 and the unit vectors as inputs, the output is the
    noise matrix itself: outer(f(eps_out), f(eps_in)), of rank one; with x = 0 and sigma_b = 1
    it is f(eps_out)."""
    n_out, n_in = layer["weight_mu"].shape
    f = np.sign(layer["noise_in"]) * np.sqrt(np.abs(layer["noise_in"]))
    g = np.sign(layer["noise_out"]) * np.sqrt(np.abs(layer["noise_out"]))
    probe = {**layer, "x": np.eye(n_in), "weight_mu": np.zeros((n_out, n_in)),
             "weight_sigma": np.ones((n_out, n_in)), "bias_mu": np.zeros(n_out), "bias_sigma": np.zeros(n_out)}
    noise = noisy_networks.noisy_linear(**probe).T  # [out, in]
    np.testing.assert_allclose(noise, np.outer(g, f), rtol=2 * EPS, atol=0)
    assert np.linalg.matrix_rank(noise) <= 1
    bias_probe = {**probe, "x": np.zeros((1, n_in)), "bias_sigma": np.ones(n_out)}
    np.testing.assert_allclose(noisy_networks.noisy_linear(**bias_probe)[0], g, rtol=2 * EPS, atol=0)


@pytest.mark.spec("noisy.factorised-linear")
@given(layers())
def test_flipping_the_output_noise_mirrors_the_perturbation(layer):
    """f is odd, so eps_out -> -eps_out negates the whole perturbation: the two outputs
    average to the noiseless layer (the noise has mean zero by symmetry)."""
    plus = noisy_networks.noisy_linear(**layer)
    minus = noisy_networks.noisy_linear(**{**layer, "noise_out": -layer["noise_out"]})
    plain = layer["x"] @ layer["weight_mu"].T + layer["bias_mu"]
    np.testing.assert_allclose((plus + minus) / 2, plain, rtol=0, atol=_tolerance(layer))


@given(layers())
def test_zero_sigma_is_the_plain_linear_layer(layer):
    quiet = {**layer, "weight_sigma": np.zeros_like(layer["weight_sigma"]),
             "bias_sigma": np.zeros_like(layer["bias_sigma"])}
    np.testing.assert_allclose(noisy_networks.noisy_linear(**quiet),
                               layer["x"] @ layer["weight_mu"].T + layer["bias_mu"],
                               rtol=0, atol=_tolerance(layer))


MUTANTS = {
    "test_noisy_linear_matches_the_precise_oracle": ("noisy_linear", bugs.noisy_without_sign),
    "test_weight_noise_is_the_outer_product_of_f": ("noisy_linear", bugs.noisy_without_f),
    "test_flipping_the_output_noise_mirrors_the_perturbation": ("noisy_linear", bugs.noisy_without_sign),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, planted = MUTANTS[test_name]
    monkeypatch.setattr(noisy_networks, attribute, planted)
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {planted.__name__} planted as {attribute}"


def test_correct_user_implementations_pass():
    report = rlspec.check("noisy-linear", user.noisy_linear_torch, max_examples=30)
    assert report.passed, str(report)


def _layer(**changes):
    arguments = {"x": [[1.0, 2.0]], "weight_mu": [[0.0, 1.0]], "weight_sigma": [[0.5, 0.5]],
                 "bias_mu": [0.0], "bias_sigma": [0.5], "noise_in": [1.0, -1.0], "noise_out": [0.5],
                 **changes}
    return noisy_networks.noisy_linear(**arguments)


@pytest.mark.parametrize("changes, message", [
    ({"x": [[1.0, 2.0, 3.0]]}, r"x must have shape \(batch, 2\)"),
    ({"noise_in": [1.0]}, r"noise_in must have shape \(2,\)"),
    ({"weight_sigma": [[0.5]]}, r"weight_sigma must have shape \(1, 2\)"),
    ({"noise_out": [np.nan]}, "noise_out contains NaN"),
], ids=["x", "noise-in", "sigma", "nan"])
def test_bad_input_is_named(changes, message):
    with pytest.raises(InvalidInputError, match=message):
        _layer(**changes)
