"""DiMRA: relearn by plain fine-tuning on auxiliary data (DESIGN §7).

The attack is the ordinary denoising loss (condition dropout kept) from the released weights, at a fixed
budget (steps, lr, batch) applied identically to every model, with checkpoints along the way for the
relearning curve. It reuses the pretraining loop (`diffusion.trainer.fit`) with a constant learning rate,
so it is exactly "keep training", nothing attack-specific.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
from diffusers import UNet2DModel

from privgen.attacks.aux import AuxData, AuxRequest, build_aux
from privgen.diffusion.loss import denoising_loss
from privgen.diffusion.schedule import training_scheduler
from privgen.diffusion.store import KIND, DiffusionModel, load_model, save_unet
from privgen.diffusion.trainer import TrainState, fit, init_state
from privgen import checks
from privgen.errors import UserError
from privgen.runs import RunDir
from privgen.seeding import resolve_device

RUN_KIND = KIND  # an attacked model is a diffusion model directory like any other
CHECKPOINTS = "checkpoints"


def check_budget(steps: int, lr: float, batch_size: int, checkpoint_every: int | None = None) -> None:
    if steps <= 0:
        raise UserError(f"--steps must be a positive number of attack steps, got {steps}")
    checks.finite_positive("--lr", lr)
    if batch_size <= 0:
        raise UserError(f"--batch-size must be positive, got {batch_size}")
    if checkpoint_every is not None and checkpoint_every <= 0:
        raise UserError(f"--checkpoint-every must be positive, got {checkpoint_every}")


def aux_loss(unet: UNet2DModel, aux: AuxData, null_class: int, n: int = 256, seed: int = 1) -> float:
    """Mean denoising loss on (up to) n auxiliary images with fixed noise: how well the model fits the aux data."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(aux), generator=gen)[:n]
    dev = next(unet.parameters()).device
    with torch.no_grad():
        return float(denoising_loss(unet.eval(), aux.x[idx].to(dev), aux.y[idx].to(dev), training_scheduler(), gen))


def relearn(model: DiffusionModel, aux: AuxData, steps: int, lr: float = 1e-4, batch_size: int = 64, seed: int = 0,
            checkpoint_every: int | None = None, on_checkpoint: Callable[[int, UNet2DModel], None] | None = None,
            quiet: bool = False) -> TrainState:
    """Fine-tune `model`'s weights on `aux` (constant lr, AdamW, clip 1); returns the trained state.

    `on_checkpoint(step, unet)` sees the raw fine-tuned weights every `checkpoint_every` steps and at the end.
    """
    check_budget(steps, lr, batch_size, checkpoint_every)
    rec = replace(model.recipe, lr=lr, batch_size=batch_size, warmup_steps=0, final_lr_fraction=1.0,
                  weight_decay=0.0, checkpoint_every=checkpoint_every or steps)
    dev = model.device
    state = init_state(model.unet.requires_grad_(True), rec, seed)
    hook = None
    if on_checkpoint is not None:
        def hook(s: TrainState) -> None:  # noqa: E306
            on_checkpoint(s.step, s.unet)
            s.unet.train()
    return fit(state, aux.x.to(dev), aux.y.to(dev), rec, steps, model.null_class, on_checkpoint=hook, quiet=quiet)


def relearn_run(model_dir: Path | str, aux_source: str, out: Path | str, steps: int, lr: float = 1e-4,
                batch_size: int = 64, seed: int = 0, k: int = 10, kshot_class: str | None = None,
                checkpoint_every: int | None = None, classifier: Path | str | None = None, device: str = "auto",
                overwrite: bool = False, quiet: bool = False) -> RunDir:
    """`privgen attack relearn`: attack one model; writes a model directory plus checkpoints/step-N/ folders."""
    check_budget(steps, lr, batch_size, checkpoint_every)
    dev = resolve_device(device)
    model = load_model(model_dir, dev)
    clf = None
    if aux_source == "generated":
        from privgen.eval import cached_classifier, load_classifier

        clf = (load_classifier(classifier, dev)[0] if classifier else
               cached_classifier(model.config["data"], model.image_size, int(model.config.get("split_seed", 0)),
                                 device=device, quiet=quiet)[0])
    if kshot_class is not None and aux_source != "kshot":
        raise UserError("--kshot-class only applies to --aux kshot (the other sources never name a class)")
    aux = build_aux(aux_source, AuxRequest(model, seed=seed, k=k, kshot_class=kshot_class, classifier=clf))
    attack = {"aux": aux_source, "aux_description": aux.description, "n_aux": len(aux), "steps": steps, "lr": lr,
              "batch_size": batch_size, "seed": seed, "base_model": str(Path(model_dir).resolve()),
              "k": k if aux_source == "kshot" else None}
    run = RunDir.create(out, RUN_KIND, {**model.config, "device": str(dev), "attack": attack}, overwrite=overwrite)
    before = aux_loss(model.unet, aux, model.null_class)

    def save(step: int, unet: UNet2DModel) -> None:
        unet.save_pretrained(str(run.file(CHECKPOINTS) / f"step-{step:06d}"), safe_serialization=True)
        run.log(event="checkpoint", step=step)

    start = time.perf_counter()
    state = relearn(model, aux, steps, lr, batch_size, seed, checkpoint_every, save, quiet)
    seconds = time.perf_counter() - start
    save_unet(state.unet, run)
    after = aux_loss(state.unet, aux, model.null_class)
    run.write_metrics({"attack_seconds": round(seconds, 2), "aux_loss_before": before, "aux_loss_after": after,
                       "n_aux": len(aux), "steps": steps})
    return run
