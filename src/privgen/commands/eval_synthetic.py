"""`privgen eval synthetic`: FD, cross-party association error and utility of a VFL run's output."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Device, Overwrite, Quiet, Seed


def synthetic(model: Path = typer.Option(..., "--model", help="A run directory made by `privgen vfl train`."),
              out: Path = typer.Option(..., "--out", help="Output directory for metrics.json and report.md."),
              n: int = typer.Option(None, "--n", help="Synthetic rows to draw (default: as many as real, at most 5000)."),
              seed: int = Seed, device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet) -> None:
    """Evaluate synthetic data; metrics.json has fd, association_error and utility."""
    from privgen.errors import UserError
    from privgen.report import markdown_table, save_image_grid, write_markdown
    from privgen.runs import RunDir
    from privgen.seeding import resolve_device, seed_everything
    from privgen.vfl.evaluate import evaluate_run

    if n is not None and n < 10:
        raise UserError(f"--n must be at least 10 (Fréchet distance needs 10 samples), got {n}")
    seed_everything(seed)
    metrics, images = evaluate_run(model, n, seed, str(resolve_device(device)), quiet)
    run = RunDir.create(out, "vfl_eval", {"model": str(model), "n": n, "seed": seed, "device": device}, overwrite=overwrite)
    train_metrics = RunDir.open(model, "vfl").metrics if (model / "metrics.json").is_file() else {}
    dp = train_metrics.get("dp", {"mode": "none"})
    for k in ("mode", "guarantee", "claim", "adjacency", "epsilon", "delta", "sigma", "sample_rate", "steps",
              "accountant", "conversion", "clip_norm"):
        if k in dp:
            metrics[f"dp_{k}"] = dp[k]
    rows = [[k, v] for k, v in metrics.items()]
    text = f"# Synthetic data evaluation\n\nModel: `{model}`\n\n" + markdown_table(["metric", "value"], rows)
    if images is not None:
        save_image_grid([images[i:i + 10] for i in range(0, 50, 10)], run.file("samples.png"), title="synthetic")
        text += "\n![samples](samples.png)\n"
    write_markdown(run.file("report.md"), text)
    run.write_metrics(metrics)
    print(f"fd {metrics['fd']:.4g}  association_error {metrics['association_error']:.4g}  "
          f"utility {metrics['utility']:.4g} (real {metrics['utility_real']:.4g})"
          + (f"  dp {dp['mode']} ε {dp['epsilon']:.4g} δ {dp['delta']:g}"
             + ("" if dp.get("guarantee") else " (a claim, not a guarantee)") if dp["mode"] != "none" else "")
          + f"; wrote {run.path}")
