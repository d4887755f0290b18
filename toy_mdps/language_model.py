"""An enumerable language model: every expectation over responses is an exact finite sum.

A tiny autoregressive policy, small enough that all of its responses can be listed, so that
RLHF quantities (expected reward, KL between two models, the DPO population loss, the
optimal KL-regularised policy) can be computed by summing over every response instead of
sampling.  It is a test fixture, like :class:`~rlspec.toy_mdps.mdp.TabularMDP`: neither a
reference implementation nor an oracle.

Model
-----
* **Tokens** are ``0 .. vocabulary_size - 1``; token ``EOS = 0`` ends a response.  The
  other tokens are ordinary ("content") tokens.
* **Prompts** are ``0 .. n_prompts - 1`` (just indices: the prompt's text never matters).
* **Responses** have at most ``max_length`` (L) tokens.  A response is a tuple of tokens,
  either ``(c_1, ..., c_k, EOS)`` with ``k < L`` content tokens (the EOS is part of the
  response and counts in its length and its probability), or ``(c_1, ..., c_L)``, cut at the
  maximum length without an EOS (a *truncated* response).  :meth:`LanguageModel.responses`
  lists them in a fixed order: by length, then lexicographically.
* **Prefixes** (the "states" of token-level RL) are the tuples of content tokens of length
  0 .. L - 1 after which the model still generates; :meth:`LanguageModel.prefixes` lists
  them in the same order, so ``prefixes[0] == ()``.
* **Parameters**: one row of logits per (prompt, prefix): ``logits[x, p, v]``, so
  ``pi(v | x, prefix_p) = softmax(logits[x, p])[v]``.  This is the tabular softmax policy of
  the MDP chapter with state = (prompt, prefix) and action = next token.  Because every
  prefix has its own row, *every* distribution over responses with full support is some
  model (chain rule): :meth:`LanguageModel.from_response_probabilities` builds it.
* **Probability of a response** is the product of its token probabilities:
  ``log pi(y | x) = sum_t log pi(y_t | x, y_<t)``, stopping at EOS or after L tokens.
  Summed over :meth:`responses` these probabilities add up to 1.

Counting: with ``m = vocabulary_size - 1`` content tokens there are ``m^0 + ... + m^(L-1)``
prefixes and as many EOS-terminated responses, plus ``m^L`` truncated ones.  The default
sizes of the strategies (vocabulary 2 or 3, L <= 3) give at most 7 prefixes and 15 responses.

Batches and padding
-------------------
Training code holds a batch of responses as a padded ``tokens[N, L]`` integer array and a
``mask[N, L]`` float array: ``mask[n, t] = 1`` on the response's own tokens, *including its
EOS*, and 0 on the padding after it.  Padding uses ``PAD = EOS`` (as many tokenizers do),
so ``tokens != EOS`` is **not** a valid mask: it would drop each response's EOS token and its
log-probability.  :func:`pad_responses` builds the pair, :meth:`LanguageModel.token_log_probs`
gives per-token log-probabilities ``[N, L]`` (0 on padding) and
:meth:`LanguageModel.sequence_log_probs` their masked sum ``[N]``.  For autograd, pass a
torch tensor of logits to :func:`torch_token_log_probs`.

Token-level view (for RLHF-PPO and GRPO)
----------------------------------------
The model is a finite-horizon MDP: the state is (prompt, prefix), the action the next token,
the episode ends at EOS or after L tokens.  ``token_probability_table()[x, p, v]`` is
``pi(v | x, prefixes[p])``; ``prefix_indices(tokens, mask)`` maps a padded batch to the state
of every token; ``response_probabilities()`` and ``response_log_probs()`` give the
sequence-level distribution, and ``rlspec.oracles.dpo`` sums over it exactly (the
KL between two models by enumeration and by the chain rule, the KL-regularised optimum).
``sample(prompt, rng)`` draws a response token by token.

Rewards and preferences
-----------------------
A reward is a table ``rewards[x, i] = r(x, y_i)`` over prompts and the responses in
:meth:`responses` order.  Preferences follow the Bradley-Terry model
``P(y_i > y_j | x) = sigmoid(r(x, y_i) - r(x, y_j))`` (Bradley & Terry 1952; seed 003,
4.2.2).  The data-generating process of DPO (Rafailov et al. 2023, Sec. 4 and 5) is:
``x ~ prompt_distribution`` (uniform by default), ``y_1, y_2 ~ pi_ref(. | x)``
independently, then the label by Bradley-Terry.  :func:`preference_pair_distribution` gives
the exact probability of each observed triple ``(x, y_w = y_i, y_l = y_j)``; pairs with
``i == j`` can occur (both samples equal) and are kept: such a datum has weight
``rho(x) pi_ref(y_i | x)^2`` and contributes a constant (no gradient) to a pairwise loss.  :func:`sample_preferences` draws a finite data set from the same process.

Example
-------
One prompt, tokens {EOS, a}, L = 2, all logits 0 (each step is a fair coin):

>>> model = LanguageModel(np.zeros((1, 2, 2)), max_length=2)
>>> model.prefixes
((), (1,))
>>> model.responses
((0,), (1, 0), (1, 1))
>>> model.response_probabilities()[0].tolist()              # 1/2, 1/4, 1/4
[0.5, 0.25, 0.25]
>>> tokens, mask = pad_responses([(0,), (1, 1)], max_length=2)
>>> tokens.tolist(), mask.tolist()
([[0, 0], [1, 1]], [[1.0, 0.0], [1.0, 1.0]])
>>> np.exp(model.sequence_log_probs([0, 0], tokens, mask)).tolist()
[0.5, 0.25]

A table of the wrong size is refused with the size it should have:

>>> LanguageModel(np.zeros((1, 3, 2)), max_length=2)
Traceback (most recent call last):
...
rlspec.toy_mdps.language_model.InvalidLanguageModelError: logits must have shape (n_prompts, 2, 2) for a vocabulary of 2 tokens and max_length 2 (2 prefixes), got (1, 3, 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rlspec import validation
from rlspec.validation import InvalidInputError

__all__ = [
    "EOS", "PAD", "InvalidLanguageModelError", "LanguageModel", "enumerate_prefixes",
    "enumerate_responses", "pad_responses", "torch_token_log_probs", "sigmoid",
    "preference_probabilities", "preference_pair_distribution", "sample_preferences",
    "uniform_prompts", "language_models", "language_model_pairs", "reward_tables",
]

#: The end-of-sequence token.  It is part of the response it ends.
EOS = 0
#: The padding token in a batch; equal to EOS, so only the mask tells padding apart.
PAD = EOS


class InvalidLanguageModelError(InvalidInputError):
    """The tables or batches given do not describe a valid enumerable language model."""


# ------------------------------------------------------------------ enumeration

def _check_sizes(vocabulary_size, max_length) -> tuple[int, int]:
    if int(vocabulary_size) != vocabulary_size or vocabulary_size < 2:
        raise InvalidLanguageModelError(
            f"vocabulary_size must be an integer >= 2 (EOS and at least one content token), "
            f"got {vocabulary_size!r}")
    if int(max_length) != max_length or max_length < 1:
        raise InvalidLanguageModelError(
            f"max_length must be an integer >= 1, got {max_length!r}")
    return int(vocabulary_size), int(max_length)


def enumerate_prefixes(vocabulary_size: int, max_length: int) -> tuple[tuple[int, ...], ...]:
    """Every tuple of content tokens (1 .. vocabulary_size - 1) of length 0 .. max_length - 1,
    by length, then lexicographically.  These are the points at which the model generates.

    >>> enumerate_prefixes(3, 2)
    ((), (1,), (2,))
    """
    vocabulary_size, max_length = _check_sizes(vocabulary_size, max_length)
    content = range(1, vocabulary_size)
    found: list[tuple[int, ...]] = [()]
    layer: list[tuple[int, ...]] = [()]
    for _ in range(max_length - 1):
        layer = [prefix + (token,) for prefix in layer for token in content]
        found.extend(layer)
    return tuple(found)


def enumerate_responses(vocabulary_size: int, max_length: int) -> tuple[tuple[int, ...], ...]:
    """Every complete response, by length, then lexicographically: each prefix followed by
    EOS, and each content-only tuple of length max_length (truncated, no EOS).

    >>> enumerate_responses(2, 2)
    ((0,), (1, 0), (1, 1))
    """
    vocabulary_size, max_length = _check_sizes(vocabulary_size, max_length)
    prefixes = enumerate_prefixes(vocabulary_size, max_length)
    ended = [prefix + (EOS,) for prefix in prefixes]
    longest = [prefix for prefix in prefixes if len(prefix) == max_length - 1]
    truncated = [prefix + (token,) for prefix in longest for token in range(1, vocabulary_size)]
    return tuple(sorted(ended + truncated, key=lambda response: (len(response), response)))


# ------------------------------------------------------------------ the model

class LanguageModel:
    """A tabular autoregressive policy ``pi(v | x, prefix) = softmax(logits[x, prefix])[v]``.

    Parameters
    ----------
    logits:
        ``[n_prompts, n_prefixes, vocabulary_size]`` float array; the prefix axis follows
        :func:`enumerate_prefixes`.  Read-only after construction.
    max_length:
        L, the most tokens a response may have (EOS included).
    name:
        Shown in error messages and ``repr``.
    """

    def __init__(self, logits, max_length: int, name: str = ""):
        try:
            table = validation.as_float_array(logits, "logits[prompt, prefix, token]", ndim=3)
        except InvalidInputError as error:
            raise InvalidLanguageModelError(str(error)) from None
        vocabulary_size, max_length = _check_sizes(table.shape[2], max_length)
        prefixes = enumerate_prefixes(vocabulary_size, max_length)
        if table.shape[0] < 1 or table.shape[1] != len(prefixes):
            raise InvalidLanguageModelError(
                f"logits must have shape (n_prompts, {len(prefixes)}, {vocabulary_size}) for a "
                f"vocabulary of {vocabulary_size} tokens and max_length {max_length} "
                f"({len(prefixes)} prefixes), got {table.shape}")
        self.logits = np.array(table)
        self.logits.setflags(write=False)
        self.max_length = max_length
        self.vocabulary_size = vocabulary_size
        self.n_prompts = table.shape[0]
        self.name = name
        self.prefixes = prefixes
        self.responses = enumerate_responses(vocabulary_size, max_length)
        self._prefix_index = {prefix: i for i, prefix in enumerate(prefixes)}
        self._response_index = {response: i for i, response in enumerate(self.responses)}

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return (f"LanguageModel{label}(n_prompts={self.n_prompts}, vocabulary_size="
                f"{self.vocabulary_size}, max_length={self.max_length})")

    @property
    def n_prefixes(self) -> int:
        return len(self.prefixes)

    @property
    def n_responses(self) -> int:
        return len(self.responses)

    def with_logits(self, logits, name: str = "") -> LanguageModel:
        """A model of the same shape with other logits (e.g. a policy beside its reference)."""
        return LanguageModel(logits, self.max_length, name=name)

    # -------------------------------------------------------------- indexing

    def prefix_index(self, prefix: Sequence[int]) -> int:
        try:
            return self._prefix_index[tuple(int(t) for t in prefix)]
        except KeyError:
            raise InvalidLanguageModelError(
                f"{tuple(prefix)} is not a prefix: prefixes are content tokens "
                f"1..{self.vocabulary_size - 1}, fewer than {self.max_length}") from None

    def response_index(self, response: Sequence[int]) -> int:
        try:
            return self._response_index[tuple(int(t) for t in response)]
        except KeyError:
            raise InvalidLanguageModelError(
                f"{tuple(response)} is not a complete response: it must end with EOS = {EOS} "
                f"after fewer than {self.max_length} content tokens, or hold exactly "
                f"{self.max_length} content tokens") from None

    def _check_prompt(self, prompt) -> int:
        if int(prompt) != prompt or not 0 <= prompt < self.n_prompts:
            raise InvalidLanguageModelError(
                f"prompt must be an integer in [0, {self.n_prompts}), got {prompt!r}")
        return int(prompt)

    # -------------------------------------------------------------- probabilities

    def next_token_log_probabilities(self, prompt: int, prefix: Sequence[int]) -> np.ndarray:
        """``log pi(. | x, prefix)``, a [vocabulary_size] log-softmax (max subtracted first)."""
        row = self.logits[self._check_prompt(prompt), self.prefix_index(prefix)]
        shifted = row - row.max()
        return shifted - math.log(float(np.exp(shifted).sum()))

    def next_token_probabilities(self, prompt: int, prefix: Sequence[int]) -> np.ndarray:
        """``pi(. | x, prefix)``, a [vocabulary_size] probability vector."""
        return np.exp(self.next_token_log_probabilities(prompt, prefix))

    def token_probability_table(self) -> np.ndarray:
        """``pi[x, p, v]``: every next-token distribution, shape [n_prompts, n_prefixes, V]."""
        shifted = np.exp(self.logits - self.logits.max(axis=2, keepdims=True))
        return shifted / shifted.sum(axis=2, keepdims=True)

    def response_token_log_probs(self, prompt: int, response: Sequence[int]) -> np.ndarray:
        """``[log pi(y_t | x, y_<t) for t]`` for one complete response."""
        response = self.responses[self.response_index(response)]
        return np.array([self.next_token_log_probabilities(prompt, response[:t])[token]
                         for t, token in enumerate(response)])

    def log_prob(self, prompt: int, response: Sequence[int]) -> float:
        """``log pi(y | x) = sum_t log pi(y_t | x, y_<t)``."""
        return math.fsum(self.response_token_log_probs(prompt, response))

    @cached_property
    def _response_log_probs(self) -> np.ndarray:
        table = np.array([[self.log_prob(x, y) for y in self.responses]
                          for x in range(self.n_prompts)])
        table.setflags(write=False)
        return table

    def response_log_probs(self) -> np.ndarray:
        """``log pi(y_i | x)`` for every prompt and response: [n_prompts, n_responses]."""
        return np.array(self._response_log_probs)

    def response_probabilities(self) -> np.ndarray:
        """``pi(y_i | x)``: [n_prompts, n_responses]; each row sums to 1."""
        return np.exp(self._response_log_probs)

    # -------------------------------------------------------------- batches

    def prefix_indices(self, tokens, mask) -> np.ndarray:
        """``[N, L]`` index of the prefix each token was generated after (0 on padding).

        With it, per-token log-probs are ``log_softmax(logits[prompt, prefix_index])[token]``
        (:func:`torch_token_log_probs` does this with autograd).
        """
        tokens, mask = self._check_batch(tokens, mask)
        indices = np.zeros(tokens.shape, dtype=np.int64)
        for n in range(tokens.shape[0]):
            length = int(mask[n].sum())
            for t in range(length):
                indices[n, t] = self.prefix_index(tokens[n, :t])
        return indices

    def token_log_probs(self, prompts, tokens, mask) -> np.ndarray:
        """``[N, L]`` per-token ``log pi(y_t | x, y_<t)`` of a padded batch, 0 on padding."""
        prompts = self._check_prompts(prompts, len(np.asarray(tokens)))
        tokens, mask = self._check_batch(tokens, mask)
        out = np.zeros(tokens.shape)
        for n in range(tokens.shape[0]):
            length = int(mask[n].sum())
            out[n, :length] = self.response_token_log_probs(prompts[n], tokens[n, :length])
        return out

    def sequence_log_probs(self, prompts, tokens, mask) -> np.ndarray:
        """``[N]`` masked sums of :meth:`token_log_probs`: ``log pi(y_n | x_n)``."""
        return (self.token_log_probs(prompts, tokens, mask) * mask).sum(axis=1)

    def _check_prompts(self, prompts, size: int) -> np.ndarray:
        prompts = np.asarray(prompts)
        if prompts.shape != (size,):
            raise InvalidLanguageModelError(
                f"prompts must have shape ({size},), one per response, got {prompts.shape}")
        for prompt in prompts:
            self._check_prompt(prompt)
        return prompts.astype(np.int64)

    def _check_batch(self, tokens, mask) -> tuple[np.ndarray, np.ndarray]:
        tokens, mask = np.asarray(tokens), np.asarray(mask, dtype=np.float64)
        if tokens.ndim != 2 or tokens.shape[1] != self.max_length or mask.shape != tokens.shape:
            raise InvalidLanguageModelError(
                f"tokens and mask must both have shape (N, {self.max_length}), got "
                f"{tokens.shape} and {mask.shape}")
        if not np.all((mask == 0) | (mask == 1)):
            raise InvalidLanguageModelError("mask must hold only 0 and 1")
        for n in range(tokens.shape[0]):
            length = int(mask[n].sum())
            if length == 0 or not np.all(mask[n, :length] == 1):
                raise InvalidLanguageModelError(
                    f"mask row {n} must be 1 on a non-empty response and 0 after it, got "
                    f"{mask[n].tolist()}")
            self.response_index(tokens[n, :length])  # raises if not a complete response
        return tokens.astype(np.int64), mask

    # -------------------------------------------------------------- sampling

    def sample(self, prompt: int, rng: np.random.Generator) -> tuple[int, ...]:
        """One response drawn token by token from ``pi(. | x)``."""
        response: tuple[int, ...] = ()
        while True:
            token = int(rng.choice(self.vocabulary_size,
                                   p=self.next_token_probabilities(prompt, response)))
            response += (token,)
            if token == EOS or len(response) == self.max_length:
                return response

    # -------------------------------------------------------------- construction

    @classmethod
    def from_response_probabilities(cls, probabilities, vocabulary_size: int, max_length: int,
                                    name: str = "") -> LanguageModel:
        """The model whose response distribution is ``probabilities[x, i]`` (chain rule).

        ``pi(v | x, prefix) = mass(prefix + (v,)) / mass(prefix)`` where ``mass(s)`` is the
        probability of the responses that start with ``s``; logits are their logarithms.
        Every probability must be positive (a zero would need an infinite logit).
        """
        responses = enumerate_responses(vocabulary_size, max_length)
        try:
            table = validation.as_float_array(probabilities, "probabilities[prompt, response]",
                                              ndim=2)
        except InvalidInputError as error:
            raise InvalidLanguageModelError(str(error)) from None
        if table.shape[1] != len(responses):
            raise InvalidLanguageModelError(
                f"probabilities must have {len(responses)} columns, one per response, got "
                f"shape {table.shape}")
        if (table <= 0).any():
            raise InvalidLanguageModelError(
                "probabilities must all be positive: a zero needs an infinite logit")
        validation.check_probability_rows(table, "probabilities[prompt, response]")
        prefixes = enumerate_prefixes(vocabulary_size, max_length)
        logits = np.zeros((table.shape[0], len(prefixes), vocabulary_size))
        for x in range(table.shape[0]):
            for p, prefix in enumerate(prefixes):
                for token in range(vocabulary_size):
                    start = prefix + (token,)
                    mass = math.fsum(table[x, i] for i, response in enumerate(responses)
                                     if response[:len(start)] == start)
                    logits[x, p, token] = math.log(mass)
        return cls(logits, max_length, name=name)


# ------------------------------------------------------------------ batches

def pad_responses(responses: Sequence[Sequence[int]], max_length: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens[N, L], mask[N, L])`` for a list of responses: tokens padded with PAD (= EOS),
    mask 1 on each response's tokens (its EOS included) and 0 on the padding.

    >>> pad_responses([(1, 0), (2,)], max_length=3)[1].tolist()
    [[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    tokens = np.full((len(responses), max_length), PAD, dtype=np.int64)
    mask = np.zeros((len(responses), max_length))
    for n, response in enumerate(responses):
        if not 1 <= len(response) <= max_length:
            raise InvalidLanguageModelError(
                f"response {n} has {len(response)} tokens; expected 1 to {max_length}")
        tokens[n, :len(response)] = response
        mask[n, :len(response)] = 1.0
    return tokens, mask


def torch_token_log_probs(model: LanguageModel, logits, prompts, tokens, mask):
    """Per-token log-probs ``[N, L]`` (0 on padding) as a torch tensor, differentiable with
    respect to ``logits`` (a torch tensor of ``model.logits``' shape, e.g. a leaf with
    ``requires_grad=True``).  ``model`` supplies only the prefix bookkeeping.
    """
    import torch

    indices = torch.as_tensor(model.prefix_indices(tokens, mask))
    prompts = torch.as_tensor(model._check_prompts(prompts, indices.shape[0]))
    rows = logits[prompts[:, None], indices]                      # [N, L, V]
    log_probs = torch.log_softmax(rows, dim=-1)
    chosen = torch.gather(log_probs, 2, torch.as_tensor(tokens, dtype=torch.int64)[..., None])
    return chosen[..., 0] * torch.as_tensor(mask, dtype=log_probs.dtype)


# ------------------------------------------------------------------ preferences

def sigmoid(z):
    """The logistic function, without overflow for large |z| (numpy arrays or floats)."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))),
                    np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def uniform_prompts(n_prompts: int) -> np.ndarray:
    """The default prompt distribution, uniform over ``n_prompts``."""
    return np.full(n_prompts, 1.0 / n_prompts)


def preference_probabilities(rewards) -> np.ndarray:
    """Bradley-Terry: ``[x, i, j] = P(y_i preferred to y_j | x) = sigmoid(r(x, y_i) - r(x, y_j))``."""
    rewards = validation.as_float_array(rewards, "rewards[prompt, response]", ndim=2)
    return sigmoid(rewards[:, :, None] - rewards[:, None, :])


def preference_pair_distribution(reference: LanguageModel, rewards, prompt_distribution=None
                                 ) -> np.ndarray:
    """``[x, i, j]``: the probability that a preference datum is ``(x, y_w = y_i, y_l = y_j)``.

    ``2 rho(x) pi_ref(y_i | x) pi_ref(y_j | x) sigmoid(r(x, y_i) - r(x, y_j))``: the prompt,
    two independent samples ``(y_1, y_2)`` from the reference model, and the Bradley-Terry
    label.  The factor 2 counts the two ways to draw the pair, ``(y_1, y_2) = (y_i, y_j)`` or
    ``(y_j, y_i)``; on the diagonal it gives ``rho(x) pi_ref(y_i | x)^2``.  Sums to 1.
    """
    rewards = validation.as_float_array(rewards, "rewards[prompt, response]", ndim=2)
    if rewards.shape != (reference.n_prompts, reference.n_responses):
        raise InvalidLanguageModelError(
            f"rewards must have shape ({reference.n_prompts}, {reference.n_responses}), "
            f"got {rewards.shape}")
    if prompt_distribution is None:
        prompt_distribution = uniform_prompts(reference.n_prompts)
    prompt_distribution = validation.as_float_array(prompt_distribution,
                                                    "prompt_distribution", ndim=1)
    validation.check_shape(prompt_distribution, (reference.n_prompts,), "prompt_distribution")
    validation.check_probability_rows(prompt_distribution, "prompt_distribution")
    sampled = reference.response_probabilities()
    pairs = sampled[:, :, None] * sampled[:, None, :]
    return 2.0 * prompt_distribution[:, None, None] * pairs * preference_probabilities(rewards)


def sample_preferences(reference: LanguageModel, rewards, n: int, rng: np.random.Generator,
                       prompt_distribution=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(prompts[n], chosen[n], rejected[n])``: n preference data drawn from the process of
    :func:`preference_pair_distribution`; chosen/rejected are response indices (see
    ``reference.responses``; :func:`pad_responses` turns them into a batch)."""
    weights = preference_pair_distribution(reference, rewards, prompt_distribution)
    flat = rng.choice(weights.size, size=n, p=weights.ravel() / weights.sum())
    prompts, chosen, rejected = np.unravel_index(flat, weights.shape)
    return prompts.astype(np.int64), chosen.astype(np.int64), rejected.astype(np.int64)


# ------------------------------------------------------------------ strategies

#: Logits are multiples of 1/4 in [-LOGIT_BOUND, LOGIT_BOUND]: every next-token probability
#: is then at least exp(-2 * 2) / 3 > 0.006, so log-probabilities stay moderate.
LOGIT_BOUND = 2
#: Rewards are multiples of 1/4 in [-REWARD_BOUND, REWARD_BOUND].
REWARD_BOUND = 2


def _logit_tables(shape, bound=LOGIT_BOUND):
    return hnp.arrays(np.int64, shape, elements=st.integers(-4 * bound, 4 * bound)).map(
        lambda counts: counts / 4.0)


@st.composite
def language_models(draw, max_prompts: int = 2, max_vocabulary: int = 3, max_length: int = 3,
                    logit_bound: float = LOGIT_BOUND) -> LanguageModel:
    """A :class:`LanguageModel` with 1..max_prompts prompts, a vocabulary of
    2..max_vocabulary tokens, L in 1..max_length, logits multiples of 1/4 in
    [-logit_bound, logit_bound].  Shrinks to one prompt, vocabulary {EOS, 1}, L = 1 (two
    responses), all logits 0 (uniform)."""
    n_prompts = draw(st.integers(1, max_prompts))
    vocabulary_size = draw(st.integers(2, max_vocabulary))
    length = draw(st.integers(1, max_length))
    n_prefixes = len(enumerate_prefixes(vocabulary_size, length))
    logits = draw(_logit_tables((n_prompts, n_prefixes, vocabulary_size), logit_bound))
    return LanguageModel(logits, length, name="generated")


@st.composite
def language_model_pairs(draw, **options) -> tuple[LanguageModel, LanguageModel]:
    """``(policy, reference)``: two models of the same shape (options as in
    :func:`language_models`); shrinks to two uniform models."""
    policy = draw(language_models(**options))
    reference = policy.with_logits(draw(_logit_tables(policy.logits.shape)), name="reference")
    return policy, reference


def reward_tables(model: LanguageModel, bound: float = REWARD_BOUND) -> st.SearchStrategy:
    """``rewards[x, i]`` for ``model``'s prompts and responses: multiples of 1/4 in
    [-bound, bound]; shrinks to all zeros."""
    return hnp.arrays(np.int64, (model.n_prompts, model.n_responses),
                      elements=st.integers(-int(4 * bound), int(4 * bound))).map(
        lambda counts: counts / 4.0)
