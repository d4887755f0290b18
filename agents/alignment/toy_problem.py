"""The enumerable problem the trainers are judged on: a reference model, a known reward, and
samplers of prompts and preference pairs.

Default: 2 prompts, vocabulary {EOS, 1, 2}, responses of at most 2 tokens, so 3 prefixes and
7 responses per prompt; the reference logits and the reward are drawn once from a fixed seed
(rewards in [-1, 1], reference logits in [-1, 1]).  Small enough that a CI run trains in
seconds; every expectation and every fixed point is a finite sum over 7 responses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlspec.agents.alignment.policy import TabularPolicy, table_rewards
from rlspec.toy_mdps.language_model import (
    LanguageModel, enumerate_prefixes, pad_responses, preference_pair_distribution,
    sample_preferences)

__all__ = ["ToyProblem", "make_toy_problem"]


@dataclass
class ToyProblem:
    reference: LanguageModel
    rewards: np.ndarray                 # r[x, i], the true reward

    @property
    def reward(self):
        """The known reward as a function of a padded batch (prompts, tokens, mask)."""
        return table_rewards(self.reference, self.rewards)

    def reward_from_table(self, table):
        """Another reward table [prompt, response] as a function of a padded batch."""
        return table_rewards(self.reference, np.asarray(table, dtype=np.float64))

    def prompts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(self.reference.n_prompts, size=n)

    def pair_weights(self) -> np.ndarray:
        """The population of preference data: w[x, i, j] (``preference_pair_distribution``)."""
        return preference_pair_distribution(self.reference, self.rewards)

    def preference_data(self, n: int, rng: np.random.Generator):
        """A fixed data set of n pairs ``(prompts, chosen, rejected)`` as response indices."""
        return sample_preferences(self.reference, self.rewards, n, rng)

    def as_batch(self, prompts, chosen, rejected):
        """Response indices to the padded batch the trainers take."""
        responses = self.reference.responses
        length = self.reference.max_length
        chosen_tokens, chosen_mask = pad_responses([responses[i] for i in chosen], length)
        rejected_tokens, rejected_mask = pad_responses([responses[i] for i in rejected], length)
        return prompts, chosen_tokens, chosen_mask, rejected_tokens, rejected_mask

    def online_pairs(self):
        """Fresh pairs from the population at every call: ``pairs(n, rng)`` for ``train_dpo``."""
        return lambda n, rng: self.as_batch(*self.preference_data(n, rng))

    def data_set_pairs(self, prompts, chosen, rejected):
        """Minibatches drawn with replacement from a fixed data set; the whole data set (full
        batch, deterministic) when n is at least its size."""
        def pairs(n, rng):
            batch = np.arange(len(prompts)) if n >= len(prompts) else rng.integers(len(prompts), size=n)
            return self.as_batch(prompts[batch], chosen[batch], rejected[batch])
        return pairs

    def reference_policy(self) -> TabularPolicy:
        """A frozen tabular copy of the reference, with the trainers' interface."""
        frozen = TabularPolicy(self.reference)
        frozen.requires_grad_(False)
        return frozen


def make_toy_problem(seed: int = 0, n_prompts: int = 2, vocabulary_size: int = 3,
                     max_length: int = 2, reward_scale: float = 1.0,
                     logit_scale: float = 1.0) -> ToyProblem:
    rng = np.random.default_rng(seed)
    n_prefixes = len(enumerate_prefixes(vocabulary_size, max_length))
    logits = rng.uniform(-logit_scale, logit_scale, size=(n_prompts, n_prefixes, vocabulary_size))
    reference = LanguageModel(logits, max_length, name="reference")
    rewards = rng.uniform(-reward_scale, reward_scale, size=(n_prompts, reference.n_responses))
    return ToyProblem(reference, rewards)
