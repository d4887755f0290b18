"""The expected update of each sample-based method is a Bellman backup: exact, from P and R.

A TD method replaces an expectation by one sample.  Averaged over everything random in the
sample (the next state, the next action, the later steps), its target is a backup of the
tables that can be computed from the model:

=====================================  =================================================
method (sample target)                 expected target
=====================================  =================================================
TD(0), n-step TD                       :math:`(\\mathcal B^\\pi)^n V`
SARSA / Expected SARSA, n-step SARSA   :math:`(\\mathcal B^\\pi)^n Q`
Q-learning                             :math:`\\mathcal B^{*} Q`
off-policy n-step with importance      the same as on-policy under the target policy
sampling (behaviour b)                 (the ratios undo the change of measure)
truncated lambda-return, horizon h     :math:`\\sum_{n<h}(1-\\lambda)\\lambda^{n-1}
                                       (\\mathcal B^\\pi)^n V + \\lambda^{h-1}(\\mathcal
                                       B^\\pi)^h V`
lambda-return of whole episodes        :math:`(I - \\gamma\\lambda P_\\pi)^{-1}(r_\\pi +
                                       \\gamma(1-\\lambda)P_\\pi V)`
n-step tree backup (behaviour b)       :func:`expected_tree_backup_target` (a recursion;
                                       :math:`Q^\\pi` is its fixed point)
=====================================  =================================================

Terminal states (absorbing with reward 0, the spec's convention) are bootstrapped as 0,
whatever the table holds there: every backup here zeroes the table on terminal states
first, which is what a sample update with ``terminated=True`` does.

Everything is exact (``Fraction``), by enumeration over actions and next states: no
sampling, no floating point.  :func:`segments` enumerates the sample paths themselves with
their probabilities, so that a test can average a reference's sample target over them and
compare with the backup.  Cost: :func:`segments` is exponential in the number of steps; keep
it to a few steps on MDPs with a handful of states.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import numpy as np
from rlspec import validation
from rlspec.oracles.dynamic_programming import (
    NonTerminatingPolicyError,
    absorbing_zero_reward_states,
)
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.oracles.methods.exact_rational import action_values_exact, solve_exact

__all__ = ["one_step_lookahead_exact", "expected_backup_v", "expected_backup_q", "optimality_backup_q", "lambda_backup_v",
           "td_lambda_operator_v", "expected_tree_backup_target", "segments"]


def _model(transitions, rewards, gamma):
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    gamma = validation.check_gamma(gamma)
    terminal = absorbing_zero_reward_states(transitions, rewards)
    return to_fractions(transitions), to_fractions(rewards), Fraction(gamma), terminal


def _zero_terminal(table: np.ndarray, terminal) -> np.ndarray:
    table = table.copy()
    table[terminal] = 0
    return table


def expected_backup_v(transitions, rewards, gamma, policy, values, n: int = 1) -> np.ndarray:
    """((B^pi)^n V)(s) with B^pi V(s) = sum_a pi(a|s) [r(s,a) + gamma sum_s' p(s'|s,a) V(s')],
    V taken as 0 on terminal states, applied n times."""
    p, r, g, terminal = _model(transitions, rewards, gamma)
    pi = to_fractions(validation.policy_table(policy, *r.shape))
    v = to_fractions(values)
    n_states, n_actions = r.shape
    for _ in range(int(n)):
        v = _zero_terminal(v, terminal)
        v = np.array([sum(pi[s, a] * (r[s, a] + g * sum(p[s, a, t] * v[t] for t in range(n_states)))
                          for a in range(n_actions)) for s in range(n_states)], dtype=object)
    return v


def expected_backup_q(transitions, rewards, gamma, policy, action_values, n: int = 1) -> np.ndarray:
    """((B^pi)^n Q)(s, a) with B^pi Q(s, a) = r(s, a) + gamma sum_s' p(s'|s, a) sum_a'
    pi(a'|s') Q(s', a'), Q taken as 0 on terminal states, applied n times.  This is the
    expected target of SARSA (a' ~ pi) and of Expected SARSA alike."""
    p, r, g, terminal = _model(transitions, rewards, gamma)
    pi = to_fractions(validation.policy_table(policy, *r.shape))
    q = to_fractions(action_values)
    for _ in range(int(n)):
        following = (pi * _zero_terminal(q, terminal)).sum(axis=1)
        q = _lookahead(p, r, g, following)
    return q


def optimality_backup_q(transitions, rewards, gamma, action_values) -> np.ndarray:
    """(B* Q)(s, a) = r(s, a) + gamma sum_s' p(s'|s, a) max_a' Q(s', a'), Q = 0 on terminal
    states: the expected Q-learning target, whatever policy chose a."""
    p, r, g, terminal = _model(transitions, rewards, gamma)
    q = _zero_terminal(to_fractions(action_values), terminal)
    return _lookahead(p, r, g, np.array([max(row) for row in q], dtype=object))


def _lookahead(p, r, g, following) -> np.ndarray:
    n_states, n_actions = r.shape
    q = np.empty((n_states, n_actions), dtype=object)
    for s in range(n_states):
        for a in range(n_actions):
            q[s, a] = r[s, a] + g * sum(p[s, a, t] * following[t] for t in range(n_states))
    return q


def lambda_backup_v(transitions, rewards, gamma, policy, values, lam, horizon: int) -> np.ndarray:
    """The expected truncated lambda-return of segments of ``horizon`` steps (fewer when a
    terminal state comes first): sum_{n=1}^{h-1} (1 - lam) lam^(n-1) (B^pi)^n V
    + lam^(h-1) (B^pi)^h V."""
    lam = Fraction(lam)
    total, backed_up = None, to_fractions(values)
    for n in range(1, int(horizon) + 1):
        backed_up = expected_backup_v(transitions, rewards, gamma, policy, backed_up, 1)
        weight = (1 - lam) * lam ** (n - 1) if n < horizon else lam ** (horizon - 1)
        total = weight * backed_up if total is None else total + weight * backed_up
    return total


def td_lambda_operator_v(transitions, rewards, gamma, policy, values, lam) -> np.ndarray:
    """The expected lambda-return of whole episodes (the TD(lambda) operator):
    X = r_pi + gamma P~ [(1 - lam) V + lam X], solved exactly:
    (I - gamma lam P~) X = r_pi + gamma (1 - lam) P~ V, where P~ is P_pi with the columns of
    terminal states removed (bootstrapping on them gives 0).  Needs every policy path to
    terminate when gamma lam = 1."""
    p, r, g, terminal = _model(transitions, rewards, gamma)
    pi = to_fractions(validation.policy_table(policy, *r.shape))
    lam = Fraction(lam)
    v = _zero_terminal(to_fractions(values), terminal)
    n_states, n_actions = r.shape
    markov = [[Fraction(0) if terminal[t] else
               sum(pi[s, a] * p[s, a, t] for a in range(n_actions)) for t in range(n_states)]
              for s in range(n_states)]
    matrix = [[Fraction(int(s == t)) - g * lam * markov[s][t] for t in range(n_states)]
              for s in range(n_states)]
    right = [sum(pi[s, a] * r[s, a] for a in range(n_actions))
             + g * (1 - lam) * sum(markov[s][t] * v[t] for t in range(n_states))
             for s in range(n_states)]
    try:
        return np.array(solve_exact(matrix, right), dtype=object)
    except ZeroDivisionError:
        raise NonTerminatingPolicyError(
            "I - gamma lambda P_pi is singular: with gamma lambda = 1 some states never "
            "terminate under the policy") from None


def expected_tree_backup_target(transitions, rewards, gamma, target_policy, behaviour_policy,
                                action_values, n: int) -> np.ndarray:
    """E_b[G_{t:t+n} | S_t = s, A_t = a] of the n-step tree-backup return, actions after A_t
    drawn from b, by the recursion over depth

        E_1(s, a) = r(s, a) + gamma sum_s' p(s'|s, a) sum_x pi(x|s') Q(s', x)
        E_k(s, a) = r(s, a) + gamma sum_s' p(s'|s, a) sum_a' b(a'|s')
                    [sum_{x != a'} pi(x|s') Q(s', x) + pi(a'|s') E_(k-1)(s', a')]

    with nothing bootstrapped from terminal states.  At Q = Q^pi it returns Q^pi, for every
    b: the tree backup needs no importance ratios (Precup, Sutton & Singh 2000)."""
    p, r, g, terminal = _model(transitions, rewards, gamma)
    pi = to_fractions(validation.policy_table(target_policy, *r.shape, "target_policy"))
    b = to_fractions(validation.policy_table(behaviour_policy, *r.shape, "behaviour_policy"))
    q = _zero_terminal(to_fractions(action_values), terminal)
    n_states, n_actions = r.shape
    expected = _lookahead(p, r, g, (pi * q).sum(axis=1))
    for _ in range(int(n) - 1):
        expected = _zero_terminal(expected, terminal)
        following = np.array([
            sum(b[s, a] * (sum(pi[s, x] * q[s, x] for x in range(n_actions) if x != a)
                           + pi[s, a] * expected[s, a]) for a in range(n_actions))
            for s in range(n_states)], dtype=object)
        expected = _lookahead(p, r, g, following)
    return expected


def segments(transitions, rewards, policy, state: int, action: int | None, steps: int
             ) -> Iterator[tuple[Fraction, list[int], list[int], list[Fraction], bool]]:
    """Every sample path of at most ``steps`` steps from ``state``, with its probability.

    Yields ``(probability, states, actions, rewards, terminated)``: ``states`` S_0..S_h,
    ``actions`` A_0..A_h (A_h drawn from ``policy`` too, for a SARSA bootstrap; 0 when S_h
    is terminal), ``rewards`` the expected rewards r(S_k, A_k) for k < h, and whether S_h
    is terminal.  A path stops early at a terminal state.  ``action`` fixes A_0 (None: drawn
    from ``policy``).  Rewards enter every target linearly, so using r(s, a) in place of a
    sampled reward leaves every expectation unchanged.
    """
    p, r, _, terminal = _model(transitions, rewards, 0.0)
    pi = to_fractions(validation.policy_table(policy, *r.shape))
    n_states, n_actions = r.shape

    def first_actions(s, fixed):
        if fixed is not None:
            yield Fraction(1), int(fixed)
            return
        for a in range(n_actions):
            if pi[s, a] != 0:
                yield pi[s, a], a

    def extend(probability, path_states, path_actions, path_rewards):
        s = path_states[-1]
        if terminal[s]:
            yield probability, path_states, path_actions + [0], path_rewards, True
            return
        if len(path_rewards) == steps:
            for weight, a in first_actions(s, None):
                yield probability * weight, path_states, path_actions + [a], path_rewards, False
            return
        fixed = action if len(path_states) == 1 else None
        for weight, a in first_actions(s, fixed):
            for s_next in range(n_states):
                if p[s, a, s_next] != 0:
                    yield from extend(probability * weight * p[s, a, s_next],
                                      path_states + [s_next], path_actions + [a],
                                      path_rewards + [r[s, a]])

    yield from extend(Fraction(1), [int(state)], [], [])


def one_step_lookahead_exact(transitions, rewards, gamma, values) -> np.ndarray:
    """q(s, a) = r(s, a) + gamma sum_s' p(s'|s, a) V(s') in exact rationals (an object array
    of Fractions; Fractions in ``values`` are kept exact): the lookahead of every greedy and
    Bellman check, before the judge rounds it once to float."""
    return action_values_exact(transitions, rewards, gamma, list(to_fractions(values)))
