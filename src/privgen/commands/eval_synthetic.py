"""`privgen eval synthetic`: FD, cross-party association error and utility of a VFL run's output, or of any
synthetic table against the real rows (a run's, or given as --data / --party-file)."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Columns, Device, IdColumn, Overwrite, Quiet, Seed, SplitSeed


def synthetic(model: Path = typer.Option(None, "--model", help="A run directory made by `privgen vfl train`: its "
                                        "model is sampled, or with --synthetic its real rows are the reference."),
              out: Path = typer.Option(..., "--out", help="Output directory for metrics.json and report.md."),
              synthetic_file: Path = typer.Option(None, "--synthetic", help="Evaluate this synthetic table (CSV/Parquet, "
                                                  "e.g. a --transport ray run's output) instead of sampling --model."),
              data: str = typer.Option(None, "--data", help="With --synthetic and no --model: the real table (embedded "
                                       "name or CSV/Parquet)."),
              party_file: list[Path] = typer.Option(None, "--party-file", help="With --synthetic and no --model: the "
                                                    "real party files (repeat), joined as `vfl train` joins them."),
              id_column: list[str] = IdColumn,
              columns: list[str] = Columns,
              parties: int = typer.Option(2, "--parties", help="Parties of --data (column groups), for the "
                                          "cross-party association error."),
              n: int = typer.Option(None, "--n", help="Synthetic rows to draw (default: as many as real, at most 5000)."),
              seed: int = Seed, split_seed: int = SplitSeed, device: str = Device, overwrite: bool = Overwrite,
              quiet: bool = Quiet) -> None:
    """Evaluate synthetic data; metrics.json has fd, association_error, utility and utility_baseline."""
    from privgen.errors import UserError
    from privgen.report import markdown_table, save_image_grid, write_markdown
    from privgen.runs import RunDir
    from privgen.seeding import resolve_device, seed_everything

    real_given = bool(data or party_file)
    if model is None and synthetic_file is None:
        raise UserError("give --model RUN (sample a trained run) or --synthetic FILE with the real data "
                        "(--model RUN, --data, or --party-file ... --id-column)")
    if synthetic_file is None and real_given:
        raise UserError("--data/--party-file give the real rows of --synthetic; a --model run knows its own data")
    if model is not None and real_given:
        raise UserError("give the real data once: --model RUN (its training data) or --data/--party-file, not both")
    if n is not None and n < 10:
        raise UserError(f"--n must be at least 10 (Fréchet distance needs 10 samples), got {n}")
    images = None
    if synthetic_file is not None:
        from privgen.vfl.evaluate import evaluate_file

        if n is not None:
            raise UserError("--n draws from --model; --synthetic evaluates every row of the file")
        spec = _real_spec(model, data, party_file, id_column, columns, parties, split_seed)
        metrics = evaluate_file(synthetic_file, spec, seed)
        metrics["reference_split"] = _reference_split(model, spec)
        config = {"synthetic": str(synthetic_file.resolve()), "model": str(model) if model else None,
                  "data_spec": spec, "seed": seed}
    else:
        from privgen.vfl.evaluate import evaluate_run

        seed_everything(seed)
        metrics, images = evaluate_run(model, n, seed, str(resolve_device(device)), quiet)
        config = {"model": str(model), "n": n, "seed": seed, "device": device}
    run = RunDir.create(out, "vfl_eval", config, overwrite=overwrite)
    train_metrics = RunDir.open(model, "vfl").metrics if model is not None and (model / "metrics.json").is_file() else {}
    dp = train_metrics.get("dp", {"mode": "none"})
    for k in ("mode", "guarantee", "claim", "adjacency", "epsilon", "delta", "sigma", "sample_rate", "steps",
              "accountant", "conversion", "clip_norm"):
        if k in dp:
            metrics[f"dp_{k}"] = dp[k]
    rows = [[k, v] for k, v in metrics.items()]
    source = f"Synthetic table: `{synthetic_file}`" + (f" (real rows of `{model}`)" if model else "") \
        if synthetic_file is not None else f"Model: `{model}`"
    text = (f"# Synthetic data evaluation\n\n{source}\n\n"
            f"Utility {metrics['utility']:.4g} ({metrics['utility_task']}) beside the baseline "
            f"{metrics['utility_baseline']:.4g} ({metrics['utility_baseline_rule']}) and training on the real rows "
            f"{metrics['utility_real']:.4g}: utility at the baseline means the synthetic rows taught the classifier "
            "nothing about the target.\n\n" + markdown_table(["metric", "value"], rows))
    if images is not None:
        save_image_grid([images[i:i + 10] for i in range(0, 50, 10)], run.file("samples.png"), title="synthetic")
        text += "\n![samples](samples.png)\n"
    write_markdown(run.file("report.md"), text)
    run.write_metrics(metrics)
    clipped = metrics.get("clipped_values")
    print(f"fd {metrics['fd']:.4g}  association_error {metrics['association_error']:.4g}  "
          f"utility {metrics['utility']:.4g} (baseline {metrics['utility_baseline']:.4g}, real {metrics['utility_real']:.4g})"
          + (f"  clipped {clipped} values to the bounds" if clipped else "")
          + (f"  dp {dp['mode']} ε {dp['epsilon']:.4g} δ {dp['delta']:g}"
             + ("" if dp.get("guarantee") else " (a claim, not a guarantee)") if dp["mode"] != "none" else "")
          + f"; wrote {run.path}")


def _reference_split(model: Path | None, spec: dict) -> str:
    """Whether the real test rows are the run's own held-out rows. A Ray run on party files ordered its rows by
    a secret PSI key, so an in-process join here splits them differently: some "test" rows were trained on,
    and utility reads optimistic. Said in metrics.json and as a warning, never silently."""
    import warnings

    from privgen.runs import RunDir

    if model is None:
        return "an in-process split of the given real rows (the run's own split only if it was in-process)"
    if spec.get("party_files") and RunDir.open(model, "vfl").metrics.get("transport") == "ray":
        warnings.warn(f"{model} is a --transport ray run on party files: its rows were ordered by a secret key, so "
                      "the real test rows here are not its held-out rows (some were trained on; utility reads "
                      "optimistic)", ReferenceSplitWarning, stacklevel=2)
        return "not the run's: a Ray run's secret row order cannot be re-made; its test rows may be training rows"
    return "the run's own held-out rows"


class ReferenceSplitWarning(UserWarning):
    """The real reference rows are not the synthetic data's own held-out rows."""


def _real_spec(model: Path | None, data: str | None, party_file: list[Path] | None, id_column: list[str] | None,
               columns: list[str] | None, parties: int, split_seed: int) -> dict:
    """The real rows' data spec: a run's own (so the split is the one it trained on), or one built here."""
    from privgen.errors import UserError
    from privgen.vfl.sources import data_spec

    if model is not None:
        from privgen.runs import RunDir

        return RunDir.open(model, "vfl").config["data_spec"]
    groups = [[c.strip() for c in g.split(",") if c.strip()] for g in columns] if columns else None
    return data_spec(data, parties, [str(p) for p in party_file or []], list(id_column or []), groups,
                     split_seed=split_seed)
