"""The candidate's side of a check: what runs inside the worker process.

The worker calls the candidate on one case (:func:`evaluate`) and sends back only plain
data: the answer converted to a float64 array, the gradients a loss check asked for, the
names of inputs the candidate wrote into, or the reason the call failed with the
candidate's own traceback.  The conversion rules are those stated in
:mod:`rlspec.checks.core`.  torch is imported only for requests that need tensors.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlspec.checks.core import CandidateFailure

#: Frames from these files are rlspec's own plumbing, cut from the candidate's traceback.
_PLUMBING = str(Path(__file__).parent)
_MAX_TRACEBACK_FRAMES = 12


@dataclass(frozen=True)
class Request:
    """One call of the candidate.  With ``tensors`` the numeric arrays are passed as torch
    tensors: integers as int64, floats and booleans (flags, masks) as float64 0/1, the way
    rollout and replay buffers store them; the names in ``differentiate`` and ``frozen`` become
    leaves that require grad, and the reply holds d(sum of ``weights`` * output) / d leaf
    for each of them."""

    arguments: dict[str, Any]
    tensors: bool = False
    differentiate: tuple[str, ...] = ()
    frozen: tuple[str, ...] = ()
    weights: np.ndarray | None = None

    @property
    def is_loss(self) -> bool:
        return bool(self.differentiate or self.frozen)


@dataclass
class Outcome:
    """What came back from one call: an answer, or a failure; never the candidate's objects."""

    value: np.ndarray | None = None
    gradients: dict[str, np.ndarray] = field(default_factory=dict)
    failure: tuple[str, str, Any, str | None] | None = None  # kind, message, got, traceback
    written: tuple[str, ...] = ()


class ArgumentMismatch(Exception):
    """The candidate's parameters do not take the arguments the check passes."""

    def __init__(self, message: str, suggestions: dict[str, str]):
        super().__init__(message)
        self.message, self.suggestions = message, suggestions


class DryRunComplete(Exception):
    """Raised by the argument guard in a dry run once the arguments have bound."""


def guard_arguments(function: Callable, dry_run: list[bool]) -> Callable:
    """Wrap the user's function so that arguments that do not fit its signature raise
    :class:`ArgumentMismatch` before any of its code runs; while ``dry_run[0]`` is true the
    call stops right after binding."""
    try:
        signature = inspect.signature(function, follow_wrapped=False)
    except (TypeError, ValueError):  # a builtin or C function: nothing to inspect
        signature = None

    @functools.wraps(function)
    def guarded(*args, **kwargs):
        if signature is not None:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as error:
                raise _mismatch(signature, len(args), kwargs, error) from None
        if dry_run[0]:
            raise DryRunComplete
        return function(*args, **kwargs)

    return guarded


def _mismatch(signature: inspect.Signature, n_positional: int, kwargs: dict,
              error: TypeError) -> ArgumentMismatch:
    parameters = list(signature.parameters)
    named = [name for name, p in signature.parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unexpected = [name for name in kwargs if name not in named]
    missing = [name for name, p in list(signature.parameters.items())[n_positional:]
               if p.default is p.empty and name not in kwargs
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    suggestions = {}
    for passed in unexpected:
        close = difflib.get_close_matches(passed, [m for m in missing
                                                   if m not in suggestions.values()], 1, 0.0)
        if close:
            suggestions[passed] = close[0]
    message = (f"its parameters ({', '.join(parameters)}) do not take the check's arguments "
               f"({', '.join(kwargs) if kwargs else f'{n_positional} positional'}): {error}")
    return ArgumentMismatch(message, suggestions)


def evaluate(candidate: Callable, request: Request) -> Outcome:
    """Call the candidate on one request and describe what happened in plain data."""
    try:
        arguments, leaves = _prepare(request)
        before = {name: _snapshot(value) for name, value in arguments.items()}
        try:
            output = candidate(**arguments)
        except (ArgumentMismatch, DryRunComplete):
            raise
        except BaseException as error:  # anything the candidate raises is its failure
            raise CandidateFailure("raised", f"raised {type(error).__name__}: {error}",
                                   details=trimmed_traceback(error)) from None
        written = tuple(name for name, value in arguments.items()
                        if before[name] is not None and not _unchanged(before[name], value))
        if request.is_loss:
            value, gradients = _differentiate(output, leaves, request)
            return Outcome(value=value, gradients=gradients, written=written)
        return Outcome(value=to_array(output), written=written)
    except CandidateFailure as failure:
        return Outcome(failure=(failure.kind, failure.message, _plain(failure.got),
                                failure.details))


def to_array(output: Any) -> np.ndarray:
    """The candidate's output as a float64 array, by the rules of :mod:`rlspec.checks.core`."""
    if output is None:
        raise CandidateFailure("type", "returned None, not a numeric array (a missing return "
                                       "statement?)")
    if isinstance(output, (str, bytes)):
        raise CandidateFailure("type", f"returned the string {output!r:.60}, not a number")
    if _is_tensor(output):
        if output.is_complex():
            raise CandidateFailure("type", "returned a complex tensor; the formula is real")
        output = output.detach().cpu().to(dtype=_torch().float64).numpy()
    if isinstance(output, (tuple, list)) and any(_holds_array(item) for item in output):
        kinds = ", ".join(type(item).__name__ for item in output[:4])
        raise CandidateFailure(
            "type", f"returned a {type(output).__name__} of {len(output)} items ({kinds}"
                    f"{', ...' if len(output) > 4 else ''}); the check wants one array: pass "
                    f"`lambda **a: f(**a)[0]` to check the first, or stack them")
    if isinstance(output, (Iterator, dict, set)) or inspect.isgenerator(output):
        raise CandidateFailure("type", f"returned a {type(output).__name__}, not an array "
                                       f"(materialise it with np.array(list(...)))")
    try:
        array = np.asarray(output)
    except (TypeError, ValueError) as error:
        raise CandidateFailure("type", f"returned {type(output).__name__}, which is not a "
                                       f"numeric array ({error})") from None
    if array.dtype.kind == "c":
        raise CandidateFailure("type", "returned complex numbers; the formula is real (an "
                                       "imaginary part would be silently dropped)", array.real)
    if array.dtype.kind not in "biuf":
        raise CandidateFailure("type", f"returned {type(output).__name__} holding "
                                       f"{array.dtype} values, not numbers")
    return array.astype(np.float64)


def trimmed_traceback(error: BaseException) -> str:
    """The traceback of ``error`` without rlspec's own frames, at most a dozen frames."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not frame.filename.startswith(_PLUMBING)]
    lines = traceback.format_list(frames[-_MAX_TRACEBACK_FRAMES:])
    skipped = len(frames) - _MAX_TRACEBACK_FRAMES
    head = [f"  ... {skipped} earlier frames\n"] if skipped > 0 else []
    tail = traceback.format_exception_only(type(error), error)
    return "".join(["Traceback (the candidate's frames):\n", *head, *lines, *tail]).rstrip()


def _prepare(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    if not request.tensors and not request.is_loss:
        return dict(request.arguments), {}
    torch = _torch()
    leaves, arguments = {}, {}
    requiring = set(request.differentiate) | set(request.frozen)
    for name, value in request.arguments.items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            dtype = torch.int64 if value.dtype.kind in "iu" else torch.float64
            tensor = torch.tensor(value, dtype=dtype, requires_grad=name in requiring)
            arguments[name] = tensor
            if name in requiring:
                leaves[name] = tensor
        elif name in requiring:  # a scalar the judge differentiates, e.g. log_alpha
            leaves[name] = arguments[name] = torch.tensor(float(value), dtype=torch.float64,
                                                          requires_grad=True)
        else:
            arguments[name] = value
    return arguments, leaves


def _differentiate(output, leaves: dict[str, Any], request: Request):
    torch = _torch()
    if not _is_tensor(output):
        shown = f" {output!r:.40}" if isinstance(output, (int, float, np.generic)) else ""
        raise CandidateFailure(
            "gradient", f"returned {type(output).__name__}{shown}, not a torch tensor with an "
                        f"autograd graph: a loss must be the tensor training calls .backward() "
                        f"on (.item(), float() or numpy cut the graph, so an optimiser could "
                        f"not train with it)")
    value = to_array(output)
    if not output.requires_grad:
        raise CandidateFailure(
            "gradient", f"returned a tensor with no autograd graph to "
                        f"{', '.join(request.differentiate)} (a .detach(), torch.no_grad() or "
                        f"a numpy round trip cuts it), so an optimiser could not train with it",
            value)
    objective = output
    if request.weights is not None:
        if output.numel() != request.weights.size:
            raise CandidateFailure("shape", f"returned shape {tuple(output.shape)}, expected "
                                            f"{request.weights.shape}", value)
        objective = output.reshape(request.weights.shape) * torch.as_tensor(request.weights)
    names = list(leaves)
    try:
        grads = torch.autograd.grad(objective.sum(), [leaves[n] for n in names],
                                    allow_unused=True)
    except Exception as error:  # the candidate's graph is its own business
        raise CandidateFailure("raised", f"its loss could not be differentiated: "
                                         f"{type(error).__name__}: {error}",
                               details=trimmed_traceback(error)) from None
    if request.differentiate and all(grad is None for name, grad in zip(names, grads)
                                     if name in request.differentiate):
        raise CandidateFailure(
            "gradient", f"returned a loss with no autograd graph to "
                        f"{', '.join(request.differentiate)} (a .detach(), torch.no_grad() or a "
                        f"numpy round trip cut it), so an optimiser could not train with it",
            value)
    gradients = {name: (np.zeros(tuple(leaves[name].shape)) if grad is None
                        else grad.detach().cpu().to(torch.float64).numpy())
                 for name, grad in zip(names, grads)}
    for name in request.differentiate:
        bad = ~np.isfinite(gradients[name])
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise CandidateFailure("nan", f"the gradient d loss / d {name} holds NaN or "
                                          f"infinity at index {where}", gradients[name])
    return value, gradients


def _snapshot(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if _is_tensor(value):
        return value.detach().clone()
    if _is_sparse(value):
        return value.copy()
    return None


def _unchanged(before, after) -> bool:
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and np.array_equal(before, after, equal_nan=True)
    if _is_sparse(before):
        return _is_sparse(after) and before.shape == after.shape and all(
            np.array_equal(getattr(before, part), getattr(after, part), equal_nan=True)
            for part in ("data", "indices", "indptr"))
    torch = _torch()
    return bool(torch.equal(before, after.detach())) or bool(
        torch.isnan(before).any() and torch.allclose(before, after.detach(), 0.0, 0.0, True))


def _holds_array(item) -> bool:
    return isinstance(item, (np.ndarray, tuple, list)) or _is_tensor(item)


def _is_sparse(value) -> bool:
    """A scipy CSR matrix (the large MDP cases' transitions), without importing scipy."""
    return type(value).__module__.startswith("scipy.sparse") and hasattr(value, "indptr")


def _is_tensor(value) -> bool:
    module = type(value).__module__
    return module.startswith("torch") and hasattr(value, "detach")


def _torch():
    import torch
    return torch


def _plain(value):
    """Something picklable that shows what the candidate returned."""
    if value is None or isinstance(value, (np.ndarray, int, float, str)):
        return value
    return repr(value)[:200]
