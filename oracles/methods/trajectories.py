"""Every trajectory of a finite-horizon MDP, with its exact probability.

For a finite MDP, a policy table ``policy[s, a]`` and a horizon H, a trajectory is

    tau = (s_0, a_0, s_1, a_1, ..., s_{H-1}, a_{H-1}),
    p(tau) = nu_0(s_0) * prod_{t<H} pi(a_t | s_t) * prod_{t<H-1} P(s_{t+1} | s_t, a_t),

with rewards r_t = r(s_t, a_t) (the expected reward table).  The state s_H after the last
action is summed out: its distribution sums to one and nothing after step H-1 is rewarded,
so leaving it out changes no expectation and divides the number of trajectories by S.
(The notes index from 1 and keep s_{T+1}; ``trajectory_probability_exact`` keeps it.)

Every probability is kept as an exact ``Fraction`` of the floats given (``Fraction(0.1)``
is the binary value the float holds), so an expectation over trajectories is a finite sum
computed without rounding.  That is what turns "this estimator is unbiased" into an
equality that a test can assert exactly, with nothing sampled.

Cost: at most (S * A) ** H trajectories; S <= 3, A <= 2, H <= 3 gives at most 216.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from rlspec import validation
from rlspec.oracles.methods.conversions import to_fractions

__all__ = ["enumerate_trajectories", "expectation_over_trajectories", "trajectory_probability_exact"]


@dataclass(frozen=True)
class Trajectory:
    """One trajectory: states s_0..s_{H-1}, actions a_0..a_{H-1}, rewards r(s_t, a_t) and
    its exact probability under the policy that generated it."""

    states: tuple[int, ...]
    actions: tuple[int, ...]
    rewards: tuple[Fraction, ...]
    probability: Fraction

    def arrays(self) -> dict[str, np.ndarray]:
        """states, actions (int64) and rewards (float64), the way a candidate receives them."""
        return {"states": np.array(self.states, dtype=np.int64),
                "actions": np.array(self.actions, dtype=np.int64),
                "rewards": np.array([float(r) for r in self.rewards], dtype=np.float64)}


def _tables(transitions, rewards, policy, initial_distribution):
    transitions, rewards = validation.transitions_and_rewards(transitions, rewards)
    n_states, n_actions = rewards.shape
    policy = validation.policy_table(policy, n_states, n_actions)
    start = validation.distribution(initial_distribution, n_states, "initial_distribution")
    return (to_fractions(transitions), to_fractions(rewards), to_fractions(policy),
            to_fractions(start))


def enumerate_trajectories(transitions, rewards, policy, initial_distribution,
                           horizon: int) -> list[Trajectory]:
    """All trajectories of ``horizon`` steps with positive probability, and their exact
    probabilities (which sum to exactly 1)."""
    if int(horizon) != horizon or horizon < 1:
        raise validation.InvalidInputError(f"horizon must be an integer >= 1, got {horizon!r}")
    p, r, pi, start = _tables(transitions, rewards, policy, initial_distribution)
    n_states, n_actions = r.shape
    found: list[Trajectory] = []

    def extend(states, actions, probability):
        s = states[-1]
        for a in range(n_actions):
            with_action = probability * pi[s, a]
            if with_action == 0:
                continue
            if len(actions) + 1 == horizon:
                found.append(Trajectory(tuple(states), tuple(actions) + (a,),
                                        tuple(r[s_, a_] for s_, a_ in zip(states, actions + [a])),
                                        with_action))
                continue
            for s_next in range(n_states):
                if p[s, a, s_next] != 0:
                    extend(states + [s_next], actions + [a], with_action * p[s, a, s_next])

    for s0 in range(n_states):
        if start[s0] != 0:
            extend([s0], [], start[s0])
    return found


def expectation_over_trajectories(trajectories: Sequence[Trajectory],
                                  function: Callable[[Trajectory], object]):
    """E[f(tau)] = sum_tau p(tau) f(tau), exact when ``f`` returns Fractions (or object
    arrays of them)."""
    total = None
    for trajectory in trajectories:
        term = function(trajectory) * trajectory.probability  # ndarray * Fraction: elementwise
        total = term if total is None else total + term
    return total


def trajectory_probability_exact(initial_distribution, transitions, policy, states,
                                 actions) -> Fraction:
    """p(tau) = nu_0(s_0) prod_t pi(a_t|s_t) P(s_{t+1}|s_t, a_t) for ``states`` of length
    T + 1 and ``actions`` of length T (the notes' form, with the last state kept)."""
    transitions = validation.as_float_array(transitions, "transitions P[s, a, s']", ndim=3)
    n_states, n_actions, _ = transitions.shape
    p, _, pi, start = _tables(transitions, np.zeros((n_states, n_actions)), policy,
                              initial_distribution)
    states, actions = _path(states, actions, n_states, n_actions)
    probability = start[states[0]]
    for t, a in enumerate(actions):
        probability *= pi[states[t], a] * p[states[t], a, states[t + 1]]
    return probability


def _path(states, actions, n_states: int, n_actions: int) -> tuple[list[int], list[int]]:
    states = [int(s) for s in np.asarray(states).reshape(-1)]
    actions = [int(a) for a in np.asarray(actions).reshape(-1)]
    if len(states) != len(actions) + 1:
        raise validation.InvalidInputError(
            f"states must hold one more entry than actions (s_0..s_T and a_0..a_{{T-1}}), "
            f"got {len(states)} states and {len(actions)} actions")
    if any(not 0 <= s < n_states for s in states) or any(not 0 <= a < n_actions for a in actions):
        raise validation.InvalidInputError(
            f"states must lie in range({n_states}) and actions in range({n_actions})")
    return states, actions
