"""CleanRL's conventions.  CleanRL is a set of single-file scripts, not a package: its GAE and
its advantage normalisation are written inline in ``ppo.py``'s training loop, so there is no
installed code to call, and nothing here copies its lines.  What rlspec offers a CleanRL user
is the conventions, to check their own copy of the loop once it is a function:

- GAE: ``rlspec check gae-no-truncation --adapter gae-cleanrl mymodule:my_gae`` for a function
  ``(rewards, values, dones, next_value, next_done, gamma, gae_lambda)`` on (num_steps,
  num_envs) tensors, ``dones[t]`` = observation t starts an episode.  ``ppo.py`` passes
  ``terminated or truncated`` as done, so a truncated step is not bootstrapped: the full
  ``gae`` check rejects it, by design (vwxyzjn/cleanrl#198).
- Advantage normalisation: ``(A - mean) / (std + 1e-8)`` on every minibatch, with no guard for
  a minibatch of one, where torch's sample std is NaN and so is every advantage (a latent bug
  at the default sizes; docs/integrations.md).  Judge a copy with
  ``rlspec check advantage-normalization`` (which wants 0 there) or ``@sb3`` (which wants the
  advantage left as it is).
"""

from __future__ import annotations

from rlspec.integrations import Conformance

#: (what, how rlspec judges it, the convention or the bug)
CONVENTIONS = [
    ("ppo.py GAE loop", "gae-no-truncation with --adapter gae-cleanrl",
     "dones mark episode starts; truncation is treated as termination"),
    ("ppo.py GAE loop", "gae (full)",
     "fails by design: no V(final observation) for a truncated step"),
    ("ppo.py advantage normalisation", "advantage-normalization",
     "known bug: NaN for a minibatch of one (torch std with N - 1 = 0)"),
]


def conformance() -> list[Conformance]:
    """Nothing to call: CleanRL installs no code (see :data:`CONVENTIONS`)."""
    return []
