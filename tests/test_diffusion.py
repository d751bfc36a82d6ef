"""Diffusion core: tiny model on 8x8 digits, seconds per test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from privgen.cli import main
from privgen.diffusion import (fit, get_recipe, guided_eps, guided_eps_two_pass, init_state, load_model, new_model,
                               sample, train)
from privgen.diffusion.guidance import combine


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("PRIVGEN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and 2 threads on a shared box crawl
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "run"
    train("digits", out, "tiny8", steps=10, seed=0, quiet=True)
    return out


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    cap = capsys.readouterr()
    return e.value.code, cap.out, cap.err


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return new_model(get_recipe("tiny8"), 10, tuple(str(i) for i in range(10)), 1)


def test_training_reduces_loss():
    from privgen.data import load_images

    ds = load_images("digits", 8)
    x, y = ds.tensors()
    x, y = x[:64], y[:64]
    rec = get_recipe("tiny8", lr=3e-3, batch_size=32)
    model = tiny_model()
    state = fit(init_state(model.unet, rec, 0), x, y, rec, 40, model.null_class, quiet=True)
    first, last = sum(state.losses[:5]) / 5, sum(state.losses[-5:]) / 5
    assert last < 0.8 * first, (first, last)


def test_resume_equals_uninterrupted(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train("digits", a, "tiny8", steps=6, seed=1, quiet=True)
    train("digits", b, "tiny8", steps=3, seed=1, quiet=True)
    train("digits", b, "tiny8", steps=6, seed=1, quiet=True)
    ca, cb = load_file(str(a / "checkpoint.safetensors")), load_file(str(b / "checkpoint.safetensors"))
    assert set(ca) == set(cb)
    for k in ca:
        assert torch.equal(ca[k], cb[k]), k
    ua = load_file(str(a / "unet" / "diffusion_pytorch_model.safetensors"))
    ub = load_file(str(b / "unet" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(ua[k], ub[k]) for k in ua)
    assert json.loads((b / "metrics.json").read_text())["resumed_from_step"] == 3


def _inputs(model):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 1, 8, 8, generator=g)
    t = torch.tensor([999, 700, 500, 300, 100, 0])
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    return x, t, y


def test_guidance_scale_one_is_conditional(trained):
    model = load_model(trained)
    x, t, y = _inputs(model)
    with torch.no_grad():
        cond = model.unet(x, t, class_labels=y).sample
        uncond = model.unet(x, t, class_labels=torch.full_like(y, model.null_class)).sample
        assert torch.equal(guided_eps(model.unet, x, t, y, 1.0, model.null_class), cond)
        assert torch.allclose(combine(uncond, cond, 1.0), cond, atol=1e-6)
        assert torch.allclose(guided_eps(model.unet, x, t, y, 0.0, model.null_class), uncond)


def test_batched_cfg_equals_two_pass(trained):
    model = load_model(trained)
    x, t, y = _inputs(model)
    with torch.no_grad():
        for s in (0.5, 3.0, 7.5):
            a = guided_eps(model.unet, x, t, y, s, model.null_class)
            b = guided_eps_two_pass(model.unet, x, t, y, s, model.null_class)
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    imgs = sample(model, [0, 3], 3, guidance_scale=3.0, num_inference_steps=4, seed=0)
    assert imgs[0].shape == (3, 1, 8, 8) and imgs[3].abs().max() <= 1


def test_diffusers_loads_saved_model(trained):
    from diffusers import UNet2DModel

    plain = UNet2DModel.from_pretrained(str(trained / "unet")).eval()
    ours = load_model(trained)
    assert plain.config.num_class_embeds == ours.num_classes + 1
    raw = load_model(trained, weights="raw")  # un-averaged training weights from the checkpoint
    assert any(not torch.equal(a, b) for a, b in zip(raw.unet.parameters(), ours.unet.parameters()))
    x, t, y = _inputs(ours)
    with torch.no_grad():
        assert torch.equal(plain(x, t, class_labels=y).sample, ours.unet(x, t, class_labels=y).sample)


def test_sample_and_eval_cli(trained, tmp_path, capsys):
    code, out, _ = cli(["diffusion", "sample", "--model", str(trained), "--classes", "0,3", "--n-per-class", "4",
                        "--num-inference-steps", "3", "--out", str(tmp_path / "g.png"), "--quiet"], capsys)
    assert code == 0 and (tmp_path / "g.png").stat().st_size > 0


def _assert_error(code: int, err: str, *absent: Path) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.strip().count("\n") == 0, err
    for p in absent:
        assert not p.exists(), p


def test_bad_model_dirs(trained, tmp_path, capsys):
    png = tmp_path / "g.png"
    base = ["diffusion", "sample", "--classes", "0", "--n-per-class", "2", "--num-inference-steps", "2", "--out", str(png)]
    _assert_error(*cli(base + ["--model", str(tmp_path / "missing")], capsys)[::2], png)
    incomplete = tmp_path / "incomplete"
    shutil.copytree(trained, incomplete)
    (incomplete / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    _assert_error(*cli(base + ["--model", str(incomplete)], capsys)[::2], png)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"kind": "classifier"}))
    (other / "metrics.json").write_text("{}")
    _assert_error(*cli(base + ["--model", str(other)], capsys)[::2], png)
    ev = tmp_path / "ev"
    _assert_error(*cli(["eval", "generation", "--model", str(other), "--out", str(ev)], capsys)[::2], ev)


def test_bad_sampling_args(trained, tmp_path, capsys):
    png = tmp_path / "g.png"
    base = ["diffusion", "sample", "--model", str(trained), "--n-per-class", "2", "--out", str(png)]
    _assert_error(*cli(base + ["--classes", "0,10"], capsys)[::2], png)
    _assert_error(*cli(base + ["--classes", "0", "--guidance-scale", "-1"], capsys)[::2], png)
    _assert_error(*cli(base + ["--classes", "0", "--num-inference-steps", "0"], capsys)[::2], png)
    ev = tmp_path / "ev"
    _assert_error(*cli(["eval", "generation", "--model", str(trained), "--guidance-scale", "-0.5", "--out", str(ev)],
                       capsys)[::2], ev)
    _assert_error(*cli(["eval", "generation", "--model", str(trained), "--num-inference-steps", "0", "--out", str(ev)],
                       capsys)[::2], ev)
    out = tmp_path / "t"
    _assert_error(*cli(["diffusion", "train", "--data", "digits", "--recipe", "tiny8", "--steps", "0",
                        "--out", str(out)], capsys)[::2], out)


def test_tampered_checkpoint_and_weights(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "metrics.json").unlink()  # unfinished: the next train resumes from the checkpoint
    ck = load_file(str(run / "checkpoint.safetensors"))
    key = next(k for k in ck if k.startswith("model.") and ck[k].ndim == 4)
    ck[key] = torch.zeros(3, 3)
    save_file(ck, str(run / "checkpoint.safetensors"))
    before = (run / "checkpoint.safetensors").read_bytes()
    code, _, err = cli(["diffusion", "train", "--data", "digits", "--recipe", "tiny8", "--steps", "12",
                        "--out", str(run)], capsys)
    _assert_error(code, err)
    assert "checkpoint" in err and (run / "checkpoint.safetensors").read_bytes() == before
    (run / "checkpoint.safetensors").write_bytes(b"not a safetensors file")
    _assert_error(*cli(["diffusion", "train", "--data", "digits", "--recipe", "tiny8", "--steps", "12",
                        "--out", str(run)], capsys)[::2])
    model = tmp_path / "model"
    shutil.copytree(trained, model)
    w = model / "unet" / "diffusion_pytorch_model.safetensors"
    sd = load_file(str(w))
    sd.pop(next(iter(sd)))
    save_file(sd, str(w))
    png = tmp_path / "g.png"
    _assert_error(*cli(["diffusion", "sample", "--model", str(model), "--classes", "0", "--n-per-class", "2",
                        "--num-inference-steps", "2",
                        "--out", str(png)], capsys)[::2], png)


@pytest.mark.parametrize("name", ["cpu16", "demo16", "gpu28", "tiny8"])
def test_every_recipe_builds_and_runs(name):
    rec = get_recipe(name)
    model = new_model(rec, 10, tuple(str(i) for i in range(10)), 1)
    x = torch.randn(2, 1, rec.image_size, rec.image_size)
    with torch.no_grad():
        eps = guided_eps(model.unet, x, 500, torch.tensor([0, 9]), 3.0, model.null_class)
    assert eps.shape == x.shape


def test_preview_grids_per_run_are_bounded_whatever_the_steps(tmp_path, one_thread):
    """tiny8 checkpoints every 5 steps and drew a grid at each (a 300-step run drew 60 of them, 44 of its 59 s).
    Previews now scale with --steps: at most 10 per run, the last step's included (here 12 checkpoints)."""
    out = tmp_path / "m"
    train(data="digits", out=out, recipe="tiny8", steps=12, checkpoint_every=1, seed=0, device="cpu", quiet=True)
    grids = sorted(p.name for p in (out / "samples").glob("step-*.png"))
    assert 1 <= len(grids) <= 10 and grids[-1] == "step-000012.png", grids
    from privgen.diffusion.preview import MAX_PREVIEWS, is_preview_step

    for total in (1, 7, 50, 300, 2400, 20000):
        drawn = [s for s in range(5, total + 1, 5) if is_preview_step(s, total, 5)] + ([total] if total % 5 else [])
        assert 1 <= len(drawn) <= MAX_PREVIEWS, (total, len(drawn))
