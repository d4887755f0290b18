"""What every training run shares: its options, its set-up, its logging and its ending.

An algorithm file declares ``XConfig(CommonConfig)`` with its own hyperparameters and
runs its loop inside a :class:`Run`, which owns the device, the seeding, the vector env,
the exact evaluator (toy MDPs), the live validator, the metrics file, the progress bar
and the checkpoints.  The loop calls ``run.observe(step)`` after each vector step,
``run.maybe_log(agent)`` when it likes, and ``run.finish(agent)`` at the end.

An agent offers ``act(observations, deterministic) -> actions``, ``modules() -> dict`` (for
checkpoints) and ``tables(observations) -> dict`` (for exact evaluation on toy MDPs:
``policy`` [S, A] and ``values`` [S] or ``action_values`` [S, A], and ``greedy``, the
table the greedy policy is read from).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rlspec.agents.envs import make_vector_env
from rlspec.agents.exact_evaluation import ExactEvaluator
from rlspec.agents.live_validation import LiveValidator
from rlspec.agents.metrics import MetricsWriter, ReturnMeter
from rlspec.agents.progress import ProgressBar
from rlspec.agents.runtime import save_checkpoint, seed_everything, select_device

__all__ = ["CommonConfig", "Run", "TrainResult", "evaluate_episodes", "DEFAULT_GAMMA"]

#: The discount used where neither the user nor the environment gives one below 1.
DEFAULT_GAMMA = 0.99


@dataclass
class CommonConfig:
    env_id: str = "CartPole-v1"
    total_steps: int = 50_000        # environment steps, summed over the parallel envs
    seed: int = 0
    num_envs: int = 1
    device: str = "cpu"              # cpu | cuda | auto
    gamma: float | None = None       # None: the toy MDP's gamma if below 1, else 0.99
    validate_every: int = 0          # live validation every k updates (0: off)
    out: str | None = None           # run directory: metrics.jsonl/.csv, checkpoint.pt
    log_every: int = 2_000           # environment steps between metric records
    checkpoint_every: int = 0        # environment steps between checkpoints (0: at the end)
    progress: bool = False           # draw the progress bar on stderr
    env_backend: str = "auto"        # auto | gymnasium | torch (toy MDPs batched in torch)
    max_episode_steps: int | None = None  # time limit (None: the id's own)
    threads: int | None = None       # torch CPU threads (None: leave torch's setting); 1 is
                                     # fastest for these small networks on a busy machine


@dataclass
class TrainResult:
    config: CommonConfig
    summary: dict
    records: list
    agent: object


class Run:
    """The set-up and bookkeeping of one training run (see the module docstring)."""

    def __init__(self, algorithm: str, config: CommonConfig):
        self.algorithm, self.config = algorithm, config
        self.device = select_device(config.device)
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.generator = seed_everything(config.seed)
        self.env = make_vector_env(config.env_id, config.num_envs, self.device, config.env_backend,
                                   config.max_episode_steps)
        mdp = self.env.mdp
        if config.gamma is not None:
            self.gamma = float(config.gamma)
        elif mdp is not None and mdp.gamma < 1.0:
            self.gamma = float(mdp.gamma)
        else:
            self.gamma = DEFAULT_GAMMA
        self.evaluator = ExactEvaluator(mdp, self.gamma) if mdp is not None else None
        self.all_states = (torch.eye(mdp.n_states, device=self.device) if mdp is not None else None)
        self.validator = LiveValidator(config.validate_every)
        self.metrics = MetricsWriter(Path(config.out) if config.out else None)
        self.returns = ReturnMeter(self.device)
        self.progress = ProgressBar(config.total_steps, enabled=config.progress)
        self.step = 0
        self.updates = 0
        self.next_log = config.log_every
        self.next_checkpoint = config.checkpoint_every or None
        self.started = time.perf_counter()
        self.evaluation_seconds = 0.0

    def observations(self) -> torch.Tensor:
        return self.env.reset(self.config.seed)

    def observe(self, step) -> None:
        self.returns.add(step)
        self.step += self.env.num_envs

    def maybe_log(self, agent, **extra) -> None:
        if self.step >= self.next_log:
            self.next_log += self.config.log_every
            self.log(agent, **extra)
        if self.next_checkpoint is not None and self.step >= self.next_checkpoint:
            self.next_checkpoint += self.config.checkpoint_every
            self.checkpoint(agent)

    def exact_figures(self, agent) -> dict:
        if self.evaluator is None:
            return {}
        started = time.perf_counter()
        with torch.no_grad():
            tables = {name: table.detach().cpu().double().numpy()
                      for name, table in agent.tables(self.all_states).items()}
        figures = self.evaluator.evaluate(**tables)
        self.evaluation_seconds += time.perf_counter() - started
        return figures

    def value_tables(self, agent) -> dict:
        """On toy MDPs: the learned state values (V, or max_a Q), the exact V^pi of the
        agent's policy and V*, as lists, for the heat maps of ``rlspec plot``."""
        if self.evaluator is None:
            return {}
        with torch.no_grad():
            tables = {name: table.detach().cpu().double().numpy()
                      for name, table in agent.tables(self.all_states).items()}
        learned = (tables["values"] if "values" in tables
                   else tables["action_values"].max(axis=1))
        policy = tables["policy"] / tables["policy"].sum(axis=1, keepdims=True)
        exact = self.evaluator
        return {"learned_values": learned.tolist(),
                "policy_values": exact.policy_values(policy).tolist(),
                "optimal_values": exact.optimal_values.tolist(),
                "grid_shape": list(exact.mdp.grid_shape) if exact.mdp.grid_shape else None}

    def log(self, agent, **extra) -> dict:
        elapsed = time.perf_counter() - self.started
        record = {"step": self.step, "updates": self.updates, "seconds": elapsed,
                  "steps_per_second": self.step / max(elapsed, 1e-9), **self.returns.read()}
        record.update({name: float(value) for name, value in extra.items()})
        record.update(self.exact_figures(agent))
        self.metrics.write(record)
        shown = {"return": record["episode_return"], "steps/s": record["steps_per_second"]}
        if "regret" in record:
            shown.update({"J": record["exact_return"], "J*": record["optimal_return"],
                          "regret": record["regret"]})
        self.progress.update(self.step, shown)
        return record

    def checkpoint(self, agent) -> Path | None:
        if not self.config.out:
            return None
        return save_checkpoint(Path(self.config.out) / "checkpoint.pt", agent.modules(), self.step,
                               dataclasses.asdict(self.config))

    def finish(self, agent, **extra) -> TrainResult:
        """Last record, checkpoint, the run's summary (also as ``summary.json``)."""
        final = self.log(agent, **extra)
        self.progress.update(self.step, {}, force=True)
        self.progress.close()
        self.checkpoint(agent)
        elapsed = time.perf_counter() - self.started
        summary = {"algorithm": self.algorithm, "env_id": self.config.env_id,
                   "seed": self.config.seed, "steps": self.step, "updates": self.updates,
                   "seconds": elapsed, "steps_per_second": self.step / max(elapsed, 1e-9),
                   "episode_return": final["episode_return"],
                   "validation_seconds": self.validator.seconds,
                   "validation": self.validator.summary(elapsed),
                   "exact_evaluation_seconds": self.evaluation_seconds}
        summary.update({key: final[key] for key in ("exact_return", "optimal_return", "regret",
                                                    "greedy_regret", "critic_error",
                                                    "q_star_error") if key in final})
        summary.update(self.value_tables(agent))
        self.metrics.write({"summary": summary})
        self.metrics.close()
        self.env.close()
        return TrainResult(self.config, summary, self.metrics.records, agent)


def evaluate_episodes(env_id: str, agent, episodes: int, seed: int, device="cpu") -> float:
    """The mean undiscounted return of ``episodes`` episodes acting deterministically."""
    env = make_vector_env(env_id, 1, device, backend="gymnasium")
    returns = []
    observations = env.reset(seed)
    while len(returns) < episodes:
        with torch.no_grad():
            actions = agent.act(observations, deterministic=True)
        step = env.step(actions)
        if bool(step.done[0]):
            returns.append(float(step.episode_returns[0]))
        observations = step.observations
    env.close()
    return float(np.mean(returns))
