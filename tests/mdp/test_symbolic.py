"""Symbolic proofs with sympy: identities that hold for every gamma or every parameter,
shown by simplifying the difference of the two sides to exactly 0."""

import numpy as np
import sympy as sp

from rlspec.oracles import dynamic_programming
from rlspec.oracles.methods import linear_program
from rlspec.reference.dynamic_programming import iterative_policy_evaluation
from rlspec.toy_mdps.catalogue import make

gamma = sp.symbols("gamma", positive=True)


def _symbolic_values(transitions, rewards, policy, discount):
    """V^pi = (I - gamma P_pi)^{-1} r_pi with sympy entries (policy may hold symbols)."""
    n_states, n_actions = len(rewards), len(rewards[0])
    markov = sp.Matrix(n_states, n_states, lambda s, t: sum(
        policy[s][a] * transitions[s][a][t] for a in range(n_actions)))
    reward = sp.Matrix(n_states, 1, lambda s, _: sum(
        policy[s][a] * rewards[s][a] for a in range(n_actions)))
    return (sp.eye(n_states) - discount * markov).LUsolve(reward)


def _two_state_tables():
    mdp = make("two-state")
    transitions = [[[sp.Integer(int(p)) for p in row] for row in state] for state in mdp.transitions]
    rewards = [[sp.Integer(int(r)) for r in row] for row in mdp.rewards]
    return mdp, transitions, rewards


def test_two_state_closed_forms_hold_for_every_gamma():
    mdp, transitions, rewards = _two_state_tables()
    half = sp.Rational(1, 2)
    uniform = [(2 + gamma) / (4 * (1 - gamma)), (4 - gamma) / (4 * (1 - gamma))]
    solved = _symbolic_values(transitions, rewards, [[half, half], [half, half]], gamma)
    assert all(sp.simplify(solved[s] - uniform[s]) == 0 for s in range(2))
    # V* of the docstring: switch in state 0, stay in state 1.
    optimal = [(1 + gamma) / (1 - gamma), 2 / (1 - gamma)]
    solved = _symbolic_values(transitions, rewards, [[0, 1], [1, 0]], gamma)
    assert all(sp.simplify(solved[s] - optimal[s]) == 0 for s in range(2))
    # And the numeric oracles and reference agree with the proven closed forms.
    for g in (0.0, 0.5, 0.9, 0.99):
        exact_uniform = [float(v.subs(gamma, g)) for v in uniform]
        scaled = make("two-state", g)
        np.testing.assert_allclose(
            dynamic_programming.evaluate_policy(scaled.transitions, scaled.rewards, g, np.full((2, 2), 0.5)),
            exact_uniform, rtol=1e-12)
        np.testing.assert_allclose(
            iterative_policy_evaluation(scaled.transitions, scaled.rewards, g, np.full((2, 2), 0.5)),
            exact_uniform, rtol=1e-7)
        np.testing.assert_allclose(linear_program.optimal_values_lp(scaled.transitions, scaled.rewards, g),
                                   [float(v.subs(gamma, g)) for v in optimal], rtol=1e-8)


def _small_mdp():
    """Two states, two actions, rational dynamics that mix (so no state is trivial)."""
    third, two_thirds = sp.Rational(1, 3), sp.Rational(2, 3)
    transitions = [[[third, two_thirds], [1, 0]], [[sp.Rational(1, 2), sp.Rational(1, 2)], [0, 1]]]
    rewards = [[1, 0], [-1, 2]]
    return transitions, rewards


def test_softmax_policy_gradient_formula_is_the_exact_derivative():
    """dJ/dtheta[s, a] = nu(s) pi(a|s) A(s, a) / (1 - gamma), against sympy's derivative of
    J(theta), for all theta at once (Agarwal et al. 2021, JMLR 22(98)).

    With x = exp(theta) the softmax is rational, pi(a|s) = x[s, a] / sum_b x[s, b], and
    d/dtheta = x d/dx, so both sides are rational functions of x that cancel exactly.
    """
    transitions, rewards = _small_mdp()
    discount, start = sp.Rational(1, 2), [sp.Rational(1, 2), sp.Rational(1, 2)]
    x = sp.symbols("x00 x01 x10 x11", positive=True)
    weights = [[x[0], x[1]], [x[2], x[3]]]
    policy = [[w / (row[0] + row[1]) for w in row] for row in weights]
    values = _symbolic_values(transitions, rewards, policy, discount)
    objective = sum(start[s] * values[s] for s in range(2))
    markov = sp.Matrix(2, 2, lambda s, t: sum(policy[s][a] * transitions[s][a][t] for a in range(2)))
    nu = (1 - discount) * sp.Matrix([start]) * (sp.eye(2) - discount * markov).inv()
    for s in range(2):
        for a in range(2):
            q = rewards[s][a] + discount * sum(transitions[s][a][t] * values[t] for t in range(2))
            closed = nu[s] * policy[s][a] * (q - values[s]) / (1 - discount)
            derivative = weights[s][a] * sp.diff(objective, weights[s][a])
            assert sp.cancel(sp.together(derivative - closed)) == 0


def test_performance_difference_lemma_holds_symbolically():
    """J(pi') - J(pi) = sum_s nu^{pi'}(s) sum_a pi'(a|s) A^pi(s, a) / (1 - gamma), for
    symbolic policies pi, pi' and symbolic gamma."""
    transitions, rewards = _small_mdp()
    p, q = sp.symbols("p q", positive=True)  # pi(action 0 | state 0), pi(action 0 | state 1)
    u, v = sp.symbols("u v", positive=True)  # the same for pi'
    old, new = [[p, 1 - p], [q, 1 - q]], [[u, 1 - u], [v, 1 - v]]
    start = [sp.Rational(1, 4), sp.Rational(3, 4)]
    v_old = _symbolic_values(transitions, rewards, old, gamma)
    v_new = _symbolic_values(transitions, rewards, new, gamma)
    lhs = sum(start[s] * (v_new[s] - v_old[s]) for s in range(2))
    markov_new = sp.Matrix(2, 2, lambda s, t: sum(new[s][a] * transitions[s][a][t] for a in range(2)))
    nu_new = (1 - gamma) * sp.Matrix([start]) * (sp.eye(2) - gamma * markov_new).inv()
    rhs = sum(nu_new[s] * new[s][a] * (rewards[s][a] + gamma * sum(
        transitions[s][a][t] * v_old[t] for t in range(2)) - v_old[s])
        for s in range(2) for a in range(2)) / (1 - gamma)
    assert sp.cancel(sp.together(lhs - rhs)) == 0
