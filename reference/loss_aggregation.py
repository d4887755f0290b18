r"""Loss aggregation: how a ``[B, T]`` matrix of per-token losses becomes one number.

Every policy-gradient loss for language models computes a loss ``l[b, t]`` per response
token and then reduces it.  The reduction decides how much each token, and so each
response, counts, and the methods differ exactly here (seed 003, 3.4.1 (3): "这个actor_loss
应该是response的所有token loss的sum或者avg").  With a 0/1 mask ``m[b, t]`` (response tokens,
module docstring of ``rlspec.reference.rlhf_ppo``) and ``n_b = sum_t m[b, t]`` tokens in
response b, every mode is a weighted sum ``sum_{b,t} w[b, t] l[b, t]``, and ``w`` is also
the gradient of the aggregate with respect to ``l``:

============================  =========================================  =====================
mode (verl ``loss_agg_mode``)  aggregate                                  weight w[b, t] (m = 1)
============================  =========================================  =====================
``token-mean``                 sum_{b,t} m l / sum_{b,t} m                1 / N,  N = sum_b n_b
``seq-mean-token-mean``        (1/B) sum_b (sum_t m l / n_b)              1 / (B n_b)
``seq-mean-token-sum``         (1/B) sum_b sum_t m l                      1 / B
``seq-mean-token-sum-norm``    (1/B) sum_b sum_t m l / C                  1 / (B C)
============================  =========================================  =====================

* ``token-mean`` (DeepSpeed-Chat, DAPO, TRL's GRPO since v0.16): every token weighs the same,
  so a response weighs in proportion to its length.
* ``seq-mean-token-mean`` (GRPO's paper, GSPO): every *response* weighs the same, so a
  token of a short response weighs more than a token of a long one.  For a response
  with a negative advantage, making it longer lowers each token's weight and so the
  penalty: the length bias Dr. GRPO points out.
* ``seq-mean-token-sum`` (REINFORCE): every token weighs the same within a batch, and the
  batch size, not the number of tokens, sets the scale.
* ``seq-mean-token-sum-norm`` (Dr. GRPO): the same weights divided by a constant C, the
  generation budget, so that the loss has the scale of a token mean.

Masked entries never count: ``w = 0`` where ``m = 0``, whatever ``l`` holds there.  The
sequence means need every row to hold at least one token (libraries disagree on whether an
empty row counts in B; verl now leaves it out, its first versions counted it).

The functions take ``per_token_loss[B, T]`` as a float64 torch tensor (numpy is converted)
and return a 0-d tensor, so they can be differentiated.
"""

from __future__ import annotations

import numpy as np
import torch

from rlspec.reference._token_inputs import checked_mask, float64_tensor
from rlspec.validation import InvalidInputError

__all__ = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "seq_mean_token_sum_norm",
           "effective_token_weights"]

MODES = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")


def _inputs(per_token_loss, mask, nonempty_rows: bool):
    loss = float64_tensor(per_token_loss, "per_token_loss[B, T]", 2)
    array = checked_mask(mask, tuple(loss.shape), name="mask[B, T]", nonempty_rows=nonempty_rows)
    if array.sum() == 0:
        raise InvalidInputError("mask[B, T] has no token at all: the aggregate is undefined")
    inside = torch.as_tensor(array, dtype=torch.bool)
    # Masked entries may be inf or huge: select, never multiply by 0 (inf * 0 = nan).
    return torch.where(inside, loss, torch.zeros_like(loss)), array


def token_mean(per_token_loss, mask) -> torch.Tensor:
    r"""All response tokens of the batch averaged together.

    .. math:: \mathcal L = \frac{\sum_{b,t} m_{b,t}\, l_{b,t}}{\sum_{b,t} m_{b,t}}

    Source: seed 003, 3.4.1 (5) ``actor_loss_fn`` (``torch.sum(... * mask) / mask.sum()``)
    and 3.4.2 ``critic_loss_fn``; DAPO's objective, 1 / sum_i |o_i|.

    >>> token_mean([[1.0, 1.0, 9.0], [4.0, 0.0, 0.0]], [[1, 1, 0], [1, 0, 0]]).item()
    2.0
    """
    loss, array = _inputs(per_token_loss, mask, nonempty_rows=False)
    return loss.sum() / float(array.sum())


def seq_mean_token_mean(per_token_loss, mask) -> torch.Tensor:
    r"""Each response's token mean, then the mean over responses.

    .. math:: \mathcal L = \frac1B\sum_b \frac{\sum_t m_{b,t}\, l_{b,t}}{\sum_t m_{b,t}}

    Source: DeepSeekMath eq. (3), the 1/G and 1/|o_i| of GRPO; GSPO.  Every row needs at
    least one token.

    >>> seq_mean_token_mean([[1.0, 1.0, 9.0], [4.0, 0.0, 0.0]], [[1, 1, 0], [1, 0, 0]]).item()
    2.5
    """
    loss, array = _inputs(per_token_loss, mask, nonempty_rows=True)
    rows = [loss[b].sum() / float(array[b].sum()) for b in range(loss.shape[0])]
    return torch.stack(rows).mean()


def seq_mean_token_sum(per_token_loss, mask) -> torch.Tensor:
    r"""Each response's token sum, then the mean over responses.

    .. math:: \mathcal L = \frac1B\sum_b \sum_t m_{b,t}\, l_{b,t}

    Source: verl ``loss_agg_mode="seq-mean-token-sum"`` (and its fix for dividing by the
    token count, verl#911 / #1233).  Every row needs at least one token (whether an empty
    row counts in B is a convention the libraries do not share; rlspec refuses it).

    >>> seq_mean_token_sum([[1.0, 1.0, 9.0], [4.0, 0.0, 0.0]], [[1, 1, 0], [1, 0, 0]]).item()
    3.0
    """
    loss, array = _inputs(per_token_loss, mask, nonempty_rows=True)
    return loss.sum(dim=1).mean()


def seq_mean_token_sum_norm(per_token_loss, mask, normaliser) -> torch.Tensor:
    r"""Each response's token sum divided by a constant, then the mean over responses.

    .. math:: \mathcal L = \frac1B\sum_b \frac{1}{C}\sum_t m_{b,t}\, l_{b,t}

    Source: Dr. GRPO (Liu et al. 2025): the sum over a response's tokens divided by the
    constant generation budget, not by the response's length.  verl's first version of this
    mode summed over responses instead of averaging (a loss B times larger, verl#3741).

    >>> seq_mean_token_sum_norm([[1.0, 1.0, 9.0], [4.0, 0.0, 0.0]], [[1, 1, 0], [1, 0, 0]], 3).item()
    1.0
    """
    loss, array = _inputs(per_token_loss, mask, nonempty_rows=True)
    constant = float(normaliser)
    if not constant > 0 or not np.isfinite(constant):
        raise InvalidInputError(f"normaliser must be a positive number, got {normaliser!r}")
    return loss.sum(dim=1).mean() / constant


def effective_token_weights(mask, mode: str, normaliser=None) -> np.ndarray:
    r"""The weight ``w[b, t]`` each token's loss gets under an aggregation mode: the
    aggregate is ``sum w * l``, and ``w`` is its gradient with respect to ``l``.

    See the table in the module docstring.  ``normaliser`` is C for
    ``"seq-mean-token-sum-norm"`` and ignored otherwise.

    >>> effective_token_weights([[1, 1, 0], [1, 0, 0]], "seq-mean-token-mean")
    array([[0.25, 0.25, 0.  ],
           [0.5 , 0.  , 0.  ]])
    """
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {MODES}, got {mode!r}")
    array = checked_mask(mask, name="mask[B, T]", nonempty_rows=mode != "token-mean")
    if array.sum() == 0:
        raise InvalidInputError("mask[B, T] has no token at all: the weights are undefined")
    batch = array.shape[0]
    weights = np.zeros_like(array)
    for b in range(batch):
        for t in range(array.shape[1]):
            if not array[b, t]:
                continue
            if mode == "token-mean":
                weights[b, t] = 1.0 / array.sum()
            elif mode == "seq-mean-token-mean":
                weights[b, t] = 1.0 / (batch * array[b].sum())
            elif mode == "seq-mean-token-sum":
                weights[b, t] = 1.0 / batch
            else:
                if normaliser is None or not float(normaliser) > 0:
                    raise InvalidInputError("seq-mean-token-sum-norm needs a positive normaliser")
                weights[b, t] = 1.0 / (batch * float(normaliser))
    return weights
