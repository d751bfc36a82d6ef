"""`privgen bench diffusion`: training images/s, FLOP efficiency vs fp32 matmul, batched vs two-pass CFG.

All numbers come from the same process on the same machine: the model's training FLOPs are counted with
``torch.utils.flop_counter.FlopCounterMode`` and divided by the step time, then compared with the FLOP rate
of a large fp32 ``torch.mm`` measured right before. On a shared machine the numbers are noisy.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from privgen.diffusion.guidance import guided_eps, guided_eps_two_pass
from privgen.diffusion.loss import denoising_loss
from privgen.diffusion.model import Recipe, build_unet, get_recipe
from privgen.diffusion.schedule import training_scheduler
from privgen.diffusion.store import DiffusionModel, model_config
from privgen.diffusion.sampler import sample_labels


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


def matmul_flops_per_second(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    return 2 * n ** 3 / _timed(lambda: torch.mm(a, b), repeats, sync=sync)


def training_benchmark(recipe: Recipe, device: torch.device, steps: int = 6, channels_last: bool = False) -> dict:
    unet = build_unet(recipe, 1, 10).to(device)
    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-4)
    sched = training_scheduler()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(recipe.batch_size, 1, recipe.image_size, recipe.image_size).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (recipe.batch_size,)).to(device)

    def step() -> None:
        loss = denoising_loss(unet, x, y, sched, gen, recipe.p_uncond, 10)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with FlopCounterMode(display=False) as counter:
        loss = denoising_loss(unet, x, y, sched, gen, recipe.p_uncond, 10)
        loss.backward()
    flops = counter.get_total_flops()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sec = _timed(step, steps, warmup=2, sync=sync)
    return {"seconds_per_step": sec, "images_per_second": recipe.batch_size / sec, "flops_per_step": flops,
            "flops_per_second": flops / sec, "batch_size": recipe.batch_size,
            "num_parameters": sum(p.numel() for p in unet.parameters())}


def sampling_benchmark(recipe: Recipe, device: torch.device, n_images: int, steps: int, scale: float = 3.0) -> dict:
    unet = build_unet(recipe, 1, 10).to(device).eval()
    model = DiffusionModel(unet, recipe, 10, tuple(str(i) for i in range(10)), 1, model_config(recipe, 10, (), 1))
    labels = torch.arange(10).repeat_interleave(max(n_images // 10, 1))
    out = {}
    for name, two_pass in (("batched_cfg", False), ("two_pass_cfg", True)):
        sec = _timed(lambda: sample_labels(model, labels, scale, steps, 0, batch_size=len(labels), two_pass=two_pass),
                     repeats=3, warmup=1)
        out[name] = {"seconds": sec, "images_per_second": len(labels) / sec}
    out["speedup_batched_vs_two_pass"] = out["batched_cfg"]["images_per_second"] / out["two_pass_cfg"]["images_per_second"]
    out.update({"n_images": len(labels), "ddim_steps": steps, "guidance_scale": scale})
    return out


def run_benchmark(recipe: str = "cpu16", device: torch.device = torch.device("cpu"), quick: bool = False) -> dict:
    """Every figure of the bench JSON, measured in this one call."""
    rec = get_recipe(recipe)
    base_threads = torch.get_num_threads()
    result: dict[str, Any] = {"recipe": rec.to_dict(), "device": str(device), "machine": platform.machine(),
                              "cpu_count": os.cpu_count(), "torch": torch.__version__,
                              "note": "shared machine: timings are noisy (other jobs compete for the cores)"}
    tuning = {}
    thread_options = sorted({1, base_threads}) if device.type == "cpu" else [base_threads]
    for th in thread_options:
        torch.set_num_threads(th)
        mm = matmul_flops_per_second(device)
        tr = training_benchmark(rec, device, steps=3 if quick else 6)
        tuning[f"threads={th}"] = {"matmul_flops_per_second": mm, **tr, "fraction_of_matmul": tr["flops_per_second"] / mm}
    best = max(tuning, key=lambda k: tuning[k]["images_per_second"])
    torch.set_num_threads(int(best.split("=")[1]))
    cl = training_benchmark(rec, device, steps=3 if quick else 6, channels_last=True)
    tuning["channels_last"] = {**cl, "threads": torch.get_num_threads()}
    chosen = tuning[best]
    result["training"] = {"setting": best, "images_per_second": chosen["images_per_second"],
                          "flops_per_step": chosen["flops_per_step"], "model_flops_per_second": chosen["flops_per_second"],
                          "matmul_flops_per_second": chosen["matmul_flops_per_second"],
                          "flop_rate_fraction_of_matmul": chosen["fraction_of_matmul"]}
    result["tuning"] = tuning
    steps = 5 if quick else 10
    result["sampling"] = {f"batch_{n}": sampling_benchmark(rec, device, n, steps) for n in ((20,) if quick else (20, 200))}
    torch.set_num_threads(base_threads)
    return result
