"""Toy MDPs with known exact solutions, as validated tables and as gymnasium environments.

``make(name)`` builds a catalogue MDP, ``names()`` lists them; importing this package
registers each as the gymnasium id ``rlspec/<name>-v0`` (see ``gym_envs``).
"""

from rlspec.toy_mdps.catalogue import describe, make, names
from rlspec.toy_mdps.gym_envs import TabularMDPEnv, register_environments
from rlspec.toy_mdps.mdp import InvalidMDPError, TabularMDP

register_environments()

__all__ = ["InvalidMDPError", "TabularMDP", "TabularMDPEnv", "describe", "make", "names"]
