"""DQN, Double DQN, dueling heads, n-step targets and the replay buffer: the reference
against exact oracles on generated batches, the oracles against second oracles, and each
main theorem test shown able to fail with a catalogued bug planted in the reference.

Tolerances: every input is a small multiple of 1/2, so the exact answers are rationals and
a float64 computation of a target r + gamma max Q rounds at most twice, by at most eps times
the size of the numbers involved; SAFETY (16) times eps times the scale covers that with
room (rlspec.oracles.methods.accuracy explains the factor).
"""

import collections
import doctest
import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
from rlspec.spec import registry
from rlspec.oracles.methods import accuracy, exact_rational
from rlspec.oracles import dqn as oracle
from rlspec.reference import distributional, dqn, noisy_networks, prioritized_replay
from rlspec.toy_mdps import strategies
from rlspec.validation import InvalidInputError

import bugs_deep_value as bugs
from mutation import fails
from spec_markers import marked_tests
import user_implementations_deep_value as user

EPS, SAFETY = accuracy.EPS, accuracy.SAFETY

#: The deep value chapter as issue 3b scopes it: these IDs must all exist.
DEEP_VALUE_CHAPTER = {
    "dqn.td-target", "dqn.loss", "dqn.huber-loss", "dqn.double-target", "dqn.dueling",
    "dqn.n-step-target", "dqn.replay-buffer", "per.proportional-priority", "per.rank-priority",
    "per.importance-weights", "per.beta-schedule", "per.sum-tree", "c51.projection",
    "noisy.factorised-linear",
}


def numbers(shape, bound=4, denominator=2):
    return strategies.reward_tables(tuple(shape), bound=bound, denominator=denominator)


def flags(size):
    return st.lists(st.sampled_from([0.0, 0.0, 1.0]), min_size=size, max_size=size).map(np.array)


gammas = st.sampled_from([0.5, 0.0, 1.0, 0.9, 0.99])


@st.composite
def batches(draw):
    size, n_actions = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return {"rewards": draw(numbers([size])), "next_q_target": draw(numbers([size, n_actions])),
            "next_q_online": draw(numbers([size, n_actions])), "terminated": draw(flags(size)),
            "truncated": draw(flags(size)), "gamma": draw(gammas)}


@st.composite
def loss_batches(draw):
    batch = draw(batches())
    size, n_actions = batch["next_q_target"].shape
    batch["q_values"] = draw(numbers([size, n_actions]))
    batch["actions"] = np.array(draw(st.lists(st.integers(0, n_actions - 1), min_size=size,
                                              max_size=size)), dtype=np.int64)
    return batch


def _distance(got, exact) -> Fraction:
    return max((abs(Fraction(float(g)) - e) for g, e in zip(np.ravel(got), np.ravel(exact))),
               default=Fraction(0))


def _tolerance(*arrays) -> float:
    scale = max([1.0] + [float(np.max(np.abs(a), initial=0.0)) for a in arrays])
    return SAFETY * EPS * scale


# ------------------------------------------------------------------------ registry, docs

def test_deep_value_chapter_is_in_the_registry():
    entries = {entry.id: entry for entry in registry.entries()}
    assert DEEP_VALUE_CHAPTER <= set(entries)
    marked = marked_tests()
    for spec_id in DEEP_VALUE_CHAPTER:
        assert marked.get(spec_id), f"no test is marked @pytest.mark.spec({spec_id!r})"


def test_reference_docstring_examples_hold():
    for module in (dqn, prioritized_replay, distributional, noisy_networks):
        failed, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert tried > 0 and failed == 0, module.__name__


# ------------------------------------------------------------------------ targets

@pytest.mark.spec("dqn.td-target")
@given(batches())
@example({"rewards": np.array([1.0]), "next_q_target": np.array([[5.0, 7.0]]),
          "next_q_online": np.array([[0.0, 0.0]]), "terminated": np.array([1.0]),
          "truncated": np.array([0.0]), "gamma": 0.5})
def test_dqn_target_matches_the_exact_oracle(batch):
    exact = oracle.dqn_targets_exact(batch["rewards"], batch["next_q_target"], batch["terminated"],
                                     batch["gamma"])
    got = dqn.dqn_target(batch["rewards"], batch["next_q_target"], batch["terminated"],
                         batch["truncated"], batch["gamma"])
    assert _distance(got, exact) <= _tolerance(batch["rewards"], batch["next_q_target"])


@pytest.mark.spec("dqn.double-target")
@given(batches())
def test_double_dqn_target_is_an_admissible_exact_target(batch):
    admissible = oracle.double_dqn_targets_exact(batch["rewards"], batch["next_q_online"],
                                                 batch["next_q_target"], batch["terminated"],
                                                 batch["gamma"])
    got = dqn.double_dqn_target(batch["rewards"], batch["next_q_online"], batch["next_q_target"],
                                batch["terminated"], batch["gamma"])
    tolerance = _tolerance(batch["rewards"], batch["next_q_target"])
    for value, options in zip(got, admissible):
        assert min(abs(Fraction(float(value)) - option) for option in options) <= tolerance


@pytest.mark.spec("dqn.double-target")
@given(batches())
def test_double_dqn_target_is_the_dqn_target_when_the_networks_agree(batch):
    q = batch["next_q_target"]
    double = dqn.double_dqn_target(batch["rewards"], q, q, batch["terminated"], batch["gamma"])
    single = dqn.dqn_target(batch["rewards"], q, batch["terminated"], batch["truncated"], batch["gamma"])
    np.testing.assert_array_equal(double, single)


@pytest.mark.spec("dqn.double-target")
def test_max_estimator_overestimates_and_double_estimator_does_not_by_enumeration():
    """Two actions of true value 0 (and a second case with values (0, -1/2)); every estimate
    adds independent noise +-1/2 with probability 1/2.  Enumerating all 16 outcomes of two
    independent estimators: E[max_a Q1(a)] exceeds max_a mu(a) (the notes' Jensen argument),
    while E[Q2(argmax_a Q1(a))] does not (van Hasselt et al. 2016)."""
    for mu in (np.array([0.0, 0.0]), np.array([0.0, -0.5])):
        noise = list(itertools.product([-0.5, 0.5], repeat=2))
        outcomes = [(mu + np.array(n1), mu + np.array(n2)) for n1 in noise for n2 in noise]
        first = np.array([q1 for q1, _ in outcomes])
        second = np.array([q2 for _, q2 in outcomes])
        zeros = np.zeros(len(outcomes))
        plain = dqn.dqn_target(zeros, first, zeros, zeros, 1.0)
        double = dqn.double_dqn_target(zeros, first, second, zeros, 1.0)
        expected_plain = sum(map(Fraction, plain)) / len(outcomes)
        expected_double = sum(map(Fraction, double)) / len(outcomes)
        assert expected_plain > Fraction(float(mu.max()))
        assert expected_double <= Fraction(float(mu.max()))


# ------------------------------------------------------------------------ losses

LOSSES = {"squared": "dqn_loss", "huber": "dqn_huber_loss"}


def _leaves(batch):
    q = torch.tensor(batch["q_values"], dtype=torch.float64, requires_grad=True)
    next_q = torch.tensor(batch["next_q_target"], dtype=torch.float64, requires_grad=True)
    return q, next_q


@pytest.mark.spec("dqn.huber-loss", "dqn.loss")
@given(loss_batches())
def test_dqn_losses_and_gradients_match_the_closed_form(batch):
    for kind, name in LOSSES.items():
        q, next_q = _leaves(batch)
        loss = getattr(dqn, name)(q, torch.tensor(batch["actions"]), torch.tensor(batch["rewards"]),
                                  next_q, torch.tensor(batch["terminated"]), batch["gamma"])
        loss.backward()
        exact_loss, exact_gradient = oracle.dqn_loss_and_gradient_exact(
            batch["q_values"], batch["actions"], batch["rewards"], batch["next_q_target"],
            batch["terminated"], batch["gamma"], kind=kind)
        scale = float(np.abs(batch["q_values"]).max() + np.abs(batch["next_q_target"]).max() + 4)
        # Each error is rounded a few times (relative eps); squaring and averaging B of them
        # multiplies the bound by about 2 B scale.
        tolerance = SAFETY * EPS * len(batch["rewards"]) * scale ** 2
        assert abs(Fraction(loss.item()) - exact_loss) <= tolerance, kind
        assert _distance(q.grad.numpy(), exact_gradient) <= tolerance, kind
        assert next_q.grad is None, f"{kind}: the target received a gradient"


@pytest.mark.spec("dqn.loss")
@given(loss_batches())
def test_loss_oracle_agrees_with_torch_autograd(batch):
    """The closed-form gradient against autograd of an independent vectorised expression."""
    for kind in LOSSES:
        q = torch.tensor(batch["q_values"], dtype=torch.float64, requires_grad=True)
        with torch.no_grad():
            target = torch.tensor(batch["rewards"]) + batch["gamma"] * (
                1 - torch.tensor(batch["terminated"])) * torch.tensor(batch["next_q_target"]).max(dim=1).values
        taken = q.gather(1, torch.tensor(batch["actions"]).unsqueeze(1)).squeeze(1)
        loss = (0.5 * torch.nn.functional.mse_loss(taken, target) if kind == "squared"
                else torch.nn.functional.smooth_l1_loss(taken, target))
        loss.backward()
        exact_loss, exact_gradient = oracle.dqn_loss_and_gradient_exact(
            batch["q_values"], batch["actions"], batch["rewards"], batch["next_q_target"],
            batch["terminated"], batch["gamma"], kind=kind)
        scale = float(np.abs(batch["q_values"]).max() + np.abs(batch["next_q_target"]).max() + 4)
        tolerance = SAFETY * EPS * len(batch["rewards"]) * scale ** 2
        assert abs(Fraction(loss.item()) - exact_loss) <= tolerance
        assert _distance(q.grad.numpy(), exact_gradient) <= tolerance


@pytest.mark.spec("dqn.huber-loss", "dqn.loss")
@pytest.mark.parametrize("name", sorted(LOSSES.values()))
@pytest.mark.parametrize("q_values", [[[0.3, -1.2], [2.5, 0.7], [1.1, 4.0]],
                                      [[-2.0, 0.1], [0.4, 0.4], [3.3, -0.9]]])
def test_dqn_losses_pass_gradcheck(name, q_values):
    """Finite differences in float64 (PyTorch's gradcheck) agree with the analytic gradient.
    The errors are kept away from |delta| = 1, where the Huber loss's second derivative
    jumps (its first derivative is continuous, but a central difference across the jump
    is accurate only to O(h))."""
    q = torch.tensor(q_values, dtype=torch.float64, requires_grad=True)
    arguments = (torch.tensor([0, 1, 0]), torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64),
                 torch.tensor([[0.5, 1.5], [2.0, -1.0], [0.0, 0.0]], dtype=torch.float64),
                 torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), 0.9)
    assert torch.autograd.gradcheck(lambda values: getattr(dqn, name)(values, *arguments), (q,))


@pytest.mark.spec("dqn.huber-loss")
@given(loss_batches(), st.data())
def test_huber_loss_equals_squared_loss_for_small_errors(batch, data):
    targets = dqn.dqn_target(batch["rewards"], batch["next_q_target"], batch["terminated"],
                             batch["truncated"], batch["gamma"])
    offsets = data.draw(numbers([targets.size], bound=1, denominator=4))
    rows = np.arange(targets.size)
    batch["q_values"][rows, batch["actions"]] = targets + offsets  # every |delta| <= 1
    values, gradients = [], []
    for name in ("dqn_loss", "dqn_huber_loss"):
        q, next_q = _leaves(batch)
        loss = getattr(dqn, name)(q, torch.tensor(batch["actions"]), torch.tensor(batch["rewards"]),
                                  next_q, torch.tensor(batch["terminated"]), batch["gamma"])
        loss.backward()
        values.append(loss.item())
        gradients.append(q.grad.numpy())
    assert values[0] == pytest.approx(values[1], rel=0, abs=_tolerance(batch["q_values"]))
    np.testing.assert_allclose(gradients[0], gradients[1], rtol=0, atol=_tolerance(batch["q_values"]))


# ------------------------------------------------------------------------ n-step targets

@st.composite
def segments(draw):
    length = draw(st.integers(1, 6))
    return {"rewards": draw(numbers([length])), "next_values": draw(numbers([length])),
            "terminated": draw(flags(length)), "truncated": draw(flags(length)),
            "gamma": draw(gammas), "n": draw(st.integers(1, 5))}


@pytest.mark.spec("dqn.n-step-target")
@given(segments())
@example({"rewards": np.array([1.0, 1.0, 1.0]), "next_values": np.array([10.0, 20.0, 30.0]),
          "terminated": np.array([0.0, 0.0, 0.0]), "truncated": np.array([0.0, 1.0, 0.0]),
          "gamma": 0.5, "n": 3})
def test_n_step_targets_match_the_exact_oracle(segment):
    exact = oracle.n_step_targets_exact(**segment)
    got = dqn.n_step_q_targets(**segment)
    scale = len(segment["rewards"]) * _tolerance(segment["rewards"], segment["next_values"])
    assert _distance(got, exact) <= scale


@pytest.mark.spec("dqn.n-step-target", "dqn.td-target")
@given(segments())
def test_one_step_n_step_target_is_the_dqn_target(segment):
    one_step = dqn.n_step_q_targets(**{**segment, "n": 1})
    target = dqn.dqn_target(segment["rewards"], segment["next_values"][:, None],
                            segment["terminated"], segment["truncated"], segment["gamma"])
    np.testing.assert_allclose(one_step, target, rtol=0,
                               atol=_tolerance(segment["rewards"], segment["next_values"]))


@pytest.mark.spec("dqn.n-step-target")
@given(numbers([5]).flatmap(lambda r: st.tuples(st.just(r), st.integers(1, 5), numbers([5]))),
       st.integers(0, 3), gammas)
def test_n_step_target_of_a_whole_terminated_episode_is_its_return(drawn, extra, gamma):
    """n >= T on an episode that terminates at its last step: the n-step targets are the Monte
    Carlo returns, computed by the mdp.return oracle (a second, independent oracle)."""
    rewards, length, next_values = drawn
    rewards, next_values = rewards[:length], next_values[:length]
    terminated = np.zeros(length)
    terminated[-1] = 1.0
    segment = {"rewards": rewards, "next_values": next_values, "terminated": terminated,
               "truncated": np.zeros(length), "gamma": gamma, "n": length + extra}
    returns = exact_rational.discounted_returns_exact(rewards, gamma)
    assert oracle.n_step_targets_exact(**segment) == returns
    assert _distance(dqn.n_step_q_targets(**segment), returns) <= length * _tolerance(rewards)


# ------------------------------------------------------------------------ dueling

@st.composite
def dueling_inputs(draw):
    batch, n_actions = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return (draw(numbers([batch])), draw(numbers([batch, n_actions])),
            draw(st.sampled_from(["mean", "max"])))


@pytest.mark.spec("dqn.dueling")
@given(dueling_inputs())
def test_dueling_aggregation_matches_the_exact_oracle(inputs):
    values, advantages, aggregation = inputs
    got = dqn.dueling_aggregate(values, advantages, aggregation)
    assert _distance(got, oracle.dueling_exact(values, advantages, aggregation)) <= \
        _tolerance(values, advantages)


@pytest.mark.spec("dqn.dueling")
@given(dueling_inputs())
def test_dueling_decomposition_recovers_v_and_the_centred_advantage(inputs):
    values, advantages, aggregation = inputs
    q = dqn.dueling_aggregate(values, advantages, aggregation)
    recovered_values, recovered_advantages = dqn.dueling_decompose(q, aggregation)
    baseline = advantages.max(axis=1) if aggregation == "max" else advantages.mean(axis=1)
    tolerance = 4 * _tolerance(values, advantages)
    np.testing.assert_allclose(recovered_values, values, rtol=0, atol=tolerance)
    np.testing.assert_allclose(recovered_advantages, advantages - baseline[:, None], rtol=0, atol=tolerance)
    np.testing.assert_allclose(dqn.dueling_aggregate(recovered_values, recovered_advantages, aggregation),
                               q, rtol=0, atol=tolerance)


@pytest.mark.spec("dqn.dueling")
@pytest.mark.parametrize("n_actions", [1, 2, 3, 4])
def test_dueling_null_space_shows_what_is_identifiable(n_actions):
    """Directions (dV, dA) that leave Q unchanged, exactly (sympy): with the mean or the max
    subtracted only dA = constant, so V is identified; the plain sum also allows
    (dV, dA) = (c, -c), so V is not."""
    def scaled(direction):  # a basis vector is defined up to a factor: fix its first nonzero entry at 1
        first = next(entry for entry in direction if entry != 0)
        return [entry / first for entry in direction]

    (plain,) = oracle.dueling_null_space(n_actions, "none")
    assert scaled(plain) == [1] + [-1] * n_actions
    for aggregation in ("mean", "max"):
        for maximiser in range(n_actions):
            (direction,) = oracle.dueling_null_space(n_actions, aggregation, maximiser)
            assert scaled(direction) == [0] + [1] * n_actions
    # The reference agrees: adding a constant to A changes nothing under either aggregation.
    values, advantages = np.array([0.5]), np.arange(float(n_actions))[None, :]
    for aggregation in ("mean", "max"):
        np.testing.assert_array_equal(dqn.dueling_aggregate(values, advantages, aggregation),
                                      dqn.dueling_aggregate(values, advantages + 2.0, aggregation))


# ------------------------------------------------------------------------ replay buffer

@st.composite
def replay_inputs(draw):
    capacity, added, width = draw(st.integers(1, 6)), draw(st.integers(1, 14)), draw(st.integers(1, 3))
    experiences = np.column_stack([np.arange(1.0, added + 1.0), draw(numbers([added, width]))])
    draws = np.array(draw(st.lists(st.integers(0, 127), min_size=1, max_size=8))) / 128
    return capacity, experiences, draws


@pytest.mark.spec("dqn.replay-buffer")
@given(replay_inputs())
def test_replay_buffer_sample_matches_the_exact_oracle(inputs):
    capacity, experiences, draws = inputs
    np.testing.assert_array_equal(dqn.replay_buffer_sample(capacity, experiences, draws),
                                  oracle.replay_sample_exact(capacity, experiences, draws))


@pytest.mark.spec("dqn.replay-buffer")
@given(replay_inputs())
def test_replay_buffer_holds_the_last_capacity_experiences(inputs):
    """FIFO: sampling the middle of every slot returns exactly the last min(T, C) experiences,
    the contents of a deque(maxlen=C), whose slot order the oracle's formula also gives."""
    capacity, experiences, _ = inputs
    kept = collections.deque(maxlen=capacity)
    for row in experiences:
        kept.append(tuple(row))
    size = len(kept)
    sampled = dqn.replay_buffer_sample(capacity, experiences, (np.arange(size) + 0.5) / size)
    assert sorted(map(tuple, sampled)) == sorted(kept)
    owners = oracle.replay_slot_owners(capacity, len(experiences))
    assert sorted(owners) == list(range(len(experiences) - size, len(experiences)))
    np.testing.assert_array_equal(sampled, experiences[owners])


@pytest.mark.spec("dqn.replay-buffer")
@pytest.mark.parametrize("capacity, added", [(1, 1), (3, 2), (3, 7), (5, 5), (4, 9)])
def test_replay_sampling_is_exactly_uniform_over_filled_slots(capacity, added):
    """Exact integration over u: cut [0, 1) into 64 n cells of width 1/(64 n); each cell lies
    inside one slot's interval [i/n, (i+1)/n), so the map u -> slot is constant on it and
    its middle tells which slot.  Every filled slot must get exactly 64 cells (measure 1/n)."""
    experiences = np.arange(1.0, added + 1.0)[:, None]
    size = min(capacity, added)
    cells = 64 * size
    sampled = dqn.replay_buffer_sample(capacity, experiences, (np.arange(cells) + 0.5) / cells)
    counts = collections.Counter(sampled[:, 0].tolist())
    assert sorted(counts) == list(range(added - size + 1, added + 1))
    assert set(counts.values()) == {64}


# ------------------------------------------------------------------------ theorem tests can fail

MUTANTS = {
    "test_dqn_target_matches_the_exact_oracle": ("dqn_target", bugs.target_bootstraps_terminal),
    "test_double_dqn_target_is_an_admissible_exact_target": ("double_dqn_target", bugs.double_is_plain_dqn),
    "test_max_estimator_overestimates_and_double_estimator_does_not_by_enumeration":
        ("double_dqn_target", bugs.double_is_plain_dqn),
    "test_dqn_losses_and_gradients_match_the_closed_form": ("dqn_loss", bugs.loss_target_not_detached),
    "test_huber_loss_equals_squared_loss_for_small_errors": ("dqn_loss", bugs.loss_summed),
    "test_n_step_targets_match_the_exact_oracle": ("n_step_q_targets", bugs.n_step_off_by_one),
    "test_one_step_n_step_target_is_the_dqn_target": ("n_step_q_targets", bugs.n_step_bootstraps_terminal),
    "test_n_step_target_of_a_whole_terminated_episode_is_its_return":
        ("n_step_q_targets", bugs.n_step_bootstraps_terminal),
    "test_dueling_aggregation_matches_the_exact_oracle": ("dueling_aggregate", bugs.dueling_plain_sum),
    "test_dueling_decomposition_recovers_v_and_the_centred_advantage":
        ("dueling_aggregate", bugs.dueling_always_mean),
    "test_replay_buffer_sample_matches_the_exact_oracle": ("replay_buffer_sample", bugs.replay_uses_capacity),
    "test_replay_buffer_holds_the_last_capacity_experiences":
        ("replay_buffer_sample", bugs.replay_never_overwrites),
    "test_replay_sampling_is_exactly_uniform_over_filled_slots":
        ("replay_buffer_sample", bugs.replay_misses_last_slot),
}


@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, planted = MUTANTS[test_name]
    monkeypatch.setattr(dqn, attribute, planted)
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {planted.__name__} planted as {attribute}"


# ------------------------------------------------------------------------ user code, bad input

@pytest.mark.parametrize("name, candidate", [
    ("dqn-target", user.dqn_target_vectorised),
    ("double-dqn-target", user.double_dqn_target_torch),
    ("dqn-loss", user.dqn_loss_mse),
    ("dqn-huber-loss", user.dqn_loss_smooth_l1),
    ("n-step-q-target", user.n_step_targets_backward),
    ("dueling-aggregation", user.dueling_head_torch),
    ("replay-buffer-sample", user.replay_sample_with_user_buffer),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


def _loss(**changes):
    arguments = {"q_values": [[1.0, 2.0]], "actions": [0], "rewards": [0.0],
                 "next_q_target": [[0.0, 0.0]], "terminated": [0.0], "gamma": 0.5, **changes}
    return dqn.dqn_loss(**arguments)


@pytest.mark.parametrize("call, message", [
    (lambda: dqn.dqn_target([1.0], [[1.0]], [0.5], [0.0], 0.5), "terminated must hold 0.0 or 1.0"),
    (lambda: dqn.dqn_target([1.0, 2.0], [[1.0]], [0.0], [0.0], 0.5), "next_q_target must have shape"),
    (lambda: dqn.dqn_target([1.0], [[1.0]], [0.0], [0.0], 1.5), "gamma must lie in"),
    (lambda: dqn.double_dqn_target([1.0], [[1.0, 2.0]], [[1.0]], [0.0], 0.5), "next_q_target must have shape"),
    (lambda: dqn.n_step_q_targets([1.0], [1.0], [0.0], [0.0], 0.5, 0), "n must be an integer"),
    (lambda: dqn.dueling_aggregate([1.0], [[1.0]], "sum"), "aggregation must be one of"),
    (lambda: dqn.replay_buffer_sample(2, [[1.0]], [1.0]), r"uniform draws must lie in \[0, 1\)"),
    (lambda: dqn.replay_buffer_sample(0, [[1.0]], [0.5]), "capacity must be an integer"),
    (lambda: _loss(actions=[2]), "actions must lie in range"),
    (lambda: _loss(q_values=np.zeros((0, 2)), actions=np.zeros(0, dtype=np.int64), rewards=np.zeros(0),
                   next_q_target=np.zeros((0, 2)), terminated=np.zeros(0)), "the batch is empty"),
], ids=["flag", "shape", "gamma", "double-shape", "n", "aggregation", "draw", "capacity",
        "action", "empty"])
def test_bad_input_is_named(call, message):
    with pytest.raises(InvalidInputError, match=message):
        call()
