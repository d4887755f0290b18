"""DDPG and the deterministic policy gradient: the theorem on the linear-quadratic problem,
the soft target update and the critic target, each against oracles that do not use them;
every theorem test is shown to fail with a planted bug; bad input gets a clear error; and
correct user code in the common styles passes ``rlspec.check``.

Tolerances are derived next to each test from the float64 error of the computation:
EPS = 2^-52, SAFETY = 16 (``rlspec.oracles.methods.accuracy``) covering the constants.
"""

import doctest
import re

import numpy as np
import pytest
import scipy.linalg
from hypothesis import example, given
from hypothesis import strategies as st

import bugs_continuous_control as bugs
import rlspec
import user_implementations_continuous_control as user
from mutation import fails
from rlspec.spec import registry
from rlspec.oracles import ddpg as ddpg_oracle, ddpg as oracle, dynamic_programming
from rlspec.oracles.methods.accuracy import EPS, SAFETY
from rlspec.reference import ddpg
from rlspec.validation import InvalidInputError

CHAPTER = {
    "dpg.deterministic-policy-gradient", "ddpg.soft-target-update", "ddpg.critic-target",
    "td3.clipped-double-q-target", "td3.target-policy-smoothing", "td3.delayed-policy-updates",
    "td3.actor-loss", "sac.soft-bellman-target", "sac.squashed-gaussian-log-prob",
    "sac.action-bound-rescaling", "sac.rescaled-squashed-gaussian-log-prob", "sac.temperature-loss",
    "sac.temperature-loss-log-alpha", "sac.actor-loss",
}


def test_the_continuous_control_chapter_is_covered():
    ids = {entry.id for entry in registry.entries()}
    assert CHAPTER <= ids
    assert {i for i in ids if i.split(".")[0] in {"dpg", "ddpg", "td3", "sac"}} == CHAPTER


def test_reference_doctests_pass():
    assert doctest.testmod(ddpg).failed == 0


# ----------------------------------------------------------------- the DPG theorem

def _grid(low, high, denominator):
    return st.integers(low, high).map(lambda k: k / denominator)


def _matrices(rows, cols, low, high, denominator):
    return st.lists(_grid(low, high, denominator), min_size=rows * cols, max_size=rows * cols).map(
        lambda values: np.array(values).reshape(rows, cols))


@st.composite
def lqr_problems(draw, n_states=None, n_actions=None):
    """A closed loop with entries in [-1/4, 1/4] (||M||_2^2 <= 9/16 for n <= 3), A = M - B K."""
    n = n_states or draw(st.integers(1, 3))
    m = n_actions or draw(st.integers(1, 2))
    closed_loop = draw(_matrices(n, n, -2, 2, 8))
    control, gain = draw(_matrices(n, m, -2, 2, 2)), draw(_matrices(m, n, -2, 2, 2))
    roots = [draw(_matrices(k, k, -2, 2, 2)) for k in (n, m, n)]
    return {"dynamics": closed_loop - control @ gain, "control": control,
            "state_cost": roots[0] @ roots[0].T + np.eye(n) / 4,
            "action_cost": roots[1] @ roots[1].T + np.eye(m) / 4, "gain": gain,
            "initial_covariance": roots[2] @ roots[2].T + np.eye(n) / 4,
            "gamma": draw(st.sampled_from([0.9, 0.5, 0.0, 0.99]))}


def _lyapunov_pieces(problem):
    """P_K and Sigma_K by scipy's Bartels-Stewart solver, and c = gamma ||M||_2^2."""
    a, b, q, r, k, sigma_0, gamma = (problem[key] for key in (
        "dynamics", "control", "state_cost", "action_cost", "gain", "initial_covariance", "gamma"))
    closed_loop = a + b @ k
    p = scipy.linalg.solve_discrete_lyapunov(np.sqrt(gamma) * closed_loop.T, q + k.T @ r @ k)
    visits = scipy.linalg.solve_discrete_lyapunov(np.sqrt(gamma) * closed_loop, sigma_0)
    return closed_loop, p, visits, gamma * np.linalg.norm(closed_loop, 2) ** 2


def _gradient_tolerance(problem) -> float:
    """The gradient is G Sigma_K with G = -2 (R K + gamma B' P M).  P and Sigma_K solve linear
    systems with condition number kappa <= (1 + c) / (1 - c), so each carries a relative error
    of about (n^2) eps kappa (oracle) or the iteration's stopping error (reference, far
    smaller); G and the product add a few eps.  So the absolute error is at most about
    (n + m)^2 eps kappa times the size of the terms, 2 (|R||K| + |B||P||M|) |Sigma_K|."""
    closed_loop, p, visits, c = _lyapunov_pieces(problem)
    kappa = (1.0 + c) / (1.0 - c)
    norm = np.linalg.norm
    size = 2.0 * (norm(problem["action_cost"]) * norm(problem["gain"])
                  + norm(problem["control"]) * norm(p) * norm(closed_loop)) * norm(visits)
    n, m = problem["gain"].shape[1], problem["gain"].shape[0]
    return SAFETY * (n + m) ** 2 * EPS * kappa * max(1.0, size)


@pytest.mark.spec("dpg.deterministic-policy-gradient")
@given(lqr_problems())
@example({"dynamics": np.array([[0.5]]), "control": np.array([[1.0]]), "state_cost": np.array([[1.0]]),
          "action_cost": np.array([[1.0]]), "gain": np.array([[0.0]]),
          "initial_covariance": np.array([[1.0]]), "gamma": 0.5})
def test_dpg_theorem_matches_autograd_of_the_closed_form_objective(problem):
    """E_{s ~ rho}[grad_K mu(s) grad_a Q(s, mu(s))] equals dJ/dK of J = -tr(P_K Sigma_0)."""
    by_theorem = ddpg.deterministic_policy_gradient_lqr(**problem)
    by_autograd = ddpg_oracle.lqr_policy_gradient_autograd(**problem)
    np.testing.assert_allclose(by_theorem, by_autograd, rtol=0, atol=_gradient_tolerance(problem))


@pytest.mark.spec("dpg.deterministic-policy-gradient")
@given(lqr_problems())
def test_autograd_oracle_matches_finite_differences_of_scipys_lyapunov_solution(problem):
    """Central differences with h = eps^(1/3) max(1, |K|): truncation h^2 |J'''| / 6 plus
    rounding eps |J| / h, both of order eps^(2/3) times the scale of J.  J is a rational
    function of K whose denominator stays >= (1 - c)^(n^2) away from 0 within the step, so
    |J'''| <= |J| (3 |B| / (1 - c))^3 bounds it; the tolerance is that, with SAFETY."""
    by_autograd = ddpg_oracle.lqr_policy_gradient_autograd(**problem)
    by_differences = ddpg_oracle.lqr_policy_gradient_finite_difference(**problem)
    _, _, _, c = _lyapunov_pieces(problem)
    objective = abs(ddpg_oracle.lqr_objective(**problem))
    scale = max(1.0, objective) * max(1.0, 3.0 * np.linalg.norm(problem["control"]) / (1.0 - c)) ** 3
    k_scale = max(1.0, float(np.abs(problem["gain"]).max()))
    tolerance = SAFETY * EPS ** (2.0 / 3.0) * scale * k_scale ** 2
    np.testing.assert_allclose(by_autograd, by_differences, rtol=0, atol=tolerance)


@pytest.mark.spec("dpg.deterministic-policy-gradient")
@given(lqr_problems(n_states=1, n_actions=1))
def test_autograd_oracle_matches_sympy_in_one_dimension(problem):
    """Exact rational derivative vs the float oracle: the float one is off by the solve's
    relative n^2 eps kappa (n = 1) times the size of the gradient's terms."""
    exact = ddpg_oracle.lqr_policy_gradient_scalar_sympy(**problem)
    by_autograd = ddpg_oracle.lqr_policy_gradient_autograd(**problem)
    assert abs(float(by_autograd[0, 0]) - float(exact)) <= _gradient_tolerance(problem)


@pytest.mark.spec("dpg.deterministic-policy-gradient")
def test_dpg_theorem_test_fails_with_a_planted_bug(monkeypatch):
    for planted in (bugs.dpg_myopic, bugs.dpg_start_states_only, bugs.dpg_normalised_visits):
        monkeypatch.setattr(ddpg, "deterministic_policy_gradient_lqr", planted)
        assert fails(test_dpg_theorem_matches_autograd_of_the_closed_form_objective), planted.__name__


@pytest.mark.spec("dpg.deterministic-policy-gradient")
@pytest.mark.parametrize("change, message", [
    ({"dynamics": np.array([[2.0]])}, "spectral radius"),
    ({"action_cost": np.array([[1.0, 1.0], [0.0, 1.0]]), "control": np.ones((1, 2)),
      "gain": np.zeros((2, 1))}, "must be symmetric"),
    ({"gain": np.zeros((1, 2))}, "gain K[m, n] must have shape (1, 1)"),
    ({"gamma": 1.5}, "gamma must lie in [0, 1]"),
    ({"initial_covariance": np.array([[np.nan]])}, "contains NaN"),
])
def test_lqr_rejects_bad_input_with_a_clear_error(change, message):
    problem = {"dynamics": np.array([[0.5]]), "control": np.array([[1.0]]),
               "state_cost": np.array([[1.0]]), "action_cost": np.array([[1.0]]),
               "gain": np.array([[0.0]]), "initial_covariance": np.array([[1.0]]), "gamma": 0.9}
    with pytest.raises(InvalidInputError, match=_escaped(message)):
        ddpg.deterministic_policy_gradient_lqr(**{**problem, **change})


def _escaped(text: str) -> str:
    return re.escape(text)


# ------------------------------------------------------------------ soft target update

TAUS = st.sampled_from([0.25, 0.005, 0.1, 1.0, 0.0, 0.5, 0.75, 0.001])
params = st.integers(1, 6).flatmap(
    lambda n: st.tuples(st.lists(_grid(-64, 64, 8), min_size=n, max_size=n),
                        st.lists(_grid(-64, 64, 8), min_size=n, max_size=n))).map(
    lambda pair: (np.array(pair[0]), np.array(pair[1])))


@pytest.mark.spec("ddpg.soft-target-update")
@given(params, TAUS)
@example((np.array([0.0, 2.0, -1.0]), np.array([1.0, 2.0, 3.0])), 0.25)
def test_soft_update_matches_exact_rationals(target_and_online, tau):
    target, online = target_and_online
    # tau * online + (1 - tau) * target rounds 4 times: <= 4 eps (|target| + |online|).
    tolerance = 4 * EPS * (np.abs(target) + np.abs(online))
    got = ddpg.soft_target_update(target, online, tau)
    assert np.all(np.abs(got - oracle.soft_target_update_exact(target, online, tau)) <= tolerance)


@pytest.mark.spec("ddpg.soft-target-update")
@given(params, TAUS, st.integers(1, 40))
def test_repeated_soft_updates_converge_geometrically(target_and_online, tau, k):
    """theta'_k - theta = (1 - tau)^k (theta'_0 - theta): the exact one-step oracle applied
    k times equals the closed form exactly, and the reference stays within its rounding: each
    step adds <= 4 eps scale and shrinks earlier errors by (1 - tau), so <= 4 k eps scale."""
    target, online = target_and_online
    exact_steps, reference_steps = target, target
    for _ in range(k):
        exact_steps = oracle.soft_target_update_exact(exact_steps, online, tau)
        reference_steps = ddpg.soft_target_update(reference_steps, online, tau)
    closed_form = oracle.soft_target_after_updates(target, online, tau, k)
    scale = np.abs(target).max() + np.abs(online).max()
    # The exact oracle rounds once per step: <= k * eps/2 * scale from the closed form.
    assert np.all(np.abs(exact_steps - closed_form) <= k * EPS * scale)
    assert np.all(np.abs(reference_steps - closed_form) <= 5 * k * EPS * scale)
    # Monotone approach: the distance never grows.
    assert np.all(np.abs(reference_steps - online) <= np.abs(target - online) + 5 * k * EPS * scale)


@pytest.mark.spec("ddpg.soft-target-update")
def test_tau_one_is_a_hard_copy_and_tau_zero_freezes():
    target, online = np.array([5.0, -5.0, 0.1]), np.array([1.0, 2.0, 0.3])
    assert np.array_equal(ddpg.soft_target_update(target, online, 1.0), online)
    assert np.array_equal(ddpg.soft_target_update(target, online, 0.0), target)
    assert np.array_equal(oracle.soft_target_after_updates(target, online, 1.0, 3), online)


@pytest.mark.spec("ddpg.soft-target-update")
def test_soft_update_theorem_tests_fail_with_planted_bugs(monkeypatch):
    for planted in (bugs.soft_update_reversed, bugs.soft_update_target_twice):
        monkeypatch.setattr(ddpg, "soft_target_update", planted)
        assert fails(test_soft_update_matches_exact_rationals), planted.__name__
        assert fails(test_repeated_soft_updates_converge_geometrically), planted.__name__


@pytest.mark.spec("ddpg.soft-target-update")
@pytest.mark.parametrize("target, online, tau, message", [
    ([0.0], [1.0], 1.5, "tau must lie in [0, 1]"),
    ([0.0], [1.0], "fast", "tau must be a number"),
    ([0.0, 1.0], [1.0], 0.5, "online_params (the shape of target_params) must have shape (2,)"),
    ([np.nan], [1.0], 0.5, "target_params contains NaN"),
])
def test_soft_update_rejects_bad_input_with_a_clear_error(target, online, tau, message):
    with pytest.raises(InvalidInputError, match=_escaped(message)):
        ddpg.soft_target_update(target, online, tau)


# ------------------------------------------------------------------ critic target

flags = st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.lists(_grid(-32, 32, 4), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n),
    st.lists(st.booleans(), min_size=n, max_size=n),
    st.lists(_grid(-320, 320, 4), min_size=n, max_size=n))).map(
    lambda columns: tuple(np.array(c, dtype=np.float64) for c in columns))


@pytest.mark.spec("ddpg.critic-target")
@given(flags, st.sampled_from([0.99, 0.5, 0.0, 1.0]))
def test_ddpg_target_matches_exact_rationals(batch, gamma):
    rewards, terminated, truncated, next_q = batch
    # r + gamma q rounds twice: <= 2 eps (|r| + |gamma q|).
    tolerance = 2 * EPS * (np.abs(rewards) + gamma * np.abs(next_q))
    got = ddpg.ddpg_critic_target(rewards, terminated, truncated, next_q, gamma)
    assert np.all(np.abs(got - oracle.ddpg_targets_exact(rewards, terminated, next_q, gamma)) <= tolerance)


@st.composite
def deterministic_chains(draw):
    """A deterministic MDP whose last state is terminal (absorbing, reward 0), a
    deterministic policy mu, and gamma < 1."""
    n, n_actions = draw(st.integers(2, 5)), draw(st.integers(1, 3))
    next_state = np.array(draw(st.lists(st.integers(0, n - 1), min_size=(n - 1) * n_actions,
                                        max_size=(n - 1) * n_actions))).reshape(n - 1, n_actions)
    transitions = np.zeros((n, n_actions, n))
    for s in range(n - 1):
        for a in range(n_actions):
            transitions[s, a, next_state[s, a]] = 1.0
    transitions[n - 1, :, n - 1] = 1.0
    rewards = np.zeros((n, n_actions))
    rewards[:-1] = np.array(draw(st.lists(st.integers(-4, 4), min_size=(n - 1) * n_actions,
                                          max_size=(n - 1) * n_actions))).reshape(n - 1, n_actions)
    mu = np.array(draw(st.lists(st.integers(0, n_actions - 1), min_size=n, max_size=n)))
    return transitions, rewards, draw(st.sampled_from([0.5, 0.9, 0.0])), mu


def _one_step_batch(transitions, rewards, values_next, mu):
    """Every non-terminal (s, a) as one transition: s' by the deterministic dynamics,
    terminated when s' is the terminal state, next_q = Q(s', mu(s')) -- or 99, an arbitrary
    untrained output, when s' is terminal (the mask must make it irrelevant)."""
    n, n_actions, _ = transitions.shape
    pairs = [(s, a) for s in range(n - 1) for a in range(n_actions)]
    following = [int(np.argmax(transitions[s, a])) for s, a in pairs]
    terminated = np.array([float(t == n - 1) for t in following])
    next_q = np.array([99.0 if t == n - 1 else values_next[t, mu[t]] for t in following])
    r = np.array([rewards[s, a] for s, a in pairs])
    return pairs, r, terminated, next_q


@pytest.mark.spec("ddpg.critic-target")
@given(deterministic_chains())
def test_ddpg_target_at_q_mu_returns_q_mu(chain):
    """Q^mu (by the linear-solve oracle) is the fixed point of the target map: y(s, a) =
    Q^mu(s, a).  The solve is accurate to n eps kappa |Q|, kappa <= (1 + gamma) / (1 - gamma)."""
    transitions, rewards, gamma, mu = chain
    q_mu = dynamic_programming.action_values(transitions, rewards, gamma, np.eye(rewards.shape[1])[mu])
    pairs, r, terminated, next_q = _one_step_batch(transitions, rewards, q_mu, mu)
    targets = ddpg.ddpg_critic_target(r, terminated, np.zeros_like(r), next_q, gamma)
    kappa = (1 + gamma) / (1 - gamma)
    tolerance = SAFETY * len(rewards) * EPS * kappa * max(1.0, np.abs(q_mu).max())
    np.testing.assert_allclose(targets, [q_mu[s, a] for s, a in pairs], rtol=0, atol=tolerance)


@pytest.mark.spec("ddpg.critic-target")
def test_truncation_bootstraps_and_termination_does_not():
    rewards, next_q = np.ones(4), np.full(4, 10.0)
    terminated, truncated = np.array([0.0, 1, 0, 1]), np.array([0.0, 0, 1, 1])
    assert ddpg.ddpg_critic_target(rewards, terminated, truncated, next_q, 0.5).tolist() == [6, 1, 6, 1]
    # Booleans are accepted too.
    assert ddpg.ddpg_critic_target(rewards, terminated.astype(bool), truncated.astype(bool),
                                   next_q, 0.5).tolist() == [6, 1, 6, 1]


@pytest.mark.spec("ddpg.critic-target")
def test_ddpg_target_test_fails_with_a_planted_bug(monkeypatch):
    monkeypatch.setattr(ddpg, "ddpg_critic_target", bugs.ddpg_target_no_mask)
    assert fails(test_ddpg_target_at_q_mu_returns_q_mu)
    monkeypatch.setattr(ddpg, "ddpg_critic_target", bugs.ddpg_target_no_gamma)
    assert fails(test_ddpg_target_at_q_mu_returns_q_mu)
    assert fails(test_ddpg_target_matches_exact_rationals)


@pytest.mark.spec("ddpg.critic-target")
@pytest.mark.parametrize("change, message", [
    ({"terminated": [0.5, 0.0]}, "terminated[N] must hold 0/1 flags or booleans, got 0.5 at index 0"),
    ({"truncated": [0.0]}, "truncated[N] must have shape (2,)"),
    ({"next_q": [1.0, np.inf]}, "next_q[N] contains an infinite value"),
    ({"gamma": -0.1}, "gamma must lie in [0, 1]"),
    ({"rewards": [[1.0, 2.0]]}, "rewards[N] must be a 1-D array"),
])
def test_targets_reject_bad_flags_with_a_clear_error(change, message):
    batch = {"rewards": [1.0, 2.0], "terminated": [0.0, 1.0], "truncated": [0.0, 0.0],
             "next_q": [3.0, 4.0], "gamma": 0.9}
    with pytest.raises(InvalidInputError, match=_escaped(message)):
        ddpg.ddpg_critic_target(**{**batch, **change})


# ------------------------------------------------------------------ user code

@pytest.mark.parametrize("name, candidate", [
    ("deterministic-policy-gradient-lqr", user.dpg_by_autograd_of_a_rollout),
    ("soft-target-update", user.soft_update_in_place_with_lerp),
    ("ddpg-target", user.ddpg_target_torch),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementations_pass(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)
