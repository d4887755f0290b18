r"""Certified solvers for large sparse MDPs: every answer comes with an error bound it proves.

Works on any :class:`rlspec.toy_mdps.TabularMDP`, dense or sparse, through its CSR view
``mdp.transition_matrix`` (rows ``s * A + a``), so memory stays linear in the non-zeros and
a 10^6-state MDP fits.  The values are computed by sparse linear algebra (BiCGSTAB warm
started, with a sparse LU as fall-back) and policy iteration; *how* they were computed does
not matter for the bound, which is proved afterwards from the residual:

* **Residual.**  For values V the Bellman residual ``res = T V - V`` (T the policy's
  operator ``T_pi V = r_pi + gamma P_pi V`` or the optimality operator
  ``T V = max_a r(., a) + gamma P_a V``) is computed in float64 from the MDP's own tables,
  and every entry is widened by the rounding bound of the float computation (Higham 2002,
  Thm 3.5: a k-term dot product errs by at most ``gamma_k |x|^T |y|`` with
  ``gamma_k = k u / (1 - k u)``, u = 2^-53).  So ``rho`` is a proven upper bound on
  ``||T V - V||_inf`` in exact arithmetic.
* **Discounted (gamma < 1).**  T is a contraction with modulus beta = gamma * max over
  non-terminal (s, a) of the probability of staying among non-terminal states (<= gamma;
  V is exactly 0 on terminal states).  Then (Puterman 1994, Thm 6.2.3 and its proof)

      ||V - V_fix||_inf <= ||T V - V||_inf / (1 - beta) <= rho / (1 - beta).

* **Episodic (gamma = 1), a policy's values.**  ``V - V^pi = -(I - P_pi)^{-1} res`` on
  the non-terminal states, and ``(I - P_pi)^{-1} >= 0`` has sup-norm ``||tau||_inf`` where
  ``tau = (I - P_pi)^{-1} 1`` is the expected number of steps to termination.  tau is
  solved too; if its own certified residual is delta < 1 then ``||tau||_inf <=
  ||tau_hat||_inf / (1 - delta)`` (from tau = tau_hat + (I - P_pi)^{-1} e, |e| <= delta),
  so ``||V - V^pi||_inf <= rho ||tau_hat||_inf / (1 - delta)``.
* **Episodic (gamma = 1), optimal values.**  With the final policy's tau as weights w,
  if ``beta_w = max_{s, a} (P_a w)(s) / w(s) < 1`` (checked, with rounding), T is a
  beta_w-contraction in the w-weighted sup norm (Bertsekas & Tsitsiklis 1996, Prop. 2.2),
  giving ``||V - V*||_inf <= ||w||_inf max_s |res(s)| / w(s) / (1 - beta_w)``.  That holds
  when *every* policy terminates.  Otherwise, when every non-terminal reward is negative
  (a stochastic shortest path problem: grid worlds with a step cost), an upper bound
  ``U = V + c w`` with ``T U <= U`` is found (see :func:`_shortest_path_certificate`)
  and V^pi bounds V* from below.  Other gamma = 1 cases raise
  :class:`UncertifiableError`.
* **Occupancy (gamma < 1).**  nu solves ``(I - gamma P_pi)^T nu = (1 - gamma) nu_0``;
  with residual e, ``||nu_hat - nu||_1 <= ||(I - gamma P_pi)^{-1}||_inf ||e||_1 <=
  ||e||_1 / (1 - gamma)`` (the 1-norm of a transpose is the sup-norm of the matrix).

The bound is on the distance to the exact answer of the MDP the floats describe (the
rational oracle's answer), so on small MDPs ``rlspec.oracles.methods.exact_rational`` can check it,
and the tests do.  The final scalar operations round too; :func:`round_up` widens them.

Policies are ``policy[s, a] = pi(a | s)`` (S, A) or one action per state (S,).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from rlspec import validation
from rlspec.oracles.dynamic_programming import NonTerminatingPolicyError
from rlspec.toy_mdps.mdp import (
    UNREACHED,
    TabularMDP,
    breadth_first_predecessors,
    reachable_states,
    state_graph,
)

__all__ = ["evaluate_policy",
           "certify_policy_values", "certify_optimal_values", "action_values",
           "optimal_values", "optimal_action_values", "optimal_policy", "state_occupancy",
           "state_action_occupancy"]

UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2

#: Linear solves aim at a residual of this times max |b| (a few ulps of the values); the
#: certificate, not this target, states the accuracy reached.
SOLVE_TOLERANCE = 1e-14
#: BiCGSTAB gives up when its residual has not halved in this many iterations.
STALL_WINDOW = 50
#: BiCGSTAB restarts from its own answer at most this often before the sparse LU takes over.
RESTARTS = 3
#: Policy iteration stops after this many improvements (it needs far fewer on the generated
#: MDPs; see benchmarks/bench_scale.py), raising UncertifiableError rather than looping on.
MAX_POLICY_ITERATIONS = 500


class UncertifiableError(RuntimeError):
    """The solver could not prove an error bound (the case is outside what it supports)."""


@dataclass(frozen=True)
class CertifiedValues:
    """An answer and a proven bound: ``max |values - exact| <= error_bound`` (for an
    occupancy measure the bound is on the 1-norm, which bounds the max too)."""

    values: np.ndarray
    error_bound: float
    residual: float
    method: str

    def __post_init__(self):
        if not np.isfinite(self.error_bound) or not np.all(np.isfinite(self.values)):
            raise UncertifiableError(
                f"the solve gave no finite answer with a finite bound ({self.method}); the "
                f"linear system is singular or too ill-conditioned for float64")


@dataclass(frozen=True)
class CertifiedPolicy:
    """A deterministic policy, its values, V*, and the proven ``max_s V*(s) - V^pi(s)``.

    ``near_optimal[s, a]`` holds every optimal action for sure (it may hold a few more
    whose Q* lies within the error bounds of the best).
    """

    actions: np.ndarray
    values: CertifiedValues
    optimal_values: CertifiedValues
    suboptimality_bound: float
    near_optimal: np.ndarray


# ------------------------------------------------------------------ rounding bounds

def rounding_factor(n_operations) -> np.ndarray:
    """Higham's gamma_n = n u / (1 - n u): the relative error bound of n chained float ops."""
    n = np.asarray(n_operations, dtype=np.float64)
    return n * UNIT_ROUNDOFF / (1.0 - n * UNIT_ROUNDOFF)


def round_up(value: float, operations: int = 8) -> float:
    """``value`` widened by the rounding of a few scalar float operations done on it."""
    return float(value) * (1.0 + 2.0 * float(rounding_factor(operations)))


# ------------------------------------------------------------------ tables and policies

def policy_probabilities(mdp: TabularMDP, policy) -> np.ndarray:
    """``pi[s, a]`` from probabilities (S, A) or one action index per state (S,)."""
    array = np.asarray(policy)
    if array.ndim == 1:
        if array.shape != (mdp.n_states,):
            raise validation.InvalidInputError(
                f"policy actions must have shape ({mdp.n_states},), got {array.shape}")
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 \
                or array.max() >= mdp.n_actions:
            raise validation.InvalidInputError(
                f"policy actions must be integers in range(0, {mdp.n_actions})")
        table = np.zeros((mdp.n_states, mdp.n_actions))
        table[np.arange(mdp.n_states), array] = 1.0
        return table
    return validation.policy_table(array, mdp.n_states, mdp.n_actions)


def policy_matrix(mdp: TabularMDP, pi: np.ndarray) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
    """``P_pi[s, s'] = sum_a pi(a|s) p(s'|s, a)`` (CSR, S x S) and ``r_pi[s]``."""
    n_states, n_actions = mdp.n_states, mdp.n_actions
    mixing = scipy.sparse.csr_matrix(
        (pi.reshape(-1).copy(), np.arange(n_states * n_actions), np.arange(0, n_states * n_actions + 1,
                                                                    n_actions)),
        shape=(n_states, n_states * n_actions))
    mixing.eliminate_zeros()
    return (mixing @ mdp.transition_matrix).tocsr(), np.einsum("sa,sa->s", pi, mdp.rewards)


def fixed_states(mdp: TabularMDP) -> np.ndarray:
    """States that stay put under every action and pay nothing: value 0 for every gamma."""
    n_states, n_actions = mdp.n_states, mdp.n_actions
    matrix = mdp.transition_matrix
    own = np.repeat(np.arange(n_states), n_actions)
    stays = np.asarray(matrix[np.arange(n_states * n_actions), own]).reshape(n_states, n_actions)
    return np.all(stays == 1.0, axis=1) & np.all(mdp.rewards == 0.0, axis=1)


# ------------------------------------------------------------------ residual certificates

def lookahead(mdp: TabularMDP, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Q[s, a] = r(s, a) + gamma sum_s' p(s'|s, a) V(s')`` and a bound on its rounding.

    Each entry is a dot product over the row's k non-zeros, a product by gamma and a sum
    with r: at most ``gamma_{k+2} (|r| + gamma P |V|)`` away from the exact value.
    """
    matrix = mdp.transition_matrix
    shape = (mdp.n_states, mdp.n_actions)
    q = mdp.rewards + mdp.gamma * (matrix @ values).reshape(shape)
    magnitude = np.abs(mdp.rewards) + mdp.gamma * (matrix @ np.abs(values)).reshape(shape)
    entries = np.diff(matrix.indptr).reshape(shape)
    return q, 2.0 * rounding_factor(entries + 2) * magnitude


def policy_residual(mdp: TabularMDP, pi: np.ndarray, values: np.ndarray) -> float:
    """A proven bound on ``max_s |(T_pi V)(s) - V(s)|`` in exact arithmetic."""
    q, q_rounding = lookahead(mdp, values)
    residual = np.einsum("sa,sa->s", pi, q) - values
    # the mixing adds A products and sums, and the subtraction one more
    rounding = np.einsum("sa,sa->s", pi, q_rounding) + 2.0 * rounding_factor(
        mdp.n_actions + 2) * (np.einsum("sa,sa->s", pi, np.abs(q)) + np.abs(values))
    return round_up(np.max(np.abs(residual) + rounding))


def optimality_residual(mdp: TabularMDP, values: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per state, a proven bound on ``|(T V)(s) - V(s)|``; with Q and Q's rounding bound.

    The max over actions is exact in floats (it picks an entry), so the rounding is that
    of the entries and of the subtraction.
    """
    q, q_rounding = lookahead(mdp, values)
    residual = q.max(axis=1) - values
    rounding = q_rounding.max(axis=1) + 2.0 * rounding_factor(1) * (
        np.abs(q).max(axis=1) + np.abs(values))
    return np.abs(residual) + rounding, q, q_rounding


def discounted_modulus(mdp: TabularMDP, fixed: np.ndarray) -> float:
    """beta = gamma * max over non-fixed (s, a) of P(next state not fixed) <= gamma.

    A proven upper bound: the row sums are computed in floats and widened.
    """
    matrix = mdp.transition_matrix
    staying = (matrix @ (~fixed).astype(np.float64)).reshape(mdp.n_states, mdp.n_actions)
    staying = staying[~fixed]
    if staying.size == 0:
        return 0.0
    entries = np.diff(matrix.indptr).max()
    return min(mdp.gamma, round_up(mdp.gamma * staying.max(), int(entries) + 2))


# ------------------------------------------------------------------ linear solves

def _dot(u: np.ndarray, v: np.ndarray) -> float:
    # einsum, not BLAS: OpenBLAS threads its level-1 routines, which on a busy machine made
    # each dot of a 10^5-vector take milliseconds (the whole solve 15x slower).
    return float(np.einsum("i,i->", u, v))


def bicgstab(matrix, right_hand_side: np.ndarray, start: np.ndarray, tolerance: float,
             max_iterations: int) -> np.ndarray:
    """Solve ``matrix x = b`` by BiCGSTAB (van der Vorst 1992, Alg. 1, no preconditioner).

    Stops when the recursively updated residual has ``max |r| <= tolerance``, on a
    breakdown (a zero denominator), or when ``max |r|`` has not halved in
    ``STALL_WINDOW`` iterations (rounding has set a floor).  The caller checks the true
    residual: the recursive one drifts from it, which :func:`solve_sparse` corrects by
    restarting from the answer.
    """
    x = start.copy()
    r = right_hand_side - matrix @ x
    shadow = r.copy()
    rho = alpha = omega = 1.0
    direction = np.zeros_like(x)
    image = np.zeros_like(x)
    history = [float(np.abs(r).max())]
    for _ in range(max_iterations):
        if history[-1] <= tolerance:
            break
        if len(history) > STALL_WINDOW and history[-1] > 0.5 * history[-1 - STALL_WINDOW]:
            break
        rho_next = _dot(shadow, r)
        if rho_next == 0.0 or omega == 0.0:
            break
        direction = r + (rho_next / rho) * (alpha / omega) * (direction - omega * image)
        image = matrix @ direction
        denominator = _dot(shadow, image)
        if denominator == 0.0:
            break
        alpha = rho_next / denominator
        half = r - alpha * image
        image_half = matrix @ half
        length = _dot(image_half, image_half)
        if length == 0.0:
            return x + alpha * direction
        omega = _dot(image_half, half) / length
        x = x + alpha * direction + omega * half
        r = half - omega * image_half
        rho = rho_next
        history.append(float(np.abs(r).max()))
    return x


def solve_sparse(matrix: scipy.sparse.csr_matrix, right_hand_side: np.ndarray,
                 start: np.ndarray | None = None) -> np.ndarray:
    """Solve ``matrix x = b`` for an M-matrix ``I - gamma P``.

    BiCGSTAB from ``start``, restarted from its answer (at most ``RESTARTS`` times) while
    the true residual exceeds ``SOLVE_TOLERANCE * max |b|`` or a few ulps of ``|A| |x|``,
    the floor rounding allows; a sparse LU (SuperLU) when that fails.  The accuracy
    reached is certified by the caller, not here.
    """
    size = matrix.shape[0]
    if size == 0:
        return np.zeros(0)
    magnitude = abs(matrix)
    scale = float(np.abs(right_hand_side).max())
    solution = np.zeros(size) if start is None else np.array(start, dtype=np.float64)
    for _ in range(RESTARTS):
        floor = 16 * UNIT_ROUNDOFF * float((magnitude @ np.abs(solution)).max(initial=0.0))
        tolerance = max(SOLVE_TOLERANCE * scale, floor)
        solution = bicgstab(matrix, right_hand_side, solution, tolerance,
                            max_iterations=10 * int(np.sqrt(size)) + 1000)
        if not np.all(np.isfinite(solution)):
            break
        floor = 16 * UNIT_ROUNDOFF * float((magnitude @ np.abs(solution)).max(initial=0.0))
        if np.abs(right_hand_side - matrix @ solution).max() <= max(SOLVE_TOLERANCE * scale,
                                                                    floor):
            return solution
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", scipy.sparse.linalg.MatrixRankWarning)
        return scipy.sparse.linalg.spsolve(matrix.tocsc(), right_hand_side)


def _solve_policy(mdp: TabularMDP, markov: scipy.sparse.csr_matrix, right_hand_side: np.ndarray,
                  free: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """``x`` with ``x = right_hand_side + gamma P_pi x`` on the free states, 0 elsewhere."""
    index = np.flatnonzero(free)
    restricted = markov if index.size == mdp.n_states else markov[index][:, index]
    system = scipy.sparse.identity(index.size, format="csr") - mdp.gamma * restricted
    values = np.zeros(mdp.n_states)
    values[index] = solve_sparse(system.tocsr(), right_hand_side[index],
                                 None if start is None else start[index])
    return values


def _require_termination(markov: scipy.sparse.csr_matrix, fixed: np.ndarray) -> None:
    """gamma = 1: every state must reach a fixed state under the policy, else V is undefined."""
    stuck = np.flatnonzero(~reachable_states(markov.T, fixed))
    if stuck.size:
        raise NonTerminatingPolicyError(
            f"gamma = 1 but the policy never terminates from {stuck.size} states (first: "
            f"{stuck[:10].tolist()}), so its undiscounted return is undefined there")


def shortest_path_policy(mdp: TabularMDP, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic policy heading for the ``targets`` mask along shortest paths, and the
    mask of states that cannot reach a target (their action is 0).

    A breadth-first search backwards from the targets gives each state a successor one
    step closer; the state takes an action that moves there with positive probability.
    Every step then has a positive chance of shortening the distance, so the policy
    reaches the targets with probability 1 from every state that can reach them.
    """
    matrix = mdp.transition_matrix
    closer = breadth_first_predecessors(state_graph(matrix).T, targets)
    row_of_entry = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    state_of_entry = row_of_entry // mdp.n_actions
    leads_closer = (matrix.indices == closer[state_of_entry]) & (matrix.data > 0)
    actions = np.zeros(mdp.n_states, dtype=np.int64)
    # reversed so that the first matching entry of each state is written last and wins
    hits = np.flatnonzero(leads_closer)[::-1]
    actions[state_of_entry[hits]] = row_of_entry[hits] % mdp.n_actions
    return actions, (closer == UNREACHED) & ~targets


def start_policy(mdp: TabularMDP, fixed: np.ndarray) -> np.ndarray:
    """Where policy iteration starts; any start gives the same certified answer, a good one
    saves iterations.

    Policy iteration improves a state only when some action is strictly better, so on a
    large grid whose far states all tie (every action costs -1 and none reaches the goal
    yet) the improvement would creep one cell per iteration.  So the start heads for the
    states that matter along shortest paths: the absorbing states with gamma = 1 (then
    the start policy terminates, as policy iteration needs) or when every reward costs,
    else the states with the highest immediate reward; states that cannot reach them,
    and the targets themselves, take the action of highest immediate reward.
    """
    greedy = np.argmax(mdp.rewards, axis=1)
    live = ~fixed
    best = mdp.rewards.max(axis=1)
    if mdp.gamma == 1.0 or not live.any() or np.all(mdp.rewards[live] < 0.0):
        targets = fixed
    else:
        targets = live & (best == best[live].max())
    actions, unreached = shortest_path_policy(mdp, targets)
    if mdp.gamma == 1.0 and unreached.any():
        stuck = np.flatnonzero(unreached)
        raise NonTerminatingPolicyError(
            f"gamma = 1 but {stuck.size} states (first: {stuck[:10].tolist()}) cannot reach "
            f"an absorbing zero-reward state under any policy")
    keep_greedy = unreached | (targets & live)
    return np.where(keep_greedy, greedy, actions)


def _expected_steps(mdp: TabularMDP, markov, free) -> tuple[np.ndarray, float]:
    """tau = (I - P_pi)^{-1} 1 on the free states and a proven upper bound on ||tau||_inf."""
    tau = _solve_policy(mdp, markov, free.astype(np.float64), free)
    residual = free - tau + markov @ tau  # 1 - (I - P_pi) tau on free states, 0 on fixed
    # P_pi itself was mixed in floats from A rows: A more operations per entry
    entries = np.diff(markov.indptr) + mdp.n_actions + 3
    rounding = 2.0 * rounding_factor(entries) * (1.0 + np.abs(tau) + markov @ np.abs(tau))
    delta = round_up(float(np.max(np.abs(residual) + rounding)))
    if not delta < 1.0:
        raise UncertifiableError(
            f"could not certify the expected time to termination (residual {delta:.3g} "
            f">= 1); the policy may be close to never terminating")
    return tau, round_up(float(np.abs(tau).max()) / (1.0 - delta))


# ------------------------------------------------------------------ public solvers

def evaluate_policy(mdp: TabularMDP, policy, start: np.ndarray | None = None
                    ) -> CertifiedValues:
    """V^pi with a proven sup-norm error bound (see the module docstring).

    Example: one state that loops with reward 1, gamma = 1/2: V = 2, bound ~ 1e-16.
    """
    pi = policy_probabilities(mdp, policy)
    markov, reward = policy_matrix(mdp, pi)
    fixed = fixed_states(mdp)
    if mdp.gamma == 1.0:
        _require_termination(markov, fixed)
    values = _solve_policy(mdp, markov, reward, ~fixed, start)
    return certify_policy_values(mdp, pi, values, "linear solve")


def certify_policy_values(mdp: TabularMDP, policy, values, method: str = "given values"
                          ) -> CertifiedValues:
    """A proven bound on ``max |values - V^pi|`` for values from anywhere (a user's solver).

    gamma < 1: ``rho / (1 - beta)``, with beta = gamma unless ``values`` is exactly 0 on
    the absorbing zero-reward states (then the smaller modulus of the other states).
    gamma = 1: ``rho * ||tau||`` (needs exact zeros there, the spec's convention).
    """
    pi = policy_probabilities(mdp, policy)
    values = validation.as_float_array(values, "values V[s]", ndim=1)
    validation.check_shape(values, (mdp.n_states,), "values V[s]")
    fixed = fixed_states(mdp)
    rho = policy_residual(mdp, pi, values)
    zero_where_fixed = bool(np.all(values[fixed] == 0.0))
    if mdp.gamma < 1.0:
        beta = discounted_modulus(mdp, fixed) if zero_where_fixed else mdp.gamma
        return CertifiedValues(values, round_up(rho / (1.0 - beta)), rho,
                               f"{method}; residual / (1 - beta), beta = {beta:.6g}")
    if not zero_where_fixed:
        raise UncertifiableError("gamma = 1: values must be exactly 0 on the absorbing "
                                 "zero-reward states to be certified")
    markov, _ = policy_matrix(mdp, pi)
    _require_termination(markov, fixed)
    _, tau_bound = _expected_steps(mdp, markov, ~fixed)
    return CertifiedValues(values, round_up(rho * tau_bound), rho,
                           f"{method}; residual * expected steps to termination "
                           f"(<= {tau_bound:.6g})")


def certify_optimal_values(mdp: TabularMDP, values) -> CertifiedValues:
    """A proven bound on ``max |values - V*|`` for values from anywhere (a user's solver).

    The optimality residual certifies them (module docstring); with gamma = 1 the greedy
    policy's values are certified first, as the shortest-path certificate needs.
    """
    values = validation.as_float_array(values, "values V[s]", ndim=1)
    validation.check_shape(values, (mdp.n_states,), "values V[s]")
    fixed = fixed_states(mdp)
    if mdp.gamma < 1.0:
        return _certify_optimal(mdp, CertifiedValues(values, 0.0, 0.0, "given values"),
                                None, fixed)
    q, _ = lookahead(mdp, values)
    greedy = np.argmax(q, axis=1)
    markov, _ = policy_matrix(mdp, policy_probabilities(mdp, greedy))
    return _certify_optimal(mdp, certify_policy_values(mdp, greedy, values), markov, fixed)


def action_values(mdp: TabularMDP, policy) -> CertifiedValues:
    """Q^pi = r + gamma P V^pi; error <= gamma * error(V^pi) + rounding of the lookahead."""
    v = evaluate_policy(mdp, policy)
    return _lookahead_certified(mdp, v)


def _lookahead_certified(mdp: TabularMDP, v: CertifiedValues) -> CertifiedValues:
    q, rounding = lookahead(mdp, v.values)
    bound = round_up(mdp.gamma * v.error_bound + float(rounding.max()))
    return CertifiedValues(q, bound, v.residual, v.method + "; Q = r + gamma P V")


def optimal_policy(mdp: TabularMDP, start=None) -> CertifiedPolicy:
    """Policy iteration with warm-started sparse solves, then the optimality certificate.

    Improvement switches an action only when it is better by more than the rounding of
    the lookahead, so float noise cannot make it cycle among tied actions.  The start
    policy is the greedy one for the immediate reward unless ``start_policy`` is given.
    """
    fixed = fixed_states(mdp)
    actions = start_policy(mdp, fixed) if start is None else np.asarray(start)
    values = None
    for _ in range(MAX_POLICY_ITERATIONS):
        pi = policy_probabilities(mdp, actions)
        markov, reward = policy_matrix(mdp, pi)
        if mdp.gamma == 1.0:
            _require_termination(markov, fixed)
        values = _solve_policy(mdp, markov, reward, ~fixed, values)
        q, q_rounding = lookahead(mdp, values)
        current = q[np.arange(mdp.n_states), actions]
        best = np.argmax(q, axis=1)
        margin = 2.0 * (q_rounding.max(axis=1) + q_rounding[np.arange(mdp.n_states), actions])
        better = q[np.arange(mdp.n_states), best] > current + margin
        if not better.any():
            break
        actions = np.where(better, best, actions)
    else:
        raise UncertifiableError(f"policy iteration did not settle in "
                                 f"{MAX_POLICY_ITERATIONS} improvements")
    policy_values = evaluate_policy(mdp, actions, start=values)
    optimal = _certify_optimal(mdp, policy_values, markov, fixed)
    q_star = _lookahead_certified(mdp, optimal)
    best_lower = (q_star.values - q_star.error_bound).max(axis=1, keepdims=True)
    near_optimal = q_star.values + q_star.error_bound >= best_lower
    suboptimality = round_up(optimal.error_bound + policy_values.error_bound + float(np.max(
        np.maximum(optimal.values - policy_values.values, 0.0))))
    return CertifiedPolicy(actions, policy_values, optimal, suboptimality, near_optimal)


def _certify_optimal(mdp: TabularMDP, v: CertifiedValues, markov, fixed) -> CertifiedValues:
    """Turn values V (of the final policy) into certified V* via the optimality residual."""
    residual, _, _ = optimality_residual(mdp, v.values)
    rho = round_up(float(residual.max()))
    if mdp.gamma < 1.0:
        beta = discounted_modulus(mdp, fixed) if np.all(v.values[fixed] == 0.0) else mdp.gamma
        return CertifiedValues(v.values, round_up(rho / (1.0 - beta)), rho,
                               f"policy iteration; optimality residual / (1 - beta), "
                               f"beta = {beta:.6g}")
    weights, _ = _expected_steps(mdp, markov, ~fixed)
    beta_w = _weighted_modulus(mdp, weights, fixed)
    if beta_w < 1.0:
        weighted = round_up(float((residual[~fixed] / weights[~fixed]).max()))
        bound = round_up(float(weights.max()) * weighted / (1.0 - beta_w))
        return CertifiedValues(v.values, bound, rho,
                               f"policy iteration; weighted optimality residual, beta_w = "
                               f"{beta_w:.6g}")
    if np.all(mdp.rewards[~fixed] < 0.0):
        return _shortest_path_certificate(mdp, v, weights, fixed, rho)
    raise UncertifiableError(
        f"gamma = 1: cannot prove an optimality bound: some policy may never terminate "
        f"(beta_w = {beta_w:.6g} >= 1) and not every reward is negative; certified V* "
        f"with gamma = 1 needs every policy to terminate or every step to cost; use "
        f"gamma < 1")


def _weighted_modulus(mdp: TabularMDP, weights: np.ndarray, fixed: np.ndarray) -> float:
    """A proven upper bound on max over non-fixed (s, a) of (P_a w)(s) / w(s), w = 0 on
    fixed states: below 1, it proves every policy terminates and T contracts in ||.||_w."""
    if fixed.all():
        return 0.0
    matrix = mdp.transition_matrix
    spread = (matrix @ weights).reshape(mdp.n_states, mdp.n_actions)
    entries = np.diff(matrix.indptr).reshape(mdp.n_states, mdp.n_actions) + 2
    spread = spread * (1.0 + 2.0 * rounding_factor(entries))
    return round_up(float((spread[~fixed].max(axis=1) / weights[~fixed]).max()))


def _shortest_path_certificate(mdp: TabularMDP, v: CertifiedValues, weights: np.ndarray,
                               fixed: np.ndarray, rho: float) -> CertifiedValues:
    """gamma = 1, every non-fixed reward negative: a stochastic shortest path problem.

    Every policy that never terminates has return -infinity, so (Bertsekas & Tsitsiklis
    1991) value iteration converges to V* from any start, and any U with T U <= U is an
    upper bound on V*.  Try U = V + c w (w the final policy's expected steps): T U <= U
    holds when, for every non-fixed (s, a),

        Q(s, a) - V(s) <= c (w(s) - (P_a w)(s)),

    a set of linear constraints on c, checked with rounding.  The least feasible c gives
    V* - V <= c ||w||_inf; and V* >= V^pi >= V - error(V^pi) from below.
    """
    q, q_rounding = lookahead(mdp, v.values)
    matrix = mdp.transition_matrix
    shape = (mdp.n_states, mdp.n_actions)
    gain_up = (q - v.values[:, None] + q_rounding
               + 2.0 * rounding_factor(1) * (np.abs(q) + np.abs(v.values)[:, None]))[~fixed]
    entries = np.diff(matrix.indptr).reshape(shape) + 2
    spread = (matrix @ weights).reshape(shape)
    drop_low = (weights[:, None] - spread - 2.0 * rounding_factor(entries)
                * (weights[:, None] + spread))[~fixed]  # a lower bound on w(s) - (P_a w)(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = gain_up / drop_low
    needs_at_least = (drop_low > 0) & (gain_up > 0)
    needs_at_most = drop_low < 0
    infeasible = (drop_low == 0) & (gain_up > 0) | needs_at_most & (gain_up >= 0)
    low = round_up(float(ratio[needs_at_least].max())) if needs_at_least.any() else 0.0
    high = float(ratio[needs_at_most & ~infeasible].min()) if needs_at_most.any() else np.inf
    if infeasible.any() or not low <= high:
        raise UncertifiableError(
            "gamma = 1: the shortest-path certificate failed (no c with T(V + c w) <= "
            "V + c w); the values are not accurate enough to certify")
    upward = round_up(low * float(weights.max()))
    return CertifiedValues(v.values, max(upward, v.error_bound), rho,
                           f"policy iteration; shortest-path certificate V* <= V + c w, "
                           f"c = {low:.3g}")


def optimal_values(mdp: TabularMDP) -> CertifiedValues:
    """V* with a proven sup-norm error bound."""
    return optimal_policy(mdp).optimal_values


def optimal_action_values(mdp: TabularMDP) -> CertifiedValues:
    """Q* = r + gamma P V*, error <= gamma * error(V*) + rounding."""
    return _lookahead_certified(mdp, optimal_values(mdp))


def state_occupancy(mdp: TabularMDP, policy) -> CertifiedValues:
    """nu^pi = (1 - gamma) nu_0^T (I - gamma P_pi)^{-1}, with a proven 1-norm error bound.

    The residual ``e = (1 - gamma) nu_0 - nu + gamma P^T (nu * pi)`` is computed from the
    MDP's tables (column sums of P, k terms each), widened by its rounding.
    """
    gamma = validation.check_gamma_below_one(mdp.gamma)
    pi = policy_probabilities(mdp, policy)
    markov, _ = policy_matrix(mdp, pi)
    system = (scipy.sparse.identity(mdp.n_states, format="csr") - gamma * markov).T.tocsr()
    source = (1.0 - gamma) * mdp.initial_distribution
    nu = solve_sparse(system, source)
    matrix = mdp.transition_matrix
    weighted = (nu[:, None] * pi).reshape(-1)
    inflow = matrix.T @ weighted
    residual = source - nu + gamma * inflow
    column_entries = np.bincount(matrix.indices, minlength=mdp.n_states) + 4
    rounding = 2.0 * rounding_factor(column_entries) * (
        np.abs(source) + np.abs(nu) + gamma * (matrix.T @ np.abs(weighted)))
    e = round_up(float(np.sum(np.abs(residual) + rounding)), mdp.n_states)
    return CertifiedValues(nu, round_up(e / (1.0 - gamma)), e,
                           "transposed linear solve; ||residual||_1 / (1 - gamma), bound "
                           "on the 1-norm")


def state_action_occupancy(mdp: TabularMDP, policy) -> CertifiedValues:
    """rho^pi(s, a) = nu^pi(s) pi(a|s); its 1-norm error is at most nu's plus one rounding."""
    nu = state_occupancy(mdp, policy)
    pi = policy_probabilities(mdp, policy)
    rho = nu.values[:, None] * pi
    return CertifiedValues(rho, round_up(nu.error_bound + 2.0 * UNIT_ROUNDOFF * (
        1.0 + nu.error_bound)), nu.residual, nu.method + "; rho = nu pi")
