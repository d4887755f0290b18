"""PNG figures of training runs, from their ``metrics.jsonl`` (matplotlib: the ``plot`` extra).

* ``learning_curves.png``: the mean episode return against environment steps; on toy MDPs
  a second panel with the exact discounted return J^pi of the current policy and the
  exact optimum J* drawn as a line;
* ``exact_errors.png`` (toy MDPs): the regret J* - J^pi and the critic's error against
  the exact V^pi/Q^pi (and against Q* for DQN), log scale;
* ``values_<run>.png`` (grid worlds): heat maps of the learned values, the exact V^pi of
  the final policy and V*.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_runs", "require_matplotlib"]


def require_matplotlib():
    """matplotlib's pyplot on the Agg backend, or an error saying how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("rlspec plot needs matplotlib: pip install 'rlspec[plot]'") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def _series(records: list[dict], key: str):
    points = [(r["step"], r[key]) for r in records if "step" in r and r.get(key) is not None]
    if not points:
        return None
    steps, values = zip(*points)
    return np.array(steps), np.array(values, dtype=float)


def _summary(records: list[dict]) -> dict:
    return next((r["summary"] for r in records if "summary" in r), {})


def plot_runs(runs: dict[str, list[dict]], directory: Path) -> list[Path]:
    """Write the figures for ``{label: records}`` into ``directory``; return their paths."""
    pyplot = require_matplotlib()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    exact = any(_series(records, "exact_return") is not None for records in runs.values())

    figure, axes = pyplot.subplots(1, 2 if exact else 1, figsize=(11 if exact else 6, 4),
                                   squeeze=False)
    for label, records in runs.items():
        series = _series(records, "episode_return")
        if series is not None:
            axes[0, 0].plot(*series, label=label)
        if exact and (series := _series(records, "exact_return")) is not None:
            line, = axes[0, 1].plot(*series, label=f"{label}: J^pi (exact)")
            optimum = _series(records, "optimal_return")[1][-1]
            axes[0, 1].axhline(optimum, color=line.get_color(), linestyle="--",
                               label=f"{label}: J* = {optimum:.4g}")
    axes[0, 0].set(xlabel="environment steps", ylabel="mean episode return",
                   title="learning curve")
    if exact:
        axes[0, 1].set(xlabel="environment steps", ylabel="discounted return from s0",
                       title="exact value of the policy vs the optimum")
    written.append(_save(pyplot, figure, axes[0], directory / "learning_curves.png"))

    if exact:
        figure, axes = pyplot.subplots(1, 2, figsize=(11, 4))
        for label, records in runs.items():
            for axis, keys in ((axes[0], ("regret", "greedy_regret")),
                               (axes[1], ("critic_error", "q_star_error"))):
                for key in keys:
                    if (series := _series(records, key)) is not None:
                        steps, values = series
                        # Log scale: an exact 0 (an optimal policy) is drawn at 1e-12.
                        axis.plot(steps, np.maximum(np.abs(values), 1e-12), label=f"{label}: {key}")
        axes[0].set(yscale="log", xlabel="environment steps", ylabel="J* - J^pi",
                    title="regret (exact)")
        axes[1].set(yscale="log", xlabel="environment steps",
                    ylabel="occupancy-weighted mean |error|", title="critic error (exact)")
        written.append(_save(pyplot, figure, axes, directory / "exact_errors.png"))

    for label, records in runs.items():
        summary = _summary(records)
        if summary.get("grid_shape"):
            written.append(_value_heat_maps(pyplot, label, summary, directory))
    return written


def _save(pyplot, figure, axes, path: Path) -> Path:
    for axis in axes:
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path


def _value_heat_maps(pyplot, label: str, summary: dict, directory: Path) -> Path:
    shape = tuple(summary["grid_shape"])
    tables = [("learned", summary["learned_values"]), ("exact V^pi", summary["policy_values"]),
              ("exact V*", summary["optimal_values"])]
    grids = [np.asarray(values, dtype=float).reshape(shape) for _, values in tables]
    low, high = min(g.min() for g in grids), max(g.max() for g in grids)
    figure, axes = pyplot.subplots(1, 3, figsize=(4 * 3, 3.6))
    for axis, (title, _), grid in zip(axes, tables, grids):
        image = axis.imshow(grid, vmin=low, vmax=high, cmap="viridis")
        axis.set_title(f"{label}: {title}", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
        if grid.size <= 64:
            for (row, col), value in np.ndenumerate(grid):
                axis.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                          color="white")
    figure.colorbar(image, ax=list(axes), shrink=0.8)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
    path = directory / f"values_{safe}.png"
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path
