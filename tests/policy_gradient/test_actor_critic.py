"""Actor-critic: the critic's TD loss and its semi-gradient, A3C's n-step advantages.

The critic loss is checked three ways: its value against exact rationals, its autograd
gradient against the exact semi-gradient (exact central differences with the target frozen,
cross-checked by the closed form -delta / B), and torch.autograd.gradcheck in float64
against finite differences.  Tolerances: the loss is a mean of B squares of small integers:
the squares and their sum are exact, the division by B rounds once, and the target's gamma
V(s') a few times more, so (B + 2) eps L bounds the error; the gradient -delta_i / B has
about two roundings, so 2 eps |delta| suffices.  The tests allow SAFETY times each.
"""

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
from rlspec.oracles.methods import accuracy
from rlspec.oracles import gae as gae_oracle
from rlspec.oracles import actor_critic as oracle
from rlspec.reference import actor_critic as reference

import bugs_policy_gradient as bugs
from mutation import fails
import user_implementations_policy_gradient as user


@st.composite
def batches(draw):
    size = draw(st.integers(1, 5))
    ints = lambda: np.array(draw(st.lists(st.integers(-5, 5), min_size=size, max_size=size)), float)  # noqa: E731
    return dict(values=ints(), next_values=ints(), rewards=ints(),
                terminated=np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size))),
                gamma=draw(st.sampled_from([0.5, 1.0, 0.0, 0.9, 0.99])))


def _tensors(batch):
    leaves = {k: torch.tensor(batch[k], dtype=torch.float64, requires_grad=True)
              for k in ("values", "next_values")}
    return leaves, {**leaves, "rewards": torch.tensor(batch["rewards"], dtype=torch.float64),
                    "terminated": torch.tensor(batch["terminated"], dtype=torch.float64),
                    "gamma": batch["gamma"]}


WORKED = dict(values=np.array([1.0]), next_values=np.array([2.0]), rewards=np.array([1.0]),
              terminated=np.array([False]), gamma=0.5)


@pytest.mark.spec("ac.critic-td-loss")
@given(batches())
def test_the_semi_gradient_oracle_is_minus_delta_over_the_batch(batch):
    gradient, next_gradient = oracle.critic_semi_gradient_exact(**batch)
    g, size = Fraction(batch["gamma"]), batch["values"].size
    for i in range(size):
        target = Fraction(batch["rewards"][i]) + (0 if batch["terminated"][i]
                                                  else g * Fraction(batch["next_values"][i]))
        assert gradient[i] == -(target - Fraction(batch["values"][i])) / size
    assert next_gradient == [0] * size


@pytest.mark.spec("ac.critic-td-loss")
@given(batches())
@example(WORKED)
def test_critic_loss_value_and_semi_gradient_match_the_oracles(batch):
    leaves, arguments = _tensors(batch)
    loss = reference.critic_td_loss(**arguments)
    exact = oracle.critic_td_loss_exact(**batch)
    size = batch["values"].size
    assert abs(Fraction(loss.item()) - exact) <= accuracy.SAFETY * (size + 2) * accuracy.EPS * max(1, exact)
    loss.backward()
    gradient, next_gradient = oracle.critic_semi_gradient_exact(**batch)
    tolerance = accuracy.SAFETY * 2 * accuracy.EPS * max(1.0, max(abs(float(x)) for x in gradient))
    np.testing.assert_allclose(leaves["values"].grad.numpy(), [float(x) for x in gradient],
                               rtol=0, atol=tolerance)
    assert leaves["next_values"].grad is None or not leaves["next_values"].grad.any()


@pytest.mark.spec("ac.critic-td-loss")
@given(batches())
def test_the_full_gradient_differs_from_the_semi_gradient_by_the_target_term(batch):
    """Differentiating through the target adds gamma (1 - d_i) delta_i / B on V(s'_i): the
    semi-gradient drops exactly that term (Sutton & Barto 2018, §9.3)."""
    leaves, arguments = _tensors(batch)
    bugs.critic_full_gradient(**arguments).backward()
    gradient, _ = oracle.critic_semi_gradient_exact(**batch)
    expected_next = [-float(x) * batch["gamma"] * (1 - d) for x, d in zip(gradient, batch["terminated"])]
    np.testing.assert_allclose(leaves["next_values"].grad.numpy(), expected_next, rtol=0, atol=1e-12)
    np.testing.assert_allclose(leaves["values"].grad.numpy(), [float(x) for x in gradient], rtol=0, atol=1e-12)


@pytest.mark.spec("ac.critic-td-loss")
def test_gradcheck_of_the_critic_loss_in_float64():
    values = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    rewards = torch.tensor([1.0, 0.5, -1.0], dtype=torch.float64)
    terminated = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    next_values = torch.tensor([0.7, 5.0, 1.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda v: reference.critic_td_loss(v, next_values, rewards, terminated, 0.9), (values,))


@pytest.mark.spec("ac.n-step-advantage")
@given(st.integers(1, 6), st.data())
def test_n_step_advantages_match_the_explicit_sums(size, data):
    ints = lambda: np.array(data.draw(st.lists(st.integers(-5, 5), min_size=size, max_size=size)), float)  # noqa: E731
    rewards, values = ints(), ints()
    bootstrap = float(data.draw(st.integers(-5, 5)))
    terminal, gamma = data.draw(st.booleans()), data.draw(st.sampled_from([0.5, 1.0, 0.0, 0.9]))
    exact = gae_oracle.n_step_advantages_exact(rewards, values, bootstrap, terminal, gamma)
    got = reference.n_step_advantages(rewards, values, bootstrap, terminal, gamma)
    scale = max(1.0, np.abs(rewards).sum() + abs(bootstrap) + np.abs(values).max())
    assert max(abs(Fraction(g) - e) for g, e in zip(got, exact)) <= \
        accuracy.SAFETY * (size + 1) * accuracy.EPS * scale


@pytest.mark.spec("ac.n-step-advantage")
@given(st.integers(1, 6), st.data())
def test_n_step_advantage_is_the_k_step_advantage_with_k_to_the_segment_end(size, data):
    """A3C's A_i is seed 002's k-step advantage with k = T - i (oracles cross-checked)."""
    ints = lambda: np.array(data.draw(st.lists(st.integers(-5, 5), min_size=size, max_size=size)), float)  # noqa: E731
    rewards, values = ints(), ints()
    bootstrap, terminal = float(data.draw(st.integers(-5, 5))), data.draw(st.booleans())
    segment = dict(rewards=rewards, values=values, next_values=np.append(values[1:], bootstrap),
                   terminated=np.array([False] * (size - 1) + [terminal]),
                   truncated=np.zeros(size, dtype=bool), gamma=0.5)
    a3c = gae_oracle.n_step_advantages_exact(rewards, values, bootstrap, terminal, 0.5)
    for i in range(size):
        assert a3c[i] == gae_oracle.k_step_advantages_exact(**segment, k=size - i)[i]


@pytest.mark.spec("ac.critic-td-loss", "ac.n-step-advantage")
@pytest.mark.parametrize("name, candidate", [
    ("critic-td-loss", user.critic_loss_cleanrl),
    ("n-step-advantage", user.a3c_advantages),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


def test_a_loss_without_gradient_gets_a_clear_report():
    def numpy_loss(values, next_values, rewards, terminated, gamma):
        targets = rewards + gamma * (1 - terminated) * next_values
        return float((0.5 * (targets - values) ** 2).mean())

    report = rlspec.check("critic-td-loss", numpy_loss, max_examples=5)
    assert not report.passed and "not a torch tensor" in report.counterexample["problem"]


def test_a_mean_squared_error_without_the_half_gets_a_hint():
    def mse(values, next_values, rewards, terminated, gamma):
        with torch.no_grad():
            targets = rewards + gamma * (1 - terminated) * next_values
        return torch.nn.functional.mse_loss(values, targets)

    report = rlspec.check("critic-td-loss", mse, max_examples=5)
    assert not report.passed and "without the 1/2" in report.counterexample["problem"]


def test_bad_input_gets_an_error_that_names_it():
    with pytest.raises(rlspec.validation.InvalidInputError, match="same|one length|1-D"):
        reference.critic_td_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2), torch.zeros(2), 0.5)
    with pytest.raises(rlspec.validation.InvalidInputError, match="gamma"):
        reference.n_step_advantages([1.0], [0.0], 0.0, False, 1.5)


MUTANTS = {
    "test_critic_loss_value_and_semi_gradient_match_the_oracles":
        ("critic_td_loss", bugs.critic_full_gradient),
    "test_n_step_advantages_match_the_explicit_sums":
        ("n_step_advantages", bugs.n_step_wrong_power),
}


@pytest.mark.spec("ac.critic-td-loss", "ac.n-step-advantage")
@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_each_actor_critic_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, bug = MUTANTS[test_name]
    monkeypatch.setattr(reference, attribute, bug)
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {getattr(bug, '__name__', bug)} planted"