r"""A tiny transformer language model on a verifiable digit task, fine-tuned with GRPO and DPO.

Task (``SortTask``): the prompt is ``digits`` digits from 1..n_digits; the correct response is
the same digits sorted ascending, then EOS.  Reward: the fraction of the ``digits + 1``
target positions the response gets right (partial credit, so a group's rewards differ);
accuracy: the response equals the target exactly.  Everything is built and trained here:
no download, no pre-trained weights.

Model (``TinyTransformer``): token + position embeddings, ``layers`` pre-norm causal
self-attention blocks (``torch.nn.TransformerEncoderLayer`` with a causal mask), a linear
head.  Input row: ``prompt, SEP, response[:-1]``; the logits at position ``P + t`` give the
distribution of response token t, so the one-step shift is done here and
``policy.token_log_probs`` (spec ``lm.sequence-log-prob``) receives aligned logits.

``run_demo`` pre-trains by supervised cross-entropy on correct answers for a few steps (the
policy is then partly right, so there is something to learn), freezes a copy as pi_ref, and
fine-tunes copies with GRPO and with DPO (pairs drawn from pi_ref, labelled by the reward),
with live validation on; it returns the reward curves.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from rlspec.agents.alignment.dpo import DPOConfig, train_dpo
from rlspec.agents.alignment.grpo import GRPOConfig, train_grpo
from rlspec.agents.alignment.policy import token_log_probs
from rlspec.toy_mdps.language_model import EOS

__all__ = ["SortTask", "TinyTransformer", "pretrain", "frozen_copy", "preference_pairs",
           "held_out_evaluation", "run_demo"]


@dataclass
class SortTask:
    n_digits: int = 4      # digits 1..n_digits
    digits: int = 3        # prompt length P

    @property
    def separator(self) -> int:
        return self.n_digits + 1

    @property
    def vocabulary_size(self) -> int:
        return self.n_digits + 2          # EOS, digits, SEP

    @property
    def max_length(self) -> int:
        return self.digits + 1            # sorted digits + EOS

    def prompts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(1, self.n_digits + 1, size=(n, self.digits))

    def targets(self, prompts) -> np.ndarray:
        prompts = np.asarray(prompts)
        return np.concatenate([np.sort(prompts, axis=1), np.full((len(prompts), 1), EOS)], axis=1)

    def reward(self, prompts, tokens, mask) -> np.ndarray:
        """Fraction of target positions right (padding counts as EOS, which is never right
        before the end, so stopping early loses the remaining positions)."""
        return (np.asarray(tokens) == self.targets(prompts)).mean(axis=1)

    def accuracy(self, prompts, tokens, mask) -> np.ndarray:
        return np.all(np.asarray(tokens) == self.targets(prompts), axis=1).astype(np.float64)


class TinyTransformer(torch.nn.Module):
    def __init__(self, task: SortTask, width: int = 48, heads: int = 4, layers: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.task = task
        length = task.digits + 1 + task.max_length
        self.token_embedding = torch.nn.Embedding(task.vocabulary_size, width)
        self.position_embedding = torch.nn.Embedding(length, width)
        block = torch.nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                                 batch_first=True, norm_first=True)
        self.blocks = torch.nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.head = torch.nn.Linear(width, task.vocabulary_size)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """[N, S] token rows -> [N, S, V] logits, causal."""
        positions = torch.arange(rows.shape[1])
        hidden = self.token_embedding(rows) + self.position_embedding(positions)
        causal = torch.nn.Transformer.generate_square_subsequent_mask(rows.shape[1])
        return self.head(self.blocks(hidden, mask=causal, is_causal=True))

    def _rows(self, prompts, tokens) -> torch.Tensor:
        prompts = torch.as_tensor(np.asarray(prompts), dtype=torch.int64)
        tokens = torch.as_tensor(np.asarray(tokens), dtype=torch.int64)
        separator = torch.full((len(prompts), 1), self.task.separator, dtype=torch.int64)
        return torch.cat([prompts, separator, tokens[:, :-1]], dim=1)

    def response_logits(self, prompts, tokens) -> torch.Tensor:
        """[N, L, V]: the logits each response token was drawn from (aligned)."""
        return self(self._rows(prompts, tokens))[:, self.task.digits:]

    def token_log_probs(self, prompts, tokens, mask) -> torch.Tensor:
        return token_log_probs(self.response_logits(prompts, tokens), tokens, mask)

    @torch.no_grad()
    def sample(self, prompts, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n, length = len(prompts), self.task.max_length
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
        tokens = torch.zeros((n, length), dtype=torch.int64)
        for t in range(length):
            logits = self.response_logits(prompts, tokens)[:, t]
            tokens[:, t] = torch.multinomial(torch.softmax(logits.double(), -1), 1, generator=generator)[:, 0]
        tokens = tokens.numpy()
        mask = np.zeros((n, length))
        for i in range(n):
            ends = np.flatnonzero(tokens[i] == EOS)
            stop = ends[0] + 1 if len(ends) else length
            mask[i, :stop] = 1.0
            tokens[i, stop:] = EOS
        return tokens, mask


def pretrain(model: TinyTransformer, steps: int, batch_size: int = 64, learning_rate: float = 3e-3,
             seed: int = 0) -> None:
    """Supervised cross-entropy on correct (prompt, sorted answer) pairs."""
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    for _ in range(steps):
        prompts = model.task.prompts(batch_size, rng)
        targets = model.task.targets(prompts)
        loss = -model.token_log_probs(prompts, targets, np.ones(targets.shape)).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def frozen_copy(model: TinyTransformer) -> TinyTransformer:
    """pi_ref: a copy of ``model`` whose parameters no longer train."""
    return copy.deepcopy(model).requires_grad_(False)


def preference_pairs(task: SortTask, reference: TinyTransformer):
    """``pairs(n, rng)`` for ``train_dpo``: two responses from pi_ref per prompt, the one with
    the higher reward chosen (ties re-drawn once, then broken at random)."""
    def pairs(n, rng):
        prompts = task.prompts(n, rng)
        first, first_mask = reference.sample(prompts, rng)
        second, second_mask = reference.sample(prompts, rng)
        first_wins = task.reward(prompts, first, first_mask) - task.reward(prompts, second, second_mask)
        first_wins = np.where(first_wins == 0, rng.random(n) < 0.5, first_wins > 0)[:, None]
        chosen = np.where(first_wins, first, second)
        chosen_mask = np.where(first_wins, first_mask, second_mask)
        rejected = np.where(first_wins, second, first)
        rejected_mask = np.where(first_wins, second_mask, first_mask)
        return prompts, chosen, chosen_mask, rejected, rejected_mask
    return pairs


def held_out_evaluation(task: SortTask, n: int = 256, seed: int = 12345):
    prompts = task.prompts(n, np.random.default_rng(seed))

    def evaluate(policy) -> dict:
        tokens, mask = policy.sample(prompts, np.random.default_rng(seed))
        return {"reward": float(task.reward(prompts, tokens, mask).mean()),
                "accuracy": float(task.accuracy(prompts, tokens, mask).mean())}
    return evaluate


def run_demo(pretrain_steps: int = 10, grpo_iterations: int = 60, dpo_steps: int = 60,
             validate_every: int = 10, seed: int = 0, metrics=None, show_progress: bool = False) -> dict:
    """Pre-train, then fine-tune with GRPO and with DPO; returns the curves and timings."""
    task = SortTask()
    evaluate = held_out_evaluation(task)
    base = TinyTransformer(task, seed=seed)
    pretrain(base, pretrain_steps, seed=seed)
    reference = frozen_copy(base)
    results = {"pretrained": evaluate(base)}
    start = time.time()
    grpo_policy = copy.deepcopy(base)
    results["grpo"] = train_grpo(
        grpo_policy, reference, task.reward, task.prompts,
        GRPOConfig(beta=0.04, group_size=8, groups=16, iterations=grpo_iterations, epochs=2,
                   learning_rate=1e-3, eval_every=10, validate_every=validate_every, seed=seed),
        task.max_length, evaluate=evaluate, metrics=metrics, show_progress=show_progress)
    results["grpo_seconds"] = time.time() - start
    start = time.time()
    dpo_policy = copy.deepcopy(base)
    results["dpo"] = train_dpo(
        dpo_policy, reference, preference_pairs(task, reference),
        DPOConfig(beta=0.1, steps=dpo_steps, batch_size=64, learning_rate=1e-3, eval_every=10,
                  validate_every=validate_every, seed=seed),
        evaluate=evaluate, metrics=metrics, show_progress=show_progress)
    results["dpo_seconds"] = time.time() - start
    return results
