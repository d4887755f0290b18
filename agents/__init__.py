"""Full-size deep-RL agents whose every formula passes its rlspec check.

One readable file per algorithm (``dqn``, ``a2c``, ``ppo``, ``td3``, ``sac``) and the pieces
they share, each in a module of its own:

* ``formulas_value``, ``formulas_policy``, ``formulas_continuous``: every formula an agent
  executes, one torch function each, batched and device-agnostic;
* ``training`` (the options and bookkeeping of a run), ``on_policy`` (A2C/PPO's policy and
  rollouts), ``off_policy`` (the DQN/TD3/SAC loop and replay);
* ``networks``, ``buffers``, ``envs`` (vector environments as torch tensors),
  ``tabular_env`` (a toy MDP batched in torch);
* ``metrics`` (JSONL/CSV), ``progress`` (the progress bar), ``runtime`` (device, seeding,
  checkpoints);
* ``exact_evaluation`` (critic error, Q* error and regret on toy MDPs, computed exactly),
  ``live_validation`` (the real batch through the oracles every k updates);
* ``plotting`` and ``cli`` (``rlspec train`` / ``rlspec plot``).

The alignment trainers (reward model, DPO, RLHF-PPO, the GRPO family) on the enumerable
language model and a tiny transformer are in the sub-package ``alignment``.
"""

ALGORITHMS = ("dqn", "a2c", "ppo", "td3", "ddpg", "sac")

__all__ = ["ALGORITHMS"]
