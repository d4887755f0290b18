"""Counterexamples to the notes in the continuous-control chapter (DDPG, TD3, SAC).

The notes' DDPG and SAC sections (seed 000) are empty and seed 003's DDPG questions state no
formula, so the one statement to check is the deterministic-policy target that seed 003
writes in question 4-2, which DDPG inherits.  As elsewhere, exact answers come from the
oracles (a linear solve, exact rationals), and the numbers are chosen to be exact in binary.
"""

from fractions import Fraction

import numpy as np
import pytest

from rlspec.oracles import ddpg, dynamic_programming

pytestmark = pytest.mark.spec("ddpg.critic-target")


def _chain():
    """States 0 -> 1 -> 2 (terminal, absorbing, reward 0); one action; rewards 1 and 2."""
    transitions = np.zeros((3, 1, 3))
    transitions[0, 0, 1] = transitions[1, 0, 2] = transitions[2, 0, 2] = 1.0
    rewards = np.array([[1.0], [2.0], [0.0]])
    return transitions, rewards


def test_notes_target_without_gamma_and_mask_is_not_the_bellman_target():
    """Seed 003, 4-2: "Q_pi(s_t, a_t) = r_t + Q_pi(s_{t+1}, pi(s_{t+1}))", no gamma, no mask.

    With gamma = 1/2, Q^mu = (1 + 2/2, 2, 0) = (2, 2, 0).  The corrected target
    r + gamma (1 - terminated) Q'(s', mu'(s')) at Q' = Q^mu returns Q^mu, even when the target
    network outputs an arbitrary 5 at the terminal state (nothing trains it to 0).  The notes'
    target returns 3 for state 0 (no discount) and 7 for state 1 (it bootstraps from the
    terminal state's untrained output): Q^mu is not its fixed point.
    """
    transitions, rewards = _chain()
    gamma = 0.5
    q_mu = dynamic_programming.action_values(transitions, rewards, gamma, np.ones((3, 1)))[:, 0]
    assert q_mu.tolist() == [2.0, 2.0, 0.0]

    untrained_terminal_output = 5.0
    next_q = np.array([q_mu[1], untrained_terminal_output])  # transitions 0 -> 1 and 1 -> 2
    r, terminated = np.array([1.0, 2.0]), np.array([0.0, 1.0])

    corrected = ddpg.ddpg_targets_exact(r, terminated, next_q, gamma)
    assert corrected.tolist() == [2.0, 2.0]  # = Q^mu(0), Q^mu(1): the fixed point

    notes = [Fraction(reward) + Fraction(value) for reward, value in zip(r, next_q)]
    assert notes == [3, 7]
    assert notes[0] != q_mu[0]  # the missing gamma
    assert notes[1] != q_mu[1]  # the missing termination mask

    # Adding gamma alone does not fix the second: 2 + 5/2 = 9/2, still not Q^mu(1) = 2.
    assert Fraction(2) + Fraction(gamma) * Fraction(untrained_terminal_output) == Fraction(9, 2)
    # Read as an identity for the true Q_pi with gamma = 1 and Q_pi(terminal) = 0 it holds:
    q_undiscounted = dynamic_programming.action_values(transitions, rewards, 1.0, np.ones((3, 1)))[:, 0]
    assert q_undiscounted.tolist() == [3.0, 2.0, 0.0]
    assert [1 + q_undiscounted[1], 2 + q_undiscounted[2]] == [3.0, 2.0]
