"""Device choice, deterministic seeding and checkpoints, shared by every agent."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

__all__ = ["select_device", "seed_everything", "save_checkpoint", "load_checkpoint"]

DEVICES = ("cpu", "cuda", "auto")


def select_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (an error naming the problem when none is visible) or ``auto``."""
    if name not in DEVICES:
        raise ValueError(f"--device must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: torch sees no CUDA device (torch.cuda.is_available() "
                           "is False; this torch build is " + torch.__version__ + ")")
    return torch.device(name)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a torch generator for the agent's own draws.

    With the same seed, device and number of threads a run repeats exactly on the CPU; on a
    GPU, some cuDNN/cuBLAS kernels are not bitwise deterministic.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def save_checkpoint(path: Path, modules: dict[str, torch.nn.Module], step: int, config: dict) -> Path:
    """Write the modules' state dicts, the step and the configuration to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": step, "config": config,
                "modules": {name: module.state_dict() for name, module in modules.items()}}, path)
    return path


def load_checkpoint(path: Path, modules: dict[str, torch.nn.Module]) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` into ``modules``; return it."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=False)
    missing = sorted(set(modules) - set(saved["modules"]))
    if missing:
        raise KeyError(f"{path}: the checkpoint has no state for {missing}; it holds "
                       f"{sorted(saved['modules'])}")
    for name, module in modules.items():
        module.load_state_dict(saved["modules"][name])
    return saved
