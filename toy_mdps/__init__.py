"""Toy MDPs with known exact solutions, as validated tables and as gymnasium environments."""

from rlspec.toy_mdps.mdp import InvalidMDPError, TabularMDP

__all__ = ["InvalidMDPError", "TabularMDP"]
