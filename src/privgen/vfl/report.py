"""A VFL training run's own report: the Wasserstein gap and the critics' gradient norms over training.

The whole-critic gradient norm is this model's health signal: WGAN-GP keeps it near 1; when a bottom
critic is left unconstrained it grows without bound and the samples degrade (docs/vfl.md, "Penalties").
"""

from __future__ import annotations

import json
from typing import Any

from privgen.report import markdown_table, save_curves, write_markdown
from privgen.runs import LOG, RunDir

HEALTH_PNG = "loss.png"  # the same name as every training run's curves
SAMPLES_PNG = "samples.png"


def read_log(run: RunDir) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-iteration entries, FD probe points) from log.jsonl, in order; a resumed run's overlap keeps the last."""
    steps: dict[int, dict[str, Any]] = {}
    probes: dict[int, dict[str, Any]] = {}
    path = run.file(LOG)
    for line in path.read_text().splitlines() if path.exists() else []:
        event = json.loads(line)
        if "probe" in event:
            probes[event["probe"]["iteration"]] = event["probe"]
        elif "iteration" in event and "event" not in event:
            steps[event["iteration"]] = event
    return [steps[k] for k in sorted(steps)], [probes[k] for k in sorted(probes)]


def _series(entries: list[dict[str, Any]], prefix: str) -> dict[str, tuple[list[float], list[float]]]:
    keys = sorted({k for e in entries for k in e if k.startswith(prefix)})
    return {k: ([e["iteration"] for e in entries if k in e], [e[k] for e in entries if k in e]) for k in keys}


def published_preview(run: RunDir, model, layout, seed: int = 0) -> str:
    """Markdown showing what the run publishes: a grid of 20 images, or the head of the synthetic table.

    Drawn in a forked RNG (the Gumbel noise of categorical columns uses torch's global generator), so
    writing the report does not change anything that comes after it."""
    import numpy as np
    import torch

    from privgen.report import save_image_grid
    from privgen.vfl.partition import ImageLayout
    from privgen.vfl.publish import sample_table

    with torch.random.fork_rng():
        if isinstance(layout, ImageLayout):
            x = np.asarray(layout.join(model.sample(20, seed)))
            save_image_grid([x[:10], x[10:]], run.file(SAMPLES_PNG), title="synthetic samples (fixed latents)")
            return f"![synthetic samples]({SAMPLES_PNG})\n"
        head = sample_table(model, layout, 10, seed)
    cells = [[f"{v:.4g}" if isinstance(v, float) else v for v in row] for row in head.itertuples(index=False)]
    return "First rows of a synthetic table (fixed latents):\n\n" + markdown_table(list(head.columns), cells)


def write_training_report(run: RunDir, model_name: str, model=None, layout=None) -> None:
    entries, probes = read_log(run)
    if not entries:
        return
    gap_key = next((k for k in ("wasserstein", "critic_loss", "local_loss") if k in entries[-1]), None)
    panels = []
    if gap_key:
        panels.append((gap_key.replace("_", " "), _series(entries, gap_key), False))
    norms = {**_series(entries, "critic_grad_norm"), **_series(entries, "bottom_grad_norm"),
             **_series(entries, "local_critic_grad_norm")}
    if norms:
        panels.append(("critic gradient norm at interpolates", norms, True))
    if probes:
        panels.append(("FD (fresh samples)", {"fd": ([p["iteration"] for p in probes], [p["fd"] for p in probes])}, False))
    last = entries[-1]
    if panels:
        save_curves(panels, run.file(HEALTH_PNG), title=f"{model_name}: training health")
        rows = [[k, v] for k, v in last.items() if k not in ("time", "iteration", "seconds")]
        text = (f"# {model_name} training\n\n![training health]({HEALTH_PNG})\n\n"
                f"Last logged iteration {last['iteration']} ({last.get('seconds', '?')} s):\n\n"
                + markdown_table(["quantity", "value"], rows)
                + "\nThe whole-critic gradient norm (mean over the batch's interpolated rows of ‖∇ D(x̂)‖) should stay "
                  "of order 1 under WGAN-GP; steady growth means a critic part is unconstrained.\n")
    else:  # the sound DP mode: losses, gradient norms and batch sizes are statistics of the rows no noise covers
        text = (f"# {model_name} training\n\nLast logged iteration {last['iteration']} ({last.get('seconds', '?')} s). "
                "This run logs no statistic of the real rows (no loss, gradient norm or batch size: none is covered "
                "by its DP noise), so there is no training-health plot.\n")
    if probes:
        text += "\n" + markdown_table(["iteration", "FD"], [[p["iteration"], p["fd"]] for p in probes])
    if model is not None and layout is not None:
        text += "\n## What it publishes\n\n" + published_preview(run, model, layout)
    write_markdown(run.file("report.md"), text)
