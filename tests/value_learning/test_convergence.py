"""Sampled learning converges where the theory says, within tolerances derived from the
sample size and a stated false-alarm rate, with fixed seeds.

* First-visit Monte Carlo on random-walk-19 (Hoeffding) and on seeded random episodic MDPs
  (Bernstein, with the exact variance of the return from a second linear solve).
* Online TD(0) on random-walk-5 with transitions drawn i.i.d.: the mean of many runs follows
  the exact mean path (a deterministic linear recursion, because the update is linear and the
  sample is independent of the current table), within a Bernstein bound built on the exact
  variance; the mean path converges to V^pi.
* Batch TD(0) and batch Monte Carlo on one fixed set of random-walk-5 episodes (Sutton &
  Barto 2018, §6.3, Figure 6.2): batch TD reaches the certainty-equivalence values (V of the
  maximum-likelihood model), batch MC the mean of the observed returns.  Deterministic.
* Cliff walking (Sutton & Barto 2018, Example 6.6): SARSA learns the safe path and Q-learning
  the optimal path along the cliff edge.

Every statistical test states its false-alarm rate: the probability, over the seeded random
draws, that a correct implementation fails.  The seeds are fixed, so the verdict is the same
on every run; the rate says how unlucky a seed would have to be.
"""

import math

import numpy as np
import pytest

from rlspec.oracles import dynamic_programming
from rlspec.oracles.methods import exact_rational
from rlspec.reference import monte_carlo, temporal_difference
from rlspec.reference.policies import epsilon_greedy
from rlspec.toy_mdps.catalogue import make
from rlspec.toy_mdps.random_mdps import random_mdp

import bugs_value_learning as bugs

#: Total false-alarm rate allowed to each statistical test (split over its states by a
#: union bound).
FALSE_ALARM = 1e-6


class Sampler:
    """Fast sampling of a TabularMDP under a fixed policy: inverse-CDF draws on cumulative
    tables (a test utility, not a spec'd function)."""

    def __init__(self, mdp, policy, seed):
        self.mdp, self.rng = mdp, np.random.default_rng(seed)
        self.policy_cdf = np.cumsum(policy, axis=1)
        self.transition_cdf = np.cumsum(mdp.transitions, axis=2)
        self.rewards = mdp.reward_by_transition

    def draw(self, cdf) -> int:
        return min(int(np.searchsorted(cdf, self.rng.random(), side="right")), cdf.size - 1)

    def step(self, state, action):
        next_state = self.draw(self.transition_cdf[state, action])
        reward = self.mdp.rewards[state, action] if self.rewards is None \
            else self.rewards[state, action, next_state]
        return next_state, float(reward)

    def episode(self, start):
        states, rewards = [start], []
        while not self.mdp.terminal_states[states[-1]]:
            s = states[-1]
            next_state, reward = self.step(s, self.draw(self.policy_cdf[s]))
            states.append(next_state)
            rewards.append(reward)
        return np.array(states), np.array(rewards)


def hoeffding_radius(n, value_range, delta):
    """P(|mean - mu| >= r) <= 2 exp(-2 n r^2 / range^2) = delta."""
    return value_range * math.sqrt(math.log(2 / delta) / (2 * n))


def bernstein_radius(n, variance, bound, delta):
    """Bernstein: P(|mean - mu| >= r) <= 2 exp(-n r^2 / (2 var + 2 b r / 3)) with |X - mu| <= b;
    the r that makes the right side delta."""
    log_term = math.log(2 / delta)
    return (bound * log_term / 3 + math.sqrt((bound * log_term / 3) ** 2
                                             + 2 * n * variance * log_term)) / n


# ------------------------------------------------------------------ Monte Carlo

def first_visit_estimates(mdp, policy, seed, episodes, start=None, update=None):
    update = update or monte_carlo.first_visit_mc_update
    sampler = Sampler(mdp, policy, seed)
    values, counts = np.zeros(mdp.n_states), np.zeros(mdp.n_states)
    for _ in range(episodes):
        s0 = sampler.draw(np.cumsum(mdp.initial_distribution)) if start is None else start
        states, rewards = sampler.episode(s0)
        if rewards.size == 0:
            continue
        values = update(values, counts, states, rewards, mdp.gamma)
        for s in set(states[:-1].tolist()):
            counts[s] += 1
    return values, counts


@pytest.mark.spec("mc.first-visit")
def test_first_visit_monte_carlo_on_random_walk_19_is_within_the_hoeffding_bound(update=None):
    """Returns are +1 or -1 (range 2).  Each state's first-visit returns are i.i.d. given
    how many episodes visit it (strong Markov property), so Hoeffding applies with that
    count; a union bound over the 19 states splits FALSE_ALARM.  1000 episodes: every state
    is visited in about half of them or more, so the radius is about 0.25 at most."""
    mdp = make("random-walk-19")
    values, counts = first_visit_estimates(mdp, np.ones((21, 1)), seed=19, episodes=1000,
                                           update=update)
    v_pi = dynamic_programming.evaluate_policy(mdp.transitions, mdp.rewards, 1.0, np.ones((21, 1)))
    np.testing.assert_allclose(v_pi[1:20], (np.arange(1, 20) - 10) / 10, atol=1e-12)
    for s in range(1, 20):
        radius = hoeffding_radius(counts[s], 2.0, FALSE_ALARM / 19)
        assert abs(values[s] - v_pi[s]) <= radius, (s, values[s], v_pi[s], radius)


def return_variance(mdp, policy):
    """Var[G | S_0 = s] from the second moment M = E[G^2], which satisfies
    M(s) = sum_a pi(a|s) [r^2 + 2 gamma r (P V)(s, a) + gamma^2 (P M)(s, a)] with M = 0 on
    terminal states: one more linear solve (Sobel 1982), with deterministic rewards r(s, a)."""
    v = dynamic_programming.evaluate_policy(mdp.transitions, mdp.rewards, mdp.gamma, policy)
    r, gamma = mdp.rewards, mdp.gamma
    live = ~mdp.terminal_states
    markov = np.einsum("sa,sat->st", policy, mdp.transitions)[np.ix_(live, live)]
    source = (policy * (r ** 2 + 2 * gamma * r * (mdp.transitions @ v))).sum(axis=1)[live]
    second = np.zeros(mdp.n_states)
    second[live] = np.linalg.solve(np.eye(live.sum()) - gamma ** 2 * markov, source)
    return v, second - v ** 2


@pytest.mark.spec("mc.first-visit")
@pytest.mark.parametrize("seed", [3, 11])
def test_first_visit_monte_carlo_on_random_mdps_is_within_the_bernstein_bound(seed):
    """Random episodic MDPs (5 states with the terminal one, 2 actions, gamma 0.9, rewards
    r(s, a) normal, termination probability >= 1/4 per step), uniform policy, 2000 episodes
    from uniform starts.  |G| <= max|r| / (1 - gamma), so |G - V| <= 2 max|r| / (1 - gamma);
    the variance is exact.  Union bound over the 4 live states and the 2 seeds."""
    mdp = random_mdp(5, 2, 0.9, seed, episodic=True, termination_probability=0.25)
    policy = np.full((5, 2), 0.5)
    values, counts = first_visit_estimates(mdp, policy, seed=seed, episodes=2000)
    v_pi, variance = return_variance(mdp, policy)
    bound = 2 * np.abs(mdp.rewards).max() / (1 - mdp.gamma)
    for s in np.flatnonzero(~mdp.terminal_states):
        radius = bernstein_radius(counts[s], variance[s], bound, FALSE_ALARM / 8)
        assert abs(values[s] - v_pi[s]) <= radius, (s, values[s], v_pi[s], radius)


# ------------------------------------------------------------------ TD(0)

def td0_mean_path(mdp, alpha, steps):
    """The exact mean and variance of V_t for TD(0) with i.i.d. transitions: the state is
    uniform over the live states, the next state drawn from P.  Each update is
    V <- A V + b with (A, b) drawn independently of V, so
    m_{t+1} = E[A] m_t + E[b] and M_{t+1} = E[A M_t A^T + A m_t b^T + b m_t^T A^T + b b^T]."""
    n = mdp.n_states
    live = np.flatnonzero(~mdp.terminal_states)
    outcomes = []
    for s in live:
        for s_next in np.flatnonzero(mdp.transitions[s, 0]):
            a = np.eye(n)
            a[s, s] -= alpha
            if not mdp.terminal_states[s_next]:
                a[s, s_next] += alpha * mdp.gamma
            b = np.zeros(n)
            b[s] = alpha * mdp.reward_by_transition[s, 0, s_next]
            outcomes.append((mdp.transitions[s, 0, s_next] / live.size, a, b))
    mean, second = np.zeros(n), np.zeros((n, n))
    for _ in range(steps):
        second = sum(p * (a @ second @ a.T + np.outer(a @ mean, b) + np.outer(b, a @ mean)
                          + np.outer(b, b)) for p, a, b in outcomes)
        mean = sum(p * (a @ mean + b) for p, a, b in outcomes)
    return mean, np.diag(second) - mean ** 2


@pytest.mark.spec("td.td0")
def test_td0_with_iid_transitions_follows_its_exact_mean_path_to_v_pi(update=None):
    """Random-walk-5, alpha 1/2, 100 updates per run, 600 independent runs from V = 0.
    Every V_t(s) stays in [0, 1]: it starts at 0 and each update moves it towards a target
    r + V(s') in [0, 1] (rewards are 0 or 1, and 1 only on entering the terminal state, whose
    value is not used), by a step alpha <= 1.  So |X - mu| <= 1; Bernstein with the exact
    variance and a union bound over the 5 states gives a radius of about 0.06."""
    update = update or temporal_difference.td0_update
    mdp = make("random-walk-5")
    alpha, steps, runs = 0.5, 100, 600
    rng = np.random.default_rng(5)
    live = np.flatnonzero(~mdp.terminal_states)
    finals = np.zeros((runs, mdp.n_states))
    for run in range(runs):
        values = np.zeros(mdp.n_states)
        starts = rng.choice(live, size=steps)
        moves = rng.random(steps) < 0.5
        for s, right in zip(starts, moves):
            s_next = s + 1 if right else s - 1
            reward = mdp.reward_by_transition[s, 0, s_next]
            values = update(values, s, reward, s_next, bool(mdp.terminal_states[s_next]),
                            alpha, 1.0)
        finals[run] = values
    mean, variance = td0_mean_path(mdp, alpha, steps)
    for s in live:
        radius = bernstein_radius(runs, variance[s], 1.0, FALSE_ALARM / live.size)
        assert abs(finals[:, s].mean() - mean[s]) <= radius, (s, finals[:, s].mean(), mean[s], radius)
    # The mean path itself converges to V^pi = (1/6, ..., 5/6) (oracle arithmetic only).
    long_mean, _ = td0_mean_path(mdp, alpha, 3000)
    np.testing.assert_allclose(long_mean[live], np.arange(1, 6) / 6, atol=1e-6)


# ------------------------------------------------------------- batch updating

def batch_episodes(seed, count):
    mdp = make("random-walk-5")
    sampler = Sampler(mdp, np.ones((7, 1)), seed)
    return mdp, [sampler.episode(3) for _ in range(count)]


@pytest.mark.spec("td.td0")
def test_batch_td0_reaches_certainty_equivalence_and_batch_mc_the_sample_mean():
    """Sutton & Barto (2018), §6.3: present the same 10 episodes again and again, summing the
    increments of a sweep and applying them at its end.  Batch TD(0) converges to V of the
    maximum-likelihood model of the data (solved here with the foundation's linear-solve
    oracle), batch constant-alpha MC to the mean of each state's observed returns.

    Stopping: a sweep's increment for s is alpha N(s) [(B^ V)(s) - V(s)] (TD) or
    alpha N(s) [mean(s) - V(s)] (MC), N(s) the visits.  Stopping below tau bounds the
    residual by tau / (alpha N(s)); for TD the error is at most the residual times
    ||(I - P^)^-1||_inf, the longest expected time to termination in the model."""
    mdp, episodes = batch_episodes(seed=62, count=10)
    visits = np.zeros(7)
    model_counts = np.zeros((7, 7))
    reward_sum = np.zeros(7)
    for states, rewards in episodes:
        for s, r, s_next in zip(states[:-1], rewards, states[1:]):
            visits[s] += 1
            model_counts[s, s_next] += 1
            reward_sum[s] += r
    seen = visits > 0
    alpha, tau = 1.0 / visits.max() / 2, 1e-12

    values = np.zeros(7)
    for sweep in range(100_000):
        increment = np.zeros(7)
        for states, rewards in episodes:
            for t, (s, r) in enumerate(zip(states[:-1], rewards)):
                updated = temporal_difference.td0_update(values, s, r, states[t + 1],
                                                         bool(mdp.terminal_states[states[t + 1]]),
                                                         alpha, 1.0)
                increment += updated - values
        values += increment
        if np.abs(increment).max() < tau:
            break
    # The maximum-likelihood model: P^(s'|s) = count / N(s), r^(s) = mean reward.
    transitions = np.zeros((7, 1, 7))
    rewards = np.zeros((7, 1))
    for s in range(7):
        if seen[s]:
            transitions[s, 0] = model_counts[s] / visits[s]
            rewards[s, 0] = reward_sum[s] / visits[s]
        else:
            transitions[s, 0, s] = 1.0  # unvisited (and terminal) states: absorbing, 0
    certainty_equivalence = dynamic_programming.evaluate_policy(transitions, rewards, 1.0,
                                                              np.ones((7, 1)))
    live = seen & ~mdp.terminal_states
    markov = transitions[np.ix_(live, [0], live)][:, 0, :]
    time_to_end = np.linalg.solve(np.eye(live.sum()) - markov, np.ones(live.sum())).max()
    np.testing.assert_allclose(values[live], certainty_equivalence[live], rtol=0,
                               atol=tau / (alpha * visits[live].min()) * time_to_end * 2)

    returns = {s: [] for s in range(7)}
    for states, rewards in episodes:
        g = exact_rational.discounted_returns_exact(rewards, 1.0)
        for t, s in enumerate(states[:-1]):
            returns[s].append(float(g[t]))
    mc = np.zeros(7)
    for sweep in range(100_000):
        increment = sum(monte_carlo.constant_step_mc_update(mc, states, rewards, alpha, 1.0) - mc
                        for states, rewards in episodes)
        mc += increment
        if np.abs(increment).max() < tau:
            break
    for s in np.flatnonzero(live):
        assert abs(mc[s] - np.mean(returns[s])) <= tau / (alpha * visits[s]) * 2
    # Example 6.4's point: the two answers differ on the same data.
    assert np.abs(mc[live] - values[live]).max() > 1e-3


# ------------------------------------------------------------------ cliff walking

def learn_cliff(method, seed):
    """Sutton & Barto's Example 6.6 set-up: epsilon = 0.1, alpha = 0.5, gamma = 1, Q = 0,
    ties broken at random.  400 episodes at alpha = 0.5 (the book's curves settle within
    about 100), then 100 at alpha = 0.1, so that the greedy policy reads the learned values
    rather than the noise of the last few updates at alpha = 0.5 (with alpha = 0.5 throughout,
    SARSA's greedy path at episode 500 loops in 2 of the 10 seeds tried while writing this
    test; with the last 100 episodes at 0.1 it was safe and complete in 10 of 10)."""
    mdp = make("cliff-walking")
    rng = np.random.default_rng(seed)
    transition_cdf = np.cumsum(mdp.transitions, axis=2)
    q = np.zeros((mdp.n_states, mdp.n_actions))

    def choose(s):
        if rng.random() < 0.1:
            return int(rng.integers(mdp.n_actions))
        return int(rng.choice(np.flatnonzero(q[s] == q[s].max())))

    for episode in range(500):
        alpha = 0.5 if episode < 400 else 0.1
        s = 36
        a = choose(s)
        while not mdp.terminal_states[s]:
            s_next = int(np.searchsorted(transition_cdf[s, a], rng.random(), side="right"))
            reward, done = mdp.rewards[s, a], bool(mdp.terminal_states[s_next])
            a_next = choose(s_next)
            if method == "sarsa":
                q = temporal_difference.sarsa_update(q, s, a, reward, s_next, a_next, done,
                                                     alpha, 1.0)
            else:
                q = temporal_difference.q_learning_update(q, s, a, reward, s_next, done, alpha, 1.0)
            s, a = s_next, a_next
    return mdp, q


def greedy_path(mdp, q):
    s, path = 36, [36]
    while not mdp.terminal_states[s] and len(path) < 100:
        s = int(np.argmax(mdp.transitions[s, int(np.argmax(q[s]))]))  # deterministic grid
        path.append(s)
    return path


@pytest.mark.spec("td.q-learning", "td.sarsa")
def test_cliff_walking_sarsa_learns_the_safe_path_and_q_learning_the_optimal_one():
    mdp, q_sarsa = learn_cliff("sarsa", seed=0)
    _, q_learning = learn_cliff("q-learning", seed=0)
    tables = (mdp.transitions, mdp.rewards, 1.0)
    # Q-learning: its greedy path from the start is optimal, the 13 steps along the cliff
    # edge with return V*(S) = -13 (the foundation's exact optimal value).  (Its greedy
    # policy may loop in states it hardly visited; only the start's path matters here.)
    path = greedy_path(mdp, q_learning)
    greedy_return = sum(mdp.rewards[s, int(np.argmax(q_learning[s]))] for s in path[:-1])
    optimal, _ = exact_rational.optimal_values_exact(*tables)
    assert mdp.terminal_states[path[-1]] and greedy_return == optimal[36] == -13
    assert all(s // 12 == 2 for s in path if s % 12 not in (0, 11)), path  # along the edge
    # SARSA: its greedy path reaches the goal, longer, and never in the row next to the cliff
    # (row 2) between the first and the last column.
    path = greedy_path(mdp, q_sarsa)
    assert mdp.terminal_states[path[-1]] and len(path) - 1 > 13
    assert all(s // 12 <= 1 for s in path if s % 12 not in (0, 11)), path
    # Online, with epsilon = 0.1 still exploring, SARSA's policy does better than
    # Q-learning's (the book's figure): exact values of the two epsilon-greedy policies.
    online_sarsa = dynamic_programming.evaluate_policy(*tables, epsilon_greedy(q_sarsa, 0.1))[36]
    online_q = dynamic_programming.evaluate_policy(*tables, epsilon_greedy(q_learning, 0.1))[36]
    assert online_sarsa > online_q + 10


# ---------------------------------------------------------------------- can fail

@pytest.mark.parametrize("test, mutant", [
    (test_first_visit_monte_carlo_on_random_walk_19_is_within_the_hoeffding_bound,
     bugs.mc_returns_forwards),
    (test_td0_with_iid_transitions_follows_its_exact_mean_path_to_v_pi, bugs.td0_alpha_twice),
], ids=["mc-hoeffding", "td0-mean-path"])
def test_convergence_test_fails_on_a_planted_bug(test, mutant):
    with pytest.raises(AssertionError):
        test(update=mutant)
