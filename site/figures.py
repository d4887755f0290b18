"""The site's figures, computed at build time from rlspec's oracles (never the reference).

Each :class:`Figure` names the spec entries it illustrates; the entry pages show it. The
drawing uses matplotlib's object interface (no pyplot), so no display and no global state
are involved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure as MatplotlibFigure
from rlspec.oracles import dpo, gae, kl_estimators, occupancy, ppo
from rlspec.oracles import dynamic_programming as policy_evaluation
from rlspec.oracles.methods import linear_program
from rlspec.toy_mdps import catalogue


@dataclass(frozen=True)
class Figure:
    name: str                       # file name stem, e.g. "gae-weights"
    caption: str                    # plain text, may hold $TeX$
    spec_ids: tuple[str, ...]
    draw: Callable[[], MatplotlibFigure]


def _uniform_policy(mdp) -> np.ndarray:
    return np.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions)


def _heat_map(axes, values: np.ndarray, shape: tuple[int, int], title: str,
              smallest_shown: float | None = None) -> None:
    """``smallest_shown``: a logarithmic colour scale from there up (smaller values get its
    colour), for measures that span several orders of magnitude."""
    grid = values.reshape(shape)
    if smallest_shown is None:
        image = axes.imshow(grid, cmap="viridis")
    else:
        image = axes.imshow(np.maximum(grid, smallest_shown), cmap="viridis",
                            norm=LogNorm(vmin=smallest_shown, vmax=grid.max()))
    axes.figure.colorbar(image, ax=axes, shrink=0.8)
    axes.set_title(title, fontsize=10)
    axes.set_xticks([])
    axes.set_yticks([])
    if grid.size <= 25:  # small enough to print, as Sutton & Barto's Figures 3.2 and 4.1 do
        for (row, col), value in np.ndenumerate(grid):
            axes.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=8,
                      color="white" if value < grid.mean() else "black")


def _value_maps(mdp_name: str) -> Callable[[], MatplotlibFigure]:
    def draw() -> MatplotlibFigure:
        mdp = catalogue.make(mdp_name)
        tables = (mdp.transitions, mdp.rewards, mdp.gamma)
        wide = mdp.grid_shape[1] > 2 * mdp.grid_shape[0]
        figure = MatplotlibFigure(figsize=(7.5, 4.6) if wide else (7.5, 3.2), layout="constrained")
        random_axes, optimal_axes = figure.subplots(2, 1) if wide else figure.subplots(1, 2)
        _heat_map(random_axes, policy_evaluation.evaluate_policy(*tables, _uniform_policy(mdp)),
                  mdp.grid_shape, r"$V^\pi$, uniformly random policy")
        _heat_map(optimal_axes, linear_program.optimal_values_lp(*tables), mdp.grid_shape,
                  r"$V^*$, optimal policy (linear program)")
        figure.suptitle(f"{mdp_name}, γ = {mdp.gamma:g}", fontsize=11)
        return figure
    return draw


def _occupancy_maps() -> MatplotlibFigure:
    mdp = catalogue.make("cliffwalking-gym")
    args = (mdp.transitions, mdp.gamma)
    random = occupancy.state_occupancy(*args, _uniform_policy(mdp), mdp.initial_distribution)
    optimal = linear_program.optimal_occupancy_lp(mdp.transitions, mdp.rewards, mdp.gamma,
                                                  mdp.initial_distribution).sum(axis=1)
    figure = MatplotlibFigure(figsize=(7.5, 4.6), layout="constrained")
    top, bottom = figure.subplots(2, 1)
    # The absorbing goal collects most of the mass; a log scale shows the way there too.
    _heat_map(top, random, mdp.grid_shape, r"$\nu^\pi(s)$, uniformly random policy", 1e-4)
    _heat_map(bottom, optimal, mdp.grid_shape,
              r"$\sum_a \rho^*(s, a)$, optimal policy (dual linear program)", 1e-4)
    figure.suptitle(f"cliffwalking-gym, γ = {mdp.gamma:g}, start at the bottom left", fontsize=11)
    return figure


def _gae_weights() -> MatplotlibFigure:
    # With gamma = 1, zero rewards and values, and next_values the unit vector e_{k-1}, the
    # k-step return from step 0 is 1 and every other one is 0: the lambda-return at step 0
    # is then exactly the weight the oracle gives the k-step return.
    steps = 12
    figure = MatplotlibFigure(figsize=(7.5, 3.4), layout="constrained")
    axes = figure.subplots()
    zeros, flags = [0.0] * steps, [False] * steps
    for lam in (0.5, 0.8, 0.9, 0.95):
        weights = [float(gae.lambda_returns_exact(zeros, zeros, np.eye(steps)[k], flags, flags,
                                                  1.0, lam)[0]) for k in range(steps)]
        axes.plot(range(1, steps + 1), weights, marker="o", label=f"λ = {lam:g}")
    axes.set_xlabel("k (the k-step advantage $A^{(k)}_t$)")
    axes.set_ylabel("weight in $A^{GAE}_t$")
    axes.set_title(f"GAE's weights $(1-\\lambda)\\lambda^{{k-1}}$; the last, k = n = {steps}, "
                   "takes the rest $\\lambda^{n-1}$", fontsize=10)
    axes.legend()
    return figure


def _ppo_clip() -> MatplotlibFigure:
    epsilon = 0.2
    ratios = np.linspace(0.5, 1.5, 401)
    figure = MatplotlibFigure(figsize=(7.5, 3.2), layout="constrained")
    for axes, advantage in zip(figure.subplots(1, 2, sharey=False), (1.0, -1.0)):
        objective, flat = [], []
        for ratio in ratios:
            arguments = ([math.log(ratio)], [0.0], [advantage], epsilon)
            objective.append(-ppo.clipped_surrogate_loss(*arguments))
            lower, upper = ppo.clipped_surrogate_gradient_bounds(*arguments)
            flat.append(lower[0] == 0 and upper[0] == 0)
        axes.plot(ratios, objective, color="C0", label="$L^{CLIP}$")
        axes.plot(ratios, ratios * advantage, color="C7", linestyle=":", label="$rA$ (unclipped)")
        axes.fill_between(ratios, 0, 1, where=flat, transform=axes.get_xaxis_transform(),
                          color="C3", alpha=0.15, label="gradient 0")
        axes.set_xlabel(r"ratio $r = \pi_\theta / \pi_{\theta_{old}}$")
        axes.set_title(f"A = {advantage:+g}, ε = {epsilon:g}", fontsize=10)
        axes.legend(fontsize=8)
    return figure


def _dpo_loss() -> MatplotlibFigure:
    beta = 0.1
    margins = np.linspace(-6.0, 6.0, 241)  # z = beta h, the implicit reward margin
    losses, weights = [], []
    for margin in margins:
        loss, grad_chosen, _, _ = dpo.preference_loss_and_gradient(
            [margin / beta], [0.0], [0.0], [0.0], beta)
        losses.append(loss)
        weights.append(-grad_chosen[0] / beta)  # d loss / d h = -beta sigma(-z)
    figure = MatplotlibFigure(figsize=(7.5, 3.2), layout="constrained")
    loss_axes, weight_axes = figure.subplots(1, 2)
    loss_axes.plot(margins, losses)
    loss_axes.set_title(r"DPO loss $-\log\sigma(z)$", fontsize=10)
    weight_axes.plot(margins, weights, color="C1")
    weight_axes.set_title(r"gradient weight $\sigma(-z) = -\partial L / \partial h\ /\ \beta$",
                          fontsize=10)
    for axes in (loss_axes, weight_axes):
        axes.set_xlabel(r"reward margin $z = \beta h$ (chosen minus rejected)")
    return figure


def _kl_estimators() -> MatplotlibFigure:
    # pi_ref uniform over 4 tokens, pi = softmax(t * logits): KL(pi || pi_ref) grows with t.
    reference = np.log(np.full(4, 0.25))
    logits = np.array([1.5, 0.5, 0.0, -1.0])
    temperatures = np.linspace(0.0, 2.0, 41)
    true_kl, bias, spread = [], {k: [] for k in kl_estimators.ESTIMATORS}, {k: [] for k in kl_estimators.ESTIMATORS}
    for t in temperatures:
        log_probs = t * logits - np.log(np.exp(t * logits).sum())
        probabilities = np.exp(log_probs)
        kl = kl_estimators.categorical_kl(log_probs, reference)
        true_kl.append(kl)
        for estimator in kl_estimators.ESTIMATORS:
            samples, _ = kl_estimators.kl_estimates_and_slopes(log_probs, reference, estimator)
            mean = math.fsum(probabilities * samples)
            bias[estimator].append(mean - kl)
            spread[estimator].append(math.sqrt(math.fsum(probabilities * (samples - mean) ** 2)))
    figure = MatplotlibFigure(figsize=(7.5, 3.2), layout="constrained")
    bias_axes, spread_axes = figure.subplots(1, 2)
    for estimator in kl_estimators.ESTIMATORS:
        bias_axes.plot(true_kl, bias[estimator], label=estimator)
        spread_axes.plot(true_kl, spread[estimator], label=estimator)
    bias_axes.set_title(r"bias $\mathbb{E}_{x\sim\pi}[k(x)] - KL(\pi\,\|\,\pi_{ref})$",
                        fontsize=10)
    spread_axes.set_title("standard deviation of one sample", fontsize=10)
    for axes in (bias_axes, spread_axes):
        axes.set_xlabel(r"$KL(\pi\,\|\,\pi_{ref})$ (exact)")
        axes.legend()
    return figure


_DYNAMIC_PROGRAMMING = ("dp.policy-evaluation", "dp.value-iteration", "dp.policy-iteration",
                        "mdp.bellman-expectation-v", "mdp.bellman-matrix-form")

FIGURES = (
    Figure("values-sb-gridworld-5x5", "State values of Sutton & Barto's 5×5 grid world "
           "(Figure 3.2 and 3.5) under the random and the optimal policy.",
           _DYNAMIC_PROGRAMMING, _value_maps("sb-gridworld-5x5")),
    Figure("values-sb-gridworld-4x4", "State values of the 4×4 grid world of Example 4.1 "
           "(two terminal corners, γ = 1).", _DYNAMIC_PROGRAMMING, _value_maps("sb-gridworld-4x4")),
    Figure("values-cliff-walking", "Cliff walking (Example 6.6): the random policy falls often; "
           "the optimal one walks along the cliff.", _DYNAMIC_PROGRAMMING,
           _value_maps("cliff-walking")),
    Figure("values-frozenlake-8x8", "FrozenLake 8×8, slippery, from gymnasium's transition "
           "table.", _DYNAMIC_PROGRAMMING, _value_maps("frozenlake-8x8")),
    Figure("occupancy-cliff-walking", "Normalised state occupancy $\\nu^\\pi(s) = "
           "(1-\\gamma)\\sum_t \\gamma^t P_t^\\pi(s)$ of a random and an optimal policy "
           "(log colour scale).",
           ("mdp.state-occupancy", "mdp.state-action-occupancy", "mdp.occupancy-theorem-1",
            "mdp.occupancy-theorem-2"), _occupancy_maps),
    Figure("gae-weights", "The weight of each k-step advantage in GAE, for several λ (γ = 1), "
           "from the exact λ-return oracle.",
           ("gae.advantage", "gae.lambda-weighted-sum", "gae.lambda-return", "traces.lambda-return"),
           _gae_weights),
    Figure("ppo-clip", "PPO's clipped objective against the probability ratio; shaded: where "
           "its gradient is 0 (the oracle's one-sided bounds both vanish).",
           ("ppo.clipped-objective", "rlhf.actor-loss", "dapo.token-level-loss"), _ppo_clip),
    Figure("dpo-loss", "The DPO loss and the weight of its gradient against the implicit "
           "reward margin (β = 0.1): pairs already ranked right count little.",
           ("dpo.loss", "dpo.gradient", "dpo.implicit-reward"), _dpo_loss),
    Figure("kl-estimators", "Bias and spread of the k1, k2, k3 estimators of "
           "$KL(\\pi\\,\\|\\,\\pi_{ref})$, by exact enumeration over 4 tokens: k1 and k3 "
           "are unbiased, k2 is not; k3 has the smaller spread.",
           ("kl.estimator-bias", "kl.k1", "kl.k2", "kl.k3"), _kl_estimators),
)


def draw_all(directory, dpi: int = 100) -> list[Figure]:
    """Save every figure as ``directory/<name>.png``; return the list."""
    for item in FIGURES:
        item.draw().savefig(directory / f"{item.name}.png", dpi=dpi)
    return list(FIGURES)
