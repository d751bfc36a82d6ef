"""Issue 20: the DPM-Solver++ sampler (clipped x0, guidance 1 = the conditional path), sampler and steps
recorded and reproducible, and one evaluator shared by `eval generation` and the unlearning benchmark."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from privgen.diffusion import load_model, sample_labels, train
from privgen.diffusion.solvers import SOLVERS, dpmpp_scheduler, get_solver, resolve_steps
from privgen.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sampling") / "run"
    train("digits", out, "tiny8", steps=10, seed=0, quiet=True)
    return out


def test_dpmpp_at_guidance_one_is_the_conditional_only_path(trained) -> None:
    """Guidance 1 through privgen's sampler = diffusers' DPM-Solver++ fed the conditional prediction alone."""
    model = load_model(trained)
    labels = torch.tensor([0, 3, 3, 9])
    got = sample_labels(model, labels, guidance_scale=1.0, sampler="dpmpp", num_inference_steps=6, seed=5)
    sched = dpmpp_scheduler(6)
    x = torch.randn((4, 1, 8, 8), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        for t in sched.timesteps:
            eps = model.unet(x, torch.full((4,), int(t)), class_labels=labels).sample
            x = sched.step(eps, t, x).prev_sample
    assert torch.equal(got, x.clamp(-1, 1))


def test_dpmpp_steps_from_the_clipped_x0() -> None:
    """A noise prediction that puts x0 far outside [-1, 1] (what a large guidance scale does) is clipped before
    the update, so the last step lands inside [-1, 1] without any final clamp."""
    sched = dpmpp_scheduler(5)
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    for t in sched.timesteps:
        eps = -8.0 * torch.ones_like(x)  # x0 = (x - sigma * eps) / alpha: large and positive
        x = sched.step(eps, t, x).prev_sample
    assert float(x.abs().max()) <= 1.0 + 1e-5
    assert torch.allclose(x, torch.ones_like(x), atol=1e-4)  # the clipped x0, not a value beyond it


def test_same_seed_same_images_and_the_sampler_matters(trained) -> None:
    model = load_model(trained)
    labels = torch.arange(10).repeat_interleave(2)
    a = sample_labels(model, labels, guidance_scale=3.0, sampler="dpmpp", num_inference_steps=4, seed=1)
    b = sample_labels(model, labels, guidance_scale=3.0, sampler="dpmpp", num_inference_steps=4, seed=1, batch_size=7)
    c = sample_labels(model, labels, guidance_scale=3.0, sampler="ddim", num_inference_steps=4, seed=1)
    a2 = sample_labels(model, labels, guidance_scale=3.0, sampler="dpmpp", num_inference_steps=4, seed=1)
    assert torch.equal(a, a2)
    assert torch.allclose(a, b, atol=1e-4)  # other batch sizes: the same noise, float-level kernel differences
    assert (a - c).abs().max() > 0.1


def test_sampler_registry_and_default_steps() -> None:
    assert set(SOLVERS) == {"ddim", "dpmpp"}
    assert resolve_steps("ddim", None, 50) == 50  # DDIM keeps the recipe's steps
    assert resolve_steps("dpmpp", None, 50) == get_solver("dpmpp").default_steps
    assert resolve_steps("dpmpp", 7, 50) == 7
    with pytest.raises(UserError, match="--sampler 'euler'"):
        get_solver("euler")


def test_sampler_and_steps_recorded_and_reproducible(trained, cli, tmp_path) -> None:
    """eval generation records the sampler and steps, and the same seed and settings give the same numbers."""
    runs = []
    for name in ("a", "b"):
        r = cli("eval", "generation", "--model", trained, "--n-per-class", 10, "--sampler", "dpmpp",
                "--num-inference-steps", 3, "--device", "cpu", "--quiet", "--out", tmp_path / name)
        assert r.code == 0, r.err
        runs.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    assert runs[0]["sampler"] == "dpmpp" and runs[0]["steps"] == 3
    assert runs[0]["class_accuracy"] == runs[1]["class_accuracy"] and runs[0]["fd"] == runs[1]["fd"]
    assert "3 DPM-Solver++ steps" in (tmp_path / "a" / "report.md").read_text()
    r = cli("eval", "generation", "--model", trained, "--n-per-class", 10, "--sampler", "ddim", "--device", "cpu",
            "--quiet", "--out", tmp_path / "d")
    assert r.code == 0, r.err
    m = json.loads((tmp_path / "d" / "metrics.json").read_text())
    assert (m["sampler"], m["steps"]) == ("ddim", load_model(trained).recipe.sample_steps)


def test_unknown_sampler_is_one_line_and_writes_nothing(trained, cli, tmp_path) -> None:
    from conftest import assert_user_error

    r = cli("eval", "generation", "--model", trained, "--sampler", "heun", "--device", "cpu", "--out", tmp_path / "x")
    assert_user_error(r, "--sampler 'heun'")
    assert not (tmp_path / "x").exists()


def test_one_evaluator_for_eval_generation_and_the_benchmark(trained, tmp_path) -> None:
    """The benchmark's evaluate_forgetting and `eval generation` sample and score through the same function:
    on the same model, seed and setting they report the same class accuracies (forget rate included)."""
    from privgen.diffusion.store import model_split
    from privgen.eval import cached_classifier
    from privgen.eval.forgetting import RealFeatures, evaluate_forgetting
    from privgen.eval.generation import evaluate_generation

    model = load_model(trained)
    clf, _, clf_dir = cached_classifier("digits", 8, quiet=True)
    run = evaluate_generation(trained, tmp_path / "ev", n_per_class=12, guidance_scale=3.0, sampler="dpmpp",
                              num_inference_steps=3, seed=4, classifier=clf_dir, device="cpu", quiet=True)
    gen = run.metrics
    real = RealFeatures.of(clf, model_split(model).test, forget_class=3)
    bench, images = evaluate_forgetting(model, clf, real, n_per_class=12, guidance_scales=(3.0,), sampler="dpmpp",
                                        num_inference_steps=3, seed=4)
    g3 = bench["g3"]
    per_class = gen["class_accuracy"]["per_class"]
    names = list(model.class_names)
    assert g3["forget_acc"] == per_class[names[3]]
    assert g3["forget_acc_ci"] == gen["class_accuracy"]["per_class_ci"][names[3]]
    retained = [per_class[n] for i, n in enumerate(names) if i != 3]
    assert g3["retained_class_acc"] == pytest.approx(float(np.mean(retained)), abs=1e-12)  # equal counts per class
    assert (bench["sampler"], bench["steps"]) == (gen["sampler"], gen["steps"]) == ("dpmpp", 3)
    assert images["g3"].shape == (120, 1, 8, 8)


def test_evaluation_cache_keys_keep_samplers_apart() -> None:
    """DDIM and DPM-Solver++ results never share a cached evaluation; a DDIM key is the one made before the
    sampler existed, so those entries stay valid."""
    from dataclasses import replace

    from privgen.bench.unlearning_tasks import BenchSettings, digest, evaluation_key

    s = BenchSettings(data="digits", forget=3, seed=0, recipe="tiny8", aux="retain", unlearn_steps=1, unlearn_lr=None,
                      attack_steps=2, attack_lr=1e-4, attack_batch=8, curve_points=1, n_per_class=10, curve_n=4,
                      eval_steps=15, guidance=3.0, device="cpu", sampler="ddim")
    ddim = evaluation_key("m", s, "c")
    assert ddim == digest({"model": "m", "forget": 3, "n": 10, "steps": 15, "seed": 0, "classifier": "c", "v": 1})
    dpmpp = evaluation_key("m", replace(s, sampler="dpmpp"), "c")
    assert dpmpp != ddim
    assert evaluation_key("m", replace(s, sampler="dpmpp", eval_steps=10), "c") != dpmpp
