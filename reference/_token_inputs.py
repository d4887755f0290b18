"""Input checks shared by the token-level references (RLHF-PPO, the GRPO family, loss
aggregation): masks, float64 tensors, shapes and non-negative constants.  References only:
the oracles validate their inputs on their own."""

from __future__ import annotations

import numpy as np
import torch

from rlspec import validation
from rlspec.validation import InvalidInputError


def checked_mask(mask, shape: tuple[int, ...] | None = None, name: str = "action_mask[B, T]",
          contiguous: bool = False, nonempty_rows: bool = False) -> np.ndarray:
    """A 0/1 mask as a float64 array; with ``contiguous`` each row's ones form one run."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    array = validation.as_float_array(mask, name, ndim=2)
    if shape is not None:
        validation.check_shape(array, shape, name)
    if not np.all((array == 0.0) | (array == 1.0)):
        where = tuple(int(i) for i in np.argwhere((array != 0.0) & (array != 1.0))[0])
        raise InvalidInputError(f"{name} must hold only 0 and 1, got {array[where]!r} at {where}")
    for b, row in enumerate(array):
        ones = np.flatnonzero(row)
        if nonempty_rows and ones.size == 0:
            raise InvalidInputError(f"{name}: row {b} has no response token (all zeros)")
        if contiguous and ones.size and ones[-1] - ones[0] + 1 != ones.size:
            raise InvalidInputError(
                f"{name}: the response tokens of row {b} must be contiguous (prompt, then "
                f"response, then padding), got ones at columns {ones.tolist()}")
    return array


def float64_tensor(value, name: str, ndim: int) -> torch.Tensor:
    """A float64 torch tensor (kept as given if it already is one, so gradients flow)."""
    if isinstance(value, torch.Tensor):
        if value.dtype != torch.float64:
            raise InvalidInputError(
                f"{name} must be a float64 tensor (float32 rounding hides the checks' "
                f"differences), got {value.dtype}")
        validation.as_float_array(value.detach().cpu().numpy(), name, ndim=ndim)
        return value
    return torch.as_tensor(validation.as_float_array(value, name, ndim=ndim))


def same_shape(reference: torch.Tensor | np.ndarray, other, name: str) -> None:
    if tuple(other.shape) != tuple(reference.shape):
        raise InvalidInputError(
            f"{name} must have the same shape as log_probs, {tuple(reference.shape)}; got "
            f"{tuple(other.shape)}")


def nonnegative(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not number >= 0.0 or not np.isfinite(number):
        raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
    return number
