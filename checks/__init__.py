"""The check API: batteries of cases that judge a user's function against an exact oracle.

``rlspec.check(name, candidate)`` is the entry point; ``rlspec list oracles`` names the
batteries and their canonical signatures; ``rlspec.checks.adapters`` maps other conventions.
"""
