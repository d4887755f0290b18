"""Counterexamples to the notes: one test per spec entry whose status is "erratum".

Each test builds a small MDP or distribution by hand, computes the exact answer with the
oracles (linear solves, exact rationals, enumeration; never ``rlspec.reference``, except
where the erratum is about what the reference does instead), and asserts that the notes'
claim, read literally, is false.  If the notes were right, the test would fail.

Each test is marked with the spec entry it supports (``@pytest.mark.spec``); the entry
explains the corrected statement in its "Erratum" section (``spec/entries/<id>.md``).

Numbers are chosen so that the arithmetic is exact in binary floating point (halves,
quarters, eighths), and so the assertions are exact equalities where the claim is about
equality.  The one float tolerance (finite differences of J) comes from
``rlspec.oracles.methods.accuracy`` and is explained there.
"""

from fractions import Fraction

import numpy as np
import pytest

from rlspec.oracles import occupancy, policies as policies_oracle
from rlspec.oracles.methods import accuracy, enumeration, exact_rational
from rlspec.oracles import dynamic_programming, policy_gradient
from rlspec.oracles.dynamic_programming import NonTerminatingPolicyError
from rlspec.oracles.methods.conversions import to_fractions
from rlspec.reference.importance_sampling import importance_sampling_estimate
from rlspec.reference.occupancy import policy_from_occupancy
from rlspec.toy_mdps.catalogue import make
from rlspec.toy_mdps.mdp import TabularMDP


def _optimality_backup_exact(transitions, rewards, gamma, values) -> list[Fraction]:
    """(B V)(s) = max_a { r(s, a) + gamma sum_s' p(s'|s, a) V(s') } in exact rationals."""
    exact_values = list(to_fractions(values))
    q = exact_rational.action_values_exact(transitions, rewards, gamma, exact_values)
    return [max(row) for row in q]


def _sup_distance(u, v) -> Fraction:
    return max(abs(Fraction(a) - Fraction(b)) for a, b in zip(u, v))


# ------------------------------------------------------ mdp.bellman-optimality-operator

@pytest.mark.spec("mdp.bellman-optimality-operator")
def test_optimality_operator_is_no_contraction_at_gamma_one():
    """Seed 000, 贝尔曼回溯算子: "是一个压缩映射，存在唯一不动点", with no condition on gamma.

    At gamma = 1 an episodic MDP (state 0 pays -1 and ends; state 1 is terminal) gives
    B V = (V(1) - 1, V(1)).  Shifting V by a constant c shifts B V by c, so no factor
    below 1 bounds ||B U - B V|| by ||U - V||; and every V = (c - 1, c) is a fixed point.
    """
    transitions = np.array([[[0.0, 1.0]], [[0.0, 1.0]]])
    rewards = np.array([[-1.0], [0.0]])
    mdp = TabularMDP(transitions, rewards, 1.0, terminal_states=[1])
    tables = (mdp.transitions, mdp.rewards, mdp.gamma)

    u, v = np.array([3.0, 5.0]), np.array([0.0, 2.0])  # u = v + 3
    distance_before = _sup_distance(u, v)
    distance_after = _sup_distance(_optimality_backup_exact(*tables, u),
                                   _optimality_backup_exact(*tables, v))
    assert distance_before == 3
    assert distance_after == distance_before  # a contraction would need a factor < 1

    fixed_points = [np.array([-1.0, 0.0]), np.array([0.0, 1.0]), np.array([4.0, 5.0])]
    for candidate in fixed_points:
        assert _optimality_backup_exact(*tables, candidate) == [Fraction(x) for x in candidate]
    # Only the first is V* (terminal value 0, the spec's convention); the oracle agrees.
    values, _ = exact_rational.optimal_values_exact(*tables)
    assert values == [Fraction(-1), Fraction(0)]

    # For comparison, the same MDP at gamma = 1/2 contracts by exactly 1/2 on this pair.
    half = (mdp.transitions, mdp.rewards, 0.5)
    assert _sup_distance(_optimality_backup_exact(*half, u),
                         _optimality_backup_exact(*half, v)) == Fraction(1, 2) * distance_before


# ------------------------------------------------------- mdp.policy-improvement-theorem

@pytest.mark.spec("mdp.policy-improvement-theorem")
def test_policy_improvement_theorem_fails_at_gamma_one_when_the_new_policy_never_terminates():
    """Seed 000, 策略提升定理: Q^pi(s, pi'(s)) >= V^pi(s) for all s  =>  V^pi' >= V^pi.

    States A = 0, B = 1 and a terminal state T = 2, gamma = 1.  In A, "finish" pays 1 and
    ends, "to B" pays 0; in B both actions return to A paying 0.  pi finishes from A, so
    V^pi = (1, 1, 0).  pi' goes A -> B -> A -> ... forever: Q^pi(A, to B) = 0 + V^pi(B) = 1
    = V^pi(A), so the premise holds with equality everywhere, yet every reward pi' ever
    collects is 0 and V^pi'(A) = 0 < 1.  The proof's last step, gamma^n V^pi(s_n) -> 0,
    needs gamma < 1 or a pi' that terminates.
    """
    finish, to_b = 0, 1
    transitions = np.zeros((3, 2, 3))
    transitions[0, finish, 2] = transitions[0, to_b, 1] = 1.0
    transitions[1, :, 0] = 1.0
    transitions[2, :, 2] = 1.0
    rewards = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    mdp = TabularMDP(transitions, rewards, 1.0, terminal_states=[2])
    tables = (mdp.transitions, mdp.rewards, mdp.gamma)

    old_policy = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])  # A: finish
    new_policy = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # A: to B
    old_values = exact_rational.evaluate_policy_exact(*tables, old_policy)
    assert old_values == [1, 1, 0]

    q = exact_rational.action_values_exact(*tables, old_values)
    chosen = [q[s, int(np.argmax(new_policy[s]))] for s in range(3)]
    assert all(chosen[s] >= old_values[s] for s in range(3))  # the theorem's premise holds

    # pi' never reaches T from A: the linear-solve oracle refuses its (undiscounted) values...
    with pytest.raises(NonTerminatingPolicyError):
        dynamic_programming.evaluate_policy(*tables, new_policy)
    # ...but its return is well defined: every reward on the loop is 0, so the expected
    # sum of the first n rewards, e_A^T sum_{t<n} P_pi'^t r_pi', is exactly 0 for every n.
    markov_matrix = np.einsum("sa,sat->st", new_policy, mdp.transitions)
    reward_vector = (new_policy * mdp.rewards).sum(axis=1)
    distribution, partial_sum = np.eye(3)[0], 0.0
    for _ in range(100):
        partial_sum += distribution @ reward_vector
        distribution = distribution @ markov_matrix
    assert partial_sum == 0.0
    assert partial_sum < old_values[0]  # V^pi'(A) = 0 < 1 = V^pi(A): the conclusion fails


# ----------------------------------------------------------------- mdp.epsilon-greedy

@pytest.mark.spec("mdp.epsilon-greedy")
def test_epsilon_greedy_formula_is_ambiguous_with_ties():
    """Seed 000, ε-贪婪: pi(a|s) = eps/|A| + 1 - eps "if a = argmax Q", else eps/|A|.

    With Q = (1, 1, 0, 0) "argmax" is the set {0, 1}.  Giving the 1 - eps to either
    maximiser, or splitting it, each satisfies the formula under some reading, and the
    oracle (which accepts any split among tied maximisers) accepts all three.  The
    literal reading "every a in argmax gets eps/|A| + 1 - eps" is not a distribution.
    eps = 1/2 and |A| = 4 keep every number a multiple of 1/8, so sums are exact.
    """
    q = np.array([[1.0, 1.0, 0.0, 0.0]])
    epsilon = 0.5
    floor = epsilon / 4  # 1/8
    readings = {
        "first maximiser": np.array([[floor + 1 - epsilon, floor, floor, floor]]),
        "second maximiser": np.array([[floor, floor + 1 - epsilon, floor, floor]]),
        "split evenly": np.array([[floor + (1 - epsilon) / 2, floor + (1 - epsilon) / 2,
                                   floor, floor]]),
    }
    for name, policy in readings.items():
        assert policies_oracle.epsilon_greedy_violations(q, epsilon, policy) == [], name
    assert not np.array_equal(readings["first maximiser"], readings["second maximiser"])

    literal = np.where(q == q.max(axis=1, keepdims=True), floor + 1 - epsilon, floor)
    assert literal.sum() == 1.5  # not 1: the literal reading gives 1 - eps too much
    assert policies_oracle.epsilon_greedy_violations(q, epsilon, literal) != []

    # Without a tie the formula is unambiguous: only one row is accepted.
    unique = np.array([[1.0, 0.0, 0.0, 0.0]])
    assert policies_oracle.epsilon_greedy_violations(unique, epsilon,
                                                    readings["first maximiser"]) == []
    assert policies_oracle.epsilon_greedy_violations(unique, epsilon,
                                                    readings["second maximiser"]) != []


# ---------------------------------------------------- mdp.occupancy-theorem-1 and -2

def _unvisited_state_mdp():
    """Three states.  From 0 every action leads to 1, which is absorbing; no state leads
    to 2.  In 2, action 0 goes to 0 paying 1 and action 1 goes to 1 paying 0."""
    transitions = np.zeros((3, 2, 3))
    transitions[0, :, 1] = 1.0
    transitions[1, :, 1] = 1.0
    transitions[2, 0, 0] = transitions[2, 1, 1] = 1.0
    rewards = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    return transitions, rewards, 0.5


#: Two policies that agree in states 0 and 1 and differ completely in state 2.
POLICY_1 = np.array([[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]])
POLICY_2 = np.array([[0.5, 0.5], [0.5, 0.5], [0.0, 1.0]])


@pytest.mark.spec("mdp.occupancy-theorem-1")
def test_theorem_1_fails_where_the_policy_never_visits():
    """Seed 000, 占用度量, 定理1: rho^{pi_1} = rho^{pi_2}  <=>  pi_1 = pi_2.

    Starting in state 0, state 2 is never visited, so pi_1 and pi_2 (different only
    there) have the same occupancy measure, exactly, although they are different policies
    with different values in state 2.  With a start distribution that gives state 2
    positive weight, nu^pi(2) >= (1 - gamma) nu_0(2) > 0 and the measures differ.
    """
    transitions, rewards, gamma = _unvisited_state_mdp()
    start_in_0 = np.array([1.0, 0.0, 0.0])
    rho_1 = occupancy.state_action_occupancy(transitions, gamma, POLICY_1, start_in_0)
    rho_2 = occupancy.state_action_occupancy(transitions, gamma, POLICY_2, start_in_0)
    assert not np.array_equal(POLICY_1, POLICY_2)
    assert np.array_equal(rho_1, rho_2)  # "=>" fails: same rho, different policies
    assert np.array_equal(rho_1[2], [0.0, 0.0])

    # They really are different policies: V(2) = 1 + gamma * 0 versus 0 + gamma * 0.
    values_1 = dynamic_programming.evaluate_policy(transitions, rewards, gamma, POLICY_1)
    values_2 = dynamic_programming.evaluate_policy(transitions, rewards, gamma, POLICY_2)
    assert values_1[2] == 1.0 and values_2[2] == 0.0

    # The corrected statement: with nu_0 > 0 everywhere the measures tell them apart.
    full_support = np.array([0.5, 0.25, 0.25])
    rho_1 = occupancy.state_action_occupancy(transitions, gamma, POLICY_1, full_support)
    rho_2 = occupancy.state_action_occupancy(transitions, gamma, POLICY_2, full_support)
    visits_to_2 = rho_1[2].sum()
    assert visits_to_2 >= (1 - gamma) * full_support[2] > 0
    assert rho_1[2, 0] == visits_to_2 and rho_2[2, 0] == 0.0


@pytest.mark.spec("mdp.occupancy-theorem-2")
def test_theorem_2_quotient_is_undefined_where_rho_is_zero():
    """Seed 000, 占用度量, 定理2: the unique policy generating rho is rho / sum_a rho.

    For the occupancy measure of the example above the row of state 2 is zero, so the
    quotient there is 0 / 0 (NaN in floating point), and any action distribution in state
    2 generates the same rho: the policy is unique only on visited states.  rho also
    satisfies the flow constraints that make it "合法" (valid).
    """
    transitions, rewards, gamma = _unvisited_state_mdp()
    start_in_0 = np.array([1.0, 0.0, 0.0])
    rho = occupancy.state_action_occupancy(transitions, gamma, POLICY_1, start_in_0)

    # Valid: rho >= 0 and sum_a rho(s', a) = (1 - gamma) nu_0(s') + gamma sum p(s'|s,a) rho(s,a).
    inflow = np.einsum("sa,sat->t", rho, transitions)
    assert (rho >= 0).all()
    assert np.array_equal(rho.sum(axis=1), (1 - gamma) * start_in_0 + gamma * inflow)

    with np.errstate(invalid="ignore"):
        naive = rho / rho.sum(axis=1, keepdims=True)
    assert np.isnan(naive[2]).all() and not np.isnan(naive[:2]).any()

    recovered = policy_from_occupancy(rho)  # rlspec picks the uniform row where unvisited
    assert np.array_equal(recovered.sum(axis=1), [1.0, 1.0, 1.0])
    for policy in (POLICY_1, POLICY_2, recovered, np.array([[0.5, 0.5], [0.5, 0.5],
                                                            [0.25, 0.75]])):
        generated = occupancy.state_action_occupancy(transitions, gamma, policy, start_in_0)
        assert np.array_equal(generated, rho)  # four different policies, one rho


# --------------------------------------------------------------- pg.importance-sampling

@pytest.mark.spec("pg.importance-sampling")
def test_importance_sampling_is_biased_when_q_misses_part_of_p():
    """Seed 001, "6. 重要性采样": E_p[f] = sum_x f p (q/q) = E_q[f p / q].

    The middle step multiplies by q(x) / q(x), which is 0 / 0 where q(x) = 0.  With
    p = (1/4, 3/4), f = (1, 2) and q = (1, 0), the estimator never sees x = 1; averaged
    exactly over every possible sample it gives 1/4, not E_p[f] = 7/4.  The missing part
    is exactly p(1) f(1) = 3/2.  With q = (1/2, 1/2), which covers p, it is unbiased.
    """
    values = np.array([1.0, 2.0])
    target = np.array([0.25, 0.75])
    truth = enumeration.expectation(values, target)
    assert truth == 1.75

    covering = np.array([0.5, 0.5])
    for n_samples in (1, 2, 4):  # powers of 2: dividing by n stays exact
        mean = enumeration.expected_estimate(importance_sampling_estimate, values, target,
                                             covering, n_samples)
        assert mean == truth

    missing = np.array([1.0, 0.0])
    for n_samples in (1, 2, 4):  # powers of 2: dividing by n stays exact
        mean = enumeration.expected_estimate(importance_sampling_estimate, values, target,
                                             missing, n_samples)
        assert mean == 0.25
        assert truth - mean == target[1] * values[1]  # the mass where q = 0 < p f


# ------------------------------------------------------------ pg.policy-gradient-theorem

@pytest.mark.spec("pg.policy-gradient-theorem")
@pytest.mark.parametrize("gamma", [0.5, 0.9])
def test_policy_gradient_theorem_needs_the_discounted_visitation_weights(gamma):
    """Seed 002, 复习：策略梯度定理: dJ/dtheta = E_{pi_theta}[d log pi(a|s)/d theta Q(s, a)].

    For the start-state objective J = sum_s nu_0(s) V(s) and a tabular softmax policy,
    take the expectation over the (normalised) state visitation distribution nu^pi and
    a ~ pi(.|s).  Since d log pi(b|s') / d theta[s, a] = 1[s' = s] (1[b = a] - pi(a|s)),
    it equals nu(s) pi(a|s) A(s, a) exactly; the true gradient (central finite differences
    of J, an independent oracle) is 1 / (1 - gamma) times that: a factor 2 at gamma = 1/2
    and 10 at gamma = 0.9, not a rounding error.  Weighting by d^pi = nu^pi / (1 - gamma),
    the unnormalised discounted visitation, gives the gradient.
    """
    mdp = make("two-state", gamma=gamma)
    transitions, rewards, start = mdp.transitions, mdp.rewards, mdp.initial_distribution
    theta = np.array([[0.25, -0.5], [0.75, 0.0]])
    policy = policy_gradient.softmax(theta)
    q = dynamic_programming.action_values(transitions, rewards, gamma, policy)
    nu = occupancy.state_occupancy(transitions, gamma, policy, start)

    n_states, n_actions = theta.shape
    on_policy_expectation = np.zeros_like(theta)
    for s in range(n_states):  # E_{s ~ nu, b ~ pi(.|s)}[d log pi(b|s) / d theta[s, a] Q(s, b)]
        for a in range(n_actions):
            for b in range(n_actions):
                score = float(b == a) - policy[s, a]
                on_policy_expectation[s, a] += nu[s] * policy[s, b] * score * q[s, b]

    gradient = policy_gradient.softmax_policy_gradient_finite_difference(
        transitions, rewards, gamma, start, theta)
    tolerance = accuracy.finite_difference_tolerance(np.abs(rewards).max(), gamma)

    assert np.abs(gradient).max() > 1000 * tolerance  # the gradient is far from zero
    # The notes' expectation is off by exactly the factor 1 - gamma ...
    assert np.allclose(on_policy_expectation, (1 - gamma) * gradient, rtol=0, atol=tolerance)
    # ... which is far outside the finite-difference error ...
    assert np.abs(on_policy_expectation - gradient).max() > 100 * tolerance
    # ... and the unnormalised weights d^pi = nu / (1 - gamma) repair it.
    assert np.allclose(on_policy_expectation / (1 - gamma), gradient, rtol=0, atol=tolerance)
