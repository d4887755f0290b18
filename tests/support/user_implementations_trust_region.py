"""Correct TRPO and PPO pieces written the way users write them: vectorised torch in the
style of CleanRL, OpenAI baselines' negative log-probabilities, torch.distributions,
autograd double-backward for the Fisher-vector product, a conjugate gradient taking a
matrix-vector function.  None imports rlspec.

``tests/trust_region/test_trpo.py`` and ``tests/trust_region/test_ppo.py`` assert that rlspec.check accepts each: a
check that rejected correct code would be as useless as one that accepted bugs.
"""

import numpy as np
import scipy.stats
import torch
from torch.distributions import Categorical


# ---------------------------------------------------------------------------------- PPO

def cleanrl_clip_loss(log_prob, old_log_prob, advantages, clip_epsilon):
    """CleanRL's pg_loss, written as max of the negated terms."""
    old_log_prob, advantages = old_log_prob.detach(), advantages.detach()  # rollout data
    ratio = (log_prob - old_log_prob).exp()
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - clip_epsilon, 1 + clip_epsilon)
    return torch.max(pg_loss1, pg_loss2).mean()


def baselines_neglogp_clip_loss(log_prob, old_log_prob, advantages, clip_epsilon):
    """OpenAI baselines keeps negative log-probabilities: exp(OLDNEGLOGPAC - neglogpac) is
    pi / pi_old, the right ratio (what openai/baselines#652 asked about)."""
    old_log_prob, advantages = old_log_prob.detach(), advantages.detach()  # rollout data
    neglogpac, old_neglogpac = -log_prob, -old_log_prob
    ratio = torch.exp(old_neglogpac - neglogpac)
    losses = -advantages * ratio
    losses2 = -advantages * torch.clamp(ratio, 1.0 - clip_epsilon, 1.0 + clip_epsilon)
    return torch.mean(torch.maximum(losses, losses2))


def numpy_clip_loss(log_prob, old_log_prob, advantages, clip_epsilon):
    """A plain-number loss (no autograd): right in value, but an optimiser cannot train with
    it, so the check rejects it."""
    ratio = np.exp(log_prob.detach().numpy() - old_log_prob.detach().numpy())
    a = advantages.detach().numpy()
    return float(-np.minimum(ratio * a, np.clip(ratio, 1 - clip_epsilon, 1 + clip_epsilon) * a).mean())


def distributions_kl_penalty_loss(logits, old_logits, actions, advantages, beta):
    old_logits, advantages = old_logits.detach(), advantages.detach()  # rollout data
    new, old = Categorical(logits=logits), Categorical(logits=old_logits)
    ratio = torch.exp(new.log_prob(actions) - old.log_prob(actions))
    # Not kl_divergence(old, new): torch.distributions sets a term to inf wherever the new
    # probability underflows to 0 (logits 800 apart), although the KL itself is finite.
    kl = (old.probs * (old.logits - new.logits)).sum(dim=-1)
    return -(ratio * advantages - beta * kl).mean()


def adaptive_beta(beta, kl, kl_target):
    if kl < kl_target / 1.5:
        beta /= 2
    elif kl > kl_target * 1.5:
        beta *= 2
    return beta


def cleanrl_value_loss(values, old_values, returns, clip_epsilon):
    old_values, returns = old_values.detach(), returns.detach()  # rollout data
    v_loss_unclipped = (values - returns) ** 2
    v_clipped = old_values + torch.clamp(values - old_values, -clip_epsilon, clip_epsilon)
    v_loss_clipped = (v_clipped - returns) ** 2
    return 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()


def numpy_population_normalize(advantages):
    """numpy's std has ddof = 0 and is 0 for one element: no NaN, no special case needed."""
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def torch_guarded_normalize(advantages):
    a = torch.as_tensor(advantages)
    std = a.std() if a.numel() > 1 else torch.zeros((), dtype=a.dtype)
    return ((a - a.mean()) / (std + 1e-8)).numpy()


def distributions_entropy(logits):
    return Categorical(logits=logits).entropy()


def cleanrl_total_loss(log_prob, old_log_prob, advantages, values, old_values, entropy,
                       clip_epsilon, value_clip_epsilon, value_coefficient, entropy_coefficient,
                       normalize):
    old_log_prob, advantages, old_values = (x.detach() for x in (old_log_prob, advantages,
                                                                  old_values))  # rollout data
    returns = advantages + old_values  # formed at rollout time, before any normalisation
    if normalize:
        advantages = (advantages - advantages.mean()) / (
            (advantages.std() if len(advantages) > 1 else 0.0) + 1e-8)
    pg_loss = cleanrl_clip_loss(log_prob, old_log_prob, advantages, clip_epsilon)
    if value_clip_epsilon is None:
        v_loss = 0.5 * ((values - returns) ** 2).mean()
    else:
        v_loss = cleanrl_value_loss(values, old_values, returns, value_clip_epsilon)
    return pg_loss - entropy_coefficient * entropy.mean() + v_loss * value_coefficient


# --------------------------------------------------------------------------------- TRPO

def vectorised_surrogate(transitions, rewards, gamma, initial_distribution, old_policy, new_policy):
    n = len(rewards)
    markov = np.einsum("sa,sat->st", old_policy, transitions)
    v = np.linalg.solve(np.eye(n) - gamma * markov, (old_policy * rewards).sum(1))
    adv = rewards + gamma * transitions @ v - v[:, None]
    rho = np.linalg.solve(np.eye(n) - gamma * markov.T, initial_distribution)  # unnormalised
    return float(initial_distribution @ v + rho @ (new_policy * adv).sum(1))


def vectorised_lower_bound(transitions, rewards, gamma, initial_distribution, old_policy, new_policy):
    n = len(rewards)
    markov = np.einsum("sa,sat->st", old_policy, transitions)
    v = np.linalg.solve(np.eye(n) - gamma * markov, (old_policy * rewards).sum(1))
    adv = rewards + gamma * transitions @ v - v[:, None]
    max_kl = max(scipy.stats.entropy(p, q) for p, q in zip(old_policy, new_policy))
    surrogate = vectorised_surrogate(transitions, rewards, gamma, initial_distribution,
                                     old_policy, new_policy)
    return surrogate - 4 * np.abs(adv).max() * gamma / (1 - gamma) ** 2 * max_kl


def scipy_mean_kl(old_policy, new_policy, state_weights):
    return float(sum(w * scipy.stats.entropy(p, q)
                     for w, p, q in zip(state_weights, old_policy, new_policy) if w > 0))


def autograd_fisher_vector_product(features, theta, state_weights, vector):
    """The usual TRPO trick: differentiate (grad KL . v) once more (Pearlmutter), no F."""
    phi = torch.as_tensor(features)
    weights = torch.as_tensor(state_weights)
    fixed = torch.as_tensor(theta)
    moving = fixed.clone().requires_grad_(True)
    old_log = torch.log_softmax(phi @ fixed, dim=1)
    new_log = torch.log_softmax(phi @ moving, dim=1)
    kl = (weights * (old_log.exp() * (old_log - new_log)).sum(1)).sum()
    (grad,) = torch.autograd.grad(kl, moving, create_graph=True)
    (hvp,) = torch.autograd.grad(grad @ torch.as_tensor(vector), moving, allow_unused=True)
    return np.zeros(len(theta)) if hvp is None else hvp.detach().numpy()


def baselines_cg(f_Ax, b, cg_iters=10, residual_tol=1e-10):
    """Conjugate gradient in the style of OpenAI baselines: a function for A x."""
    p, r, x = b.copy(), b.copy(), np.zeros_like(b)
    rdotr = r.dot(r)
    for _ in range(cg_iters):
        if rdotr < residual_tol:
            break
        z = f_Ax(p)
        v = rdotr / p.dot(z)
        x += v * p
        r -= v * z
        newrdotr = r.dot(r)
        p = r + newrdotr / rdotr * p
        rdotr = newrdotr
    return x


def baselines_cg_on_a_matrix(matrix, vector, iterations):
    """The adapter that `rlspec list checks` suggests for a CG taking a function."""
    return baselines_cg(lambda v: matrix @ v, vector, iterations)


def spinning_up_line_search(parameters, full_step, surrogate, kl, max_kl, backtrack_ratio,
                            max_backtracks):
    old_value = surrogate(parameters)
    for j in range(max_backtracks):
        trial = parameters + backtrack_ratio ** j * full_step
        if kl(trial) <= max_kl and surrogate(trial) > old_value:
            return trial
    return parameters


def baselines_full_step(stepdir, fisher_vector_product, max_kl):
    """OpenAI baselines' TRPO: shs = x^T F x / 2, lm = sqrt(shs / max_kl), full step x / lm."""
    shs = 0.5 * stepdir.dot(fisher_vector_product(stepdir))
    lm = np.sqrt(shs / max_kl)
    return stepdir / lm


def baselines_full_step_on_a_matrix(direction, fisher, max_kl):
    """The adapter that `rlspec list checks` suggests for code taking a Fisher-vector product."""
    return baselines_full_step(direction, lambda v: fisher @ v, max_kl)
