"""Plausible wrong implementations of the TRPO and PPO chapter, each one a bug people write.

Registered in the catalogue (``bug_catalogue.py``) with the check that must reject it, in
the check's canonical signature (``rlspec list checks``).  Where a bug was reported in a
public repository, its name cites the repository and issue number.  The loss checks hand
the candidate float64 torch tensors, so these do too.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from bug_catalogue import bug


# =========================================================================== TRPO tables

def _tables(transitions, rewards, gamma, policy, initial_distribution):
    """V, A and nu (normalised visitation) of a policy by linear solves."""
    n_states = rewards.shape[0]
    markov = np.einsum("sa,sat->st", policy, transitions)
    values = np.linalg.solve(np.eye(n_states) - gamma * markov, (policy * rewards).sum(axis=1))
    advantages = rewards + gamma * transitions @ values - values[:, None]
    nu = np.linalg.solve(np.eye(n_states) - gamma * markov.T, (1 - gamma) * initial_distribution)
    return values, advantages, nu


def _surrogate(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
               visits_of=None, advantages_of=None, normalise=True, with_return=True):
    values, advantages, nu = _tables(transitions, rewards, gamma, old_policy, initial_distribution)
    if visits_of is not None:
        nu = _tables(transitions, rewards, gamma, visits_of, initial_distribution)[2]
    if advantages_of is not None:
        advantages = _tables(transitions, rewards, gamma, advantages_of, initial_distribution)[1]
    gain = nu @ (new_policy * advantages).sum(axis=1)
    if normalise:
        gain = gain / (1 - gamma)
    return (initial_distribution @ values if with_return else 0.0) + gain


@bug("trpo-surrogate", "weights the advantages by the new policy's visitation nu^{pi'} "
                       "(that is J(pi') exactly, not TRPO's local approximation)")
def surrogate_new_visits(transitions, rewards, gamma, initial_distribution, old_policy, new_policy):
    return _surrogate(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
                      visits_of=new_policy)


@bug("trpo-surrogate", "treats rho_pi as a probability distribution and forgets 1 / (1 - gamma) "
                       "(seed 000's derivation read literally)")
def surrogate_without_normaliser(transitions, rewards, gamma, initial_distribution, old_policy,
                                 new_policy):
    return _surrogate(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
                      normalise=False)


@bug("trpo-surrogate", "returns seed 000's script-L, without the J(pi) term")
def surrogate_without_old_return(transitions, rewards, gamma, initial_distribution, old_policy,
                                 new_policy):
    return _surrogate(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
                      with_return=False)


@bug("trpo-surrogate", "uses the new policy's advantages A^{pi'}")
def surrogate_new_advantages(transitions, rewards, gamma, initial_distribution, old_policy,
                             new_policy):
    return _surrogate(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
                      advantages_of=new_policy)


def _kl_rows(p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(p / q), 0.0).sum(axis=1)


def _bound(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
           constant=lambda eps, g: 4 * eps * g / (1 - g) ** 2, kl=None):
    surrogate = _surrogate(transitions, rewards, gamma, initial_distribution, old_policy, new_policy)
    _, advantages, nu = _tables(transitions, rewards, gamma, old_policy, initial_distribution)
    divergence = _kl_rows(old_policy, new_policy).max() if kl is None else kl(old_policy, new_policy, nu)
    return surrogate - constant(np.abs(advantages).max(), gamma) * divergence


@bug("trpo-lower-bound", "C = 2 eps gamma / (1 - gamma)^2 (Pinsker's 1/2 kept: still a valid "
                         "bound, but not Theorem 1's constant)")
def bound_half_constant(transitions, rewards, gamma, initial_distribution, old_policy, new_policy):
    return _bound(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
                  constant=lambda eps, g: 2 * eps * g / (1 - g) ** 2)


@bug("trpo-lower-bound", "C = 4 eps gamma / (1 - gamma), without the square")
def bound_without_square(transitions, rewards, gamma, initial_distribution, old_policy, new_policy):
    return _bound(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
                  constant=lambda eps, g: 4 * eps * g / (1 - g))


@bug("trpo-lower-bound", "the KL reversed: max_s KL(pi' || pi)")
def bound_reversed_kl(transitions, rewards, gamma, initial_distribution, old_policy, new_policy):
    def reversed_kl(old, new, nu):
        return _kl_rows(new, old).max() if np.all(old > 0) else np.inf
    return _bound(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
                  kl=reversed_kl)


@bug("trpo-lower-bound", "the mean KL under nu^pi instead of the max over states (the practical "
                         "constraint, not the theorem)")
def bound_mean_kl(transitions, rewards, gamma, initial_distribution, old_policy, new_policy):
    return _bound(transitions, rewards, gamma, initial_distribution, old_policy, new_policy,
                  kl=lambda old, new, nu: nu @ _kl_rows(old, new))


@bug("mean-kl", "KL(new || old): seed 002's argument order")
def mean_kl_reversed(old_policy, new_policy, state_weights):
    return float(state_weights @ _kl_rows(new_policy, old_policy))


@bug("mean-kl", "averages the per-state KL uniformly, ignoring the state weights")
def mean_kl_unweighted(old_policy, new_policy, state_weights):
    return float(_kl_rows(old_policy, new_policy).mean())


@bug("mean-kl", "sum p log(q / p): the sign of the KL flipped")
def mean_kl_negated(old_policy, new_policy, state_weights):
    return float(-(state_weights @ _kl_rows(old_policy, new_policy)))


def _linear_softmax(features, theta):
    scores = features @ theta
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


@bug("fisher-vector-product", "uses the raw features phi instead of the centred score "
                              "phi - E_pi[phi]: E[phi phi^T] v")
def fisher_uncentred(features, theta, state_weights, vector):
    policy = _linear_softmax(features, theta)
    return np.einsum("s,sa,sak,sal,l->k", state_weights, policy, features, features, vector)


@bug("fisher-vector-product", "forgets the action probabilities: sum_a g g^T v")
def fisher_unweighted_actions(features, theta, state_weights, vector):
    policy = _linear_softmax(features, theta)
    scores = features - np.einsum("sa,sak->sk", policy, features)[:, None, :]
    return np.einsum("s,sak,sal,l->k", state_weights, scores, scores, vector)


@bug("fisher-vector-product", "adds TRPO's damping 0.1 v (a numerical aid, not part of F v)")
def fisher_damped(features, theta, state_weights, vector):
    policy = _linear_softmax(features, theta)
    scores = features - np.einsum("sa,sak->sk", policy, features)[:, None, :]
    return np.einsum("s,sa,sak,sal,l->k", state_weights, policy, scores, scores, vector) + 0.1 * vector


@bug("conjugate-gradient", "returns the gradient b itself (no solve)")
def cg_returns_vector(matrix, vector, iterations):
    return vector.copy()


def _cg(matrix, vector, iterations, guard=True, beta_swapped=False, steepest=False):
    x, r = np.zeros_like(vector), vector.copy()
    p, rr = r.copy(), r @ r
    for _ in range(iterations):
        if guard and rr < 1e-10:
            break
        ap = matrix @ (r if steepest else p)
        direction = r if steepest else p
        alpha = rr / (direction @ ap)
        x = x + alpha * direction
        r = r - alpha * ap
        new_rr = r @ r
        beta = rr / new_rr if beta_swapped else new_rr / rr
        p = r + beta * p
        rr = new_rr
        if not guard and new_rr < 1e-10:
            break
    return x


@bug("conjugate-gradient", "no guard for a zero residual: b = 0 gives alpha = 0 / 0 = NaN "
                           "(boyu-ai/Hands-on-RL#108, the CG of the book seed 002 cites)")
def cg_unguarded(matrix, vector, iterations):
    with np.errstate(invalid="ignore", divide="ignore"):  # the NaN is the bug; no warning
        return _cg(matrix, vector, iterations, guard=False)


@bug("conjugate-gradient", "steepest descent (direction = residual) instead of conjugate directions")
def cg_steepest_descent(matrix, vector, iterations):
    return _cg(matrix, vector, iterations, steepest=True)


@bug("conjugate-gradient", "beta = r_k^T r_k / r_{k+1}^T r_{k+1}, upside down")
def cg_beta_swapped(matrix, vector, iterations):
    return _cg(matrix, vector, iterations, beta_swapped=True)


@bug("conjugate-gradient", "a direct solve: the exact answer even when `iterations` CG steps "
                           "cannot reach it")
def cg_direct_solve(matrix, vector, iterations):
    return np.linalg.solve(matrix, vector)


@bug("trpo-step-scaling", "square root missing: (2 delta / x^T F x) x")
def step_scaling_no_sqrt(direction, fisher, max_kl):
    return 2.0 * max_kl / (direction @ fisher @ direction) * direction


@bug("trpo-step-scaling", "delta instead of 2 delta: sqrt(delta / x^T F x) x, half the KL model "
                          "(the factor 1/2 of shs = x^T F x / 2 dropped)")
def step_scaling_delta_not_two_delta(direction, fisher, max_kl):
    return np.sqrt(max_kl / (direction @ fisher @ direction)) * direction


@bug("trpo-step-scaling", "Euclidean radius: sqrt(2 delta / x^T x) x, F left out of the norm")
def step_scaling_euclidean(direction, fisher, max_kl):
    return np.sqrt(2.0 * max_kl / (direction @ direction)) * direction


@bug("trpo-step-scaling", "ratio upside down: sqrt(x^T F x / (2 delta)) x")
def step_scaling_inverted(direction, fisher, max_kl):
    return np.sqrt((direction @ fisher @ direction) / (2.0 * max_kl)) * direction


@bug("trpo-step-scaling", "the direction returned unscaled (no step-size rule)")
def step_scaling_unscaled(direction, fisher, max_kl):
    return direction.copy()


def _line_search(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio, max_backtracks,
                 check_kl=True, check_improvement=True, first=0, keep_last=False):
    start = surrogate(parameters)
    trial = parameters
    for j in range(first, first + max_backtracks):
        trial = parameters + backtrack_ratio ** j * full_step
        kl_ok = kl(trial) <= max_kl or not check_kl
        improved = surrogate(trial) > start or not check_improvement
        if kl_ok and improved:
            return trial
    return trial if keep_last else parameters


@bug("trpo-line-search", "accepts on surrogate improvement alone, never checking the KL "
                         "(joschu/modular_rl#29, zhangchuheng123/Reinforcement-Implementation#1)")
def line_search_no_kl(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio, max_backtracks):
    return _line_search(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio,
                        max_backtracks, check_kl=False)


@bug("trpo-line-search", "accepts the first step inside the KL ball even if the surrogate got worse")
def line_search_no_improvement(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio,
                               max_backtracks):
    return _line_search(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio,
                        max_backtracks, check_improvement=False)


@bug("trpo-line-search", "when no fraction passes, returns the last (smallest) step tried "
                         "instead of rejecting the update")
def line_search_keeps_last(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio,
                           max_backtracks):
    return _line_search(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio,
                        max_backtracks, keep_last=True)


@bug("trpo-line-search", "starts at the half step beta^1 instead of the full step")
def line_search_skips_full_step(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio,
                                max_backtracks):
    return _line_search(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio,
                        max_backtracks, first=1)


# ================================================================================== PPO

def _ratio(log_prob, old_log_prob):
    return torch.exp(log_prob - old_log_prob)


@bug("ppo-clip-loss", "min and max swapped")
def clip_max(log_prob, old_log_prob, advantages, clip_epsilon):
    r = _ratio(log_prob, old_log_prob)
    return -torch.maximum(r * advantages, torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon) * advantages).mean()


@bug("ppo-clip-loss", "clips the advantage instead of the ratio")
def clip_advantage(log_prob, old_log_prob, advantages, clip_epsilon):
    r = _ratio(log_prob, old_log_prob)
    return -torch.minimum(r * advantages, r * torch.clamp(advantages, 1 - clip_epsilon, 1 + clip_epsilon)).mean()


@bug("ppo-clip-loss", "clamps the product r A instead of r (alexis-jacq/Pytorch-DPPO#3)")
def clip_product(log_prob, old_log_prob, advantages, clip_epsilon):
    surrogate = _ratio(log_prob, old_log_prob) * advantages
    return -torch.minimum(surrogate, torch.clamp(surrogate, 1 - clip_epsilon, 1 + clip_epsilon)).mean()


@bug("ppo-clip-loss", "min(r, clip(r)) taken before multiplying by A, which ignores A's sign "
                      "(takuseno/ppo#3; proposed as a fix in tensorlayer/TensorLayer#1072)")
def clip_min_before_advantage(log_prob, old_log_prob, advantages, clip_epsilon):
    r = _ratio(log_prob, old_log_prob)
    return -(torch.minimum(r, torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon)) * advantages).mean()


@bug("ppo-clip-loss", "ratio exp(old_log_prob - log_prob), upside down (right only for negative "
                      "log-probs, the confusion of openai/baselines#652 and #1218)")
def clip_inverted_ratio(log_prob, old_log_prob, advantages, clip_epsilon):
    r = torch.exp(old_log_prob - log_prob)
    return -torch.minimum(r * advantages, torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon) * advantages).mean()


@bug("ppo-clip-loss", "new log-prob detached: the right value, no gradient")
def clip_detached(log_prob, old_log_prob, advantages, clip_epsilon):
    r = _ratio(log_prob.detach(), old_log_prob)
    return -torch.minimum(r * advantages, torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon) * advantages).mean()


@bug("ppo-clip-loss", "returns the objective L^CLIP instead of the loss -L^CLIP")
def clip_sign_flipped(log_prob, old_log_prob, advantages, clip_epsilon):
    r = _ratio(log_prob, old_log_prob)
    return torch.minimum(r * advantages, torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon) * advantages).mean()


@bug("ppo-clip-loss", "sign(A) min(|A| r, |A| clip(r)): the fix proposed in ray-project/ray#37334, "
                      "which clips the wrong side for negative advantages")
def clip_ray_proposal(log_prob, old_log_prob, advantages, clip_epsilon):
    r = _ratio(log_prob, old_log_prob)
    size = advantages.abs()
    return -(torch.sign(advantages) * torch.minimum(size * r, size * torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon))).mean()


@bug("ppo-clip-loss", "only the clipped term, no min (tensorforce/tensorforce#106)")
def clip_only_clipped(log_prob, old_log_prob, advantages, clip_epsilon):
    r = _ratio(log_prob, old_log_prob)
    return -(torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon) * advantages).mean()


@bug("ppo-clip-loss", "ratio log_prob / old_log_prob (divides the logs)")
def clip_log_quotient(log_prob, old_log_prob, advantages, clip_epsilon):
    r = log_prob / old_log_prob
    return -torch.minimum(r * advantages, torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon) * advantages).mean()


@bug("ppo-clip-loss", "sums over the batch instead of averaging (seed 001's (1/N) sum_n sum_t "
                      "with one trajectory)")
def clip_summed(log_prob, old_log_prob, advantages, clip_epsilon):
    r = _ratio(log_prob, old_log_prob)
    return -torch.minimum(r * advantages, torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon) * advantages).sum()


def _kl_penalty(logits, old_logits, actions, advantages, beta, reverse=False, sign=1.0,
                sampled=False):
    log_policy, old_log_policy = torch.log_softmax(logits, 1), torch.log_softmax(old_logits, 1)
    taken = torch.arange(len(actions))
    ratio = torch.exp(log_policy[taken, actions] - old_log_policy[taken, actions])
    if sampled:
        kl = old_log_policy[taken, actions] - log_policy[taken, actions]
    elif reverse:
        kl = (log_policy.exp() * (log_policy - old_log_policy)).sum(1)
    else:
        kl = (old_log_policy.exp() * (old_log_policy - log_policy)).sum(1)
    return -(ratio * advantages - sign * beta * kl).mean()


@bug("ppo-kl-penalty-loss", "KL(pi || pi_old), the new policy first (seed 002's order)")
def kl_penalty_reversed(logits, old_logits, actions, advantages, beta):
    return _kl_penalty(logits, old_logits, actions, advantages, beta, reverse=True)


@bug("ppo-kl-penalty-loss", "adds the KL to the objective (+beta KL): rewards moving away")
def kl_penalty_sign(logits, old_logits, actions, advantages, beta):
    return _kl_penalty(logits, old_logits, actions, advantages, beta, sign=-1.0)


@bug("ppo-kl-penalty-loss", "the one-sample estimate log pi_old(a_t) - log pi(a_t) in place of "
                            "the KL of the full distributions")
def kl_penalty_sampled(logits, old_logits, actions, advantages, beta):
    return _kl_penalty(logits, old_logits, actions, advantages, beta, sampled=True)


@bug("adaptive-kl-coefficient", "the actions swapped: doubles beta when d is small, halves it when large")
def adaptive_swapped(beta, kl, kl_target):
    if kl < kl_target / 1.5:
        return beta * 2
    if kl > kl_target * 1.5:
        return beta / 2
    return beta


@bug("adaptive-kl-coefficient", "thresholds d_targ / 2 and 2 d_targ (the factor 2 used for the "
                                "thresholds too)")
def adaptive_thresholds_two(beta, kl, kl_target):
    if kl < kl_target / 2:
        return beta / 2
    if kl > kl_target * 2:
        return beta * 2
    return beta


@bug("adaptive-kl-coefficient", "factors 1.5 instead of 2 (the threshold used as the factor)")
def adaptive_factor_one_and_a_half(beta, kl, kl_target):
    if kl < kl_target / 1.5:
        return beta / 1.5
    if kl > kl_target * 1.5:
        return beta * 1.5
    return beta


@bug("adaptive-kl-coefficient", "non-strict comparisons: changes beta exactly on a threshold")
def adaptive_non_strict(beta, kl, kl_target):
    if kl <= kl_target / 1.5:
        return beta / 2
    if kl >= kl_target * 1.5:
        return beta * 2
    return beta


def _value_loss(values, old_values, returns, clip_epsilon, centre=None, combine=torch.maximum):
    centre = old_values if centre is None else centre
    clipped = centre + torch.clamp(values - centre, -clip_epsilon, clip_epsilon)
    return 0.5 * combine((values - returns) ** 2, (clipped - returns) ** 2).mean()


@bug("ppo-value-loss", "clips around the new prediction, so the clip never acts "
                       "(tensorflow/agents#352: old values recomputed by the current network)")
def value_clip_new_centre(values, old_values, returns, clip_epsilon):
    return _value_loss(values, old_values, returns, clip_epsilon, centre=values.detach())


@bug("ppo-value-loss", "clips around the return instead of the old prediction")
def value_clip_return_centre(values, old_values, returns, clip_epsilon):
    return _value_loss(values, old_values, returns, clip_epsilon, centre=returns)


@bug("ppo-value-loss", "min instead of max (the question in openai/baselines#1140 and "
                       "implementation-matters/code-for-paper#1)")
def value_clip_min(values, old_values, returns, clip_epsilon):
    return _value_loss(values, old_values, returns, clip_epsilon, combine=torch.minimum)


@bug("ppo-value-loss", "Stable-Baselines3's clip_range_vf form: the clipped prediction only, "
                       "no max (a different loss from the notes' and baselines')")
def value_clip_prediction_only(values, old_values, returns, clip_epsilon):
    clipped = old_values + torch.clamp(values - old_values, -clip_epsilon, clip_epsilon)
    return 0.5 * ((clipped - returns) ** 2).mean()


@bug("ppo-value-loss", "clips the ratio V / V_old like the policy ratio (suggested in "
                       "hill-a/stable-baselines#216)")
def value_clip_ratio(values, old_values, returns, clip_epsilon):
    scale = torch.where(old_values == 0, torch.ones_like(old_values), old_values)
    clipped = scale * torch.clamp(values / scale, 1 - clip_epsilon, 1 + clip_epsilon)
    return 0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2).mean()


@bug("advantage-normalization", "torch's std() of a single advantage is NaN "
                                "(DLR-RM/stable-baselines3#325)")
def normalize_torch_std(advantages):
    a = torch.as_tensor(advantages)
    with warnings.catch_warnings():  # torch warns "degrees of freedom is <= 0"; the NaN is the bug
        warnings.simplefilter("ignore", UserWarning)
        return ((a - a.mean()) / (a.std() + 1e-8)).numpy()


@bug("advantage-normalization", "no epsilon: a constant batch divides 0 by 0")
def normalize_without_epsilon(advantages):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (advantages - advantages.mean()) / advantages.std()


@bug("advantage-normalization", "scales by the std but does not subtract the mean")
def normalize_scale_only(advantages):
    return advantages / (advantages.std() + 1e-8)


@bug("advantage-normalization", "divides by the variance instead of the standard deviation")
def normalize_by_variance(advantages):
    return (advantages - advantages.mean()) / (advantages.var() + 1e-8)


@bug("categorical-entropy", "sum p log p: the sign flipped")
def entropy_negated(logits):
    log_policy = torch.log_softmax(logits, 1)
    return (log_policy.exp() * log_policy).sum(1)


@bug("categorical-entropy", "log of softmax: a probability that underflows to 0 gives 0 * -inf = NaN")
def entropy_log_of_softmax(logits):
    policy = torch.softmax(logits, 1)
    return -(policy * torch.log(policy)).sum(1)


@bug("categorical-entropy", "-sum p z: the logits used as log-probabilities (no log-normaliser)")
def entropy_raw_logits(logits):
    return -(torch.softmax(logits, 1) * logits).sum(1)


@bug("categorical-entropy", "computed in numpy and wrapped in a tensor: no gradient reaches the "
                            "logits, so the bonus does nothing")
def entropy_numpy_round_trip(logits):
    z = logits.detach().numpy()
    shifted = z - z.max(axis=1, keepdims=True)
    log_policy = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return torch.as_tensor(-(np.exp(log_policy) * log_policy).sum(axis=1))


def _total(log_prob, old_log_prob, advantages, values, old_values, entropy, clip_epsilon,
           value_clip_epsilon, value_coefficient, entropy_coefficient, normalize,
           returns_from_normalized=False, entropy_sign=-1.0, half_normalized=False,
           always_normalize=False, coefficient_on_policy=False):
    policy_advantages = advantages
    if normalize or always_normalize:
        mean = advantages.mean()
        std = advantages.std() if len(advantages) > 1 else torch.zeros(())
        policy_advantages = (advantages - mean) / (std + 1e-8)
    returns = (policy_advantages if returns_from_normalized else advantages) + old_values
    r = torch.exp(log_prob - old_log_prob)
    first = r * (policy_advantages if not half_normalized else advantages)
    second = torch.clamp(r, 1 - clip_epsilon, 1 + clip_epsilon) * policy_advantages
    policy_loss = -torch.minimum(first, second).mean()
    if value_clip_epsilon is None:
        value_loss = 0.5 * ((values - returns) ** 2).mean()
    else:
        value_loss = _value_loss(values, old_values, returns, value_clip_epsilon)
    if coefficient_on_policy:
        return value_coefficient * policy_loss + value_loss + entropy_sign * entropy_coefficient * entropy.mean()
    return policy_loss + value_coefficient * value_loss + entropy_sign * entropy_coefficient * entropy.mean()


@bug("ppo-total-loss", "value targets formed from the normalised advantages (returns = A-hat + V_old)")
def total_returns_from_normalized(**arguments):
    return _total(**arguments, returns_from_normalized=True)


@bug("ppo-total-loss", "adds the entropy to the loss, which minimises it "
                       "(DLR-RM/stable-baselines3#127, zhangchuheng123/Reinforcement-Implementation#2)")
def total_entropy_sign(**arguments):
    return _total(**arguments, entropy_sign=1.0)


@bug("ppo-total-loss", "normalised advantages in only one of the two surrogate terms "
                       "(pytorch/rl#1033)")
def total_half_normalized(**arguments):
    return _total(**arguments, half_normalized=True)


@bug("ppo-total-loss", "ignores the normalize flag and always normalises")
def total_always_normalize(**arguments):
    return _total(**arguments, always_normalize=True)


@bug("ppo-total-loss", "the value coefficient multiplies the policy loss instead of the value loss")
def total_coefficient_on_policy(**arguments):
    return _total(**arguments, coefficient_on_policy=True)
