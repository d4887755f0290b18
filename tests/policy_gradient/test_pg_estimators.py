"""Policy-gradient estimators, proved by enumerating every trajectory of small MDPs.

An expectation over trajectories is a finite sum with exact rational probabilities
(``rlspec.oracles.methods.trajectories``), so "this estimator is unbiased" becomes "this finite sum
equals dJ/dtheta", and dJ/dtheta itself comes from a different method: the closed form
sum_t gamma^t Pr(s_t = s) pi(a|s) A_t(s, a) by exact dynamic programming, cross-checked by
torch autograd of J(theta).  The policy is the tabular softmax at theta = log pi, with pi a
table of eighths (every action at least 1/8, so the softmax can represent it).

Tolerances, where the reference's floats meet an exact value: every estimate is a sum of at
most H terms w_t (e_a - pi), each rounded a few times; the expectation adds N of them with
weights p(tau) summing to 1.  So the float expectation is within SAFETY * (N + H) * eps *
W of the exact one, W = max_tau sum_t 2 |w_t| (the largest estimate, entry by entry).
"""

import doctest
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import rlspec
from rlspec.spec import registry
from rlspec.oracles import pg_estimators as estimator_oracle
from rlspec.oracles.methods import accuracy
from rlspec.oracles import pg_estimators as pg_estimators_oracle
from rlspec.oracles.methods import trajectories
from rlspec.reference import pg_estimators as reference
from rlspec.toy_mdps import strategies

import bugs_policy_gradient as bugs
from mutation import fails
import user_implementations_policy_gradient as user

CHAPTER = {
    "pg.trajectory-probability", "pg.reinforce", "pg.psi-forms", "pg.softmax-score-function",
    "pg.variance-minimising-baseline", "pg.off-policy-gradient", "ac.critic-td-loss",
    "ac.n-step-advantage", "gae.advantage", "gae.lambda-weighted-sum", "gae.lambda-return",
}


def test_the_chapter_ids_are_all_in_the_registry():
    assert CHAPTER <= {entry.id for entry in registry.entries()}


def test_the_reference_doctests_pass():
    from rlspec.reference import actor_critic, gae

    for module in (reference, actor_critic, gae):
        failed, tried = doctest.testmod(module)
        assert failed == 0 and tried > 0, module.__name__


# ------------------------------------------------------------------ strategies

@st.composite
def positive_policies(draw, n_states, n_actions):
    rows = []
    for _ in range(n_states):
        counts = draw(strategies.probability_vectors(n_actions, denominator=8 - n_actions))
        rows.append((np.round(counts * (8 - n_actions)) + 1) / 8.0)
    return np.array(rows)


@st.composite
def problems(draw, max_states=3, max_actions=2, max_horizon=3):
    """(mdp, policy, horizon): an MDP of eighths (episodic or not), a positive policy."""
    mdp = draw(strategies.mdps(max_states=max_states, max_actions=max_actions,
                               episodic=draw(st.booleans())))
    policy = draw(positive_policies(mdp.n_states, mdp.n_actions))
    return mdp, policy, draw(st.integers(1, max_horizon))


def _enumerate(mdp, policy, horizon):
    return trajectories.enumerate_trajectories(mdp.transitions, mdp.rewards, policy,
                                               mdp.initial_distribution, horizon)


def _exact_gradient(mdp, policy, horizon):
    return pg_estimators_oracle.finite_horizon_gradient_exact(
        mdp.transitions, mdp.rewards, mdp.gamma, policy, mdp.initial_distribution, horizon)


def _floats(array) -> np.ndarray:
    return np.vectorize(float, otypes=[np.float64])(np.asarray(array, dtype=object))


def _float_expectation(found, estimate):
    """sum_tau p(tau) estimate(tau) in floats, and the tolerance of the module docstring."""
    total, largest = 0.0, 1.0
    for tau in found:
        value = np.asarray(estimate(tau), dtype=np.float64)
        total = total + float(tau.probability) * value
        largest = max(largest, float(np.abs(value).sum()))
    tolerance = accuracy.SAFETY * (len(found) + len(found[0].states)) * accuracy.EPS * largest
    return total, tolerance


# --------------------------------------------------- trajectories and J (oracles)

@pytest.mark.spec("pg.trajectory-probability")
@given(problems())
def test_trajectory_probabilities_sum_to_one_and_match_the_product(problem):
    mdp, policy, horizon = problem
    found = _enumerate(mdp, policy, horizon)
    assert sum(tau.probability for tau in found) == 1
    for tau in found[:20]:
        with_last_state = sum(trajectories.trajectory_probability_exact(
            mdp.initial_distribution, mdp.transitions, policy, tau.states + (s,), tau.actions)
            for s in range(mdp.n_states))
        assert with_last_state == tau.probability


@pytest.mark.spec("pg.trajectory-probability")
@given(problems())
def test_trajectory_probability_reference_matches_the_exact_product(problem):
    mdp, policy, horizon = problem
    for tau in _enumerate(mdp, policy, horizon)[:10]:
        states = tau.states + (0,)
        exact = trajectories.trajectory_probability_exact(mdp.initial_distribution,
                                                          mdp.transitions, policy, states, tau.actions)
        got = reference.trajectory_probability(mdp.initial_distribution, mdp.transitions,
                                               policy, states, tau.actions)
        assert abs(Fraction(got) - exact) <= accuracy.SAFETY * 2 * (horizon + 1) * accuracy.EPS


@pytest.mark.spec("pg.trajectory-probability")
@given(problems())
def test_objective_by_enumeration_equals_backward_induction(problem):
    """R-bar = sum_tau R(tau) p(tau) (seed 001, item 2) is J computed by dynamic programming."""
    mdp, policy, horizon = problem
    g = Fraction(mdp.gamma)
    by_enumeration = trajectories.expectation_over_trajectories(
        _enumerate(mdp, policy, horizon),
        lambda tau: sum(g ** t * r for t, r in enumerate(tau.rewards)))
    exact = pg_estimators_oracle.finite_horizon_objective_exact(
        mdp.transitions, mdp.rewards, mdp.gamma, policy, mdp.initial_distribution, horizon)
    assert by_enumeration == exact
    got = reference.finite_horizon_objective(mdp.transitions, mdp.rewards, mdp.gamma, policy,
                                             mdp.initial_distribution, horizon)
    scale = float(np.abs(mdp.rewards).max(initial=1.0)) * horizon
    assert abs(Fraction(got) - exact) <= accuracy.SAFETY * horizon * mdp.n_states * accuracy.EPS * scale


@pytest.mark.spec("pg.psi-forms", "pg.reinforce")
@given(problems())
def test_the_exact_finite_horizon_gradient_matches_autograd(problem):
    mdp, policy, horizon = problem
    exact = _floats(_exact_gradient(mdp, policy, horizon))
    autograd = pg_estimators_oracle.finite_horizon_gradient_autograd(
        mdp.transitions, mdp.rewards, mdp.gamma, np.log(policy), mdp.initial_distribution, horizon)
    scale = float(np.abs(mdp.rewards).max(initial=1.0)) * horizon ** 2
    np.testing.assert_allclose(autograd, exact, rtol=0,
                               atol=accuracy.SAFETY * mdp.n_states * mdp.n_actions * accuracy.EPS * scale)


@pytest.mark.spec("pg.psi-forms", "pg.trajectory-probability")
@given(problems())
def test_the_log_derivative_trick_holds_exactly(problem):
    """grad J = E[R(tau) grad log p(tau)] with grad log p(tau) = sum_t grad log pi(a_t|s_t):
    the dynamics drop out (seed 001, item 3)."""
    mdp, policy, horizon = problem
    g = Fraction(mdp.gamma)

    def estimate(tau):
        total = sum(g ** t * r for t, r in enumerate(tau.rewards))
        return estimator_oracle.score_function_gradient_exact(policy, tau.states, tau.actions,
                                                              [total] * horizon)

    expected = trajectories.expectation_over_trajectories(_enumerate(mdp, policy, horizon), estimate)
    assert (expected == _exact_gradient(mdp, policy, horizon)).all()


@pytest.mark.spec("pg.reinforce")
@given(problems())
def test_the_exact_reinforce_oracle_is_unbiased(problem):
    mdp, policy, horizon = problem
    baseline = np.arange(mdp.n_states, dtype=np.float64) - 1.0

    def estimate(tau):
        return estimator_oracle.reinforce_gradient_exact(policy, tau.states, tau.actions,
                                                         tau.arrays()["rewards"], mdp.gamma, baseline)

    expected = trajectories.expectation_over_trajectories(_enumerate(mdp, policy, horizon), estimate)
    assert (expected == _exact_gradient(mdp, policy, horizon)).all()


# --------------------------------------------------------------- the reference

@pytest.mark.spec("pg.reinforce")
@given(problems())
def test_reinforce_with_reward_to_go_and_a_baseline_is_unbiased(problem):
    mdp, policy, horizon = problem
    theta, baseline = np.log(policy), np.linspace(-2.0, 2.0, mdp.n_states)

    def estimate(tau):
        a = tau.arrays()
        return reference.reinforce_gradient(theta, a["states"], a["actions"], a["rewards"],
                                            mdp.gamma, baseline)

    expected, tolerance = _float_expectation(_enumerate(mdp, policy, horizon), estimate)
    np.testing.assert_allclose(expected, _floats(_exact_gradient(mdp, policy, horizon)),
                               rtol=0, atol=tolerance)


@pytest.mark.spec("pg.reinforce")
@given(problems())
def test_the_total_return_estimator_is_unbiased(problem):
    mdp, policy, horizon = problem
    theta = np.log(policy)

    def estimate(tau):
        a = tau.arrays()
        return reference.reinforce_gradient_total_return(theta, a["states"], a["actions"],
                                                         a["rewards"], mdp.gamma)

    expected, tolerance = _float_expectation(_enumerate(mdp, policy, horizon), estimate)
    np.testing.assert_allclose(expected, _floats(_exact_gradient(mdp, policy, horizon)),
                               rtol=0, atol=tolerance)


@pytest.mark.spec("pg.psi-forms")
@given(problems(max_horizon=3))
def test_all_six_psi_forms_have_the_same_expectation(problem):
    """Seed 000's six forms of psi_t (with gamma^t on forms 2-6) all give grad J exactly."""
    mdp, policy, horizon = problem
    theta = np.log(policy)
    values, action_values = pg_estimators_oracle.finite_horizon_values_exact(
        mdp.transitions, mdp.rewards, mdp.gamma, policy, horizon)
    values, action_values = _floats(values), _floats(action_values)
    baseline = np.linspace(-1.0, 1.0, mdp.n_states)
    found = _enumerate(mdp, policy, horizon)
    exact = _floats(_exact_gradient(mdp, policy, horizon))
    for form in reference.PSI_FORMS:
        def estimate(tau):
            a = tau.arrays()
            weights = reference.psi_weights(form, a["rewards"], mdp.gamma, a["states"], a["actions"],
                                            values=values[:horizon], action_values=action_values,
                                            baseline=baseline)
            return reference.score_function_gradient(theta, a["states"], a["actions"], weights)

        expected, tolerance = _float_expectation(found, estimate)
        scale = max(1.0, float(np.abs(action_values).max(initial=0.0)))
        np.testing.assert_allclose(expected, exact, rtol=0, atol=tolerance * scale, err_msg=form)


@st.composite
def dyadic_problems(draw, max_horizon=3):
    """As ``problems``, with gamma in quarters: every time-indexed value is then a dyadic
    rational that a float holds exactly, so the oracle's weights are exact too."""
    episodic = draw(st.booleans())
    gammas = st.sampled_from((0.5, 0.0, 0.25, 0.75) + ((1.0,) if episodic else ()))
    mdp = draw(strategies.mdps(max_states=3, max_actions=2, episodic=episodic, gammas=gammas))
    policy = draw(positive_policies(mdp.n_states, mdp.n_actions))
    return mdp, policy, draw(st.integers(1, max_horizon))


@pytest.mark.spec("pg.psi-forms")
@given(dyadic_problems())
def test_the_psi_weights_oracle_gives_the_exact_gradient_for_every_form(problem):
    """The check's oracle: each form's weights, summed over every trajectory with the exact
    score, equal dJ/dtheta with no rounding at all, and the floats of the reference agree."""
    mdp, policy, horizon = problem
    values, action_values = pg_estimators_oracle.finite_horizon_values_exact(
        mdp.transitions, mdp.rewards, mdp.gamma, policy, horizon)
    float_values, float_action_values = _floats(values), _floats(action_values)
    assert all(Fraction(x) == y for x, y in zip(float_values.ravel(), values.ravel()))
    baseline = np.linspace(-1.0, 1.0, mdp.n_states)
    found = _enumerate(mdp, policy, horizon)
    exact = _exact_gradient(mdp, policy, horizon)
    for form in pg_estimators_oracle.PSI_FORMS:
        def estimate(tau, form=form):
            a = tau.arrays()
            weights = pg_estimators_oracle.psi_weights_exact(
                form, a["rewards"], mdp.gamma, a["states"], a["actions"], float_values,
                float_action_values, baseline)
            np.testing.assert_allclose(
                reference.psi_weights(form, a["rewards"], mdp.gamma, a["states"], a["actions"],
                                      float_values, float_action_values, baseline),
                [float(w) for w in weights], rtol=0, atol=1e-12, err_msg=form)
            return pg_estimators_oracle.score_function_gradient_exact(
                policy, a["states"], a["actions"], weights)

        assert (trajectories.expectation_over_trajectories(found, estimate) == exact).all(), form


@pytest.mark.spec("pg.reinforce")
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.data())
@example(1, 2, 2, None)
def test_reinforce_reference_matches_both_oracles(n_states, n_actions, size, data):
    if data is None:  # the worked example of the docstring
        theta, states, actions = np.zeros((1, 2)), np.array([0, 0]), np.array([0, 1])
        rewards, gamma, baseline = np.array([1.0, 2.0]), 0.5, np.zeros(1)
    else:
        theta = np.log(data.draw(positive_policies(n_states, n_actions)))
        states = np.array(data.draw(st.lists(st.integers(0, n_states - 1), min_size=size, max_size=size)))
        actions = np.array(data.draw(st.lists(st.integers(0, n_actions - 1), min_size=size, max_size=size)))
        rewards = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=size, max_size=size)), float)
        gamma = data.draw(st.sampled_from([0.5, 1.0, 0.9, 0.0]))
        baseline = np.array(data.draw(st.lists(st.integers(-2, 2), min_size=n_states, max_size=n_states)), float)
    got = reference.reinforce_gradient(theta, states, actions, rewards, gamma, baseline)
    autograd = estimator_oracle.reinforce_gradient_autograd(theta, states, actions, rewards, gamma, baseline)
    policy = np.exp(theta) / np.exp(theta).sum(axis=1, keepdims=True)  # = softmax(theta) to eps
    exact = _floats(estimator_oracle.reinforce_gradient_exact(policy, states, actions,
                                                              rewards, gamma, baseline))
    tolerance = accuracy.SAFETY * (len(rewards) + 1) ** 2 * accuracy.EPS * max(1.0, np.abs(exact).max())
    np.testing.assert_allclose(autograd, exact, rtol=0, atol=tolerance)
    np.testing.assert_allclose(got, exact, rtol=0, atol=tolerance)


# ------------------------------------------------------ the softmax log-gradient

@pytest.mark.spec("pg.softmax-score-function")
@given(st.integers(1, 4), st.integers(1, 3), st.data())
def test_softmax_log_gradient_matches_autograd_and_finite_differences(n_actions, size, data):
    features = np.array(data.draw(st.lists(st.integers(-3, 3), min_size=n_actions * size,
                                           max_size=n_actions * size)), float).reshape(n_actions, size)
    weights = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=size, max_size=size)), float) / 2
    action = data.draw(st.integers(0, n_actions - 1))
    autograd = estimator_oracle.softmax_log_gradient_autograd(features, weights, action)
    differences = estimator_oracle.softmax_log_gradient_finite_difference(features, weights, action)
    # Central differences: h^2 |f'''| / 6 + eps |f| / h with |f'''| <= 2 |phi|^3, |f| <= 2 |phi||w|.
    phi = max(1.0, float(np.abs(features).max()))
    fd_tolerance = accuracy.SAFETY * accuracy.EPS ** (2 / 3) * phi ** 3 * (1 + np.abs(weights).sum())
    np.testing.assert_allclose(differences, autograd, rtol=0, atol=fd_tolerance)
    got = reference.softmax_log_gradient(features, weights, action)
    np.testing.assert_allclose(got, autograd, rtol=0, atol=accuracy.SAFETY * n_actions * accuracy.EPS * phi)


@pytest.mark.spec("pg.softmax-score-function")
def test_the_identity_holds_for_a_nonlinear_score():
    """Seed 002: grad log pi(a|s) = grad f(s, a) - E_{a' ~ pi} grad f(s, a') for any
    differentiable score; here a small tanh network, both sides by autograd."""
    torch.manual_seed(0)
    layer, head = torch.nn.Linear(3, 4).double(), torch.nn.Linear(4, 1).double()
    actions = torch.randn(5, 3, dtype=torch.float64)  # one feature vector per action
    parameters = list(layer.parameters()) + list(head.parameters())

    def flat_gradient(output):
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(output, parameters, retain_graph=True)])

    scores = head(torch.tanh(layer(actions))).squeeze(-1)
    policy = torch.softmax(scores, dim=0).detach()
    for a in range(5):
        left = flat_gradient(torch.log_softmax(scores, dim=0)[a])
        right = flat_gradient(scores[a]) - sum(policy[b] * flat_gradient(scores[b]) for b in range(5))
        torch.testing.assert_close(left, right, rtol=0, atol=1e-12)


# ------------------------------------------------------- the optimal baseline

def _variance(scores, returns, probabilities, j, b) -> Fraction:
    """Var[g_j (R - b)] exactly."""
    terms = [(Fraction(float(p)), Fraction(float(g[j])) * (Fraction(float(r)) - b))
             for p, g, r in zip(probabilities, scores, returns)]
    mean = sum(p * x for p, x in terms)
    return sum(p * x * x for p, x in terms) - mean * mean


@pytest.mark.spec("pg.variance-minimising-baseline")
@given(problems(max_states=2, max_horizon=2))
def test_the_variance_minimising_baseline_minimises_the_variance(problem):
    mdp, policy, horizon = problem
    g = Fraction(mdp.gamma)
    found = _enumerate(mdp, policy, horizon)
    scores = np.array([_floats(estimator_oracle.score_function_gradient_exact(
        policy, tau.states, tau.actions, [Fraction(1)] * horizon)).reshape(-1) for tau in found])
    returns = np.array([float(sum(g ** t * r for t, r in enumerate(tau.rewards))) for tau in found])
    probabilities = np.array([float(tau.probability) for tau in found])
    exact = estimator_oracle.variance_minimising_baseline_exact(scores, returns, probabilities)
    assert exact == estimator_oracle.variance_minimising_baseline_sympy(scores, returns, probabilities)
    got = reference.variance_minimising_baseline(scores, returns, probabilities)
    for j, best in enumerate(exact):
        if best is None:
            continue
        assert abs(Fraction(got[j]) - best) <= 1e-9 * max(1, abs(best))
        for step in (Fraction(1, 8), Fraction(-1, 8)):
            assert _variance(scores, returns, probabilities, j, best) < \
                _variance(scores, returns, probabilities, j, best + step)


# ------------------------------------------------------------------ off-policy

@st.composite
def off_policy_problems(draw):
    mdp, target, horizon = draw(problems(max_states=2, max_horizon=3))
    behaviour = draw(positive_policies(mdp.n_states, mdp.n_actions))
    return mdp, target, behaviour, horizon


@pytest.mark.spec("pg.off-policy-gradient")
@given(off_policy_problems())
def test_the_exact_off_policy_oracle_is_unbiased(problem):
    mdp, target, behaviour, horizon = problem
    found = _enumerate(mdp, behaviour, horizon)

    def estimate(tau):
        b = [behaviour[s, a] for s, a in zip(tau.states, tau.actions)]
        return estimator_oracle.off_policy_gradient_exact(target, tau.states, tau.actions,
                                                          tau.arrays()["rewards"], b, mdp.gamma)

    expected = trajectories.expectation_over_trajectories(found, estimate)
    assert (expected == _exact_gradient(mdp, target, horizon)).all()


@pytest.mark.spec("pg.off-policy-gradient")
@given(off_policy_problems())
def test_per_decision_importance_sampling_is_unbiased(problem):
    """E_beta[g_hat] = grad J(pi): trajectories of the behaviour policy, reweighted."""
    mdp, target, behaviour, horizon = problem
    theta = np.log(target)

    def estimate(tau):
        a = tau.arrays()
        b = behaviour[a["states"], a["actions"]]
        return reference.off_policy_reinforce_gradient(theta, a["states"], a["actions"],
                                                       a["rewards"], b, mdp.gamma)

    expected, tolerance = _float_expectation(_enumerate(mdp, behaviour, horizon), estimate)
    np.testing.assert_allclose(expected, _floats(_exact_gradient(mdp, target, horizon)),
                               rtol=0, atol=tolerance)


@pytest.mark.spec("pg.off-policy-gradient")
@given(off_policy_problems())
def test_the_off_policy_oracles_agree(problem):
    mdp, target, behaviour, horizon = problem
    for tau in _enumerate(mdp, behaviour, horizon)[:8]:
        a = tau.arrays()
        b = behaviour[a["states"], a["actions"]]
        exact = _floats(estimator_oracle.off_policy_gradient_exact(target, a["states"], a["actions"],
                                                                   a["rewards"], b, mdp.gamma))
        autograd = estimator_oracle.off_policy_gradient_autograd(np.log(target), a["states"],
                                                                 a["actions"], a["rewards"], b, mdp.gamma)
        np.testing.assert_allclose(autograd, exact, rtol=0,
                                   atol=accuracy.SAFETY * 16 * accuracy.EPS * max(1.0, np.abs(exact).max()))


# ------------------------------------------------------------- user code passes

@pytest.mark.spec(
    "pg.off-policy-gradient",
    "pg.psi-forms",
    "pg.reinforce",
    "pg.softmax-score-function",
    "pg.trajectory-probability",
    "pg.variance-minimising-baseline",
)
@pytest.mark.parametrize("name, candidate", [
    ("reinforce-gradient", user.reinforce_by_autograd),
    ("psi-weights", user.psi_weights_spinning_up),
    ("off-policy-reinforce-gradient", user.off_policy_by_autograd),
    ("softmax-log-gradient", user.softmax_log_gradient_with_scipy),
    ("optimal-baseline", user.optimal_baseline_vectorised),
    ("trajectory-probability", user.trajectory_probability_by_logs),
], ids=lambda value: value if isinstance(value, str) else value.__name__)
def test_correct_user_implementation_passes(name, candidate):
    report = rlspec.check(name, candidate, max_examples=30)
    assert report.passed, str(report)


def test_bad_input_gets_an_error_that_names_it():
    with pytest.raises(rlspec.validation.InvalidInputError, match="states"):
        reference.reinforce_gradient(np.zeros((1, 2)), [0, 3], [0, 1], [1.0, 2.0], 0.5, [0.0])
    with pytest.raises(rlspec.validation.InvalidInputError, match="behaviour_probabilities"):
        reference.off_policy_reinforce_gradient(np.zeros((1, 2)), [0], [1], [1.0], [0.0], 0.5)
    with pytest.raises(rlspec.validation.InvalidInputError, match="form must be one of"):
        reference.psi_weights("q-value", [1.0], 0.5, [0], [0])


# ------------------------------------------------------ the theorem tests fail

def _psi_weights_without_step_discount(*arguments, **options):
    return _ORIGINAL_PSI(*arguments, **{**options, "discount_weighting": False})


_ORIGINAL_PSI = reference.psi_weights

MUTANTS = {
    "test_reinforce_with_reward_to_go_and_a_baseline_is_unbiased":
        ("reinforce_gradient", bugs.reinforce_action_dependent_baseline),
    "test_the_total_return_estimator_is_unbiased":
        ("reinforce_gradient_total_return",
         lambda theta, s, a, r, gamma: bugs.reinforce_per_step_reward(theta, s, a, r, gamma, np.zeros(theta.shape[0]))),
    "test_all_six_psi_forms_have_the_same_expectation":
        ("psi_weights", _psi_weights_without_step_discount),
    "test_the_psi_weights_oracle_gives_the_exact_gradient_for_every_form":
        ("psi_weights", _psi_weights_without_step_discount),
    "test_reinforce_reference_matches_both_oracles":
        ("reinforce_gradient", bugs.reinforce_with_past_rewards),
    "test_softmax_log_gradient_matches_autograd_and_finite_differences":
        ("softmax_log_gradient", bugs.log_gradient_without_expectation),
    "test_the_variance_minimising_baseline_minimises_the_variance":
        ("variance_minimising_baseline", bugs.baseline_average_return),
    "test_per_decision_importance_sampling_is_unbiased":
        ("off_policy_reinforce_gradient", bugs.off_policy_single_ratio),
    "test_trajectory_probability_reference_matches_the_exact_product":
        ("trajectory_probability", bugs.trajectory_probability_without_start),
}


@pytest.mark.spec(
    "pg.off-policy-gradient",
    "pg.psi-forms",
    "pg.reinforce",
    "pg.softmax-score-function",
    "pg.variance-minimising-baseline",
)
@pytest.mark.parametrize("test_name", sorted(MUTANTS))
def test_each_estimator_theorem_test_fails_on_a_planted_bug(test_name, monkeypatch):
    attribute, bug = MUTANTS[test_name]
    monkeypatch.setattr(reference, attribute, bug)
    assert fails(globals()[test_name]), \
        f"{test_name} stayed green with {getattr(bug, '__name__', bug)} planted"