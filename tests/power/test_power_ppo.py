"""PPO's losses treat the rollout's data as constants: a tensor that requires grad passed as
old log-probs, old logits, advantages, old values or returns receives no gradient."""

import pytest
import torch
from rlspec.reference import ppo


def _requiring_grad(values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("loss, arguments, frozen", [
    (ppo.clipped_surrogate_loss,
     {"log_prob": [0.1, -0.2], "old_log_prob": [0.0, 0.0], "advantages": [1.0, -1.0],
      "clip_epsilon": 0.2}, ("old_log_prob", "advantages")),
    (ppo.kl_penalty_loss,
     {"logits": [[0.0, 1.0]], "old_logits": [[0.5, 0.0]], "actions": torch.tensor([1]),
      "advantages": [2.0], "beta": 0.5}, ("old_logits", "advantages")),
    (ppo.clipped_value_loss,
     {"values": [2.0, 1.05], "old_values": [1.0, 1.0], "returns": [3.0, 0.0],
      "clip_epsilon": 0.2}, ("old_values", "returns")),
])
def test_power_ppo_losses_send_no_gradient_into_rollout_data(loss, arguments, frozen):
    tensors = {name: _requiring_grad(value) if isinstance(value, list) else value
               for name, value in arguments.items()}
    loss(**tensors).backward()
    trained = [name for name, value in tensors.items()
               if isinstance(value, torch.Tensor) and value.requires_grad and name not in frozen]
    assert all(tensors[name].grad is not None for name in trained)
    leaked = [name for name in frozen if tensors[name].grad is not None]
    assert leaked == [], f"gradient reached {leaked}"
