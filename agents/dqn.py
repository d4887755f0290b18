"""DQN, with Double DQN, the dueling head, prioritized replay, n-step returns and C51 as options.

Mnih et al. (2015); van Hasselt et al. (2016); Wang et al. (2016); Schaul et al. (2016);
Sutton & Barto ch. 7 / Hessel et al. (2018); Bellemare et al. (2017).  Every formula the
loop executes is a function of ``formulas_value`` that passes its rlspec check.

The phases, in order:
1. collect (the loop of ``off_policy.train_off_policy``): act epsilon-greedily in N
   parallel envs, store the step (with the *final* observation, so that a truncated step
   bootstraps from the state it reached);
2. targets: sample items (uniformly, or in proportion to p^alpha from the sum tree), read
   each item's window of the next n steps, collapse it into (R, gamma^m (1 - terminated));
   bootstrap from max_a Q'(s', a) (Double: Q'(s', argmax_a Q(s', a))), or project the
   target distribution onto the support (C51);
3. update: the (importance-weighted) TD or cross-entropy loss, one Adam step, new
   priorities; copy or Polyak-average the target network every so many steps;
4. log: returns, loss, epsilon; on toy MDPs the exact regret and Q errors; every k updates
   (``validate_every``) the batch through the oracles.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from rlspec.agents import formulas_value as fv
from rlspec.agents.buffers import ReplayBuffer, SumTree
from rlspec.agents.formulas_continuous import soft_update_
from rlspec.agents.networks import QNetwork
from rlspec.agents.off_policy import train_off_policy
from rlspec.agents.training import CommonConfig, Run, TrainResult

__all__ = ["DQNConfig", "DQNAgent", "train"]


@dataclass
class DQNConfig(CommonConfig):
    learning_rate: float = 1e-3
    buffer_size: int = 50_000          # time steps kept (each holds num_envs transitions)
    batch_size: int = 64
    learning_starts: int = 1_000       # environment steps before the first update
    train_frequency: int = 4           # environment steps between rounds of updates
    gradient_steps: int = 1            # updates per round
    target_update_interval: int = 500  # environment steps between target-network updates
    tau: float = 1.0                   # 1: copy the online network; < 1: Polyak averaging
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    exploration_fraction: float = 0.1  # share of total_steps over which epsilon decays
    hidden: tuple = (64, 64)
    loss: str = "huber"                # huber (Mnih et al. 2015) | squared
    max_grad_norm: float = 10.0
    double: bool = False
    dueling: bool = False
    n_step: int = 1
    prioritized: bool = False
    per_alpha: float = 0.6
    per_beta_start: float = 0.4
    per_epsilon: float = 1e-6
    atoms: int = 1                     # > 1: C51 with this many atoms on [v_min, v_max]
    v_min: float = -10.0
    v_max: float = 10.0


class DQNAgent:
    def __init__(self, config: DQNConfig, env, device):
        if not env.discrete_actions:
            raise ValueError(f"DQN needs discrete actions; {config.env_id} has a Box action space "
                             f"(use td3, ddpg or sac)")
        self.config, self.device = config, device
        self.generator = torch.Generator(device=device).manual_seed(config.seed)
        self.n_actions = env.n_actions
        self.online = QNetwork(env.observation_size, env.n_actions, config.hidden, config.dueling,
                               config.atoms, config.v_min, config.v_max).to(device)
        self.target = copy.deepcopy(self.online)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate)
        fields = {"obs": (env.observation_size,), "next_obs": (env.observation_size,),
                  "actions": (), "rewards": (), "terminated": (), "truncated": ()}
        self.buffer = ReplayBuffer(config.buffer_size, env.num_envs, fields,
                                   dtypes={"actions": torch.int64}, device=device)
        items = config.buffer_size * env.num_envs
        self.tree = SumTree(items, device=device) if config.prioritized else None
        self.priorities = torch.zeros(items, dtype=torch.float64, device=device)
        self.largest_priority = 1.0
        self.epsilon = config.epsilon_start
        self.exploration_steps = int(config.exploration_fraction * config.total_steps)
        self.last_target_update = 0

    # ------------------------------------------------------------------ acting
    def explore(self, observations) -> torch.Tensor:
        return self.act(observations)

    def act(self, observations, deterministic: bool = False) -> torch.Tensor:
        with torch.no_grad():
            q = self.online(observations)
        if deterministic:
            return q.argmax(dim=1)
        probabilities = fv.epsilon_greedy_probabilities(q, self.epsilon)
        return torch.multinomial(probabilities, 1, generator=self.generator).squeeze(1)

    def store(self, observations, actions, step) -> None:
        first_item = (self.buffer.added % self.buffer.capacity) * self.buffer.num_envs
        self.buffer.add(obs=observations, next_obs=step.final_observations, actions=actions,
                        rewards=step.rewards, terminated=step.terminated, truncated=step.truncated)
        if self.tree is not None:  # new experience gets the largest priority seen so far
            items = torch.arange(first_item, first_item + self.buffer.num_envs, device=self.device)
            self.priorities[items] = self.largest_priority
            self.tree.update(items, self.priorities[items] ** self.config.per_alpha)

    # ------------------------------------------------------------------ sampling
    def sample(self, progress: float):
        """Items and their importance weights (None when replay is uniform)."""
        size = self.config.batch_size
        if self.tree is None:
            return self.buffer.sample_items(size, self.generator), None, None
        # Stratified: one draw in each of `size` equal slices of [0, total).
        uniform = torch.rand(size, generator=self.generator, device=self.device,
                             dtype=torch.float64)
        slices = (torch.arange(size, device=self.device) + uniform) * (self.tree.total / size)
        items = self.tree.find(slices)
        beta = fv.linear_schedule(self.config.per_beta_start, 1.0, 1, progress)
        stored = self.priorities[:self.buffer.size * self.buffer.num_envs]
        weights = fv.importance_weights(stored, items, self.config.per_alpha, beta)
        return items, weights.float(), beta

    # ------------------------------------------------------------------ targets
    def targets(self, items, gamma: float):
        """n-step sums and discounts, the bootstrap observations and the targets."""
        config = self.config
        window = self.buffer.windows(items, config.n_step, ("rewards", "terminated", "truncated"))
        available = window["available"]
        next_available = torch.cat([available[:, 1:], torch.zeros_like(available[:, :1])], dim=1)
        cut = window["truncated"].bool() | (available & ~next_available)
        sums, discounts, offsets = fv.n_step_windows(window["rewards"], window["terminated"],
                                                     cut.float(), gamma)
        last_slots = window["positions"].gather(1, offsets.unsqueeze(1)).squeeze(1)
        next_obs = self.buffer.storage["next_obs"][last_slots, items % self.buffer.num_envs]
        with torch.no_grad():
            next_q_target = self.target(next_obs)
            next_q_online = self.online(next_obs) if config.double else None
            if config.atoms > 1:
                chooser = next_q_online if config.double else next_q_target
                chosen = chooser.argmax(dim=1)
                next_distribution = torch.softmax(self.target.logits(next_obs), dim=2)[
                    torch.arange(len(items)), chosen]
                projected = fv.categorical_projection(sums, discounts, next_distribution,
                                                      config.v_min, config.v_max)
                return {"projected": projected, "sums": sums, "discounts": discounts,
                        "next_distribution": next_distribution}
            if config.double:
                chosen = next_q_online.argmax(dim=1, keepdim=True)
                bootstrap = next_q_target.gather(1, chosen).squeeze(1)
                targets = fv.double_q_learning_targets(sums, next_q_online, next_q_target, discounts)
            else:
                bootstrap = next_q_target.max(dim=1).values
                targets = fv.q_learning_targets(sums, next_q_target, discounts)
        return {"targets": targets, "bootstrap": bootstrap, "next_q_target": next_q_target,
                "next_q_online": next_q_online, "rewards": window["rewards"],
                "terminated": window["terminated"], "cut": cut.float()}

    # ------------------------------------------------------------------ update
    def update(self, run: Run) -> dict:
        config = self.config
        items, weights, beta = self.sample(progress=run.step / config.total_steps)
        batch = self.buffer.gather(items, ("obs", "actions"))
        computed = self.targets(items, run.gamma)
        actions = batch["actions"]
        if config.atoms > 1:
            log_p = torch.log_softmax(self.online.logits(batch["obs"]), dim=2)[
                torch.arange(len(items)), actions]
            loss = fv.categorical_cross_entropy(computed["projected"], log_p, weights)
            # Priorities from the cross-entropy (Hessel et al. 2018 use the KL divergence,
            # which differs from it by the target's entropy).
            errors = -(computed["projected"] * log_p).sum(dim=1).detach()
        else:
            q_values = self.online(batch["obs"])
            taken = q_values.gather(1, actions.unsqueeze(1)).squeeze(1)
            loss = fv.td_loss(taken, computed["targets"], weights, config.loss)
            errors = (taken - computed["targets"]).detach()
        if run.validator.due(run.updates):
            self.validate(run, items, weights, beta, computed, batch)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.online.parameters(), config.max_grad_norm)
        self.optimizer.step()
        if self.tree is not None:
            new = fv.proportional_priorities(errors.double(), config.per_epsilon)
            self.priorities[items] = new
            self.tree.update(items, new ** config.per_alpha)
            self.largest_priority = max(self.largest_priority, float(new.max()))
        return {"loss": float(loss.detach()), "epsilon": self.epsilon}

    def validate(self, run: Run, items, weights, beta, computed, batch) -> None:
        validator, config = run.validator, self.config
        validator.begin(run.updates, run.step)
        if config.atoms > 1:
            validator.c51_projection(computed["sums"], computed["discounts"],
                                     computed["next_distribution"], computed["projected"],
                                     config.v_min, config.v_max)
        else:
            validator.q_targets(computed, run.gamma, config.double)
            if weights is None:  # the oracle's loss is unweighted
                with torch.no_grad():
                    q_values = self.online(batch["obs"])
                validator.td_loss(fv.td_loss, q_values, batch["actions"], computed["targets"],
                                  config.loss)
        if weights is not None:
            stored = self.priorities[:self.buffer.size * self.buffer.num_envs]
            validator.per_weights(stored, items, config.per_alpha, beta, weights)

    def after_step(self, run: Run) -> None:
        """The next step's epsilon; the target network's copy or Polyak step when due."""
        config = self.config
        self.epsilon = fv.linear_schedule(config.epsilon_start, config.epsilon_end,
                                          self.exploration_steps, run.step)
        if run.step - self.last_target_update >= config.target_update_interval:
            self.last_target_update = run.step
            soft_update_(self.target.parameters(), self.online.parameters(), config.tau)

    # ------------------------------------------------------------------ reporting
    def modules(self) -> dict:
        return {"online": self.online, "target": self.target}

    def tables(self, states) -> dict:
        q = self.online(states)
        greedy = fv.epsilon_greedy_probabilities(q, 0.0)
        return {"policy": greedy, "action_values": q, "greedy": q}


def train(config: DQNConfig) -> TrainResult:
    return train_off_policy("dqn", config, DQNAgent)
