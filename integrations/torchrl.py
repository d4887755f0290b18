"""TorchRL: the functional GAE and TD(lambda) estimators of ``torchrl.objectives.value.functional``.

TorchRL's estimators take ``next_state_value`` for every step, ``done`` (terminated or
truncated: the carry is cut) and ``terminated`` (no bootstrap) separately, so they can express
truncation and are judged on the full ``gae`` and ``gae-returns`` checks.  Time is the
second-to-last axis: the case's 1-D arrays go in as (T, 1) float64 tensors.

The vectorised versions raise IndexError whenever gamma * lambda = 0 (a known bug:
docs/integrations.md has the reproduction).
"""

from __future__ import annotations

import torch
from rlspec.integrations import Conformance


def _columns(rewards, values, next_values, terminated, truncated):
    def column(array, dtype=torch.float64):
        return torch.as_tensor(array).to(dtype).reshape(-1, 1)
    terminated_column = column(terminated, torch.bool)
    return (column(rewards), column(values), column(next_values),
            terminated_column | column(truncated, torch.bool), terminated_column)


def _advantages(estimator):
    def candidate(rewards, values, next_values, terminated, truncated, gamma, lam):
        reward, value, next_value, done, terminal = _columns(rewards, values, next_values,
                                                             terminated, truncated)
        advantage, _ = estimator(float(gamma), float(lam), value, next_value, reward, done,
                                 terminal)
        return advantage.reshape(-1)
    candidate.__name__ = candidate.__qualname__ = estimator.__name__
    return candidate


def _lambda_returns(estimator):
    def candidate(rewards, values, next_values, terminated, truncated, gamma, lam):
        reward, _, next_value, done, terminal = _columns(rewards, values, next_values,
                                                         terminated, truncated)
        return estimator(float(gamma), float(lam), next_value, reward, done, terminal).reshape(-1)
    candidate.__name__ = candidate.__qualname__ = estimator.__name__
    return candidate


def conformance() -> list[Conformance]:
    from torchrl.objectives.value import functional

    bug = ("IndexError whenever gamma * lambda = 0: the geometric-series helper returns early "
           "for a ratio of 0 with a tensor the following code cannot index (docs/integrations.md)")
    return [
        Conformance("generalized_advantage_estimate", "gae",
                    _advantages(functional.generalized_advantage_estimate)),
        Conformance("vec_generalized_advantage_estimate", "gae",
                    _advantages(functional.vec_generalized_advantage_estimate), "bug", bug),
        Conformance("td_lambda_return_estimate", "gae-returns",
                    _lambda_returns(functional.td_lambda_return_estimate)),
        Conformance("vec_td_lambda_return_estimate", "gae-returns",
                    _lambda_returns(functional.vec_td_lambda_return_estimate), "bug", bug),
    ]
