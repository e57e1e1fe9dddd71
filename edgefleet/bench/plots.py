"""PNG plots for benchmark reports (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path


def bar_chart(
    path: Path,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    ylabel: str,
    errors: Mapping[str, Sequence[float | None]] | None = None,
    log: bool = False,
) -> Path:
    """Grouped bars: one group per category, one bar per series (None/NaN: no bar).

    `errors`, when given, draws an upper whisker per bar (e.g. p99 above a p50 bar).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(series), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(categories) * max(n, 2) * 0.6), 4.2))
    try:
        for i, (label, values) in enumerate(series.items()):
            xs = [j + (i - (n - 1) / 2) * width for j in range(len(categories))]
            ys = [math.nan if v is None else float(v) for v in values]
            bars = ax.bar(xs, ys, width=width, label=label)
            if errors and label in errors:
                ups = [
                    0.0 if (e is None or math.isnan(y)) else max(0.0, float(e) - y)
                    for e, y in zip(errors[label], ys, strict=True)
                ]
                ax.errorbar(
                    xs,
                    ys,
                    yerr=[[0.0] * len(ups), ups],
                    fmt="none",
                    ecolor="black",
                    capsize=3,
                    linewidth=0.8,
                )
            for bar, y in zip(bars, ys, strict=True):
                if not math.isnan(y):
                    ax.annotate(
                        f"{y:.3g}",
                        (bar.get_x() + bar.get_width() / 2, y),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        ax.set_xticks(range(len(categories)))
        ax.set_xticklabels(categories, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path
