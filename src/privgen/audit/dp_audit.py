"""`privgen audit dp`: audit a VFL generator's DP claim in ONE training run with canaries.

M input canaries (crafted rows, `privgen.audit.canaries`) and, white-box, G gradient canaries
(`privgen.audit.gradient_canaries`) are each included by a secret fair coin; the model trains once; every
canary is scored; the one-run bounds (`privgen.audit.one_run`: Steinke, Nasr, Jagielski 2023, and the f-DP
test of Mahloujifar et al. 2025 under the Gaussian hypothesis) turn the guesses into an ε lower bound that
is set beside the run's claimed ε, with the audit's own ceiling so that a 0 is read as "no power" when it is.

Scores (higher = "in"): black-box, minus the distance from the canary to its nearest published synthetic row
(the public's view); white-box, the whole critic's score of the canary (the developer's view), and each
gradient canary's largest update at its coordinate. Each score type is one more test: the confidence is
split between them (Bonferroni), on top of the split over guess counts inside `one_run`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privgen import checks
from privgen.audit import one_run
from privgen.audit.canaries import image_canaries, schema_extremes, secret_coins, table_canaries
from privgen.audit.gradient_canaries import GradientCanaries
from privgen.audit.planted import PLANTED, plant
from privgen.errors import UserError
from privgen.runs import RunDir

KIND = "audit_dp"
ACCESS = ("black-box", "white-box")
BLACK_BOX, CRITIC, GRADIENT = ("black-box: nearest synthetic row", "white-box: critic score",
                               "white-box: gradient canaries (spike likelihood ratio)")
# Score types by name: `--score` picks one in advance (the whole confidence on it), `all` tests every one the
# access allows and splits the confidence between them.
SCORES = {"synthetic-distance": BLACK_BOX, "critic": CRITIC, "gradient": GRADIENT}
MODELS = ("vflgan", "centralized")


@dataclass(frozen=True)
class DpAuditSettings:
    canaries: int = 500
    access: str = "white-box"
    gradient_canaries: int = 0
    canary_norm: float = 1000.0
    confidence: float = 0.95
    iterations: int = 500
    size: str = "small"
    batch_size: int = 64
    seed: int = 0
    n_synthetic: int | None = None
    planted: str | None = None
    score: str = "all"

    def validate(self, n_rows: int | None = None) -> None:
        if self.access not in ACCESS:
            raise UserError(f"--access {self.access!r} is unknown; choose black-box or white-box")
        checks.positive_int("--canaries", self.canaries, minimum=2)
        if n_rows is not None and self.canaries > n_rows:
            raise UserError(f"--canaries {self.canaries} is more than the {n_rows} training rows; canaries must be a "
                            f"minority of the data: use at most {n_rows}")
        if self.gradient_canaries < 0:
            raise UserError(f"--gradient-canaries must be 0 or positive, got {self.gradient_canaries}")
        if self.gradient_canaries and self.access != "white-box":
            raise UserError("--gradient-canaries are read from the critic's updates: they need --access white-box")
        if self.gradient_canaries == 1:
            raise UserError("--gradient-canaries needs at least 2 (or 0: none)")
        checks.finite_positive("--canary-norm", self.canary_norm)
        if not 0.5 < self.confidence < 1:
            raise UserError(f"--confidence must be in (0.5, 1), got {self.confidence}")
        checks.positive_int("--iterations", self.iterations)
        checks.positive_int("--batch-size", self.batch_size, minimum=2)
        checks.optional_positive_int("--n-synthetic", self.n_synthetic)
        if self.score != "all" and self.score not in SCORES:
            raise UserError(f"--score {self.score!r} is unknown; choose all, {', '.join(SCORES)}")
        if self.score in ("critic", "gradient") and self.access != "white-box":
            raise UserError(f"--score {self.score} reads the critic: it needs --access white-box")
        if self.score == "gradient" and not self.gradient_canaries:
            raise UserError("--score gradient needs --gradient-canaries (at least 2)")
        if self.planted is not None and self.planted not in PLANTED:
            raise UserError(f"planted bug {self.planted!r} is unknown; one of {', '.join(PLANTED)}")


def check_claim(mode: str, claimed: float | None, accountant: float | None) -> float | None:
    """The ε the audit tests: the run's own. A claim the run does not carry is refused, not tested."""
    if claimed is None:
        return accountant
    if mode == "none":
        raise UserError(f"--claimed-epsilon {claimed:g}: this run trains without DP and carries no ε; train it with "
                        "--dp paper or --dp sound (its accountant's ε is the claim), or drop --claimed-epsilon")
    if accountant is not None and not np.isclose(claimed, accountant, rtol=1e-3):
        raise UserError(f"--claimed-epsilon {claimed:g}: the run carries ε = {accountant:.4g} (its accountant's); the "
                        "audit tests the claim the run makes: drop --claimed-epsilon or pass that value")
    return accountant


def critic_scores(model, parts: list[torch.Tensor]) -> np.ndarray:
    """The whole critic's score of each row: D_S on the joined features plus λ_loc·Σ_k D_pk (vflgan), or the
    pooled critic (centralized). Higher means "looks like training data"."""
    with torch.no_grad():
        if hasattr(model, "pool"):
            p = model.pool
            return p.head(p.bottom(torch.cat(parts, 1))).flatten().numpy()
        feats = [p.bottom(x) for p, x in zip(model.parties, parts)]
        local = sum(p.head(f) for p, f in zip(model.parties, feats))
        return (model.server.critic(torch.cat(feats, 1)) + model.cfg.lambda_local * local).flatten().numpy()


def nearest_synthetic_scores(canaries: np.ndarray, synthetic: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Minus the distance from each canary to its nearest synthetic row (encoded space)."""
    syn = torch.from_numpy(np.asarray(synthetic, dtype=np.float32))
    out = []
    for i in range(0, len(canaries), chunk):
        c = torch.from_numpy(np.asarray(canaries[i:i + chunk], dtype=np.float32))
        out.append(torch.cdist(c, syn).min(1).values)
    return -torch.cat(out).numpy()


def _bounds(scores: np.ndarray, is_in: np.ndarray, confidence: float, delta: float) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    eps, guesses, tried = one_run.best_guesses(scores, is_in, confidence=confidence, delta=delta)
    eps_f, guesses_f, _ = one_run.best_guesses(scores, is_in, confidence=confidence, delta=delta, method="fdp")
    return {"m": int(len(scores)), "included": int(is_in.sum()),
            "auc": float(roc_auc_score(is_in, scores)) if 0 < is_in.sum() < len(is_in) else None,
            "eps_lower_bound": eps, "guesses": asdict(guesses), "guess_pairs_tried": tried,
            "eps_lower_bound_fdp": eps_f, "guesses_fdp": asdict(guesses_f),
            "max_certifiable_epsilon": one_run.max_certifiable(len(scores), confidence=confidence, delta=delta)}


def _slots(real: list[np.ndarray], canary_parts: list[np.ndarray], coins: np.ndarray, replace_one: bool,
           seed: int) -> list[np.ndarray]:
    """The rows the coins add to the training data. Add/remove (sound, none): the included canaries. Replace-one
    (the paper mode's adjacency): every slot holds its canary if the coin says so, else a filler (a copy of a
    real row chosen from the seed), so N stays fixed and neighbouring runs differ by one replaced row."""
    if not replace_one:
        return [c[coins] for c in canary_parts]
    fillers = np.random.default_rng(seed + 2).integers(0, len(real[0]), len(coins))
    return [np.where(coins[:, None], c, x[fillers]) for x, c in zip(real, canary_parts)]


def run_dp_audit(spec: dict[str, Any], model_name: str, dp: str, epsilon: float | None, sigma: float | None,
                 delta: float, settings: DpAuditSettings, out: Path | str, claimed_epsilon: float | None = None,
                 clip: float = 1.0, overwrite: bool = False, quiet: bool = False) -> RunDir:
    """Train once with canaries, score them, bound ε; every input is checked before anything is written."""
    from privgen.privacy.schema import schema_ref
    from privgen.privacy.vfl_plan import ADJACENCY, GUARANTEE, check_dp_options, plan_dp
    from privgen.seeding import seed_everything
    from privgen.vfl.config import GanConfig
    from privgen.vfl.nets import SIZE_PRESETS
    from privgen.vfl.partition import ImageLayout
    from privgen.vfl.sources import is_table_spec, load_vertical
    from privgen.vfl.store import build_model
    from privgen.vfl.trainer import train

    if model_name not in MODELS:
        raise UserError(f"--model {model_name!r}: the DP audit runs on {' or '.join(MODELS)} (the models with a DP mode)")
    if settings.size not in SIZE_PRESETS:
        raise UserError(f"--size {settings.size!r} is unknown; choose one of {', '.join(SIZE_PRESETS)}")
    settings.validate()
    cfg = GanConfig(batch_size=settings.batch_size)
    check_dp_options(dp, model_name, epsilon, delta, sigma, "improved", clip, cfg.batch_size, 0)
    if settings.planted is not None and dp != "sound":
        raise UserError(f"planted bug {settings.planted!r} sits in the sound mode's noise: audit it with --dp sound")
    if settings.gradient_canaries and dp == "paper":
        raise UserError("--gradient-canaries test per-example clipping; --dp paper clips the first layer's batch "
                        "gradient as a whole, where a canary example has no gradient of its own: audit it with input "
                        "canaries (--gradient-canaries 0)")
    if dp == "sound" and is_table_spec(spec):
        spec = {**spec, "schema": schema_ref(spec.get("data"), spec.get("schema"))}
    data = load_vertical(spec)
    settings.validate(data.n)
    m = settings.canaries
    # N is public and fixed before any coin is drawn: replace-one (paper) keeps every canary slot filled
    n_public = data.n + (m if dp == "paper" else m // 2)
    dp_cfg, acc = plan_dp(dp, epsilon, delta, sigma, "improved", clip, n_public, cfg.batch_size,
                          settings.iterations * cfg.n_critic)
    claim = check_claim(dp, claimed_epsilon, acc.epsilon if acc else None)

    spans = data.layout.spans()
    if isinstance(data.layout, ImageLayout):
        canary_parts = data.layout.split(image_canaries(tuple(data.layout.shape), m, settings.seed))
    else:
        ranges = schema_extremes(data.train, spans) if dp == "sound" else data.train
        canary_parts = table_canaries(ranges, spans, m, settings.seed)
    coins = secret_coins(m)
    grad_coins = secret_coins(settings.gradient_canaries)
    config = {"data_spec": spec, "model": model_name, "dp": dp, "epsilon": epsilon, "sigma": sigma, "delta": delta,
              "clip": clip, **asdict(settings), "n_public": n_public}
    run = RunDir.create(out, KIND, config, overwrite=overwrite)
    seed_everything(settings.seed)
    parts = [torch.from_numpy(np.concatenate([x, c]).astype(np.float32))
             for x, c in zip(data.train, _slots(data.train, canary_parts, coins, dp == "paper", settings.seed))]
    model = build_model(model_name, data.layout.dims(), data.layout, SIZE_PRESETS[settings.size], cfg, parts=parts,
                        dp=dp_cfg)
    replay = plant(model, settings.planted, settings.seed) if settings.planted else None
    hook = None
    if settings.gradient_canaries:
        hook = GradientCanaries.place(model, settings.gradient_canaries, grad_coins, cfg.batch_size / n_public,
                                      settings.canary_norm, dp_cfg.clip if dp == "sound" else None, settings.seed,
                                      replay=replay, noise_std=dp_cfg.sigma * dp_cfg.clip)
        for owner in [*getattr(model, "parties", []), getattr(model, "server", None), getattr(model, "pool", None)]:
            if owner is not None:
                owner.audit_hook = hook
    t0 = time.perf_counter()
    train(model, len(parts[0]), settings.iterations, settings.seed, quiet=quiet)
    train_seconds = time.perf_counter() - t0

    n_syn = settings.n_synthetic or data.n
    with torch.random.fork_rng():
        synthetic = np.concatenate(model.sample(n_syn, settings.seed + 1), 1)
    canary_rows = np.concatenate(canary_parts, 1)
    scored = {BLACK_BOX: (nearest_synthetic_scores(canary_rows, synthetic), coins)}
    if settings.access == "white-box":
        scored[CRITIC] = (critic_scores(model, [torch.from_numpy(c) for c in canary_parts]), coins)
    if hook is not None:
        scored[GRADIENT] = (hook.scores, grad_coins)
    tested = list(scored) if settings.score == "all" else [SCORES[settings.score]]
    conf = 1 - (1 - settings.confidence) / len(tested)
    results = {name: _bounds(*scored[name], conf, delta) for name in tested}
    if hook is not None and GRADIENT in results:
        results[GRADIENT]["mean_times_sampled_in"] = float(hook.times_sampled[grad_coins].mean()) if grad_coins.any() else 0.0
    histograms = {name: (s[c], s[~c]) for name, (s, c) in scored.items() if name in tested}
    # the public's audit on its own: the synthetic rows only, the whole confidence on that one score
    black_box = results[BLACK_BOX] if tested == [BLACK_BOX] else _bounds(*scored[BLACK_BOX], settings.confidence, delta)
    best = max(results, key=lambda k: results[k]["eps_lower_bound"])
    eps_lb = results[best]["eps_lower_bound"]
    ceiling = max(r["max_certifiable_epsilon"] for r in results.values())
    metrics = {"eps_lower_bound": eps_lb, "eps_lower_bound_fdp": max(r["eps_lower_bound_fdp"] for r in results.values()),
               "best_score": best, "claimed_epsilon": claim, "delta": delta, "score": settings.score,
               "eps_lower_bound_black_box": black_box["eps_lower_bound"],
               "verdict_black_box": one_run.verdict(black_box["eps_lower_bound"], claim,
                                                    black_box["max_certifiable_epsilon"], settings.confidence),
               "verdict": one_run.verdict(eps_lb, claim, ceiling, settings.confidence), "max_certifiable_epsilon": ceiling,
               "canaries": m, "gradient_canaries": settings.gradient_canaries, "access": settings.access,
               "confidence": settings.confidence, "dp_mode": dp, "guarantee": GUARANTEE[dp],
               "adjacency": ADJACENCY.get(dp), "sigma": dp_cfg.sigma if dp_cfg.on else None,
               "planted": settings.planted, "scores": results, "train_seconds": round(train_seconds, 2),
               "iterations": settings.iterations}
    from privgen.audit.dp_report import write_dp_audit_report

    write_dp_audit_report(run, metrics, histograms)
    run.write_metrics(metrics)
    return run
