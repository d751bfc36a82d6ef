"""Data-parallel training under `accelerate launch` (privgen.parallel): 2 CPU processes (gloo) against 1.

What must match, and how closely. With the global batch B split in halves, each process draws the whole
batch's indices, timesteps, noise and dropout from the shared seed, runs its half, and the gradients are
averaged; so the 2-process step is the 1-process step up to float32 summation order (convolutions over
B/2 rows instead of B, one all-reduce). Measured on tiny8 (10 steps): per-step losses agree to ~1e-7
relative, every weight with a real gradient to < 1e-6, the EMA model's predictions to ~1e-6 (outputs of
size ~0.4). The tolerances below are 10-100x those, far below what a wrong sharding gives (another batch
changes the first loss at the 1e-2 level). The exception is a weight whose gradient is analytically zero
(a bias before a per-channel GroupNorm; an attention key bias, which softmax ignores): its gradient is
rounding noise, which Adam's normalisation turns into steps of up to lr in either direction, so those
weights differ by up to ~steps x lr while changing nothing the model computes; they are identified by their
gradient and held only to that bound.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from privgen.parallel import Parallel
from privgen.errors import UserError

HELPER = Path(__file__).with_name("ddp_main.py")
STEPS, KILL_AT = 10, 5  # tiny8 saves a checkpoint every 5 steps
TRAIN = ["diffusion", "train", "--data", "digits", "--recipe", "tiny8", "--steps", str(STEPS), "--seed", "0",
         "--device", "cpu", "--quiet"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(out: Path, writes: Path, **env: str) -> subprocess.CompletedProcess:
    """`accelerate launch` 2 CPU processes of `privgen diffusion train` (torchrun underneath: accelerate's
    --cpu launcher starts one process unless given an MPI host file)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), str(HELPER), *TRAIN, "--out", str(out)]
    full = {**os.environ, "PRIVGEN_TEST_WATCH": str(out), "PRIVGEN_TEST_WRITES": str(writes), **env}
    full.pop("PRIVGEN_THREADS", None)  # the launcher's share: 1 thread each on 2 cores
    return subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=900)


def losses(run: Path) -> list[float]:
    return [e["loss"] for e in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if e["event"] == "loss"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from privgen.diffusion.trainer import train

    root = tmp_path_factory.mktemp("ddp")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train("digits", root / "one", "tiny8", steps=STEPS, seed=0, device="cpu", quiet=True)
    finally:
        torch.set_num_threads(threads)
    two = launch(root / "two", root / "writes-two.txt")
    assert two.returncode == 0, two.stderr[-3000:]
    return root


def _null_gradient(run: Path) -> set[str]:
    """Weights whose gradient on a large batch is rounding noise (< 1e-5 of the largest)."""
    from privgen.diffusion.loss import denoising_loss
    from privgen.diffusion.schedule import training_scheduler
    from privgen.diffusion.store import load_model

    model = load_model(run, "cpu")
    unet = model.unet.train().requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    x = torch.rand((256, 1, 8, 8), generator=g) * 2 - 1
    y = torch.randint(0, model.num_classes + 1, (256,), generator=g)
    denoising_loss(unet, x, y, training_scheduler(), g).backward()
    peak = max(p.grad.abs().max().item() for p in unet.parameters())
    return {n for n, p in unet.named_parameters() if p.grad.abs().max().item() < 1e-5 * peak}


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(runs):
    one, two = runs / "one", runs / "two"
    assert json.loads((two / "config.json").read_text())["processes"] == 2
    assert "processes" not in json.loads((one / "config.json").read_text())  # old configs, old cache keys
    a, b = losses(one), losses(two)
    assert len(a) == len(b) == STEPS
    assert a == pytest.approx(b, rel=1e-5)
    wa, wb = load_file(str(one / "checkpoint.safetensors")), load_file(str(two / "checkpoint.safetensors"))
    null = _null_gradient(one)
    assert 0 < len(null) < 20  # a few biases, not the model
    for key in wa:
        if not key.startswith("model."):
            continue
        diff = (wa[key] - wb[key]).abs().max().item()
        bound = 2 * STEPS * 2e-3 if key[len("model."):] in null else 1e-5  # tiny8's lr is 2e-3
        assert diff <= bound, (key, diff)
    # What the model computes: the saved EMA UNets on one fixed batch.
    from diffusers import UNet2DModel

    ua = UNet2DModel.from_pretrained(str(one), subfolder="unet")
    ub = UNet2DModel.from_pretrained(str(two), subfolder="unet")
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn((32, 1, 8, 8), generator=g), torch.randint(0, 1000, (32,), generator=g)
    y = torch.randint(0, 11, (32,), generator=g)
    with torch.no_grad():
        assert (ua(x, t, class_labels=y).sample - ub(x, t, class_labels=y).sample).abs().max().item() < 1e-4


@pytest.mark.slow
def test_only_the_main_process_writes(runs):
    two = runs / "two"
    assert not (runs / "writes-two.txt").exists(), (runs / "writes-two.txt").read_text()
    assert {"metrics.json", "checkpoint.safetensors", "log.jsonl", "report.md", "unet"} <= {p.name for p in two.iterdir()}
    assert json.loads((two / "metrics.json").read_text())["processes"] == 2


@pytest.mark.slow
def test_killed_ddp_run_resumes_to_the_same_weights(runs):
    out = runs / "killed"
    killed = launch(out, runs / "writes-killed.txt", PRIVGEN_TEST_KILL_AT_STEP=str(KILL_AT))
    assert killed.returncode != 0
    assert not (out / "metrics.json").exists()
    assert load_file(str(out / "checkpoint.safetensors"))["state.step"].item() == KILL_AT
    resumed = launch(out, runs / "writes-killed.txt")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["resumed_from_step"] == KILL_AT
    a, b = load_file(str(runs / "two" / "checkpoint.safetensors")), load_file(str(out / "checkpoint.safetensors"))
    assert a.keys() == b.keys()
    for key in a:  # bit for bit: model, EMA, optimizer, step and RNG states
        assert torch.equal(a[key], b[key]), key
    assert not (runs / "writes-killed.txt").exists()


class _Acc:
    num_processes, process_index, is_main_process, mixed_precision = 2, 1, False, "no"


def test_batch_must_split_over_the_processes():
    par = Parallel(_Acc())
    assert par.local(16) == slice(8, 16) and not par.is_main and par.config() == {"processes": 2}
    par.check_batch(16)
    with pytest.raises(UserError, match="--batch-size 15 does not split over 2 processes"):
        par.check_batch(15)
    assert Parallel().config() == {} and Parallel().local(5) == slice(0, 5)
