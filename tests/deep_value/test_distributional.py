"""C51's categorical projection: the reference against exact rational projections, two exact
oracles against each other, and the projection's invariants (mass, mean, terminal collapse,
identity); each main test shown able to fail with a catalogued bug planted.

Tolerance: the support, rewards and probabilities are dyadic, so the only rounding is in
r + gamma z (gamma = 0.9 is not dyadic) and in the interpolation weights, each a few ulps of
the atoms' scale, summed over K atoms: SAFETY * K * eps * scale.
"""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rlspec
from rlspec.oracles.methods import accuracy
from rlspec.oracles import distributional as oracle
from rlspec.reference import distributional
from rlspec.toy_mdps import strategies
from rlspec.validation import InvalidInputError

import bugs_deep_value as bugs
import user_implementations_deep_value as user
from mutation import fails

EPS, SAFETY = accuracy.EPS, accuracy.SAFETY


@st.composite
def projections(draw, terminated=None):
    n_atoms = draw(st.integers(2, 7))
    spacing = draw(st.sampled_from([1.0, 0.5, 2.0]))
    v_min = draw(st.sampled_from([-2.0, -1.0, 0.0, -4.0]))
    batch = draw(st.integers(1, 3))
    flags = st.sampled_from([0.0, 0.0, 1.0]) if terminated is None else st.just(float(terminated))
    return {
        "rewards": draw(strategies.reward_tables((batch,), bound=3, denominator=4)),
        "terminated": np.array(draw(st.lists(flags, min_size=batch, max_size=batch))),
        "gamma": draw(st.sampled_from([0.5, 1.0, 0.0, 0.75, 0.9])),
        "next_probabilities": np.array([draw(strategies.probability_vectors(n_atoms)) for _ in range(batch)]),
        "v_min": v_min, "v_max": v_min + spacing * (n_atoms - 1),
    }


def _tolerance(case) -> float:
    scale = max(1.0, abs(case["v_min"]), abs(case["v_max"]), float(np.abs(case["rewards"]).max()))
    return SAFETY * case["next_probabilities"].shape[1] * EPS * scale


def _floats(array) -> np.ndarray:
    return np.vectorize(float, otypes=[float])(array)


@pytest.mark.spec("c51.projection")
@given(projections())
def test_projection_matches_the_exact_oracle(case):
    got = distributional.categorical_projection(**case)
    np.testing.assert_allclose(got, _floats(oracle.categorical_projection_exact(**case)),
                               rtol=0, atol=_tolerance(case))


@pytest.mark.spec("c51.projection")
@given(projections())
def test_projection_oracles_agree(case):
    by_target_atom = oracle.categorical_projection_exact(**case)
    by_source_atom = oracle.categorical_projection_by_neighbours(**case)
    assert (by_target_atom == by_source_atom).all()


@pytest.mark.spec("c51.projection")
@given(projections())
def test_projection_conserves_mass_and_keeps_the_mean_without_clipping(case):
    exact = oracle.categorical_projection_exact(**case)
    got = distributional.categorical_projection(**case)
    support = distributional.categorical_support(case["v_min"], case["v_max"],
                                                 case["next_probabilities"].shape[1])
    exact_support = [Fraction(float(z)) for z in support]
    for b in range(len(case["rewards"])):
        assert sum(exact[b]) == 1
        assert abs(got[b].sum() - 1.0) <= _tolerance(case)
        discount = 0.0 if case["terminated"][b] else case["gamma"]
        shifted = [Fraction(float(case["rewards"][b])) + Fraction(discount) * z for z in exact_support]
        if all(exact_support[0] <= x <= exact_support[-1] for x in shifted):
            target_mean = sum(x * Fraction(float(p)) for x, p in zip(shifted, case["next_probabilities"][b]))
            assert sum(z * m for z, m in zip(exact_support, exact[b])) == target_mean
            assert abs(float(support @ got[b]) - float(target_mean)) <= _tolerance(case)


@pytest.mark.spec("c51.projection")
@given(projections(terminated=1))
def test_terminal_transition_collapses_to_the_reward(case):
    """Terminated: every atom moves to clip(r), whatever the next distribution."""
    got = distributional.categorical_projection(**case)
    point_mass = np.zeros_like(case["next_probabilities"])
    point_mass[:, 0] = 1.0
    collapsed = distributional.categorical_projection(**{**case, "next_probabilities": point_mass,
                                                         "terminated": np.zeros(len(case["rewards"])),
                                                         "gamma": 0.0})
    np.testing.assert_allclose(got, collapsed, rtol=0, atol=_tolerance(case))


@pytest.mark.spec("c51.projection")
@given(projections(terminated=0))
def test_projection_is_the_identity_for_r_0_and_gamma_1(case):
    """r = 0, gamma = 1: every atom lands exactly on itself (b is an integer for all j)."""
    case = {**case, "rewards": np.zeros(len(case["rewards"])), "gamma": 1.0}
    np.testing.assert_array_equal(distributional.categorical_projection(**case), case["next_probabilities"])


MUTANTS = {
    "test_projection_matches_the_exact_oracle": ("categorical_projection", bugs.c51_integer_b_loses_mass),
    "test_projection_conserves_mass_and_keeps_the_mean_without_clipping":
        ("categorical_projection", bugs.c51_times_support),
    "test_terminal_transition_collapses_to_the_reward":
        ("categorical_projection", bugs.c51_terminal_not_collapsed),
    "test_projection_is_the_identity_for_r_0_and_gamma_1":
        ("categorical_projection", bugs.c51_integer_b_loses_mass),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, planted = MUTANTS[test_name]
    monkeypatch.setattr(distributional, attribute, planted)
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {planted.__name__} planted as {attribute}"


def test_correct_user_implementations_pass():
    report = rlspec.check("c51-projection", user.c51_projection_index_add, max_examples=30)
    assert report.passed, str(report)


@pytest.mark.parametrize("call, message", [
    (lambda: distributional.categorical_projection([0.0], [0.0], 0.5, [[0.5, 0.6]], -1.0, 1.0), "rows must sum to 1"),
    (lambda: distributional.categorical_projection([0.0], [0.0], 0.5, [[1.0]], -1.0, 1.0), "n_atoms >= 2"),
    (lambda: distributional.categorical_projection([0.0], [0.0], 0.5, [[0.5, 0.5]], 1.0, -1.0), "v_min < v_max"),
    (lambda: distributional.categorical_projection([0.0, 1.0], [0.0], 0.5, [[0.5, 0.5]], -1.0, 1.0), "rewards r_b must have shape"),
    (lambda: distributional.categorical_projection([0.0], [0.5], 0.5, [[0.5, 0.5]], -1.0, 1.0), "terminated must hold 0.0 or 1.0"),
], ids=["rows", "atoms", "support", "rewards", "flags"])
def test_bad_input_is_named(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()
