"""`privgen vfl ...`: train VFLGAN / VertiGAN / centralized on vertically split data, and publish."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Columns, Device, IdColumn, PartyFile, Overwrite, Quiet, Seed, SplitSeed
from privgen.errors import UserError

app = typer.Typer(help="Vertically federated synthetic data (VFLGAN, VertiGAN, centralized reference).",
                  no_args_is_help=True)


@app.command("train")
def train(
    out: Path = typer.Option(..., "--out", help="Output run directory; an unfinished run there is resumed."),
    data: str = typer.Option(None, "--data", help="Embedded dataset (mnist5k, adult, wine, ...) or a CSV/Parquet table."),
    party_file: list[Path] = PartyFile,
    id_column: list[str] = IdColumn,
    columns: list[str] = Columns,
    parties: int = typer.Option(2, "--parties", help="Number of parties M (image bands or column groups)."),
    model: str = typer.Option("vflgan", "--model-type", "--model", help="vflgan, vertigan or centralized (--model is "
                              "the same option's earlier name; elsewhere --model is a trained run directory)."),
    epochs: int = typer.Option(10, "--epochs", help="Passes of critic batches over the rows."),
    iterations: int = typer.Option(None, "--iterations", help="Generator iterations (overrides --epochs)."),
    size: str = typer.Option("small", "--size", help="Network sizes: small (default, as in audit and bench), "
                             "reference (the paper's), tiny."),
    batch_size: int = typer.Option(64, "--batch-size", help="Rows per step."),
    lr: float = typer.Option(2e-4, "--lr", help="Adam learning rate (betas 0.5, 0.999)."),
    lambda_gp: float = typer.Option(40.0, "--lambda-gp", help="Gradient-penalty weight."),
    impute: bool = typer.Option(False, "--impute", help="Fill missing values (median / most frequent) instead of refusing."),
    max_rows: int = typer.Option(None, "--max-rows", help="Use at most this many training rows."),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: torch's default; 1 is fastest on a busy CPU)."),
    probe_every: int = typer.Option(0, "--probe-every", help="Log the FD of 2,000 fresh samples every N iterations "
                                    "(0: never); plotted in loss.png. It does not change the run."),
    dp: str = typer.Option("none", "--dp", help="none, paper (DP-VFLGAN as published) or sound (covers all that is published)."),
    epsilon: float = typer.Option(None, "--epsilon", help="Target ε (σ is calibrated for the planned critic steps)."),
    delta: float = typer.Option(1e-5, "--delta", help="δ of (ε, δ)-DP; keep it below 1/N."),
    sigma: float = typer.Option(None, "--sigma", help="Noise multiplier σ (ε is reported); instead of --epsilon."),
    conversion: str = typer.Option("improved", "--conversion", help="RDP -> (ε, δ): improved (default) or classic (the paper's)."),
    clip: float = typer.Option(1.0, "--clip", help="Per-example clip norm C of --dp sound (paper mode: C = 1.5/B)."),
    schema: Path = typer.Option(None, "--schema", help="Public schema JSON (bounds, categories) for --dp sound on a table."),
    n_public: int = typer.Option(None, "--n-public", help="Public row count N of a --dp sound run on your own data: "
                                 "sets q = B/N and the planned steps (never the private count); or \"n\" in the schema."),
    transport: str = typer.Option("inprocess", "--transport", help="inprocess (default: all parties in this process) or "
                                  "ray (each party a Ray actor holding only its own data; pip install 'privgen\\[ray]')."),
    address: str = typer.Option(None, "--address", help="Ray cluster to join (auto or HOST:PORT); default: a local one."),
    party_resource: list[str] = typer.Option(None, "--party-resource", help="Ray custom resource pinning party k to its "
                                             "node (repeat once per party, in party order)."),
    align: str = typer.Option(None, "--align", help="How party files' rows are matched under --transport ray: psi "
                              "(private set intersection, the default there; in-process runs use a plain join)."),
    rng: str = typer.Option("global", "--rng", help="global (default; earlier releases') or party (each party's own "
                            "RNG stream: the in-process run then equals a --transport ray run)."),
    seed: int = Seed, split_seed: int = SplitSeed, device: str = Device, overwrite: bool = Overwrite, quiet: bool = Quiet,
) -> None:
    """Train one model; the run directory holds config, layout (encoders as JSON) and safetensors weights."""
    from privgen.vfl.config import GanConfig
    from privgen.vfl.nets import SIZE_PRESETS
    from privgen.vfl.run import train_vfl_run
    from privgen.vfl.sources import data_spec

    if size not in SIZE_PRESETS:
        raise UserError(f"--size {size!r} is unknown; choose one of {', '.join(SIZE_PRESETS)}")
    from privgen import checks
    from privgen.vfl.run import check_gan_config

    checks.resolve_device(device)
    check_gan_config(GanConfig(batch_size=batch_size, lr=lr, lambda_gp=lambda_gp))
    checks.optional_positive_int("--iterations", iterations)
    if iterations is None:
        checks.positive_int("--epochs", epochs)
    checks.optional_positive_int("--max-rows", max_rows)
    if probe_every < 0:
        raise UserError(f"--probe-every must be 0 (never) or positive, got {probe_every}")
    if threads < 0:
        raise UserError(f"--threads must be 0 or positive, got {threads}")
    if threads:
        import torch

        torch.set_num_threads(threads)
    groups = [[c.strip() for c in g.split(",") if c.strip()] for g in columns] if columns else None
    spec = data_spec(data, parties, [str(p) for p in party_file or []], list(id_column or []), groups, impute, split_seed,
                     max_rows=max_rows)
    run = train_vfl_run(spec, model, out, seed, epochs, iterations, SIZE_PRESETS[size],
                        GanConfig(batch_size=batch_size, lr=lr, lambda_gp=lambda_gp), device, overwrite, quiet,
                        dp=dp, epsilon=epsilon, delta=delta, sigma=sigma, conversion=conversion, clip=clip,
                        schema=str(schema) if schema is not None else None, n_public=n_public,
                        probe_every=probe_every, rng=rng, transport=transport, address=address,
                        party_resources=list(party_resource or []), align=align)
    m = run.metrics
    if "party_rows" in m:
        print("joined on ID: " + ", ".join(f"{p['file']} {p['matched']} of {p['rows']} rows matched" for p in m["party_rows"]))
    ms = "-" if m.get("iteration_time_s") is None else f"{m['iteration_time_s'] * 1000:.1f}"
    print(f"{model}: {m['iterations']} iterations on {m['n_train']} rows, {m['parties']} parties, "
          f"{ms} ms/iteration, {m['bytes_per_iteration']:.0f} bytes/iteration; wrote {run.path}")
    if "dp" in m:
        d = m["dp"]
        print(f"dp {d['mode']}: ε = {d['epsilon']:.4g}, δ = {d['delta']:g} ({d['claim']}; {d['adjacency']}), "
              f"σ = {d['sigma']:.4g}, q = {d['sample_rate']:.4g}, {d['steps']} critic steps ({d['conversion']} "
              f"conversion); not covered: see {run.path / 'report.md'}")


@app.command("schema")
def schema_cmd(
    out: Path = typer.Option(..., "--out", help="schema.json to write (a template: edit it into public bounds)."),
    data: str = typer.Option(None, "--data", help="Embedded table or a CSV/Parquet table."),
    party_file: list[Path] = PartyFile,
    id_column: list[str] = IdColumn,
    overwrite: bool = Overwrite,
) -> None:
    """Write a schema template for `vfl train --dp sound --schema`: observed ranges and categories, which
    are the private rows' own; replace them with public knowledge before the DP run."""
    from privgen.data.tables import load_table, read_table_file
    from privgen.privacy.schema import template_from
    from privgen.runs import atomic_write_json
    from privgen.vfl.partition import join_party_frames

    if out.exists() and not overwrite:
        raise UserError(f"--out {out} exists; choose another path or pass --overwrite")
    if party_file:
        for p in party_file:
            if not p.is_file():
                raise UserError(f"--party-file {p} does not exist")
        df, _ = join_party_frames([read_table_file(p) for p in party_file], [p.name for p in party_file], list(id_column or []))
    elif data:
        df = load_table(data).frame
    else:
        raise UserError("give --data (a table) or --party-file ... --id-column")
    atomic_write_json(out, template_from(df))
    print(f"wrote {out} ({df.shape[1]} columns): a TEMPLATE from the data; replace its bounds and categories "
          "with public ones before a DP run")


@app.command("generate")
def generate(
    model: Path = typer.Option(..., "--model", help="A run directory made by `privgen vfl train`."),
    n: int = typer.Option(1000, "--n", help="Number of synthetic rows / images."),
    out: Path = typer.Option(..., "--out", help="synth.csv / .parquet for tables, samples.npz (+ .png grid) for images."),
    where: list[str] = typer.Option(None, "--where", help="Keep only rows with COLUMN=CATEGORY (repeatable)."),
    transport: str = typer.Option("inprocess", "--transport", help="ray: each party runs its own generator where it lives "
                                  "(a model trained with --transport ray)."),
    address: str = typer.Option(None, "--address", help="Ray cluster to join (auto or HOST:PORT)."),
    party_resource: list[str] = typer.Option(None, "--party-resource", help="Ray custom resource of party k's node (repeat)."),
    seed: int = Seed, device: str = Device,
) -> None:
    """Publish synthetic data: all parties run their generators on the same latents; columns are joined."""
    from privgen.seeding import resolve_device, seed_everything
    from privgen.vfl.partition import TableLayout
    from privgen.vfl.publish import check_out, parse_where, sample_table, write_images, write_table
    from privgen.vfl.store import load_model

    if n <= 0:
        raise UserError(f"--n must be positive, got {n}")
    conditions = parse_where(where)
    if transport == "ray":
        _generate_ray(model, n, out, conditions, seed, address, list(party_resource or []))
        return
    if transport != "inprocess":
        raise UserError(f"--transport {transport!r} is unknown; choose inprocess or ray")
    dev = resolve_device(device)
    vfl_model, layout, _ = load_model(model, dev)
    check_out(layout, out)
    seed_everything(seed)
    if isinstance(layout, TableLayout):
        df = sample_table(vfl_model, layout, n, seed, conditions)
        write_table(df, out)
        moved = {c: k for c, k in df.attrs.get("clipped", {}).items() if k}
        print(f"wrote {out} ({len(df)} rows, {df.shape[1]} columns)"
              + (f"; clipped to the columns' bounds: {', '.join(f'{c} {k}' for c, k in moved.items())} values"
                 if moved else ""))
    else:
        if conditions:
            raise UserError("--where applies to tables; this is an image model")
        png = write_images(layout.join(vfl_model.sample(n, seed)), out)
        print(f"wrote {out} and {png}")


def _generate_ray(model: Path, n: int, out: Path, conditions: list, seed: int, address: str | None,
                  resources: list[str]) -> None:
    from privgen.vfl.publish import write_images, write_table
    from privgen.vfl.ray_run import generate_ray

    if conditions:
        raise UserError("--where is not available with --transport ray; filter the published table afterwards")
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".npz") or out.is_dir():
        raise UserError(f"--out {out}: write .csv/.parquet (tables) or .npz (images)")
    x = generate_ray(model, n, seed, address, resources)
    if hasattr(x, "columns"):
        if suffix == ".npz":
            raise UserError(f"--out {out}: a table model writes .csv or .parquet")
        write_table(x, out)
        print(f"wrote {out} ({len(x)} rows, {x.shape[1]} columns; each party's columns from its own generator)")
    else:
        if suffix != ".npz":
            raise UserError(f"--out {out}: an image model writes an .npz (plus a grid .png)")
        print(f"wrote {out} and {write_images(x, out)}")


@app.command("publish")
def publish(
    run: Path = typer.Argument(..., help="A finished run directory made by `privgen vfl train`."),
    out: Path = typer.Option(..., "--out", help="New folder for the release (must not exist): synthetic data, "
                             "dp_statement.json, README.md; nothing else from the run."),
    n: int = typer.Option(1000, "--n", help="Number of synthetic rows / images."),
    allow_unguaranteed: bool = typer.Option(False, "--allow-unguaranteed", help="Publish a --dp none or --dp paper "
                                            "run too; its statement then says guarantee: false."),
    fmt: str = typer.Option(None, "--format", help="csv (default) or parquet, for a table model."),
    seed: int = Seed, device: str = Device,
) -> None:
    """Export exactly what is meant to be public: the synthetic data and a DP statement (public parameters only)."""
    from privgen.vfl.release import publish_run

    r = publish_run(run, out, n, seed, allow_unguaranteed, fmt, device)
    print(f"wrote {r['out']}: {', '.join(r['files'])} (dp {r['mode']}, guarantee: {str(r['guarantee']).lower()})")
