"""`privgen unlearn`: load a model, build the method, fine-tune (or retrain), save a model directory.

The output is a diffusion model directory like any other (it can be sampled, evaluated, attacked or
unlearned again); its config records the base model and the unlearning, its metrics the wall time.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import torch

from privgen.data import retain_forget
from privgen.diffusion.sampler import sample_labels
from privgen.diffusion.schedule import training_scheduler
from privgen.diffusion.store import KIND, DiffusionModel, describe_model, load_model, model_split, save_unet
from privgen.diffusion.trainer import fit, init_state
from privgen.diffusion.model import apply_threads, build_unet
from privgen.diffusion.preview import with_weights
from privgen import checks, parallel
from privgen.errors import UserError
from privgen.runlog import LossLog, log_interval
from privgen.runs import METRICS, RunDir, read_json
from privgen.seeding import seed_everything
from privgen.serial import to_dict
from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.loop import finetune
from privgen.unlearn.registry import build_method
from privgen.unlearn.report import GRID, save_before_after, write_unlearn_report
from privgen.unlearn.target import ForgetTarget

DEFAULT_STEPS = 100
DEFAULT_LR = 2e-4
DEFAULT_BATCH = 64


def training_split(model: DiffusionModel):
    """The real training split the base model was trained on."""
    return model_split(model).train


def resolve_target(base: DiffusionModel, forget: int | str | None, forget_attribute: str | None) -> ForgetTarget:
    """A class (`--forget`) or an attribute value (`--forget-attribute NAME=VALUE`): exactly one of them."""
    if forget is not None and forget_attribute is not None:
        raise UserError("give --forget (a class) or --forget-attribute (NAME=VALUE), not both")
    if forget_attribute is not None:
        return ForgetTarget.of_attribute(base.conditions, forget_attribute)
    if forget is None:
        raise UserError("say what to forget: --forget CLASS or --forget-attribute NAME=VALUE")
    if base.num_classes < 2:
        raise UserError("the model has a single class: forgetting every class leaves nothing to keep")
    return ForgetTarget.of_class(base.conditions, base.class_id(forget, "--forget"))


def unlearn(model_dir: Path | str, method: str, forget: int | str | None, out: Path | str, *, seed: int = 0,
            steps: int | None = None, lr: float | None = None, batch_size: int | None = None,
            options: dict[str, Any] | None = None, device: str = "auto", overwrite: bool = False,
            quiet: bool = False, forget_attribute: str | None = None) -> RunDir:
    """Unlearn class `forget` (or the attribute value `forget_attribute`, "colour=red") from the model in
    `model_dir` with `method`; writes a model directory with log.jsonl (losses), loss.png, a before/after
    grid and report.md. Under `accelerate launch` every process fine-tunes (data-parallel) and the main one
    writes every file."""
    par, dev = parallel.setup(device)
    impl = build_method(method, options)
    # The retrain oracle needs only the base model's config (data, split, recipe), not its weights, so it
    # can run while the base model is still training.
    base = load_model(model_dir, dev) if impl.finetunes else describe_model(model_dir, dev)
    apply_threads(base.recipe, dev)
    target = resolve_target(base, forget, forget_attribute)
    c_f = target.forget_class
    if target.is_attribute:
        impl.validate_attribute(target)
    else:
        impl.validate(c_f, base.num_classes)
    for name, value in (("--steps", steps), ("--batch-size", batch_size)):
        if value is not None and value <= 0:
            raise UserError(f"{name} must be a positive integer, got {value}")
    if lr is not None:
        checks.finite_positive("--lr", lr)
    split = target.split(training_split(base)) if target.is_attribute else retain_forget(training_split(base), c_f)
    if len(split.retain) == 0 or len(split.forget) == 0:
        raise UserError(f"{target.describe(base.class_names)} leaves no retained or no forgotten images in the training split")
    base_steps = trained_steps(base.config) if not impl.finetunes and steps is None else None
    n_steps, n_lr = run_budget(impl, base.recipe, steps, lr, base_steps)
    par.check_batch(batch_size or DEFAULT_BATCH if impl.finetunes else base.recipe.batch_size,
                    "--batch-size" if impl.finetunes else "the recipe's batch size")
    config = {**base.config, "seed": seed, "device": str(dev), "steps": n_steps, **par.config(),
              "unlearning": {"method": impl.name, **target.record(), "base_model": str(Path(model_dir).resolve()),
                             "lr": n_lr, "batch_size": batch_size or DEFAULT_BATCH,
                             "options": to_dict(impl.opt)}}
    run = RunDir(Path(out), KIND)
    if par.is_main:
        run = RunDir.create(out, KIND, config, overwrite=overwrite)
    par.wait()
    losses = LossLog(run, log_interval(n_steps)) if par.is_main else None
    on_step = losses.add if losses is not None else None
    start = time.perf_counter()
    if impl.finetunes:
        unet, history = _finetune(base, impl, split, target, seed, n_steps, n_lr, batch_size or DEFAULT_BATCH,
                                  quiet, on_step)
    else:
        unet, history = _retrain(base, split, seed, n_steps, quiet, on_step)
    if not par.is_main:
        par.wait()  # until the main process has written the model
        return run
    losses.flush(n_steps)
    seconds = time.perf_counter() - start
    save_unet(unet, run)
    last = history[-20:]
    pretrain_seconds, seconds = _pretrain_seconds(Path(model_dir)), round(seconds, 2)
    run.write_metrics({"method": impl.name, **target.record(), "steps": n_steps,
                       "unlearn_seconds": seconds, "pretrain_seconds": pretrain_seconds,
                       # fine-tuning methods aim at <= 5% of pretraining time (the unlearning papers' claim of
                       # cheapness, measured here on this run's hardware)
                       "fraction_of_pretrain": round(seconds / pretrain_seconds, 4) if pretrain_seconds else None,
                       "final_loss": sum(h["loss"] for h in last) / max(len(last), 1),
                       "n_retain": len(split.retain), "n_forget": len(split.forget)})
    run.log(event="finished", method=impl.name, seconds=seconds)
    # The oracle's base may still be training (the benchmark runs both at once): compare only with a finished one.
    before = base if impl.finetunes else (load_model(model_dir, dev) if (Path(model_dir) / METRICS).is_file() else None)
    save_before_after(before, with_weights(base, unet), c_f, run.file(GRID), seed, target=target)
    write_unlearn_report(run, before is not None)
    par.wait()
    return run


def run_budget(impl: Method, recipe, steps: int | None, lr: float | None,
               base_steps: int | None = None) -> tuple[int, float]:
    """The steps and lr a method runs with: the caller's, else the runner's defaults; the retrain oracle
    always trains with its recipe's lr (the base's recipe, overrides included) and, unless told otherwise,
    the steps the base model really trained (`base_steps`; the recipe's when unknown). The benchmark keys
    its cache on this, so a changed default never reuses a stale model."""
    if not impl.finetunes:
        return steps or base_steps or recipe.steps, recipe.lr
    return steps or DEFAULT_STEPS, lr or DEFAULT_LR


def trained_steps(cfg: dict[str, Any], what: str = "the base model") -> int:
    """The pretraining steps of a model from its config.json: a retrain oracle stands for this model trained
    without a class, so it must train exactly as long. A fine-tuned model's `steps` are its fine-tuning
    steps, not its training's: the oracle cannot be reproduced from it (one line)."""
    record = cfg.get("unlearning") or {}
    if record and record.get("method") != "retrain":
        raise UserError(f"{what} was itself unlearned by fine-tuning ({record.get('method')}), so its steps are "
                        "not its training's and a retrain oracle cannot be trained like it: retrain from the "
                        "pretrained model it came from")
    steps = cfg.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        raise UserError(f"{what}'s config.json records no training steps (steps = {steps!r}), so a retrain oracle "
                        "cannot be trained like it: retrain the base model with privgen diffusion train")
    return steps


def _pretrain_seconds(model_dir: Path) -> float | None:
    """The base model's pretraining wall time, when it was trained by privgen (None otherwise)."""
    metrics = model_dir / "metrics.json"
    if not metrics.exists():
        return None
    seconds = read_json(metrics).get("train_seconds")
    return float(seconds) if seconds else None


def _finetune(base: DiffusionModel, impl: Method, split, target: ForgetTarget, seed: int, steps: int, lr: float,
              batch_size: int, quiet: bool, on_step=None):
    gen = seed_everything(seed)
    dev = base.device
    teacher = base.unet.eval().requires_grad_(False)
    space = base.conditions
    attribute_model = bool(space.attributes)
    ctx = UnlearnContext(  # sharded: under `accelerate launch` each process runs its share of every batch
        unet=parallel.sharded(copy.deepcopy(teacher).requires_grad_(True)), teacher=parallel.sharded(teacher),
        retain_x=torch.from_numpy(split.retain.x).to(dev),
        retain_y=torch.from_numpy(space.labels_of(split.retain)).to(dev),
        forget_x=torch.from_numpy(split.forget.x).to(dev),
        forget_class=-1 if target.forget_class is None else target.forget_class, num_classes=base.num_classes,
        scheduler=training_scheduler(), generator=gen, batch_size=batch_size, p_uncond=base.recipe.p_uncond,
        forget_y=torch.from_numpy(space.labels_of(split.forget)).to(dev) if attribute_model else None,
        target=target if attribute_model else None, conditions=space if attribute_model else None)
    ctx.state["sample_teacher"] = lambda labels: sample_labels(base, labels, guidance_scale=3.0, sampler="ddim",
                                                                num_inference_steps=base.recipe.sample_steps, seed=seed)
    impl.prepare(ctx)
    history = finetune(impl, ctx, steps, lr, quiet=quiet, on_step=on_step)
    return parallel.unwrap(ctx.unet), history


def _retrain(base: DiffusionModel, split, seed: int, steps: int, quiet: bool, on_step=None):
    dev = base.device
    seed_everything(seed)  # initial weights from the seed, not from whatever ran before
    unet = build_unet(base.recipe, base.in_channels, base.num_classes, base.conditions.num_embeds).to(dev)
    state = init_state(unet, base.recipe, seed)
    x = torch.from_numpy(split.retain.x).to(dev)
    y = torch.from_numpy(base.conditions.labels_of(split.retain)).to(dev)
    fit(state, x, y, base.recipe, steps, base.null_class, quiet=quiet, on_step=on_step, desc="unlearn retrain",
        conditions=base.conditions)
    return state.ema, [{"loss": v} for v in state.losses]
