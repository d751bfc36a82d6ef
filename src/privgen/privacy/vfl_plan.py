"""What a DP VFL run promises: plan the budget, build the `DPConfig`, and say what is (not) covered.

Kept apart from the training loop so `privgen vfl train` validates every DP input before writing anything.
"""

from __future__ import annotations

from typing import Any

from privgen.errors import UserError
from privgen.privacy.accountant import Accounting
from privgen.privacy.budget import check_budget_args, plan_budget
from privgen.privacy.config import MODES, NO_DP, DPConfig

PAPER_CLIP_NUMERATOR = 1.5  # DP-VFLGAN: C = 1.5 / B on the first layer's batch gradient

COVERS = {
    "paper": ["the batch gradient of the first linear layer (no bias) of each party's bottom critic D_Ck: "
              "clipped to C = 1.5/B (Frobenius) and noised with std 2·C·σ per coordinate"],
    "sound": ["every critic parameter a real row touches (each party's D_Ck and D_pk, the server's D_S): the real "
              "term and the gradient-penalty term of each row, clipped per example to C under one joint L2 norm "
              "across parties and server, noise N(0, σ²C²) on every such parameter",
              "Poisson sampling at the public rate q = B/N_public, accounted by the RDP accountant of the "
              "Poisson-subsampled Gaussian; the generator's batches have a fixed size B whatever was sampled",
              "noise, sampled rows and every per-row draw come from the OS CSPRNG (not replayable from --seed)",
              "encoding from a public schema (no statistic of the rows is fitted)",
              "generators and published synthetic data are post-processing of the noised critics"],
}
NOT_COVERED = {
    "paper": ["deeper layers of each D_Ck, the heads D_pk and the server critic D_S train on real rows without "
              "noise, and the generators learn through them",
              "the gradient penalty's real part (interpolates mix real rows) reaches every un-noised layer",
              "the features of real rows and their gradients cross to the server un-noised",
              "the encoder (means, scales, category lists) is fitted on the private rows and used to "
              "de-standardise the published data",
              "real-data monitoring (Wasserstein gap, FD probes) and any real-data checkpoint selection"],
    "sound": ["messages seen during training: real rows' features and each row's joint gradient norm at the server "
              "(the parties' shares of it are masked), and at every party the joint norm of each row that is "
              "clipped (from its clip factor); the guarantee is on what is published (weights, synthetic data), "
              "not on the protocol's transcript",
              "the run directory (config, metrics, logs, checkpoints): private; publish with `privgen vfl publish`",
              "evaluation metrics computed later on the real train/test split"],
}


def check_dp_options(mode: str, model: str, epsilon: float | None, delta: float, sigma: float | None,
                     conversion: str, clip: float, batch: int, probe_every: int, impute: bool = False,
                     n_public: int | None = None) -> None:
    """Everything that needs no data; run before loading it."""
    if n_public is not None and mode != "sound":
        raise UserError("--n-public sets the public row count of a --dp sound run; drop it (or use --dp sound)")
    if mode not in MODES:
        raise UserError(f"--dp {mode!r} is unknown; choose one of {', '.join(MODES)}")
    if mode == "none":
        if epsilon is not None or sigma is not None:
            raise UserError("--epsilon/--sigma need --dp paper or --dp sound")
        return
    if model == "vertigan":
        raise UserError("--dp applies to vflgan and centralized; VertiGAN has no DP mechanism here: use "
                        "--model-type vflgan (or --dp none)")
    if not clip > 0:
        raise UserError(f"--clip must be positive, got {clip}")
    check_budget_args(epsilon, delta, sigma, batch, batch, 1, "poisson", conversion)
    if mode == "sound" and probe_every:
        raise UserError("FD probes read real training rows during a --dp sound run; leave probes off")
    if mode == "sound" and impute:
        raise UserError("--impute fills gaps with the private rows' median / most frequent value, which no DP noise "
                        "covers; under --dp sound remove or complete the rows with missing values before training")
    if n_public is not None and n_public < batch:
        raise UserError(f"--n-public {n_public} is smaller than the batch {batch}; the sampling rate B/N must be ≤ 1")


def public_row_count(mode: str, embedded: bool, n_public: int | None, schema_n: int | None,
                     n_rows: int) -> tuple[int | None, str]:
    """The N that sets the sound mode's sampling rate q = B/N and its step count, and where it comes from.

    Under add/remove adjacency the private row count differs between neighbouring datasets, so a q or a
    step count computed from it would reveal membership: N must be public (given, or a property of a public
    dataset). The paper mode's replace-one adjacency fixes N, so it uses the row count (returns None)."""
    if mode != "sound":
        return None, ""
    if n_public is not None:
        return n_public, "--n-public"
    if schema_n is not None:
        return schema_n, "the schema's \"n\""
    if embedded:
        return n_rows, "the embedded public dataset (its training split's size is public)"
    raise UserError("--dp sound on your own data needs a public row count N for the sampling rate B/N (the private "
                    "count would reveal membership under add/remove adjacency): pass --n-public N (a number known "
                    "before looking at the rows) or give the schema an \"n\"")


def plan_dp(mode: str, epsilon: float | None, delta: float, sigma: float | None, conversion: str, clip: float,
            n: int, batch: int, critic_steps: int) -> tuple[DPConfig, Accounting | None]:
    """σ (or ε) for the planned critic steps; `n` is the public N for the sound mode, the row count otherwise."""
    if mode == "none":
        return NO_DP, None
    if batch > n:
        raise UserError(f"the batch {batch} is larger than N = {n}; lower --batch-size")
    sampling = "poisson" if mode == "sound" else "without-replacement"
    acc = plan_budget(epsilon, delta, sigma, n, batch, critic_steps, sampling, conversion)
    c = PAPER_CLIP_NUMERATOR / batch if mode == "paper" else clip
    return DPConfig(mode, acc.sigma, c, batch / n, batch), acc


ADJACENCY = {"paper": "replace-one training row (N fixed and public; B rows sampled without replacement)",
             "sound": "add/remove one training row (Poisson sampling at a public rate q = B / N_public)"}
GUARANTEE = {"none": False, "paper": False, "sound": True}
CLAIM_NOTE = {"paper": "the published DP-VFLGAN mechanism's claim for one layer's gradients, NOT a guarantee over "
                       "the published model or data",
              "sound": "a guarantee over everything the run publishes (weights, synthetic data)"}

# The DP statement that may be published beside synthetic data (`privgen vfl publish`): the mechanism's public
# parameters only, taken from metrics.json's dp block by this whitelist.
STATEMENT_KEYS = ("mode", "mechanism", "guarantee", "claim", "adjacency", "epsilon", "delta", "sigma", "sample_rate",
                  "steps", "order", "sampling", "accountant", "conversion", "clip_norm", "noise_std", "covers",
                  "not_covered")


def dp_metrics(cfg: DPConfig, acc: Accounting | None) -> dict[str, Any]:
    if acc is None:
        return {"mode": "none", "guarantee": False}
    return {"mode": cfg.mode, "guarantee": GUARANTEE[cfg.mode], "claim": CLAIM_NOTE[cfg.mode],
            "adjacency": ADJACENCY[cfg.mode], "epsilon": acc.epsilon, "delta": acc.delta, "sigma": acc.sigma,
            "sample_rate": acc.sample_rate, "steps": acc.steps, "order": acc.order, "sampling": acc.sampling,
            "accountant": acc.accountant, "conversion": acc.conversion, "clip_norm": cfg.clip,
            "noise_std": (2 * cfg.clip * cfg.sigma) if cfg.mode == "paper" else cfg.clip * cfg.sigma,
            "mechanism": "DP-VFLGAN as published" if cfg.mode == "paper" else "sound (per-example, joint norm)",
            "covers": COVERS[cfg.mode], "not_covered": NOT_COVERED[cfg.mode]}


def dp_report(m: dict[str, Any]) -> str:
    if m.get("mode", "none") == "none":
        return ""
    lines = [f"\n## Differential privacy ({m['mechanism']})\n",
             f"(ε, δ) = ({m['epsilon']:.4g}, {m['delta']:g}): {m['claim']}; adjacency: {m['adjacency']}.\n\n"
             f"σ = {m['sigma']:.4g}, q = {m['sample_rate']:.4g}, "
             f"{m['steps']} critic steps, clip norm {m['clip_norm']:.4g}; {m['accountant']}, {m['conversion']} "
             f"conversion (order {m['order']:g}).\n", "\nCovered:\n"]
    lines += [f"- {x}\n" for x in m["covers"]]
    lines += ["\nNot covered:\n"] + [f"- {x}\n" for x in m["not_covered"]]
    return "".join(lines)
