"""Figures and reports: image grids (one row per class) and Markdown files, written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from privgen.runs import atomic_write_bytes, atomic_write_text  # noqa: E402


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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.05)  # row labels of any length fit
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
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


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
