"""`privgen bench diffusion`: training and sampling images/s per solver, the FLOP rate as a fraction of the
fp32 matmul rate, the lone-job thread speed-up, and torch.compile end to end.

All numbers come from one process. FLOPs are counted, not guessed: ``torch.utils.flop_counter.FlopCounterMode``
around one UNet forward (and one training step, forward + backward). The fp32 matmul rate is measured right
before AND right after each timed phase (interleaved), so contention from other jobs hits the reference and
the model alike; the fraction uses their mean. On a shared machine absolute numbers are noisy, ratios less so.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from privgen.diffusion.loss import denoising_loss
from privgen.diffusion.model import Recipe, build_unet, get_recipe
from privgen.diffusion.sampler import sample_labels
from privgen.diffusion.schedule import training_scheduler
from privgen.diffusion.solvers import SOLVERS, resolve_steps
from privgen.diffusion.store import DiffusionModel, model_config
from privgen.threads import available_cores, set_job_threads

NUM_CLASSES = 10


def _timed(fn: Callable[[], Any], repeats: int, warmup: int = 1, sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def _sync(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def matmul_flops_per_second(device: torch.device, n: int = 1024, repeats: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    return 2 * n ** 3 / _timed(lambda: torch.mm(a, b), repeats, sync=_sync(device))


def interleaved(device: torch.device, phase: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `phase` between two matmul measurements; its `flops_per_second` becomes a fraction of their mean."""
    before = matmul_flops_per_second(device)
    out = phase()
    after = matmul_flops_per_second(device)
    ref = (before + after) / 2
    out.update(matmul_flops_per_second_before=before, matmul_flops_per_second_after=after,
               fraction_of_matmul=out["flops_per_second"] / ref)
    return out


def count_flops(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _model(recipe: Recipe, device: torch.device) -> DiffusionModel:
    unet = build_unet(recipe, 1, NUM_CLASSES).to(device)
    names = tuple(str(i) for i in range(NUM_CLASSES))
    return DiffusionModel(unet, recipe, NUM_CLASSES, names, 1, model_config(recipe, NUM_CLASSES, (), 1))


def forward_flops(recipe: Recipe, device: torch.device, batch: int = 1) -> int:
    """FLOPs of one UNet forward at `batch` images (counted by FlopCounterMode)."""
    unet = build_unet(recipe, 1, NUM_CLASSES).to(device).eval()
    x = torch.randn(batch, 1, recipe.image_size, recipe.image_size, device=device)
    t = torch.full((batch,), 500, device=device)
    y = torch.zeros(batch, dtype=torch.long, device=device)
    with torch.no_grad():
        return count_flops(lambda: unet(x, t, class_labels=y))


def training_step_fn(recipe: Recipe, device: torch.device, compile_model: bool = False) -> Callable[[], None]:
    """One AdamW step of the denoising loss on a fixed random batch (the recipe's batch size)."""
    unet = build_unet(recipe, 1, NUM_CLASSES).to(device)
    net = torch.compile(unet) if compile_model else unet
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    sched = training_scheduler()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(recipe.batch_size, 1, recipe.image_size, recipe.image_size).to(device)
    y = torch.randint(0, NUM_CLASSES, (recipe.batch_size,)).to(device)

    def step() -> None:
        loss = denoising_loss(net, x, y, sched, gen, recipe.p_uncond, NUM_CLASSES)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def training_benchmark(recipe: Recipe, device: torch.device, steps: int = 6) -> dict[str, Any]:
    step = training_step_fn(recipe, device)
    flops = count_flops(step)  # forward + backward (+ the optimizer's few elementwise FLOPs)
    sec = _timed(step, steps, warmup=2, sync=_sync(device))
    return {"seconds_per_step": sec, "images_per_second": recipe.batch_size / sec, "flops_per_step": flops,
            "flops_per_second": flops / sec, "batch_size": recipe.batch_size}


def sampling_benchmark(recipe: Recipe, device: torch.device, sampler: str, n_images: int, scale: float = 3.0,
                       repeats: int = 2) -> dict[str, Any]:
    """Images/s of one solver at its default steps (guidance 3: cond + uncond in one batch of 2n)."""
    model = _model(recipe, device)
    steps = resolve_steps(sampler, None, recipe.sample_steps)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(max(n_images // NUM_CLASSES, 1))
    n = len(labels)
    run = lambda: sample_labels(model, labels, guidance_scale=scale, sampler=sampler,  # noqa: E731
                                num_inference_steps=steps, batch_size=n)
    sec = _timed(run, repeats=repeats, warmup=1, sync=_sync(device))
    evals_per_step = 1 if scale == 1.0 else 2
    flops = forward_flops(recipe, device) * n * evals_per_step * steps
    return {"sampler": sampler, "steps": steps, "n_images": n, "guidance_scale": scale, "seconds": sec,
            "images_per_second": n / sec, "network_evaluations_per_image": evals_per_step * steps,
            "flops_per_second": flops / sec}


def thread_speedup(recipe: Recipe, device: torch.device, steps: int) -> dict[str, Any]:
    """Training images/s at 1 thread and at every core, interleaved (1, all, 1, all) so contention hits both."""
    cores = available_cores()
    rates: dict[int, list[float]] = {1: [], cores: []}
    for _ in range(2):
        for th in rates:
            torch.set_num_threads(th)
            rates[th].append(training_benchmark(recipe, device, steps)["images_per_second"])
    best = {th: max(r) for th, r in rates.items()}
    return {"cores": cores, "images_per_second": {f"threads={th}": v for th, v in best.items()},
            "speedup_all_cores_vs_one": best[cores] / best[1]}


def compile_benchmark(recipe: Recipe, device: torch.device, steps: int, sample_images: int) -> dict[str, Any]:
    """torch.compile (inductor) vs eager, compile time included: the first compiled call pays for it.

    Reports the steady-state ratio and the end-to-end one for the recipe's whole training run. A machine
    where compile fails (no compiler, unsupported platform) reports why instead of a number."""
    sync = _sync(device)
    out: dict[str, Any] = {}
    try:
        eager = training_step_fn(recipe, device)
        eager_sec = _timed(eager, steps, warmup=2, sync=sync)
        compiled = training_step_fn(recipe, device, compile_model=True)
        t0 = time.perf_counter()
        compiled()  # compiles the forward and backward graphs
        sync()
        first = time.perf_counter() - t0
        comp_sec = _timed(compiled, steps, warmup=1, sync=sync)
        total = recipe.steps
        out["training"] = {"eager_seconds_per_step": eager_sec, "compiled_seconds_per_step": comp_sec,
                           "compile_seconds": first, "steady_speedup": eager_sec / comp_sec,
                           "end_to_end_speedup_for_recipe": (eager_sec * total) / (first + comp_sec * (total - 1)),
                           "recipe_steps": total}
        model = _model(recipe, device)
        model.unet.eval()
        labels = torch.arange(NUM_CLASSES).repeat_interleave(max(sample_images // NUM_CLASSES, 1))
        run = lambda: sample_labels(model, labels, guidance_scale=3.0, batch_size=len(labels))  # noqa: E731
        eager_s = _timed(run, 1, warmup=1, sync=sync)
        model.unet.forward = torch.compile(model.unet.forward)
        t0 = time.perf_counter()
        run()
        first_s = time.perf_counter() - t0
        comp_s = _timed(run, 1, warmup=0, sync=sync)
        out["sampling"] = {"eager_seconds": eager_s, "compiled_seconds": comp_s, "first_compiled_call_seconds": first_s,
                           "steady_speedup": eager_s / comp_s, "n_images": len(labels),
                           "end_to_end_speedup_one_evaluation": eager_s / first_s}
    except Exception as e:  # noqa: BLE001  (any compile failure: report it, the eager numbers stand)
        out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return out


def run_benchmark(recipe: str = "cpu16", device: torch.device = torch.device("cpu"), quick: bool = False,
                  compile_check: bool = True) -> dict[str, Any]:
    """Every figure of the bench JSON, measured in this one call."""
    rec = get_recipe(recipe)
    base_threads = torch.get_num_threads()
    set_job_threads(device)  # what a lone job gets (privgen.threads); the thread phase tries 1 and all cores
    steps = 3 if quick else 6
    result: dict[str, Any] = {"recipe": rec.to_dict(), "device": str(device), "machine": platform.machine(),
                              "cpu_count": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                              "note": "shared machine: timings are noisy (other jobs compete for the cores); "
                                      "each phase's matmul reference is measured right before and after it"}
    result["unet_forward_flops_per_image"] = forward_flops(rec, device)
    result["training"] = interleaved(device, lambda: training_benchmark(rec, device, steps))
    n = 20 if quick else 100
    result["sampling"] = {name: interleaved(device, lambda name=name: sampling_benchmark(rec, device, name, n,
                                                                                          repeats=1 if quick else 2))
                          for name in SOLVERS}
    if device.type == "cpu":
        result["threads_lone_job"] = thread_speedup(rec, device, steps)
        torch.set_num_threads(base_threads)
    if compile_check:
        result["torch_compile"] = compile_benchmark(rec, device, steps, 20 if quick else 100)
    torch.set_num_threads(base_threads)
    return result
