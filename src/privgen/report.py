"""Figures and reports: image grids (one row per class), line plots, Markdown files, all written atomically.

Every run directory gets a short report.md (`write_run_report`) that links its plots (loss.png from the
run's log.jsonl, sample grids) and its numbers (metrics.json), so a run shows its work without a notebook.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from privgen.runs import LOG, METRICS, atomic_write_bytes, atomic_write_text  # noqa: E402


def tile_rows(rows: Sequence[np.ndarray], pad: int = 1) -> np.ndarray:
    """Tile rows of (n, C, H, W) images in [-1, 1] into one (H', W', C) array in [0, 1]; short rows are padded."""
    ncol = max(len(r) for r in rows)
    c, h, w = rows[0].shape[1:]
    out = np.ones((len(rows) * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.float32)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y0, x0 = pad + i * (h + pad), pad + j * (w + pad)
            out[y0:y0 + h, x0:x0 + w] = ((np.clip(img, -1, 1) + 1) / 2).transpose(1, 2, 0)
    return out


def save_image_grid(rows: Sequence[np.ndarray], path: Path | str, row_labels: Sequence[str] | None = None,
                    title: str | None = None) -> Path:
    """Save an image grid as PNG: each entry of `rows` is one labelled row of images."""
    grid = tile_rows(rows)
    h, w = grid.shape[:2]
    scale = max(1.0, 256 / max(h, w))
    fig = plt.figure(figsize=(w * scale / 60 + 0.8, h * scale / 60 + (0.4 if title else 0.1)), dpi=100)
    ax = fig.add_axes([0.08, 0.02, 0.9, 0.9 if title else 0.96])
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        cell = (h - 1) / len(rows)
        ax.set_yticks([1 + cell * (i + 0.5) for i in range(len(rows))], labels=list(row_labels), fontsize=8)
    else:
        ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path, bbox_inches="tight", pad_inches=0.05)  # row labels of any length fit


def save_figure(fig: "plt.Figure", path: Path | str, **savefig: object) -> Path:
    """Write a matplotlib figure as PNG atomically and close it (open figures pile up in long runs)."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", **savefig)
    finally:
        plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def save_curves(panels: Sequence[tuple[str, dict[str, tuple[Sequence[float], Sequence[float]]], bool]],
                path: Path | str, xlabel: str = "iteration", title: str | None = None) -> Path:
    """Side-by-side line plots: each panel is (y label, {series label: (xs, ys)}, log scale on y)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), dpi=100, squeeze=False)
    for ax, (ylabel, series, logy) in zip(axes[0], panels):
        for label, (xs, ys) in series.items():
            ax.plot(list(xs), list(ys), marker="o", markersize=2, linewidth=1, label=label)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def save_rate_curves(series: dict[str, tuple[Sequence[float], Sequence[float], Sequence[Sequence[float]] | None]],
                     path: Path | str, xlabel: str, ylabel: str, title: str | None = None,
                     styles: dict[str, dict[str, object]] | None = None) -> Path:
    """Shares (0..1) against steps, in percent, each with an optional shaded interval: {label: (xs, ys, [lo, hi] per x)}.

    `styles` passes extra line options per label (e.g. the control drawn dashed)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    alpha = 0.18 if len(series) <= 2 else 0.08  # many overlapping bands stay readable
    for label, (xs, ys, bands) in series.items():
        line = ax.plot(list(xs), [100 * y for y in ys], marker="o", markersize=3, label=label,
                       **(styles or {}).get(label, {}))[0]
        if bands is not None:
            ax.fill_between(list(xs), [100 * b[0] for b in bands], [100 * b[1] for b in bands],
                            color=line.get_color(), alpha=alpha, linewidth=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    if len(series) > 1:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path)


NOT_LOSSES = {"event", "step", "time", "lr"}


def save_loss_plot(run_dir: Path | str, path: Path | str | None = None, title: str | None = None) -> Path | None:
    """loss.png from the `loss` events of the run's log.jsonl: every loss part in one panel (log scale when
    all are positive), the learning rate in a second when logged. None when nothing was logged."""
    from privgen.runlog import read_loss_events

    run_dir = Path(run_dir)
    events = read_loss_events(run_dir / LOG)
    if not events:
        return None
    keys = sorted({k for e in events for k, v in e.items() if k not in NOT_LOSSES and isinstance(v, (int, float))},
                  key=lambda k: (k != "loss", k))
    series = {k: ([e["step"] for e in events if k in e], [e[k] for e in events if k in e]) for k in keys}
    positive = all(v > 0 for _, ys in series.values() for v in ys)
    panels: list = [("loss (mean per logging interval)", series, positive)]
    if any("lr" in e for e in events):
        panels.append(("learning rate", {"lr": ([e["step"] for e in events if "lr" in e],
                                                [e["lr"] for e in events if "lr" in e])}, False))
    return save_curves(panels, path or run_dir / "loss.png", xlabel="step", title=title)


def write_run_report(run_dir: Path | str, title: str, summary: str, numbers: Sequence[Sequence[object]],
                     figures: Sequence[tuple[str, str]] = (), notes: str = "") -> Path:
    """report.md of one run: a summary line, a table of its headline numbers, its figures (caption, file
    relative to the run), and a pointer to metrics.json / log.jsonl for everything else."""
    parts = [f"# {title}\n", summary.strip() + "\n"]
    if numbers:
        parts.append(markdown_table(["quantity", "value"], numbers))
    for caption, name in figures:
        parts.append(f"## {caption}\n\n![{caption}]({name})\n")
    if notes:
        parts.append(notes.strip() + "\n")
    parts.append(f"All numbers: [{METRICS}]({METRICS}); progress and losses: [{LOG}]({LOG}).\n")
    return write_markdown(Path(run_dir) / "report.md", "\n".join(parts))


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path | str, text: str) -> Path:
    atomic_write_text(Path(path), text)
    return Path(path)
