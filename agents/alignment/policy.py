"""Trainable models over the enumerable language model: a tabular policy and a tabular critic.

The policy is the tabular softmax of ``rlspec.toy_mdps.language_model``:
``pi(v | x, prefix) = softmax(logits[x, prefix])[v]`` with ``logits`` a torch parameter.  Every
response distribution with full support is some such table, so any fixed point a trainer
aims at is reachable and the distance to it measures the trainer, not the model's capacity.

The trainers only use the small interface shared with the tiny transformer
(:mod:`rlspec.agents.alignment.transformer`):

* ``token_log_probs(prompts, tokens, mask) -> [N, L]`` torch tensor, 0 on padding;
* ``sample(prompts, rng) -> (tokens[N, L], mask[N, L])``, numpy, padded as in
  :func:`rlspec.toy_mdps.language_model.pad_responses`.

Example: a uniform two-token model samples responses whose log-probs are -log 2 per token.

>>> import numpy as np
>>> from rlspec.toy_mdps.language_model import LanguageModel
>>> policy = TabularPolicy(LanguageModel(np.zeros((1, 2, 2)), max_length=2))
>>> tokens, mask = policy.sample(np.array([0, 0]), np.random.default_rng(0))
>>> bool(((policy.token_log_probs([0, 0], tokens, mask).detach() + mask * np.log(2)).abs() < 1e-12).all())
True
"""

from __future__ import annotations

import numpy as np
import torch

from rlspec.toy_mdps.language_model import EOS, LanguageModel

__all__ = ["token_log_probs", "sequence_log_probs", "prefix_indices", "TabularPolicy", "TabularCritic",
           "child_prefix_table", "table_rewards"]


def token_log_probs(logits, tokens, mask) -> torch.Tensor:
    r"""``[N, L]`` per-token ``log pi(y_t | x, y_<t) = log_softmax(logits[n, t])[tokens[n, t]]``,
    0 on padding; float64, differentiable in ``logits``.

    ``logits[n, t]`` is the distribution ``tokens[n, t]`` was drawn from (already aligned:
    the model's shift is done by the caller).  Spec ``lm.sequence-log-prob``.
    """
    logits = torch.as_tensor(logits).to(torch.float64)
    tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
    mask = torch.as_tensor(np.asarray(mask), dtype=torch.float64)
    chosen = torch.gather(torch.log_softmax(logits, dim=-1), 2, tokens[..., None])[..., 0]
    return chosen * mask


def sequence_log_probs(logits, tokens, mask) -> torch.Tensor:
    r"""``[N]`` ``log pi(y | x) = sum_t mask[n, t] log pi(y_t | x, y_<t)``, EOS included
    (spec ``lm.sequence-log-prob``).  Example: uniform over 2 tokens, a response of 2 tokens
    then padding: 2 log(1/2).

    >>> round(float(sequence_log_probs(np.zeros((1, 3, 2)), [[1, 0, 0]], [[1, 1, 0]])[0]), 12)
    -1.38629436112
    """
    return token_log_probs(logits, tokens, mask).sum(dim=1)


def child_prefix_table(model: LanguageModel) -> np.ndarray:
    """``[n_prefixes, V]``: the index of ``prefix + (v,)`` among the prefixes, or -1 where the
    response ends there (v = EOS, or the prefix already has L - 1 tokens)."""
    table = np.full((model.n_prefixes, model.vocabulary_size), -1, dtype=np.int64)
    for p, prefix in enumerate(model.prefixes):
        if len(prefix) < model.max_length - 1:
            for v in range(1, model.vocabulary_size):
                table[p, v] = model.prefix_index(prefix + (v,))
    return table


def prefix_indices(children: np.ndarray, tokens, mask) -> np.ndarray:
    """``[N, L]`` index of the prefix each token was generated after (0 on padding), walking
    the :func:`child_prefix_table` along the batch: a vectorised form of
    ``LanguageModel.prefix_indices`` for batches the trainers built themselves."""
    tokens, mask = np.asarray(tokens, dtype=np.int64), np.asarray(mask)
    indices = np.zeros(tokens.shape, dtype=np.int64)
    for t in range(1, tokens.shape[1]):
        indices[:, t] = np.maximum(children[indices[:, t - 1], tokens[:, t - 1]], 0)
    return np.where(mask > 0, indices, 0)


class TabularPolicy(torch.nn.Module):
    """A table of logits ``[n_prompts, n_prefixes, V]`` over ``shape_of``'s prompts and prefixes,
    initialised to ``shape_of``'s own logits (a policy starts at its reference, as in RLHF)."""

    def __init__(self, shape_of: LanguageModel):
        super().__init__()
        self.shape_of = shape_of
        self.logits = torch.nn.Parameter(torch.tensor(shape_of.logits, dtype=torch.float64))
        self._children = child_prefix_table(shape_of)

    def language_model(self, name: str = "policy") -> LanguageModel:
        """The current table as a frozen :class:`LanguageModel`, for exact evaluation."""
        return self.shape_of.with_logits(self.logits.detach().numpy().copy(), name=name)

    def token_log_probs(self, prompts, tokens, mask) -> torch.Tensor:
        indices = torch.as_tensor(prefix_indices(self._children, tokens, mask))
        prompts = torch.as_tensor(np.asarray(prompts, dtype=np.int64))
        return token_log_probs(self.logits[prompts[:, None], indices], tokens, mask)

    def sample(self, prompts, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One response per prompt, all drawn together token by token (inverse CDF)."""
        prompts = np.asarray(prompts, dtype=np.int64)
        with torch.no_grad():
            table = torch.softmax(self.logits, dim=-1).numpy()
        n, length = len(prompts), self.shape_of.max_length
        tokens = np.full((n, length), EOS, dtype=np.int64)
        mask = np.zeros((n, length))
        prefix = np.zeros(n, dtype=np.int64)
        alive = np.ones(n, dtype=bool)
        for t in range(length):
            cumulative = table[prompts, prefix].cumsum(axis=1)
            drawn = (rng.random(n)[:, None] > cumulative).sum(axis=1)
            drawn = np.minimum(drawn, self.shape_of.vocabulary_size - 1)  # cumsum rounding
            tokens[alive, t] = drawn[alive]
            mask[alive, t] = 1.0
            alive &= drawn != EOS
            prefix = np.where(alive, self._children[prefix, drawn], 0)
            alive &= prefix >= 0
            if not alive.any():
                break
        return tokens, mask


class TabularCritic(torch.nn.Module):
    """``V[x, prefix]``: the value of the state before each response token, 0 at the start."""

    def __init__(self, shape_of: LanguageModel):
        super().__init__()
        self.shape_of = shape_of
        self.values = torch.nn.Parameter(torch.zeros(shape_of.logits.shape[:2], dtype=torch.float64))
        self._children = child_prefix_table(shape_of)

    def forward(self, prompts, tokens, mask) -> torch.Tensor:
        """``[N, L]`` values of the states the tokens were generated from, 0 on padding."""
        indices = torch.as_tensor(prefix_indices(self._children, tokens, mask))
        prompts = torch.as_tensor(np.asarray(prompts, dtype=np.int64))
        return self.values[prompts[:, None], indices] * torch.as_tensor(mask)


def table_rewards(shape_of: LanguageModel, rewards: np.ndarray):
    """The known reward ``r(x, y) = rewards[x, index of y]`` as a function of a padded batch."""

    def reward(prompts, tokens, mask) -> np.ndarray:
        lengths = np.asarray(mask).sum(axis=1).astype(int)
        return np.array([rewards[x, shape_of.response_index(tokens[n, :lengths[n]])]
                         for n, x in enumerate(prompts)])

    return reward
