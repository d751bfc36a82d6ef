"""The training loop: AdamW, lr warm-up + cosine, condition dropout, EMA, checkpoints and resume.

``fit`` is the loop on tensors (reusable for fine-tuning with another loss); ``train`` wires data, run
directory and saving for ``privgen diffusion train``.
"""

from __future__ import annotations

import copy
import os
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from diffusers import DDPMScheduler, UNet2DModel

from privgen.diffusion.checkpoint import load_checkpoint, save_checkpoint
from privgen.diffusion.ema import ema_decay, ema_update
from privgen.diffusion.loss import denoising_loss
from privgen.diffusion.model import Recipe, apply_threads, get_recipe
from privgen.diffusion.schedule import learning_rate, training_scheduler
from privgen.diffusion.preview import is_preview_step, preview_setting, save_preview, with_weights
from privgen.diffusion.store import CHECKPOINT, KIND, DiffusionModel, new_model, save_unet
from privgen import checks, parallel
from privgen.errors import UserError
from privgen.progress import progress
from privgen.report import save_loss_plot, write_run_report
from privgen.runlog import LossLog, log_interval
from privgen.runs import RunDir, verify_checksum
from privgen.seeding import seed_everything

SAMPLES = "samples"  # a sample grid per checkpoint: samples/step-000250.png
FAULT_ENV = "PRIVGEN_TEST_KILL_AT_STEP"  # tests only: N kills the main process right after checkpoint N is saved

# loss_fn(unet, x, y, scheduler, generator) -> scalar; the default is the pretraining loss.
LossFn = Callable[[UNet2DModel, torch.Tensor, torch.Tensor, DDPMScheduler, torch.Generator], torch.Tensor]


@dataclass
class TrainState:
    """Raw weights, EMA copy, optimizer, step and the generator that drives every random draw."""

    unet: UNet2DModel
    ema: UNet2DModel
    opt: torch.optim.Optimizer
    generator: torch.Generator
    step: int = 0
    losses: list[float] = field(default_factory=list)


def init_state(unet: UNet2DModel, recipe: Recipe, seed: int) -> TrainState:
    gen = seed_everything(seed)
    ema = copy.deepcopy(unet).requires_grad_(False).eval()
    opt = torch.optim.AdamW(unet.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    return TrainState(unet.train(), ema, opt, gen)


def fit(state: TrainState, x: torch.Tensor, y: torch.Tensor, recipe: Recipe, total_steps: int, null_class: int,
        loss_fn: LossFn | None = None, on_checkpoint: Callable[[TrainState], None] | None = None,
        quiet: bool = False, on_step: Callable[[int, dict[str, float]], None] | None = None,
        desc: str = "diffusion train", conditions=None) -> TrainState:
    """Train from state.step up to total_steps; batches are drawn with replacement from (x, y).

    `on_step(step, {"loss", "lr"})` sees every step's numbers (for log.jsonl); it must not train or draw.
    `conditions` (a `ConditionSpace`) makes condition dropout act per attribute; y are then joint rows.
    Under `accelerate launch` every process draws the whole batch and trains on its share of it
    (`privgen.parallel`); `on_step` and `on_checkpoint` (they write files) run on the main process only."""
    par = parallel.current()
    net = parallel.sharded(state.unet)
    sched = training_scheduler()
    if loss_fn is None:
        def loss_fn(unet, xb, yb, s, g):  # noqa: E306
            return denoising_loss(unet, xb, yb, s, g, recipe.p_uncond, null_class, conditions=conditions)
    bar = progress(total=total_steps, desc=desc, quiet=par.quiet(quiet))
    bar.update(state.step)
    while state.step < total_steps:
        lr = learning_rate(state.step, recipe.lr, recipe.warmup_steps, total_steps, recipe.final_lr_fraction)
        for group in state.opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, len(x), (recipe.batch_size,), generator=state.generator)
        loss = loss_fn(net, x[idx.to(x.device)], y[idx.to(y.device)], sched, state.generator)
        check_finite_loss(loss, state.step + 1, "unet")
        state.opt.zero_grad(set_to_none=True)
        loss.backward()
        par.sync_grads(state.unet)
        check_finite_grads(state.unet, state.step + 1, "unet", recipe.grad_clip)
        state.opt.step()
        ema_update(state.ema, state.unet, ema_decay(state.step, recipe.ema_decay, recipe.ema_warmup))
        state.step += 1
        state.losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{state.losses[-1]:.4f}")
        if on_step is not None and par.is_main:
            on_step(state.step, {"loss": state.losses[-1], "lr": lr})
        if on_checkpoint is not None and par.is_main and (state.step % recipe.checkpoint_every == 0
                                                          or state.step == total_steps):
            on_checkpoint(state)
    bar.close()
    return state


def check_finite_loss(loss: torch.Tensor, step: int, module: str) -> None:
    """Stop before a NaN/inf loss reaches the weights (the last checkpoint stays the last good one)."""
    if not bool(torch.isfinite(loss.detach()).all()):
        raise UserError(f"training diverged at step {step}: the loss of {module} is {float(loss.detach()):g}; "
                        "nothing of this step was saved (lower the learning rate, or check the data)")


def check_finite_grads(module: torch.nn.Module, step: int, name: str, clip: float = 0.0) -> None:
    """Clip (when `clip` > 0) and refuse non-finite gradients, naming the first parameter that has one."""
    params = [p for p in module.parameters() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
    if bool(torch.isfinite(norm)):
        return
    bad = next((n for n, p in module.named_parameters() if p.grad is not None and not bool(torch.isfinite(p.grad).all())),
               "?")
    raise UserError(f"training diverged at step {step}: non-finite gradient in {name} ({bad}); nothing of this "
                    "step was saved (lower the learning rate, or check the data)")


@dataclass
class TrainingRun:
    """A pretraining run directory opened (config written) but not yet trained."""

    run: RunDir
    model: DiffusionModel
    recipe: Recipe
    split: object
    device: torch.device
    total_steps: int
    seed: int


def open_training_run(data: str = "mnist5k", out: Path | str = "runs/diffusion", recipe: str | Recipe = "cpu16", *,
                      image_size: int | None = None, steps: int | None = None, seed: int = 0, split_seed: int = 0,
                      test_fraction: float = 0.2, device: str = "auto", overwrite: bool = False,
                      **overrides) -> TrainingRun:
    """Validate the options and write DIR/config.json (resumable), without training.

    Split from `train` so a caller can reserve a run directory before the (long) training starts, e.g. to
    start the retrain oracle from the same base config in parallel.
    """
    from privgen.data import load_images, train_test_split
    from privgen.data.reference import resolve_data

    checks.optional_positive_int("--steps", steps)
    rec = recipe if isinstance(recipe, Recipe) else get_recipe(recipe)
    size = image_size if image_size is not None else rec.image_size
    checks.image_size(size, divisor=2 ** (len(rec.channels) - 1))  # the UNet halves the image per extra block
    rec = replace(rec, image_size=size, **{k: v for k, v in overrides.items() if v is not None})
    checks.finite_positive("the recipe's lr", rec.lr)
    total = steps if steps is not None else rec.steps
    par, dev = parallel.setup(device)
    par.check_batch(rec.batch_size)
    apply_threads(rec, dev)
    ref = resolve_data(data)  # an absolute path and content hash, so later commands read the same data anywhere
    ds = load_images(ref.source, rec.image_size)
    split = train_test_split(ds, test_fraction, split_seed)
    seed_everything(seed)  # the initial weights depend on the seed too
    model = new_model(rec, ds.num_classes, tuple(ds.class_names), ds.shape[0], attributes=ds.attributes)
    config = {**ref.config(), "image_size": rec.image_size, "seed": seed, "split_seed": split_seed,
              "test_fraction": test_fraction, "device": str(dev), "steps": total, **model.config, **par.config()}
    if not overwrite and (Path(out) / CHECKPOINT).is_file():
        verify_checksum(Path(out) / CHECKPOINT)  # a corrupted checkpoint is refused before config.json is touched
    run = RunDir(Path(out), KIND)
    if par.is_main:  # the other processes wait: an --overwrite moves the old run aside first
        run = RunDir.create(Path(out), KIND, config, overwrite=overwrite, resume=True, budget=("steps", "--steps"))
    par.wait()
    return TrainingRun(run, model, rec, split, dev, total, seed)


def train(data: str = "mnist5k", out: Path | str = "runs/diffusion", recipe: str | Recipe = "cpu16", *,
          image_size: int | None = None, steps: int | None = None, seed: int = 0, split_seed: int = 0,
          test_fraction: float = 0.2, device: str = "auto", overwrite: bool = False, quiet: bool = False,
          **overrides) -> RunDir:
    """Pretrain on the training split of `data`; resumes from DIR's checkpoint when one exists.

    Under `accelerate launch` every process trains (data-parallel) and the main one writes every file."""
    tr = open_training_run(data, out, recipe, image_size=image_size, steps=steps, seed=seed, split_seed=split_seed,
                           test_fraction=test_fraction, device=device, overwrite=overwrite,
                           **overrides)
    run, model, rec, split, dev, total = tr.run, tr.model, tr.recipe, tr.split, tr.device, tr.total_steps
    par = parallel.current()
    state = init_state(model.unet.to(dev), rec, seed)
    ckpt = run.file(CHECKPOINT)
    if ckpt.exists():
        state.step = load_checkpoint(ckpt, state.unet, state.ema, state.opt, state.generator)
        if state.step >= total:
            raise UserError(f"--out {run.path} holds a checkpoint of {state.step} steps already (the run stopped "
                            f"before saving its model): ask for more --steps to continue it, or pass --overwrite")
        if par.is_main:
            run.log(event="resumed", step=state.step)
    x = torch.from_numpy(split.train.x)
    y = torch.from_numpy(model.conditions.labels_of(split.train))
    x, y = x.to(dev), y.to(dev)
    start_step, t0 = state.step, time.perf_counter()
    losses = LossLog(run, log_interval(total)) if par.is_main else None
    preview_seconds = [0.0]  # sample grids are drawn between steps; timed apart so train_seconds is training

    def checkpoint(s: TrainState) -> None:
        save_checkpoint(ckpt, s.unet, s.ema, s.opt, s.step, s.generator)
        recent = s.losses[-rec.checkpoint_every:]
        run.log(event="checkpoint", step=s.step, loss=sum(recent) / max(len(recent), 1),
                seconds=round(time.perf_counter() - t0, 2))
        if is_preview_step(s.step, total, rec.checkpoint_every):  # at most MAX_PREVIEWS grids per run
            t1 = time.perf_counter()
            save_preview(with_weights(model, s.ema), run.file(SAMPLES) / f"step-{s.step:06d}.png", seed,
                         f"step {s.step}: EMA weights, {preview_setting(model)}")
            preview_seconds[0] += time.perf_counter() - t1
        if os.environ.get(FAULT_ENV) == str(s.step):
            os.kill(os.getpid(), signal.SIGKILL)

    fit(state, x, y, rec, total, model.null_class, on_checkpoint=checkpoint, quiet=quiet, conditions=model.conditions,
        on_step=lambda step, parts: losses.add(step, {"loss": parts["loss"]}, lr=parts["lr"]))
    model.unet = state.ema
    if not par.is_main:
        par.wait()  # until the main process has written the model
        return run
    losses.flush(state.step)
    seconds = time.perf_counter() - t0 - preview_seconds[0]
    save_unet(state.ema, run)
    done = state.step - start_step
    tail = state.losses[-100:]
    run.write_metrics({"steps": state.step, "steps_this_session": done, "train_seconds": round(seconds, 2),
                       "resumed_from_step": start_step,
                       "images_per_second": round(done * rec.batch_size / seconds, 2) if done else None,
                       "final_loss_mean_last100": sum(tail) / len(tail) if tail else None,
                       "first_loss": state.losses[0] if state.losses else None,
                       "num_parameters": sum(p.numel() for p in state.unet.parameters()),
                       "n_train": len(split.train), "device": str(dev),
                       "preview_seconds": round(preview_seconds[0], 2), "processes": par.num_processes})
    run.log(event="finished", step=state.step, seconds=round(seconds, 2))
    write_training_report(run)
    par.wait()
    return run


def write_training_report(run: RunDir) -> Path:
    """loss.png from log.jsonl and report.md linking it, the latest sample grid and the numbers."""
    m, cfg = run.metrics, run.config
    save_loss_plot(run.path, title=f"diffusion train ({cfg['recipe']['name']}, {cfg['data']})")
    grids = sorted(run.file(SAMPLES).glob("step-*.png"))
    figures = [("Loss", "loss.png")] if run.file("loss.png").is_file() else []
    figures += [(f"Samples at step {int(g.stem[5:])}", f"{SAMPLES}/{g.name}") for g in grids[-1:]]
    loss = m.get("final_loss_mean_last100")
    numbers = [["steps", m["steps"]], ["final loss (mean of the last 100 steps)", "-" if loss is None else loss],
               ["training seconds (this session)", m["train_seconds"]], ["images per second", m["images_per_second"]],
               ["parameters", m["num_parameters"]], ["training images", m["n_train"]], ["device", m["device"]]]
    notes = (f"Every checkpoint's sample grid: `{SAMPLES}/`. The `unet/` and `scheduler/` folders load with plain "
             "diffusers (`UNet2DModel.from_pretrained(run, subfolder=\"unet\")`, "
             "`DDIMScheduler.from_pretrained(run, subfolder=\"scheduler\")`).")
    return write_run_report(run.path, f"Diffusion training: {cfg['data']}, recipe {cfg['recipe']['name']}",
                            f"Class-conditional DDPM, {cfg['num_classes']} classes, {cfg['image_size']}x"
                            f"{cfg['image_size']} images, seed {cfg['seed']}.", numbers, figures, notes)

