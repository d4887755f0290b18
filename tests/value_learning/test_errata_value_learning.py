"""Counterexamples to the notes' model-free chapter: one test per erratum entry.

Each builds the smallest example by hand and computes the exact answer (rationals, sympy, or
enumeration of every sample path with ``rlspec.oracles.bellman.segments``); the
reference is called only where the erratum is about what a correct implementation does
instead.  If the notes were right as written, each test would fail.

* ``td.sarsa``: seed 003 "3-5" drops the -Q(s_t, a_t) from the SARSA update.
* ``mc.every-visit``: "蒙特卡洛方法（高方差，无偏）" (seed 000) and "蒙特卡洛方法是无偏估计"
  (seed 003 "3-6") hold for first-visit MC, not every-visit MC.
* ``traces.lambda-return``: the forward view (1 - lambda) sum_n lambda^(n-1) G^(n) is 0 at
  lambda = 1, not the Monte-Carlo return the notes say it equals.
* ``nstep.off-policy-sarsa``: seed 003 "2-8"'s n-step update with a max is not an off-policy
  method: its fixed point is not Q*.
* ``traces.td-lambda``: the trace is described as the decay "since the last visit" (a
  replacing trace) but written as an accumulating one; the two differ, and only the
  accumulating one matches the forward view.
"""

from fractions import Fraction

import numpy as np
import pytest
import sympy

from rlspec.oracles import bellman, eligibility_traces as eligibility_traces_oracle
from rlspec.oracles.methods import exact_rational
from rlspec.reference import eligibility_traces, monte_carlo, n_step, temporal_difference


# ------------------------------------------------------------------ td.sarsa

@pytest.mark.spec("td.sarsa")
def test_sarsa_update_without_minus_q_has_no_fixed_point_at_q_pi():
    """Seed 003 "3-5": Q(s_t,a_t) <- Q(s_t,a_t) + alpha [r_{t+1} + gamma Q(s_{t+1},a_{t+1})].

    One state, one action that stays, reward 1, gamma 1/2: Q^pi = 1 / (1 - 1/2) = 2.  The
    literal update moves Q^pi to 2 + alpha (1 + 2/2) = 2 + 2 alpha; iterated it grows without
    bound (Q_k = (1 + alpha gamma) Q_(k-1) + alpha, geometric growth by 5/4 with alpha = 1/2).  With the -Q(s_t, a_t) the notes leave
    out (seed 000's own Sarsa formula has it), Q^pi stays put."""
    gamma, alpha, reward = Fraction(1, 2), Fraction(1, 2), Fraction(1)
    q_pi = exact_rational.evaluate_policy_exact([[[1.0]]], [[1.0]], 0.5, [[1.0]])[0]
    assert q_pi == 2

    def literal(q):
        return q + alpha * (reward + gamma * q)

    assert literal(q_pi) == 3 != q_pi
    q = q_pi
    for _ in range(20):
        q = literal(q)
    # Q_k + 2 = (1 + alpha gamma)^k (Q_0 + 2): the only fixed point, -2, repels.
    assert q == Fraction(5, 4) ** 20 * 4 - 2 and q > 300
    corrected = temporal_difference.sarsa_update([[2.0]], 0, 0, 1.0, 0, 0, False, 0.5, 0.5)
    assert corrected[0, 0] == 2.0


# ------------------------------------------------------------------ mc.every-visit

@pytest.mark.spec("mc.every-visit")
def test_every_visit_monte_carlo_is_biased_and_first_visit_is_not():
    """Singh & Sutton (1996), §3: one state s that pays 1 per step and ends each step with
    probability 1 - p (else stays), gamma = 1.  The episode length L is geometric,
    P(L = l) = p^(l-1) (1 - p), and V(s) = E[L] = 1 / (1 - p).

    After one episode, first-visit MC estimates L (unbiased); every-visit MC averages the
    returns L, L - 1, ..., 1 of the L visits: (L + 1) / 2, whose mean is
    (1 / (1 - p) + 1) / 2, not V(s), for every p in (0, 1)."""
    p, l = sympy.symbols("p l", positive=True)
    probability = p ** (l - 1) * (1 - p)
    value = 1 / (1 - p)
    first_visit_mean = sympy.summation(l * probability, (l, 1, sympy.oo))
    every_visit_mean = sympy.summation((l + 1) / 2 * probability, (l, 1, sympy.oo))
    half = {p: sympy.Rational(1, 2)}
    assert sympy.simplify(first_visit_mean.subs(half) - value.subs(half)) == 0
    assert every_visit_mean.subs(half) == sympy.Rational(3, 2) != value.subs(half) == 2
    bias = sympy.simplify(sympy.piecewise_fold(every_visit_mean - value).subs(half))
    assert bias == -sympy.Rational(1, 2)
    # The references compute exactly those two estimates on each episode (state 0, terminal 1).
    for length in range(1, 7):
        states, rewards = [0] * length + [1], np.ones(length)
        first = monte_carlo.first_visit_mc_update([0.0, 0.0], [0, 0], states, rewards, 1.0)
        every = monte_carlo.every_visit_mc_update([0.0, 0.0], [0, 0], states, rewards, 1.0)
        assert first[0] == length and every[0] == (length + 1) / 2


# ------------------------------------------------------------------ traces.lambda-return

@pytest.mark.spec("traces.lambda-return")
def test_forward_view_as_written_is_zero_at_lambda_one():
    """Seed 000, 前向视角: G_t^lambda = (1 - lambda) sum_{n>=1} lambda^(n-1) G_t^(n), "当
    lambda = 1 时 ... 等价于蒙特卡洛方法".  In an episode ending T - t steps after t,
    G_t^(n) = G_t for n >= T - t, so the series is a finite head plus a geometric tail.

    Rewards (1, 2), gamma 1, V(S_1) = 4: G^(1) = 1 + 4 = 5, G^(n) = G_0 = 3 for n >= 2.
    The formula is (1 - lambda) 5 + lambda 3 for lambda < 1 (tending to the MC return 3), but
    at lambda = 1 every weight (1 - lambda) lambda^(n-1) is 0, so it is 0, not 3."""
    lam, n = sympy.symbols("lambda n", positive=True)
    head = (1 - lam) * 5
    tail_terms = (1 - lam) * lam ** (n - 1) * 3
    as_written = head + sympy.Sum(tail_terms, (n, 2, sympy.oo))
    at_one = head.subs(lam, 1) + sympy.Sum(tail_terms.subs(lam, 1), (n, 2, sympy.oo)).doit()
    assert at_one == 0
    closed = sympy.simplify(as_written.doit().subs(lam, sympy.Rational(1, 2)))
    assert closed == 4  # (1/2) 5 + (1/2) 3: fine below 1
    assert sympy.limit(head + lam * 3, lam, 1, dir="-") == 3
    # The corrected (episodic) form gives the Monte-Carlo return at lambda = 1 exactly.
    assert list(eligibility_traces_oracle.lambda_returns_exact([1.0, 2.0], [0.0, 4.0, 0.0], True, 1.0, 1.0)) == [3, 2]
    assert eligibility_traces.lambda_returns([1.0, 2.0], [0.0, 4.0, 0.0], True, 1.0, 1.0)[0] == 3.0


# ------------------------------------------------------------------ nstep.off-policy-sarsa

@pytest.mark.spec("nstep.off-policy-sarsa")
def test_n_step_update_with_a_max_does_not_learn_q_star_off_policy():
    """Seed 003 "2-8": Q(S,A) <- Q(S,A) + alpha [sum_{i=1}^n gamma^(i-1) r_{t+i}
    + gamma^n max_a Q(S', a) - Q(S,A)].

    State 0 has one action, which leads to state 1 with reward 0.  In state 1, action 0 pays
    1 and action 1 pays 0; both end the episode (state 2).  gamma = 1/2, so Q*(0, 0) = 1/2.
    With n = 2 and a uniform behaviour policy in state 1, the sampled rewards already contain
    the behaviour's choice, and the max comes too late to undo it: the expected target is
    (1/2)(1/2)(1 + 0) = 1/4 whatever Q is, so the update's fixed point is 1/4, not Q*.
    Importance sampling with the greedy target policy (ratio 2 or 0 for A_1) corrects it."""
    transitions = np.zeros((3, 2, 3))
    transitions[0, :, 1] = 1.0
    transitions[1, :, 2] = 1.0
    transitions[2, :, 2] = 1.0
    rewards = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    gamma = 0.5
    behaviour = np.array([[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    greedy = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    q_star_values, _ = exact_rational.optimal_values_exact(transitions, rewards, gamma)
    assert q_star_values[0] == Fraction(1, 2)
    q = np.array([[0.5, 0.0], [1.0, 0.0], [3.0, 3.0]])  # Q* (state 2's entry is never used)

    notes_target = Fraction(0)
    corrected = Fraction(0)
    for p, states, actions, path_rewards, terminated in bellman.segments(
            transitions, rewards, behaviour, 0, 0, 2):
        g = sum(Fraction(gamma) ** i * r for i, r in enumerate(path_rewards))
        if not terminated:
            g += Fraction(gamma) ** 2 * max(Fraction(x) for x in q[states[-1]])
        notes_target += p * g
        updated = n_step.off_policy_n_step_sarsa_episode(
            q, states, actions, np.array(path_rewards, dtype=float), terminated, 1.0, gamma, 2,
            greedy, behaviour)
        corrected += p * Fraction(updated[0, 0])
    assert notes_target == Fraction(1, 4) != q_star_values[0]
    assert corrected == Fraction(1, 2)


# ------------------------------------------------------------------ traces.td-lambda

@pytest.mark.spec("traces.td-lambda")
def test_trace_since_the_last_visit_is_not_the_accumulating_trace_the_formula_defines():
    """Seed 000, 后向视角: the trace records "每个状态自上次访问以来的衰减程度" (the decay since
    the state's last visit), then e_t(s) = gamma lambda e_(t-1)(s) + I(S_t = s).

    Visit state 0 at t = 0 and t = 1 with gamma lambda = 1/2: the formula gives
    e_1(0) = 1/2 + 1 = 3/2; the decay since the last visit is (1/2)^0 = 1 (the replacing trace
    of Singh & Sutton 1996).  The difference matters: offline, only the accumulating trace
    reproduces the forward view (the lambda-return algorithm).  States (0, 0, terminal),
    rewards (0, 1), gamma = 1, lambda = 1/2, alpha = 1, V = 0: the forward view gives
    V(0) = G^lambda_0 + G^lambda_1 = 1/2 + 1 = 3/2; accumulating gives 3/2; replacing gives 1."""
    a = {"values": np.zeros(2), "states": np.array([0, 0, 1]), "rewards": np.array([0.0, 1.0]),
         "terminated": True, "alpha": 1.0, "gamma": 1.0, "lam": 0.5}
    decay = Fraction(1, 2)
    formula = decay * 1 + 1            # e_1(0) by the notes' recursion
    since_last_visit = decay ** (1 - 1)
    assert formula == Fraction(3, 2) != since_last_visit == 1
    forward = eligibility_traces_oracle.offline_lambda_return_exact(**a)
    assert forward[0] == Fraction(3, 2)
    assert eligibility_traces_oracle.td_lambda_episode_exact(**a, trace="accumulating", online=False)[0] == forward[0]
    assert eligibility_traces_oracle.td_lambda_episode_exact(**a, trace="replacing", online=False)[0] == 1
    assert eligibility_traces.offline_td_lambda_episode(**a)[0] == 1.5
