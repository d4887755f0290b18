"""Any :class:`TabularMDP` as a gymnasium environment, and the catalogue registered.

``TabularMDPEnv(mdp)`` samples exactly the MDP's tables:

* ``reset(seed=...)`` draws s_0 from ``mdp.initial_distribution`` with ``self.np_random``;
* ``step(a)`` draws s' from ``P[s, a, :]`` (its non-zero entries, so sparse MDPs of any
  size work); the reward is ``R[s, a, s']`` when the MDP
  was given rewards by transition (``mdp.reward_by_transition``), else ``r(s, a)``;
  ``terminated`` is whether s' is a terminal state; ``truncated`` is always False (the
  registered ids add gymnasium's ``TimeLimit`` with ``max_episode_steps``);
  ``info["prob"]`` is the probability of the sampled transition (gymnasium's toy-text
  key).

Stepping on from a terminal state is allowed: it is absorbing and pays 0, as the spec
defines it, and ``terminated`` stays True.

Every name of ``rlspec.toy_mdps.catalogue.names()`` is registered as ``rlspec/<name>-v0``
when ``rlspec.toy_mdps`` is imported, so both of these work::

    import rlspec.toy_mdps; gymnasium.make("rlspec/sb-gridworld-5x5-v0")
    gymnasium.make("rlspec.toy_mdps:rlspec/sb-gridworld-5x5-v0")  # imports it first

The large generated MDPs (``rlspec.toy_mdps.large``) are registered as
``rlspec/large-<kind>-v0`` taking ``size`` (states) and ``seed`` (of the generator, not of
``reset``), with no episode cap unless ``max_episode_steps`` is passed::

    gymnasium.make("rlspec/large-grid-v0", size=10_000, seed=0, max_episode_steps=5_000)
"""

from __future__ import annotations

from typing import Any

import gymnasium
from gymnasium import spaces

from rlspec.toy_mdps import catalogue, large
from rlspec.toy_mdps.mdp import TabularMDP

#: Episode cap the registered ids put on every environment (via ``TimeLimit``).
MAX_EPISODE_STEPS = 1000

ENTRY_POINT = "rlspec.toy_mdps.gym_envs:TabularMDPEnv"


def env_id(name: str) -> str:
    """The gymnasium id of a catalogue name: ``rlspec/<name>-v0``."""
    return f"rlspec/{name}-v0"


class TabularMDPEnv(gymnasium.Env):
    """A gymnasium environment that samples a :class:`TabularMDP`.

    Parameters
    ----------
    mdp:
        The MDP, or the name of one in the catalogue (``rlspec.toy_mdps.make(name)``).
    render_mode:
        None or "ansi".  "ansi" returns the grid with the agent's cell marked ``x``
        (terminal cells ``T``, others ``.``) for grid worlds, and the state's label
        otherwise.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, mdp: TabularMDP | str, render_mode: str | None = None):
        if isinstance(mdp, str):
            mdp = catalogue.make(mdp)
        if not isinstance(mdp, TabularMDP):
            raise TypeError(f"TabularMDPEnv needs a TabularMDP or a catalogue name, got "
                            f"{type(mdp).__name__}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of "
                             f"{self.metadata['render_modes']}, got {render_mode!r}")
        self.mdp = mdp
        self.render_mode = render_mode
        self.observation_space = spaces.Discrete(mdp.n_states)
        self.action_space = spaces.Discrete(mdp.n_actions)
        self.state: int | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        initial = self.mdp.initial_distribution
        self.state = int(self.np_random.choice(self.mdp.n_states, p=initial))
        return self.state, {"prob": float(initial[self.state])}

    def step(self, action) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if self.state is None:
            raise gymnasium.error.ResetNeeded("TabularMDPEnv.step called before reset()")
        if not self.action_space.contains(action):
            raise ValueError(
                f"TabularMDPEnv.step({action!r}): the action must be an integer in "
                f"range(0, {self.mdp.n_actions}) ({self.action_space}) for MDP "
                f"{self.mdp.name!r}"
            )
        action = int(action)
        next_states, probabilities, rewards = self.mdp.transition(self.state, action)
        chosen = int(self.np_random.choice(next_states.size, p=probabilities))
        next_state = int(next_states[chosen])
        terminated = bool(self.mdp.terminal_states[next_state])
        self.state = next_state
        return next_state, float(rewards[chosen]), terminated, False, \
            {"prob": float(probabilities[chosen])}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        if self.mdp.grid_shape is None:
            label = "-" if self.state is None else self.mdp.state_labels[self.state]
            return f"{self.mdp.name}: state {label}\n"
        rows, cols = self.mdp.grid_shape
        lines = []
        for row in range(rows):
            cells = []
            for col in range(cols):
                state = row * cols + col
                if state == self.state:
                    cells.append("x")
                elif self.mdp.terminal_states[state]:
                    cells.append("T")
                else:
                    cells.append(".")
            lines.append(" ".join(cells))
        return "\n".join(lines) + "\n"


def large_environment(kind: str, size: int = 10_000, seed: int = 0,
                      render_mode: str | None = None) -> TabularMDPEnv:
    """The entry point of ``rlspec/large-<kind>-v0``: ``TabularMDPEnv(make_large(...))``."""
    return TabularMDPEnv(large.make_large(kind, size, seed), render_mode=render_mode)


def register_environments() -> list[str]:
    """Register ``rlspec/<name>-v0`` for every catalogue name and ``rlspec/large-<kind>-v0``
    for every kind of large MDP; idempotent.

    An id that is already registered is left alone (so a second import neither warns nor
    fails).  Returns the ids.
    """
    ids = []
    for name in catalogue.names():
        identifier = env_id(name)
        if identifier not in gymnasium.envs.registry:
            gymnasium.register(
                id=identifier,
                entry_point=ENTRY_POINT,
                kwargs={"mdp": name},
                max_episode_steps=MAX_EPISODE_STEPS,
            )
        ids.append(identifier)
    for kind in large.LARGE_MDPS:
        identifier = env_id(f"large-{kind}")
        if identifier not in gymnasium.envs.registry:
            gymnasium.register(id=identifier, entry_point=large_environment,
                               kwargs={"kind": kind})
        ids.append(identifier)
    return ids
