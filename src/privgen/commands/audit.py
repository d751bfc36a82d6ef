"""`privgen audit synthetic` (membership inference against published synthetic data with shadow models),
`privgen audit dp` (a DP claim audited in one training run with canaries) and `privgen audit unlearning` (the
relearning battery against an unlearned model)."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Columns, IdColumn, PartyFile, Overwrite, Quiet, Sampler, Seed, SplitSeed, renamed
from privgen.errors import UserError

app = typer.Typer(help="Privacy audits: what published outputs leak about one record.", no_args_is_help=True)

_FEATURES = {"corr": ("corr",), "naive": ("naive",), "both": ("corr", "naive")}
_ON = {"synthetic": ("synthetic",), "intermediate": ("intermediate",), "both": ("synthetic", "intermediate")}


@app.command("synthetic")
def synthetic(
    out: Path = typer.Option(..., "--out", help="Audit directory (metrics.json, report.md, roc.png, shadow/); "
                             "an unfinished audit there resumes."),
    model: Path = typer.Option(None, "--model", help="A run directory made by `privgen vfl train`: its data, "
                               "columns, schema, model type, size, batch size, iterations and DP mode are audited."),
    data: str = typer.Option(None, "--data", help="Embedded table (adult, wine, breast_cancer) or a CSV/Parquet path "
                             "(default without --model or --party-file: adult)."),
    party_file: list[Path] = PartyFile,
    id_column: list[str] = IdColumn,
    columns: list[str] = Columns,
    schema: Path = typer.Option(None, "--schema", help="Public schema JSON (bounds, categories): shadow models "
                                "encode with it (needed by --dp sound on your own data)."),
    parties: int = typer.Option(3, "--parties", help="Number of parties (column groups of --data)."),
    model_type: str = typer.Option(None, "--model-type", help="vflgan (default), vertigan or centralized; "
                                   "with --model, the run's."),
    target: str = typer.Option("auto", "--target", help="Training-row number of the target; auto: the most "
                               "isolated row (largest distance to its nearest neighbour); planted: an extreme row "
                               "added to the data (every number at its maximum, every category at its rarest)."),
    shadow_pairs: int = typer.Option(50, "--shadow-pairs", help="K: models trained with the target and K without."),
    features: str = typer.Option("both", "--features", help="corr (correlation matrix), naive (column statistics) or both."),
    on: str = typer.Option("synthetic", "--on", help="synthetic (ASSD: the published rows), intermediate (ASIF: "
                           "each party's D_Ck features on the real rows) or both."),
    iterations: int = typer.Option(None, "--iterations", help="Generator iterations per shadow model (default 500; "
                                   "with --model, the run's)."),
    size: str = typer.Option(None, "--size", help="Network sizes: small (default), reference, tiny; with --model, the run's."),
    batch_size: int = typer.Option(None, "--batch-size", help="Rows per step (default 64; with --model, the run's)."),
    max_rows: int = typer.Option(None, "--max-rows", help="Audit on at most this many training rows."),
    n_synthetic: int = typer.Option(None, "--n-synthetic", help="Rows each model publishes (default: as many as it trained on)."),
    alpha: float = typer.Option(0.05, "--alpha", help="1 - confidence of the ε lower bound."),
    delta: float = typer.Option(None, "--delta", help="δ of the claim the bound is compared with (default 1e-5; "
                                "with --model, the run's)."),
    dp: str = typer.Option(None, "--dp", help="Train every shadow model under DP: none (default), paper (DP-VFLGAN as "
                           "published) or sound; the accountant's ε becomes the claim the bound is set beside. "
                           "With --model, the run's."),
    dp_epsilon: float = typer.Option(None, "--epsilon", help="Target ε of --dp (σ calibrated over the planned critic steps)."),
    dp_sigma: float = typer.Option(None, "--sigma", help="Noise multiplier of --dp instead of --epsilon."),
    epsilon: float = typer.Option(None, "--claimed-epsilon", help="The ε the published model claims (default: no "
                                  "DP claim; with --dp, the accountant's ε)."),
    workers: int = typer.Option(0, "--workers", help="Processes training shadow models (0: every core)."),
    seed: int = Seed, split_seed: int = SplitSeed, overwrite: bool = Overwrite, quiet: bool = Quiet,
) -> None:
    """Train K shadow models with the target row and K without, attack the published data, bound ε."""
    from privgen import checks
    from privgen.audit.generators import GeneratorSpec
    from privgen.audit.run import AuditSettings, run_audit
    from privgen.vfl.models import MODELS
    from privgen.vfl.nets import SIZE_PRESETS
    from privgen.vfl.partition import TableLayout
    from privgen.vfl.sources import load_vertical

    model, model_type = _model_meaning(model, model_type, MODELS)
    lr, lambda_gp, clip = 2e-4, 40.0, 1.0
    if model is not None:  # the run supplies the recipe; options that would contradict it are refused
        from privgen.audit.source import run_recipe

        given = [f for f, v in (("--data", data), ("--party-file", party_file), ("--id-column", id_column),
                                ("--columns", columns), ("--schema", schema), ("--model-type", model_type),
                                ("--dp", dp), ("--epsilon", dp_epsilon), ("--sigma", dp_sigma)) if v]
        if given:
            raise UserError(f"--model {model} supplies the data, columns, schema, model type and DP mode of the run; "
                            f"drop {', '.join(given)}")
        r = run_recipe(model)
        model_type, dp, dp_sigma, clip, lr, lambda_gp = r.model_type, r.dp, r.sigma, r.clip, r.lr, r.lambda_gp
        size, iterations = size or r.size, iterations or r.iterations
        batch_size, delta = batch_size or r.batch_size, r.delta if delta is None else delta
        vd_spec = {**r.data_spec, "max_rows": max_rows or r.data_spec.get("max_rows")}
    else:
        vd_spec = _audit_spec(data, party_file, id_column, columns, parties, split_seed, max_rows)
    model_type, size, dp = model_type or "vflgan", size or "small", dp or "none"
    iterations, batch_size, delta = iterations or 500, batch_size or 64, 1e-5 if delta is None else delta
    if features not in _FEATURES:
        raise UserError(f"--features {features!r} is unknown; choose corr, naive or both")
    if on not in _ON:
        raise UserError(f"--on {on!r} is unknown; choose synthetic, intermediate or both")
    if model_type not in MODELS:
        raise UserError(f"--model-type {model_type!r} is unknown; choose one of {', '.join(MODELS)}")
    if model_type == "centralized" and "intermediate" in _ON[on]:
        raise UserError("--on intermediate attacks the parties' bottom critics; the centralized model has none "
                        "(use --on synthetic)")
    if size not in SIZE_PRESETS:
        raise UserError(f"--size {size!r} is unknown; choose one of {', '.join(SIZE_PRESETS)}")
    checks.positive_int("--iterations", iterations)
    checks.positive_int("--batch-size", batch_size)
    if epsilon is not None:
        checks.finite_positive("--claimed-epsilon", epsilon)
    from privgen.privacy.vfl_plan import check_dp_options, plan_dp

    check_dp_options(dp, model_type, dp_epsilon, delta, dp_sigma, "improved", clip, batch_size, 0)
    if dp != "none" and epsilon is not None:
        raise UserError("--claimed-epsilon is the accountant's ε under --dp; give one or the other")
    settings = AuditSettings(pairs=shadow_pairs, features=_FEATURES[features], on=_ON[on], n_synthetic=n_synthetic,
                             alpha=alpha, delta=delta, seed=seed)
    settings.validate()
    if schema is not None:
        vd_spec = {**vd_spec, "schema": str(schema.resolve())}
    elif dp == "sound" and not vd_spec.get("schema"):  # the sound mode encodes with a public schema: the audit must too
        from privgen.privacy.schema import BUILTIN, schema_ref

        name = vd_spec.get("data")
        vd_spec = {**vd_spec, "schema": schema_ref(name, fix=f"pass --schema (privgen ships one for "
                                                              f"{', '.join(BUILTIN)} only, not {name or 'party files'!r})")}
    vd = load_vertical(vd_spec)  # the same loading (and join) as `vfl train`
    if not isinstance(vd.layout, TableLayout):
        raise UserError(f"--data {vd_spec.get('data')} is an image dataset; the synthetic-data audit works on tables")
    options = {"model": model_type, "groups": vd.layout.party_columns(), "target": vd.layout.target, "size": size,
               "iterations": iterations, "batch_size": batch_size, "dp": dp, "epsilon": dp_epsilon, "sigma": dp_sigma,
               "delta": delta, "schema": vd_spec.get("schema"), "n_public": len(vd.raw_train)}
    # a run's own lr / gradient penalty / clip, written only when not the defaults (earlier audits' configs stay)
    options.update({k: v for k, v, d in (("lr", lr, 2e-4), ("lambda_gp", lambda_gp, 40.0), ("clip", clip, 1.0)) if v != d})
    spec = GeneratorSpec("vfl", options)
    if dp != "none":  # the claim: what the accountant gives the shadow models' training (one row fewer: OUT)
        from privgen.vfl.config import GanConfig

        _, acc = plan_dp(dp, dp_epsilon, delta, dp_sigma, "improved", clip, len(vd.raw_train), batch_size,
                         iterations * GanConfig().n_critic)
        epsilon = acc.epsilon
    extra = {"data": vd_spec.get("data"), "party_files": vd_spec.get("party_files") or None,
             "id_column": vd_spec.get("id_column"), "columns": vd_spec.get("columns"), "parties": parties,
             "split_seed": vd_spec.get("split_seed", split_seed), "max_rows": vd_spec.get("max_rows"), "dp": dp}
    if model is not None:
        extra["audited_run"] = str(model.resolve())
    run = run_audit(vd.raw_train, vd.layout, spec, settings, out, target=target, claimed_epsilon=epsilon,
                    workers=workers, overwrite=overwrite, quiet=quiet,
                    extra_config={k: v for k, v in extra.items() if v is not None or k in ("data", "max_rows")})
    m = run.metrics
    print(f"{m['verdict']}\nbest attack {m['best_attack']}: accuracy "
          f"{m['attacks'][m['best_attack']]['accuracy_mean']:.3f}, AUC {m['attacks'][m['best_attack']]['auc_mean']:.3f}; "
          f"report: {run.file('report.md')}")


def _model_meaning(model: Path | None, model_type: str | None, types) -> tuple[Path | None, str | None]:
    """--model is a trained run directory, as everywhere else. Its old meaning here (a model type) keeps
    working for one release when the value is a type name and no such directory exists, with a warning."""
    if model is not None and str(model) in types and not model.exists():
        renamed_value = renamed("--model-type", model_type, "--model (a model type)", str(model), "vflgan")
        return None, renamed_value
    if model is not None and not model.is_dir():
        raise UserError(f"--model {model} is not a directory; give a run directory made by `privgen vfl train` "
                        f"(a model type goes in --model-type: {', '.join(types)})")
    return model, model_type


def _audit_spec(data: str | None, party_file: list[Path] | None, id_column: list[str] | None,
                columns: list[str] | None, parties: int, split_seed: int, max_rows: int | None) -> dict:
    """The user's rows as `vfl train` reads them: party files joined on their IDs, or a table cut by columns."""
    from privgen.vfl.sources import data_spec

    groups = [[c.strip() for c in g.split(",") if c.strip()] for g in columns] if columns else None
    if party_file:
        return data_spec(data, parties, [str(p) for p in party_file], list(id_column or []), groups,
                         split_seed=split_seed, max_rows=max_rows)
    if id_column:
        raise UserError("--id-column goes with --party-file")
    return data_spec(data or "adult", parties, columns=groups, split_seed=split_seed, max_rows=max_rows)


@app.command("dp")
def dp_audit(
    out: Path = typer.Option(..., "--out", help="Audit directory (metrics.json, report.md, scores.png)."),
    data: str = typer.Option("adult", "--data", help="Embedded dataset (adult, mnist5k, ...) or a CSV/Parquet table."),
    party_file: list[Path] = PartyFile,
    id_column: list[str] = IdColumn,
    parties: int = typer.Option(3, "--parties", help="Number of parties (image bands or column groups)."),
    model: str = typer.Option("vflgan", "--model-type", "--model", help="vflgan or centralized (the models with a "
                              "DP mode; --model is the same option's earlier name)."),
    dp: str = typer.Option("sound", "--dp", help="none, paper (DP-VFLGAN as published) or sound."),
    dp_epsilon: float = typer.Option(None, "--epsilon", help="Target ε of --dp (σ calibrated over the planned steps)."),
    dp_sigma: float = typer.Option(None, "--sigma", help="Noise multiplier of --dp instead of --epsilon."),
    delta: float = typer.Option(1e-5, "--delta", help="δ of the claim."),
    clip: float = typer.Option(1.0, "--clip", help="Per-example clip norm C of --dp sound."),
    schema: Path = typer.Option(None, "--schema", help="Public schema JSON of a table (--dp sound on your own data)."),
    canaries: int = typer.Option(500, "--canaries", help="M: crafted rows, each included by a secret fair coin."),
    access: str = typer.Option("white-box", "--access", help="black-box (the published synthetic data only) or "
                               "white-box (also the critics and, with --gradient-canaries, every critic update)."),
    gradient_canaries: int = typer.Option(0, "--gradient-canaries", help="Dirac gradient canaries inserted into the "
                                          "per-example gradient sum (white-box; --dp sound or none)."),
    canary_norm: float = typer.Option(1000.0, "--canary-norm", help="Norm of a gradient canary (the sound mode clips it to C)."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence of the ε lower bound."),
    score: str = typer.Option("all", "--score", help="The score to test, chosen in advance: synthetic-distance, "
                              "critic, gradient; all: every score the access allows, the confidence split between them."),
    claimed_epsilon: float = typer.Option(None, "--claimed-epsilon", help="The ε under test; it must be the run's own "
                                          "(its accountant's), which is the default."),
    iterations: int = typer.Option(500, "--iterations", help="Generator iterations of the one training run."),
    size: str = typer.Option("small", "--size", help="Network sizes: reference, small, tiny."),
    batch_size: int = typer.Option(64, "--batch-size", help="Rows per step (B)."),
    max_rows: int = typer.Option(None, "--max-rows", help="Use at most this many training rows."),
    n_synthetic: int = typer.Option(None, "--n-synthetic", help="Synthetic rows the black-box score searches (default: N)."),
    seed: int = Seed, split_seed: int = SplitSeed, overwrite: bool = Overwrite, quiet: bool = Quiet,
) -> None:
    """Audit a DP claim in one training run: canaries in, one training, an ε lower bound and a verdict."""
    from privgen.audit.dp_audit import DpAuditSettings, run_dp_audit
    from privgen.vfl.sources import data_spec

    settings = DpAuditSettings(canaries=canaries, access=access, gradient_canaries=gradient_canaries,
                               canary_norm=canary_norm, confidence=confidence, iterations=iterations, size=size,
                               batch_size=batch_size, seed=seed, n_synthetic=n_synthetic, score=score)
    settings.validate()
    spec = data_spec(None if party_file else data, parties, [str(p) for p in party_file or []], list(id_column or []),
                     split_seed=split_seed, max_rows=max_rows)
    if schema is not None:
        spec["schema"] = str(schema.resolve())
    run = run_dp_audit(spec, model, dp, dp_epsilon, dp_sigma, delta, settings, out, claimed_epsilon, clip,
                       overwrite, quiet)
    m = run.metrics
    print(f"{m['verdict']}: ε ≥ {m['eps_lower_bound']:.3g} at {confidence:.0%} (best score: {m['best_score']}; "
          f"ceiling {m['max_certifiable_epsilon']:.3g}); claim: "
          + ("none" if m["claimed_epsilon"] is None else f"ε = {m['claimed_epsilon']:.4g}")
          + f"; report: {run.file('report.md')}")


def _floats(flag: str, text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UserError(f"{flag} {text!r} is not a comma list of numbers (e.g. 1e-4,1e-3)") from None


def _ints(flag: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UserError(f"{flag} {text!r} is not a comma list of whole numbers (e.g. 25,50,100)") from None


@app.command("unlearning")
def unlearning(
    model: Path = typer.Option(..., "--model", help="The unlearned model directory to audit (its deletion record "
                               "names the forgotten class)."),
    out: Path = typer.Option(..., "--out", help="Audit directory (metrics.json, report.md, curves.png); an "
                             "unfinished audit there resumes, every finished attack is reused from the cache."),
    original: Path = typer.Option(None, "--original", help="The model before unlearning, attacked too as a reference."),
    oracle: Path = typer.Option(None, "--oracle", help="A model retrained without the class (privgen unlearn run "
                                "--method retrain); default: trained from the base model's recipe and cached."),
    oracle_recipe: str = typer.Option(None, "--oracle-recipe", help="Recipe of the oracle to train (it must be the "
                                      "base model's, so relearning speeds compare)."),
    forget: str = typer.Option(None, "--forget", help="The class to measure, for a model without a deletion record."),
    regimes: str = typer.Option("all", "--regimes", help="Comma list of retain, generated, public, public-without, "
                                "kshot-K (all: those with K = 1, 10, 100)."),
    lrs: str = typer.Option("1e-4,1e-3", "--lrs", help="Learning rates of the budget grid."),
    steps: int = typer.Option(200, "--steps", help="Attack steps (the longest budget)."),
    probe_steps: str = typer.Option("25,50,100", "--probe-steps", help="Steps inside the attack where the forget rate "
                                    "(and the oracle's quality) is measured; step 0 and --steps always are."),
    batch_size: int = typer.Option(64, "--batch-size", help="Images per attack step."),
    n_per_class: int = typer.Option(50, "--n-per-class", help="Samples of the forgotten class per curve point."),
    quality_n_per_class: int = typer.Option(10, "--quality-n-per-class", help="Samples per class for the oracle's "
                                            "retained FD at each point (the quality rule)."),
    quality_factor: float = typer.Option(1.5, "--quality-factor", help="A budget counts while the oracle's retained "
                                         "FD stays within this factor of its own before the attack."),
    rate: float = typer.Option(0.5, "--rate", help="Forget rate r at which relearning speed is compared."),
    margin: float = typer.Option(10.0, "--margin", help="Recovery beyond the oracle, in points, that counts as a "
                                 "leak: a verdict needs the interval wholly above (leaks) or below (resists) it."),
    speedup_margin: float = typer.Option(1.25, "--speedup-margin", help="Relearning speedup over the oracle that "
                                         "counts as a leak (interval wholly above: leaks; below: no leak)."),
    threat: str = typer.Option("class-samples", "--threat", help="Which table gates the headline verdict: "
                               "class-samples (the attacker wants the class's samples; every attack step counts) or "
                               "usable-model (only steps the quality rule keeps count)."),
    guidance_scale: float = typer.Option(3.0, "--guidance-scale", help="Guidance of the forget-rate samples."),
    sampler: str = Sampler,
    num_inference_steps: int = typer.Option(None, "--num-inference-steps", help="Sampler steps of every sample "
                                            "(default: the sampler's; 15 for dpmpp, 25 for ddim)."),
    workers: int = typer.Option(2, "--workers", help="Processes running attacks side by side."),
    seed: int = Seed, device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, or cuda[:N]."),
    overwrite: bool = Overwrite, quiet: bool = Quiet,
) -> None:
    """Run the relearning battery on an unlearned model and score it against the retrain oracle."""
    from privgen.audit.unlearning.run import AuditSettings, run_audit

    settings = AuditSettings(regimes=tuple(r.strip() for r in regimes.split(",") if r.strip()),
                             lrs=_floats("--lrs", lrs), steps=steps, probe_steps=_ints("--probe-steps", probe_steps),
                             batch_size=batch_size, n_per_class=n_per_class, guidance_scale=guidance_scale,
                             sampler=sampler, num_inference_steps=num_inference_steps,
                             quality_n_per_class=quality_n_per_class,
                             quality_factor=quality_factor, rate=rate, margin=margin, speedup_margin=speedup_margin,
                             threat=threat, seed=seed, device=device)
    run = run_audit(model, out, settings, forget=forget, oracle=oracle, oracle_recipe=oracle_recipe,
                    original=original, workers=workers, overwrite=overwrite, quiet=quiet)
    print(f"{run.metrics['verdict']}\nreport: {run.file('report.md')}")
