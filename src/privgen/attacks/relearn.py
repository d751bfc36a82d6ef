"""DiMRA: relearn by plain fine-tuning on auxiliary data.

The attack is the ordinary denoising loss (condition dropout kept) from the released weights, at a fixed
budget (steps, lr, batch) applied identically to every model, with checkpoints along the way for the
relearning curve. It reuses the pretraining loop (`diffusion.trainer.fit`) with a constant learning rate,
so it is exactly "keep training", nothing attack-specific.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch
from diffusers import UNet2DModel

from privgen.attacks.aux import AuxData, AuxRequest, build_aux
from privgen.diffusion.loss import denoising_loss
from privgen.diffusion.schedule import training_scheduler
from privgen.attacks.options import ProbeOptions, probed_label
from privgen.diffusion.model import apply_threads
from privgen.diffusion.store import KIND, DiffusionModel, load_model, save_unet
from privgen.diffusion.trainer import TrainState, fit, init_state
from privgen.runlog import LossLog, log_interval
from privgen import checks, parallel
from privgen.errors import UserError
from privgen.runs import RunDir

RUN_KIND = KIND  # an attacked model is a diffusion model directory like any other
CHECKPOINTS = "checkpoints"
RELEARN_CURVE = "relearn_curve.png"


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


def relearn(model: DiffusionModel, aux: AuxData, *, steps: int, lr: float = 1e-4, batch_size: int = 64,
            seed: int = 0, checkpoint_every: int | None = None,
            on_checkpoint: Callable[[int, UNet2DModel], None] | None = None, quiet: bool = False,
            on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainState:
    """Fine-tune `model`'s weights on `aux` (constant lr, AdamW, clip 1); returns the trained state.

    `on_checkpoint(step, unet)` sees the raw fine-tuned weights every `checkpoint_every` steps and at the end;
    `on_step(step, {"loss", "lr"})` every step's numbers.
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
    return fit(state, aux.x.to(dev), aux.y.to(dev), rec, steps, model.null_class, on_checkpoint=hook, quiet=quiet,
               on_step=on_step, desc="attack relearn", conditions=model.conditions)


def relearn_run(model_dir: Path | str, aux_source: str, out: Path | str, *, steps: int, lr: float = 1e-4,
                batch_size: int = 64, seed: int = 0, k: int = 10, kshot_class: str | None = None,
                checkpoint_every: int | None = None, classifier: Path | str | None = None,
                probe: ProbeOptions | None = None, device: str = "auto", overwrite: bool = False,
                quiet: bool = False) -> RunDir:
    """`privgen attack relearn`: attack one model; writes a model directory plus checkpoints/step-N/ folders,
    log.jsonl (losses), loss.png, report.md and, with a probe, the relearning curve (metrics.json and
    relearn_curve.png). Under `accelerate launch` every process fine-tunes (data-parallel); the main one
    probes and writes every file."""
    check_budget(steps, lr, batch_size, checkpoint_every)
    if probe is not None:
        probe.check(steps)
    par, dev = parallel.setup(device)
    par.check_batch(batch_size)
    model = load_model(model_dir, dev)
    apply_threads(model.recipe, dev)
    if kshot_class is not None and aux_source != "kshot":
        raise UserError("--kshot-class only applies to --aux kshot (the other sources never name a class)")
    forgotten = probe.resolve(model) if probe is not None else None
    clf = None
    if aux_source == "generated" or probe is not None:
        from privgen.data.reference import stored_data
        from privgen.eval import cached_classifier, load_classifier
        from privgen.eval.classifier_run import check_classifier_classes

        with par.main_first():  # the main process trains a missing classifier into the cache, the others read it
            if classifier:
                clf, clf_cfg = load_classifier(classifier, dev)
                check_classifier_classes(model.class_names, clf_cfg, str(classifier))
            else:
                clf = cached_classifier(stored_data(model.config), model.image_size,
                                        int(model.config.get("split_seed", 0)), device=str(dev),
                                        quiet=par.quiet(quiet), class_names=model.class_names)[0]
    aux = build_aux(aux_source, AuxRequest(model, seed=seed, k=k, kshot_class=kshot_class, classifier=clf))
    attack = {"aux": aux_source, "aux_description": aux.description, "n_aux": len(aux), "steps": steps, "lr": lr,
              "batch_size": batch_size, "seed": seed, "base_model": str(Path(model_dir).resolve()),
              "k": k if aux_source == "kshot" else None}
    if probe is not None:
        attack["probe"] = {**probe.as_config(model), **forgotten.summary()}
    run = RunDir(Path(out), RUN_KIND)
    if par.is_main:
        run = RunDir.create(out, RUN_KIND, {**model.config, "device": str(dev), "attack": attack, **par.config()},
                            overwrite=overwrite)
    par.wait()
    before = aux_loss(model.unet, aux, model.null_class)
    forget_probe = None
    if probe is not None and par.is_main:
        from privgen.audit.unlearning.battery import Probe

        forget_probe = forgotten.probe(model, clf, Probe(probe.n_per_class, probe.guidance_scale, probe.steps_for(model),
                                                         seed, sampler=probe.sampler), real_forgotten=None)
        forget_probe(0, model.unet)
    save_every = checkpoint_every or steps
    probe_every = probe.every if probe is not None else steps
    cadence = math.gcd(save_every, probe_every)  # fit calls the hook at multiples of this and at the end

    def hook(step: int, unet: UNet2DModel) -> None:
        if step % save_every == 0 or step == steps:
            unet.save_pretrained(str(run.file(CHECKPOINTS) / f"step-{step:06d}"), safe_serialization=True)
            run.log(event="checkpoint", step=step)
        if forget_probe is not None and (step % probe_every == 0 or step == steps):
            forget_probe(step, unet)
            run.log(event="probe", **forget_probe.points[-1])

    losses = LossLog(run, log_interval(steps)) if par.is_main else None
    start = time.perf_counter()
    state = relearn(model, aux, steps=steps, lr=lr, batch_size=batch_size, seed=seed, checkpoint_every=cadence,
                    on_checkpoint=hook, quiet=quiet,
                    on_step=lambda step, parts: losses.add(step, {"loss": parts["loss"]}, lr=parts["lr"]))
    if not par.is_main:
        par.wait()  # until the main process has written the model
        return run
    losses.flush(steps)
    probe_seconds = forget_probe.seconds if forget_probe is not None else 0.0
    seconds = time.perf_counter() - start - probe_seconds
    save_unet(state.unet, run)
    after = aux_loss(state.unet, aux, model.null_class)
    metrics: dict[str, Any] = {"attack_seconds": round(seconds, 2), "aux_loss_before": before, "aux_loss_after": after,
                               "n_aux": len(aux), "steps": steps}
    if forget_probe is not None:
        metrics.update(relearn_curve=forget_probe.points, probe_seconds=round(probe_seconds, 2))
    run.write_metrics(metrics)
    write_attack_report(run)
    par.wait()
    return run


def write_attack_report(run: RunDir) -> Path:
    """loss.png, relearn_curve.png (when probed) and report.md of an attack run."""
    from privgen.attacks.probe import save_relearn_curve
    from privgen.report import save_loss_plot, write_run_report

    m, attack = run.metrics, run.config["attack"]
    save_loss_plot(run.path, title=f"DiMRA on {attack['aux']} data")
    figures = [("Loss on the attacker's data", "loss.png")] if run.file("loss.png").is_file() else []
    numbers: list[list[object]] = [["attacker data", attack["aux_description"]], ["steps", m["steps"]],
                                   ["learning rate", attack["lr"]], ["batch size", attack["batch_size"]],
                                   ["attack seconds", m["attack_seconds"]],
                                   ["aux loss before → after", f"{m['aux_loss_before']:.4f} → {m['aux_loss_after']:.4f}"]]
    if "relearn_curve" in m:
        p = attack["probe"]
        what = probed_label(p, run.config.get("class_names"))
        save_relearn_curve(m["relearn_curve"], run.file(RELEARN_CURVE), what, p["guidance_scale"])
        figures.append(("Relearning curve", RELEARN_CURVE))
        first, last = m["relearn_curve"][0], m["relearn_curve"][-1]
        numbers.append([f"forget accuracy of {what} (guidance {p['guidance_scale']:g}): start → end",
                        f"{first['forget_acc']:.1%} → {last['forget_acc']:.1%} [95% CI {last['forget_acc_ci'][0]:.1%}, "
                        f"{last['forget_acc_ci'][1]:.1%}], {last['n']} samples per point"])
    return write_run_report(run.path, f"Relearning attack (DiMRA): {attack['aux']} data",
                            f"Fine-tuned `{attack['base_model']}` with the ordinary denoising loss, without being told "
                            "what was forgotten. Checkpoints along the way: `checkpoints/`.", numbers, figures)
