"""GAE, k-step advantages and lambda-returns: the reference against two exact oracles, the
(1 - lambda)-weighted identity proved symbolically, the limits lambda = 0 and 1, termination
versus truncation, segments that hold several episodes, and the convention adapters.

Tolerances: the recursion rounds each delta three times and each carry update twice, and
every error reaches A_t with a weight at most 1, so |A_float - A_exact| <= (3 + 2T) eps S
with S = sum_t (|r_t| + |V(s_t)| + |V(s'_t)|); the tests allow SAFETY (T + 1) eps S.
"""

from fractions import Fraction

import numpy as np
import pytest
import sympy
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
from rlspec.checks import gae_conventions
from rlspec.oracles.methods import accuracy
from rlspec.oracles import gae as oracle
from rlspec.reference import actor_critic
from rlspec.reference import gae as reference
from rlspec.validation import InvalidInputError

import bugs_policy_gradient as bugs
from mutation import fails
import user_implementations_policy_gradient as user

KINDS = ("continue", "terminated", "truncated", "both")


@st.composite
def segments(draw, kinds=KINDS, gammas=(0.5, 1.0, 0.0, 0.9, 0.99), lams=(0.5, 1.0, 0.0, 0.95)):
    """A rollout segment: next_values[t] = values[t+1] unless step t is done or last."""
    size = draw(st.integers(1, 7))
    steps = draw(st.lists(st.sampled_from(kinds), min_size=size, max_size=size))
    ints = lambda: np.array(draw(st.lists(st.integers(-5, 5), min_size=size, max_size=size)), float)  # noqa: E731
    rewards, values, extra = ints(), ints(), ints()
    next_values = np.array([values[t + 1] if steps[t] == "continue" and t + 1 < size else extra[t]
                            for t in range(size)])
    return dict(rewards=rewards, values=values, next_values=next_values,
                terminated=np.array([k in ("terminated", "both") for k in steps]),
                truncated=np.array([k in ("truncated", "both") for k in steps]),
                gamma=draw(st.sampled_from(gammas)), lam=draw(st.sampled_from(lams)))


def _tolerance(segment) -> float:
    scale = sum(np.abs(segment[k]).sum() for k in ("rewards", "values", "next_values"))
    return accuracy.SAFETY * (segment["rewards"].size + 1) * accuracy.EPS * max(1.0, scale)


def _exact_floats(values) -> np.ndarray:
    return np.array([float(v) for v in values])


def _close(got, exact, tolerance) -> bool:
    return max(abs(Fraction(float(g)) - e) for g, e in zip(got, exact)) <= tolerance


WORKED = dict(rewards=np.array([1.0, 0.0, 2.0]), values=np.array([1.0, 2.0, 4.0]),
              next_values=np.array([2.0, 4.0, 8.0]), terminated=np.array([False] * 3),
              truncated=np.array([False, True, False]), gamma=0.5, lam=0.5)


# --------------------------------------------------------------- the oracles

@pytest.mark.spec("gae.advantage", "gae.lambda-weighted-sum")
@given(segments())
@example(WORKED)
def test_the_two_gae_oracles_agree_exactly(segment):
    assert oracle.gae_exact(**segment) == oracle.gae_from_k_step_exact(**segment)


@pytest.mark.spec("gae.lambda-return")
@given(segments())
def test_lambda_return_oracle_is_advantage_plus_value(segment):
    advantages = oracle.gae_exact(**segment)
    returns = oracle.lambda_returns_exact(**segment)
    assert returns == [a + Fraction(float(v)) for a, v in zip(advantages, segment["values"])]


# ------------------------------------------------------------- the reference

@pytest.mark.spec("gae.advantage")
@given(segments())
@example(WORKED)
def test_gae_recursion_matches_the_double_sum(segment):
    got = reference.generalized_advantage_estimation(**segment)
    assert _close(got, oracle.gae_exact(**segment), _tolerance(segment))


@pytest.mark.spec("gae.lambda-weighted-sum")
@given(segments())
def test_gae_equals_the_lambda_weighted_k_step_advantages(segment):
    got = reference.gae_from_k_step_advantages(**segment)
    assert _close(got, oracle.gae_exact(**segment), _tolerance(segment))


@pytest.mark.spec("gae.lambda-return")
@given(segments())
def test_lambda_returns_are_advantages_plus_values(segment):
    got = reference.lambda_returns(**segment)
    assert _close(got, oracle.lambda_returns_exact(**segment), _tolerance(segment))


@pytest.mark.spec("gae.lambda-weighted-sum")
@given(segments(), st.integers(1, 8))
def test_k_step_advantages_match_the_explicit_sums(segment, k):
    del segment["lam"]
    got = reference.k_step_advantages(**segment, k=k)
    assert _close(got, oracle.k_step_advantages_exact(**segment, k=k), _tolerance(segment))


@pytest.mark.spec("gae.advantage")
@given(segments(lams=(0.0,)))
def test_lambda_zero_gives_the_td_residual(segment):
    delta = [Fraction(float(r)) + (0 if term else Fraction(segment["gamma"]) * Fraction(float(v2)))
             - Fraction(float(v)) for r, v, v2, term in
             zip(segment["rewards"], segment["values"], segment["next_values"], segment["terminated"])]
    assert _close(reference.generalized_advantage_estimation(**segment), delta, _tolerance(segment))


@pytest.mark.spec("gae.advantage")
@given(segments(kinds=("continue", "terminated"), lams=(1.0,)))
def test_lambda_one_gives_the_discounted_return_minus_the_value(segment):
    """When the segment ends in a termination (nothing truncated or bootstrapped), GAE(1) is
    the discounted return to the end of each episode minus V(s_t)."""
    segment["terminated"][-1] = True
    rewards, done, g = segment["rewards"], segment["terminated"], Fraction(segment["gamma"])
    expected = []
    for t in range(rewards.size):
        end = next(u for u in range(t, rewards.size) if done[u])
        expected.append(sum(g ** (u - t) * Fraction(float(rewards[u])) for u in range(t, end + 1))
                        - Fraction(float(segment["values"][t])))
    assert _close(reference.generalized_advantage_estimation(**segment), expected, _tolerance(segment))


@pytest.mark.spec("gae.advantage")
@given(segments(), st.data())
def test_splitting_a_segment_at_a_done_step_changes_nothing(segment, data):
    """GAE never looks across a done step: computing the two parts separately is the same."""
    done = np.flatnonzero(segment["terminated"] | segment["truncated"])
    if done.size == 0 or done[0] == segment["rewards"].size - 1:
        return
    cut = int(data.draw(st.sampled_from(done[done < segment["rewards"].size - 1].tolist()))) + 1
    parts = [{k: (v[:cut] if isinstance(v, np.ndarray) else v) for k, v in segment.items()},
             {k: (v[cut:] if isinstance(v, np.ndarray) else v) for k, v in segment.items()}]
    whole = reference.generalized_advantage_estimation(**segment)
    joined = np.concatenate([reference.generalized_advantage_estimation(**p) for p in parts])
    np.testing.assert_array_equal(whole, joined)


@pytest.mark.spec("gae.advantage")
def test_truncation_bootstraps_from_the_final_observation_and_termination_does_not():
    base = dict(rewards=np.array([1.0]), values=np.array([0.0]), next_values=np.array([10.0]),
                gamma=0.5, lam=0.5)
    truncated = reference.generalized_advantage_estimation(
        **base, terminated=np.array([False]), truncated=np.array([True]))
    terminated = reference.generalized_advantage_estimation(
        **base, terminated=np.array([True]), truncated=np.array([False]))
    both = reference.generalized_advantage_estimation(
        **base, terminated=np.array([True]), truncated=np.array([True]))
    assert truncated.tolist() == [6.0] and terminated.tolist() == [1.0] and both.tolist() == [1.0]


@pytest.mark.spec("gae.advantage")
def test_the_reference_runs_each_column_of_a_batch_on_its_own():
    columns = [WORKED, dict(WORKED, terminated=np.array([True, False, False]),
                            truncated=np.array([False] * 3), rewards=np.array([3.0, -1.0, 0.0]))]
    batch = {k: np.stack([c[k] for c in columns], axis=1) for k in
             ("rewards", "values", "next_values", "terminated", "truncated")}
    got = reference.generalized_advantage_estimation(**batch, gamma=0.5, lam=0.5)
    for j, column in enumerate(columns):
        np.testing.assert_array_equal(got[:, j], reference.generalized_advantage_estimation(**column))


@pytest.mark.spec("ac.n-step-advantage")
def test_a3c_advantages_are_gae_with_lambda_one():
    """Seed 002's A3C loop is GAE(lambda = 1) on a segment of one episode: bootstrapped from
    V(s_T) at its end unless s_T is terminal."""
    rewards, values = np.array([1.0, -2.0, 3.0]), np.array([0.5, 1.0, -1.0])
    for terminal in (False, True):
        a3c = actor_critic.n_step_advantages(rewards, values, 4.0, terminal, 0.5)
        gae = reference.generalized_advantage_estimation(
            rewards, values, np.append(values[1:], 4.0), np.array([False, False, terminal]),
            np.array([False] * 3), 0.5, 1.0)
        np.testing.assert_allclose(a3c, gae, rtol=0, atol=1e-15)


@pytest.mark.parametrize("change, message", [
    (dict(lam=1.5), "lam"), (dict(gamma=-0.1), "gamma"),
    (dict(values=np.zeros(2)), "values[t] must have shape"),
    (dict(terminated=np.array([0.0, 0.5, 0.0])), "booleans"),
    (dict(rewards=np.array([1.0, np.nan, 0.0])), "NaN"),
])
def test_bad_input_gets_an_error_that_names_it(change, message):
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        reference.generalized_advantage_estimation(**{**WORKED, **change})


# ------------------------------------------------- the identity, symbolically

@pytest.mark.spec("gae.lambda-weighted-sum")
@pytest.mark.parametrize("length", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("ending", ["bootstrapped", "terminated"])
def test_the_weighted_k_step_form_equals_the_td_sum_symbolically(length, ending):
    """For any rewards, values, gamma and lambda: (1 - lambda) sum_{k<n} lambda^{k-1} A^(k)
    + lambda^{n-1} A^(n) = sum_l (gamma lambda)^l delta_l on a piece of n steps, whether its
    end bootstraps from V_n or terminates (V_n = 0).  Without the tail weight the two differ by
    exactly lambda^{n-1} A^(n) (the notes' finite sum: ``gae.lambda-weighted-sum``)."""
    gamma, lam = sympy.symbols("gamma lambda")
    r = sympy.symbols(f"r0:{length}")
    v = list(sympy.symbols(f"V0:{length + 1}"))
    if ending == "terminated":
        v[length] = 0
    delta = [r[l] + gamma * v[l + 1] - v[l] for l in range(length)]
    td_sum = sum((gamma * lam) ** l * delta[l] for l in range(length))

    def k_step(k):
        return sum(gamma ** l * r[l] for l in range(k)) + gamma ** k * v[k] - v[0]

    head = sum((1 - lam) * lam ** (k - 1) * k_step(k) for k in range(1, length))
    assert sympy.expand(head + lam ** (length - 1) * k_step(length) - td_sum) == 0
    assert sympy.expand(td_sum - head) == sympy.expand(lam ** (length - 1) * k_step(length))


# ------------------------------------------------------- conventions and checks

CLEANRL = dict(env_axis=True, tensors=True)


@pytest.mark.spec("gae.advantage", "gae.lambda-return")
def test_user_gae_in_each_convention_passes_its_check():
    passing = [
        ("gae-no-truncation", gae_conventions.cleanrl_style(user.gae_cleanrl, **CLEANRL)),
        ("gae", gae_conventions.cleanrl_style(user.gae_cleanrl, truncation="bootstrap-in-reward", **CLEANRL)),
        ("gae", gae_conventions.sb3_style(user.gae_sb3)),
        ("gae-no-truncation", gae_conventions.rlax_style(user.gae_rlax)),
        ("gae", gae_conventions.rlax_style(user.gae_rlax, truncation="bootstrap-in-reward")),
        ("gae", user.gae_by_discount_cumsum),
        ("gae", gae_conventions.batched(user.gae_vectorised)),
        ("gae-returns", user.returns_sb3),
    ]
    for name, candidate in passing:
        report = rlspec.check(name, candidate, max_examples=30)
        assert report.passed, str(report)


@pytest.mark.spec("gae.advantage")
@pytest.mark.parametrize("adapter", [gae_conventions.cleanrl_style, gae_conventions.rlax_style])
def test_truncation_as_termination_is_rejected_by_the_full_check(adapter):
    implementation = user.gae_cleanrl if adapter is gae_conventions.cleanrl_style else user.gae_rlax
    options = CLEANRL if adapter is gae_conventions.cleanrl_style else {}
    report = rlspec.check("gae", adapter(implementation, **options), max_examples=30)
    assert not report.passed
    example = report.counterexample
    assert example["inputs"]["truncated"].any() and "truncation as termination" in example["problem"]
    assert report.spec_id == "gae.advantage"


def test_the_batched_adapter_catches_environments_that_leak_into_each_other():
    report = rlspec.check("gae", gae_conventions.batched(user.gae_vectorised_flattened_wrongly),
                          max_examples=30)
    assert not report.passed


def test_the_adapters_reject_an_unknown_truncation_mode():
    with pytest.raises(ValueError, match="truncation must be one of"):
        gae_conventions.cleanrl_style(user.gae_cleanrl, truncation="ignore")(**WORKED)


def test_a_function_returning_advantages_and_returns_is_told_how_to_pass_one():
    def both(**arguments):
        advantages = user.gae_by_discount_cumsum(**arguments)
        return advantages, advantages + arguments["values"]

    report = rlspec.check("gae", both, max_examples=5)
    assert not report.passed and "returned a pair" in report.counterexample["problem"]
    assert rlspec.check("gae", lambda **a: both(**a)[0], max_examples=5).passed
    assert rlspec.check("gae-returns", lambda **a: both(**a)[1], max_examples=5).passed


@pytest.mark.spec("gae.advantage")
def test_the_full_check_diagnoses_the_three_classic_flag_mistakes():
    for bug, words in [(bugs.gae_truncation_as_termination, "truncation as termination"),
                       (bugs.gae_carry_across_truncation, "across a truncation"),
                       (bugs.gae_bootstraps_termination, "through a termination")]:
        report = rlspec.check("gae", bug, max_examples=30)
        assert words in report.counterexample["problem"], report.counterexample["problem"]


# ----------------------------------------------------- the theorem tests fail

MUTANTS = {
    "test_gae_recursion_matches_the_double_sum":
        ("generalized_advantage_estimation", bugs.gae_carry_across_truncation),
    "test_gae_equals_the_lambda_weighted_k_step_advantages":
        ("gae_from_k_step_advantages", bugs.gae_lambda_on_delta),
    "test_lambda_returns_are_advantages_plus_values":
        ("lambda_returns", bugs.returns_are_advantages),
    "test_lambda_zero_gives_the_td_residual":
        ("generalized_advantage_estimation", bugs.gae_bootstraps_termination),
    "test_lambda_one_gives_the_discounted_return_minus_the_value":
        ("generalized_advantage_estimation", bugs.gae_carry_never_reset),
}


@pytest.mark.spec("gae.advantage")
@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_each_gae_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, bug = MUTANTS[test_name]
    monkeypatch.setattr(reference, attribute, bug)
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {getattr(bug, '__name__', bug)} planted"