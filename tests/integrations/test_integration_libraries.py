"""The integrations judge the installed libraries' real code, and what `rlspec audit` prints is
what these tests assert: every row's verdict is its expectation (a pass, a documented
divergence, or a known bug).  A test whose library is not installed is skipped."""

import numpy as np
import pytest
import torch

import rlspec
from rlspec.integrations import audit

EXAMPLES = 5


@pytest.mark.parametrize("library", ["sb3", "torchrl", "verl", "rlax", "trl"])
def test_audit_table_matches_the_expected_verdicts(library):
    pytest.importorskip({"sb3": "stable_baselines3", "rlax": "rlax"}.get(library, library))
    if library == "verl":
        pytest.importorskip("verl.trainer.ppo.core_algos")
    result = audit.audit(library, max_examples=EXAMPLES)
    assert result["rows"], "an integration with nothing to judge"
    for row in result["rows"]:
        assert row["passed"] == (row["expected"] == "pass"), (row["function"], row["check"],
                                                              row["counterexample"])
    assert result["conforms"] == (library != "torchrl")  # TorchRL's vec estimators: a known bug
    assert "documented divergence" in audit.format_table(result) or library == "torchrl"


def test_audit_of_an_absent_library_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(audit, "installed_version", lambda library: None)
    args = type("Args", (), {"library": "sb3", "json": False, "examples": 1})()
    assert audit.run(args) == audit.EXIT_NOT_INSTALLED
    assert "pip install 'rlspec[sb3]'" in capsys.readouterr().out


def test_torchrl_vec_estimators_fail_only_where_gamma_lambda_is_zero():
    """The known bug, reproduced: IndexError at gamma * lambda = 0; elsewhere the vectorised
    GAE passes the full check (so the bug is the only disagreement)."""
    pytest.importorskip("torchrl")
    from torchrl.objectives.value.functional import (generalized_advantage_estimate,
                                                     vec_generalized_advantage_estimate)
    from rlspec.integrations import torchrl as integration

    zeros, ones = torch.zeros(3, 1, dtype=torch.float64), torch.ones(3, 1, dtype=torch.float64)
    flags = torch.zeros(3, 1, dtype=torch.bool)
    with pytest.raises(IndexError):
        vec_generalized_advantage_estimate(0.9, 0.0, zeros, zeros, ones, flags, flags)
    vectorised = integration._advantages(vec_generalized_advantage_estimate)
    looped = integration._advantages(generalized_advantage_estimate)

    def vectorised_unless_degenerate(**arguments):
        degenerate = arguments["gamma"] * arguments["lam"] == 0
        return (looped if degenerate else vectorised)(**arguments)

    assert rlspec.check("gae", vectorised_unless_degenerate, max_examples=EXAMPLES).passed


def test_cleanrl_normalisation_returns_nan_for_a_minibatch_of_one():
    """The latent CleanRL bug, reproduced with its formula (mean-centre, divide by the torch
    sample std + 1e-8): NaN for one element; SB3's guard (leave it) passes the sb3 variant."""
    advantages = torch.tensor([2.5], dtype=torch.float64)
    assert torch.isnan((advantages - advantages.mean()) / (advantages.std() + 1e-8)).all()


def test_sb3_rollout_buffer_gae_takes_its_own_two_dimensional_layout():
    pytest.importorskip("stable_baselines3")
    from rlspec.integrations import sb3

    rewards = np.array([[1.0, 0.0], [1.0, 2.0], [1.0, 0.0]])
    starts = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    values = np.zeros((3, 2))
    got = sb3.buffer_gae(rewards, values, starts, np.array([0.0, 0.0]), np.array([0.0, 0.0]),
                         gamma=0.5, gae_lambda=1.0)
    # column 0: episode ends after step 1 -> A = [1 + 0.5, 1, 1]; column 1: ends after step 0
    assert np.allclose(got, [[1.5, 0.0], [1.0, 2.0], [1.0, 0.0]], atol=0, rtol=0)


def test_jax_bridge_gives_torch_the_jax_gradient():
    jax = pytest.importorskip("jax")
    from rlspec.integrations.rlax import from_jax

    candidate = from_jax(lambda x, y, scale: scale * jax.numpy.sum(jax.numpy.sin(x) * y),
                         ("x", "y"))
    x = torch.tensor([0.5, 1.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([2.0, -1.0], dtype=torch.float64, requires_grad=True)
    loss = candidate(x=x, y=y, scale=3.0)
    loss.backward()
    assert torch.allclose(loss, 3.0 * (torch.sin(x) * y).sum(), rtol=1e-15)
    assert torch.allclose(x.grad, 3.0 * torch.cos(x.detach()) * y.detach(), rtol=1e-15)
    assert torch.allclose(y.grad, 3.0 * torch.sin(x.detach()), rtol=1e-15)
