r"""What an agent learned on a toy MDP, judged exactly.

On a toy MDP the agent's networks, fed the one-hot encoding of every state, give a policy
table :math:`\pi[s, a]` and critic tables (V[s] or Q[s, a]).  The oracles then answer
exactly, for the discount gamma the agent optimises:

* the optimum: :math:`V^*` by the linear program (``rlspec.oracles.methods.linear_program``),
  :math:`Q^* = r + \gamma P V^*`, :math:`J^* = \sum_s \nu_0(s) V^*(s)`;
* the policy's value: :math:`V^\pi, Q^\pi` by one linear solve
  (``rlspec.oracles.dynamic_programming``), :math:`J^\pi` and the **regret**
  :math:`J^* - J^\pi = \sum_s \nu_0(s) (V^*(s) - V^\pi(s))`, for the acting policy and for
  the greedy one;
* the **critic error**: :math:`\sum_s \nu^\pi(s) |V_{net}(s) - V^\pi(s)|` (or the same for
  Q, averaged over actions), weighted by the policy's discounted state occupancy
  :math:`\nu^\pi` (``rlspec.oracles.occupancy``), restricted to non-terminal states and
  renormalised, so that states the policy never acts in, whose values it cannot learn, do
  not count; and the **Q* error** of a Q-network, the
  same weighted distance to :math:`Q^*`.

An MDP given with gamma = 1 (cliff walking, the 4x4 grid world) is evaluated at the
agent's gamma < 1, which is what it maximises.
"""

from __future__ import annotations

import numpy as np

from rlspec.oracles import dynamic_programming as policy_evaluation
from rlspec.oracles import occupancy
from rlspec.oracles.methods import accuracy, linear_program
from rlspec.toy_mdps import TabularMDP

__all__ = ["ExactEvaluator", "greedy_table"]


def greedy_table(table: np.ndarray) -> np.ndarray:
    """The deterministic policy that takes the first maximiser of each row."""
    policy = np.zeros_like(table, dtype=np.float64)
    policy[np.arange(table.shape[0]), table.argmax(axis=1)] = 1.0
    return policy


class ExactEvaluator:
    """Exact optimum and exact evaluation of policies for one MDP at one discount."""

    def __init__(self, mdp: TabularMDP, gamma: float):
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"exact evaluation needs the agent's gamma in [0, 1), got {gamma}")
        self.mdp = mdp if mdp.gamma == gamma else mdp.with_gamma(gamma)
        self.gamma = gamma
        self.transitions, self.rewards = self.mdp.transitions, self.mdp.rewards
        self.initial = self.mdp.initial_distribution
        self.optimal_values = linear_program.optimal_values_lp(self.transitions, self.rewards, gamma)
        self.optimal_action_values = self.rewards + gamma * self.transitions @ self.optimal_values
        self.optimal_return = float(self.initial @ self.optimal_values)
        scale = float(np.abs(self.rewards).max()) / (1.0 - gamma)
        n_states = self.mdp.n_states
        #: How far a computed regret of an optimal policy may lie above 0: the LP's and the
        #: linear solve's derived float64 errors (``rlspec.oracles.methods.accuracy``).
        self.regret_tolerance = (accuracy.linear_program_tolerance(gamma, scale)
                                 + accuracy.linear_solve_tolerance(
                                     accuracy.discounted_condition_bound(gamma), n_states, scale))

    def policy_values(self, policy: np.ndarray) -> np.ndarray:
        """V^pi by one linear solve."""
        return policy_evaluation.evaluate_policy(self.transitions, self.rewards, self.gamma, policy)

    def policy_return(self, policy: np.ndarray) -> float:
        """J^pi = sum_s nu_0(s) V^pi(s), exactly."""
        return float(self.initial @ self.policy_values(policy))

    def regret(self, policy: np.ndarray) -> float:
        return self.optimal_return - self.policy_return(policy)

    def is_optimal(self, policy: np.ndarray) -> bool:
        """Whether the policy's regret is 0 up to the oracles' own float64 error."""
        return self.regret(policy) <= self.regret_tolerance

    def evaluate(self, policy: np.ndarray, values: np.ndarray | None = None,
                 action_values: np.ndarray | None = None, greedy: np.ndarray | None = None
                 ) -> dict[str, float]:
        """The exact figures for the acting ``policy`` and the agent's critic tables.

        ``greedy`` is the table the greedy policy is read from (Q, or the policy's own
        probabilities); its regret is reported as ``greedy_regret``.
        """
        policy = np.asarray(policy, dtype=np.float64)
        # A float32 softmax sums to 1 only within ~1e-7; the oracles demand 1 in float64.
        policy = policy / policy.sum(axis=1, keepdims=True)
        v_pi = self.policy_values(policy)
        weights = occupancy.state_occupancy(self.transitions, self.gamma, policy, self.initial)
        # Terminal states soak up the occupancy after an episode ends but are never acted in
        # (nor shown to the critic): the errors are weighted over the other states only.
        weights = np.where(self.mdp.terminal_states, 0.0, weights)
        weights = weights / weights.sum()
        exact_return = float(self.initial @ v_pi)
        figures = {"exact_return": exact_return, "optimal_return": self.optimal_return,
                   "regret": self.optimal_return - exact_return}
        if greedy is not None:
            figures["greedy_regret"] = self.regret(greedy_table(np.asarray(greedy)))
        if values is not None:
            figures["critic_error"] = float(weights @ np.abs(np.asarray(values) - v_pi))
        if action_values is not None:
            q_pi = self.rewards + self.gamma * self.transitions @ v_pi
            action_values = np.asarray(action_values, dtype=np.float64)
            figures["critic_error"] = float(weights @ np.abs(action_values - q_pi).mean(axis=1))
            figures["q_star_error"] = float(
                weights @ np.abs(action_values - self.optimal_action_values).mean(axis=1))
        return figures
