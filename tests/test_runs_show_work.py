"""Issue 21: every run shows its work (log.jsonl losses, loss.png, report.md, grids, curves), progress without a
terminal, one option vocabulary with the old spellings still working, outputs standard tools load.

Built on the session's tiny models of test_bad_input (`shared`), plus one tiny unlearned model and a one-epoch
classifier made here once per module.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from test_bad_input import DIFF_TRAIN, shared  # noqa: F401  (shared: the session fixture)

PNG = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_thread")


def _run(argv: list) -> None:
    from privgen.cli import main

    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        assert not e.code, argv


@pytest.fixture(scope="module")
def made(shared, tmp_path_factory):  # noqa: F811
    """A one-epoch classifier and a 4-step DiMUM model of the shared tiny diffusion model, via the CLI."""
    root, diff, _ = shared
    out = tmp_path_factory.mktemp("show-work")
    clf, unlearned = out / "clf", out / "dimum"
    _run(["classifier", "train", "--data", "digits", "--image-size", "8", "--epochs", "1", "--batch-size", "64",
          "--device", "cpu", "--quiet", "--out", clf])
    _run(["unlearn", "run", "--model", diff, "--method", "dimum", "--forget", "3", "--steps", "4", "--batch-size", "8",
          "--device", "cpu", "--quiet", "--out", unlearned])
    return diff, clf, unlearned


def loss_events(run: Path) -> list[dict]:
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    return [e for e in events if e["event"] == "loss"]


def assert_shows_work(run: Path, *pngs: str) -> str:
    losses = loss_events(run)
    assert losses and all(np.isfinite(e["loss"]) for e in losses), run
    for name in ("loss.png", *pngs):
        assert (run / name).read_bytes()[:8] == PNG, name
    report = (run / "report.md").read_text()
    for link in re.findall(r"\]\(([^)]+)\)", report):
        assert (run / link).exists(), link
    assert "loss.png" in report
    return report


def test_each_training_command_writes_losses_loss_png_and_report(made, tmp_path, cli) -> None:
    diff, clf, unlearned = made
    assert_shows_work(diff, "samples/step-000002.png")
    assert [e["step"] for e in loss_events(diff)] == [1, 2]  # tiny8 for 2 steps: one point per step
    assert_shows_work(clf)
    report = assert_shows_work(unlearned, "before_after.png")
    assert "before_after.png" in report and set(loss_events(unlearned)[0]) >= {"memorise_loss", "retain_loss"}
    r = cli("attack", "relearn", "--model", unlearned, "--aux", "retain", "--steps", 4, "--batch-size", 8,
            "--probe-every", 2, "--n-per-class", 10, "--num-inference-steps", 2, "--classifier", clf,
            "--device", "cpu", "--quiet", "--out", tmp_path / "att")
    assert r.code == 0, r.err
    report = assert_shows_work(tmp_path / "att", "relearn_curve.png")
    curve = json.loads((tmp_path / "att" / "metrics.json").read_text())["relearn_curve"]
    assert [p["step"] for p in curve] == [0, 2, 4] and "relearn_curve.png" in report
    for p in curve:
        assert p["n"] == 10 and p["forget_acc_ci"][0] <= p["forget_acc"] <= p["forget_acc_ci"][1]


def test_logging_grids_and_probes_leave_the_weights_unchanged(made, tmp_path, monkeypatch) -> None:
    """Same seed, same weights: sample grids and forget-rate probes draw no numbers of the training run."""
    import privgen.diffusion.trainer as trainer
    from privgen.attacks import relearn_run
    from privgen.attacks.options import ProbeOptions
    from privgen.diffusion.store import load_model

    diff, clf, unlearned = made
    trainer.train("digits", tmp_path / "a", "tiny8", steps=5, device="cpu", quiet=True)
    monkeypatch.setattr(trainer, "save_preview", lambda *a, **k: None)
    trainer.train("digits", tmp_path / "b", "tiny8", steps=5, device="cpu", quiet=True)
    assert not (tmp_path / "b" / "samples").exists()
    kw = dict(steps=4, batch_size=8, device="cpu", quiet=True)
    relearn_run(unlearned, "retain", tmp_path / "c", **kw)
    relearn_run(unlearned, "retain", tmp_path / "d", classifier=clf, probe=ProbeOptions(every=1, n_per_class=4,
                                                                                       num_inference_steps=2), **kw)
    for x, y in (("a", "b"), ("c", "d")):
        wx, wy = load_model(tmp_path / x).unet.state_dict(), load_model(tmp_path / y).unet.state_dict()
        assert all(torch.equal(wx[k], wy[k]) for k in wx), (x, y)


def test_heartbeat_prints_without_a_terminal(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PRIVGEN_HEARTBEAT_SECONDS", "0")
    r = cli(*DIFF_TRAIN[:-1], "--out", tmp_path / "d")  # without --quiet; capsys is no terminal
    assert r.code == 0, r.err
    lines = [ln for ln in r.err.splitlines() if ln.startswith("diffusion train: ")]
    assert any("it/s" in ln and "ETA" in ln for ln in lines) and lines[-1].startswith("diffusion train: 2/2 (100%)")
    r = cli(*DIFF_TRAIN, "--out", tmp_path / "q")
    assert r.code == 0 and r.err == ""  # --quiet: nothing


def test_heartbeat_line_and_worker_forwarding() -> None:
    import io

    from privgen.bench.pool import describe_inner
    from privgen.progress import Forwarder, Heartbeat

    buf = io.StringIO()
    hb = Heartbeat(total=4, desc="job", interval=0, stream=buf)
    hb.update(2)
    hb.set_postfix(loss="0.5")
    hb.close()
    assert buf.getvalue().splitlines()[0].startswith("job: 2/4 (50%)") and "loss=0.5" in buf.getvalue()
    events: list[dict] = []
    fw = Forwarder(events.append, total=10, desc="diffusion train")
    fw.update(10)
    fw.close()
    assert events[0]["n"] == 0 and events[-1]["done"] and events[-1]["n"] == 10
    assert describe_inner({**events[-1], "elapsed": 5.0}) == "diffusion train 10/10, 2 it/s, ETA 0s"


def test_old_spellings_still_work_and_warn(made, cli, tmp_path, monkeypatch) -> None:
    diff, clf, _ = made
    warn = "is deprecated and goes in privgen 0.2; use"
    r = cli("diffusion", "sample", "--model", diff, "--classes", "0", "--n", 2, "--steps", 2, "--device", "cpu",
            "--out", tmp_path / "g.png")
    assert r.code == 0 and r.err.count(warn) == 2 and "--n-per-class" in r.err and "--num-inference-steps" in r.err
    r = cli("eval", "generation", "--model", diff, "--n-per-class", 10, "--steps", 2, "--classifier", clf,
            "--device", "cpu", "--quiet", "--out", tmp_path / "ev")
    assert r.code == 0 and warn in r.err and json.loads((tmp_path / "ev" / "metrics.json").read_text())["steps"] == 2
    r = cli("data", "show", "digits", "--per-class", 2, "--out", tmp_path / "d.png")
    assert r.code == 0 and "use --n-per-class" in r.err
    r = cli("unlearn", "--model", diff, "--method", "ft", "--forget", 3, "--steps", 1, "--batch-size", 4,
            "--device", "cpu", "--quiet", "--out", tmp_path / "u")
    assert r.code == 0 and "use privgen unlearn run" in r.err and (tmp_path / "u" / "metrics.json").is_file()
    seen = {}
    monkeypatch.setattr("privgen.bench.unlearning.run_benchmark",
                        lambda s, *a, **k: seen.update(s=s) or (_ for _ in ()).throw(SystemExit(0)))
    r = cli("bench", "unlearning", "--attack-batch", 8, "--curve-n", 7, "--eval-steps", 3, "--guidance", 2,
            "--device", "cpu", "--out", tmp_path / "b")
    assert r.code == 0 and r.err.count(warn) == 4, r.err
    s = seen["s"]
    assert (s.attack_batch, s.curve_n, s.eval_steps, s.guidance, s.device) == (8, 7, 3, 2.0, "cpu")
    r = cli("diffusion", "sample", "--model", diff, "--n", 2, "--n-per-class", 2, "--out", tmp_path / "h.png")
    assert r.code == 2 and "give only --n-per-class" in r.err


def test_bare_unlearn_shows_help_like_every_group(cli) -> None:
    bare, other = cli("unlearn"), cli("diffusion")
    assert bare.code == other.code and "run" in bare.out + bare.err and "list" in bare.out + bare.err


def test_the_diffusers_snippet_in_the_docs_samples_a_privgen_model(made) -> None:
    diff = made[0]
    doc = (Path(__file__).resolve().parents[1] / "docs" / "diffusion.md").read_text()
    code = doc.split("<!-- diffusers-snippet")[1].split("```python\n")[1].split("```")[0]
    assert len(code.strip().splitlines()) <= 16
    code = code.replace('"runs/ddpm"', repr(str(diff))).replace("set_timesteps(50)", "set_timesteps(3)")
    scope: dict = {}
    exec(compile(code, "docs/diffusion.md", "exec"), scope)
    images = scope["images"]
    assert images.shape == (8, 1, 8, 8) and 0 <= float(images.min()) and float(images.max()) <= 1
    # The same numbers as privgen's own sampler (same start noise, same schedule, same guidance).
    from privgen.diffusion import load_model
    from privgen.diffusion.guidance import guided_eps
    from privgen.diffusion.schedule import ddim_step, sampling_scheduler

    model = load_model(diff)
    x = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    sched = sampling_scheduler(3)
    with torch.no_grad():
        for t in sched.timesteps:
            x = ddim_step(sched, guided_eps(model.unet, x, int(t), torch.full((8,), 3), 3.0, model.null_class), t, x)
    assert torch.allclose(images, (x.clamp(-1, 1) + 1) / 2, atol=1e-5)


def test_sample_npz_and_eval_intervals_with_fd_warning(made, cli, tmp_path) -> None:
    diff, clf, _ = made
    r = cli("diffusion", "sample", "--model", diff, "--classes", "0,3", "--n-per-class", 3, "--num-inference-steps", 2,
            "--device", "cpu", "--out", tmp_path / "s.npz")
    assert r.code == 0, r.err
    with np.load(tmp_path / "s.npz") as z:
        assert z["x"].shape == (6, 1, 8, 8) and z["x"].dtype == np.float32 and list(z["y"]) == [0, 0, 0, 3, 3, 3]
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG
    r = cli("eval", "generation", "--model", diff, "--n-per-class", 10, "--num-inference-steps", 2,
            "--classifier", clf, "--device", "cpu", "--quiet", "--out", tmp_path / "ev")
    assert r.code == 0, r.err
    assert "warning: Fréchet distance from 10 samples in 128 feature dimensions" in r.err
    acc = json.loads((tmp_path / "ev" / "metrics.json").read_text())["class_accuracy"]
    lo, hi = acc["ci"]
    assert lo <= acc["mean"] <= hi and acc["n"] == 100
    assert all(acc["per_class_ci"][c][0] <= v <= acc["per_class_ci"][c][1] for c, v in acc["per_class"].items())
    assert "95% Wilson" in (tmp_path / "ev" / "report.md").read_text()


def test_bench_guidance_accepts_any_positive_scale() -> None:
    from privgen.bench.unlearning import validate
    from privgen.bench.unlearning_tasks import BenchSettings, guidance_scales
    from privgen.errors import UserError

    s = BenchSettings(data="digits", forget=3, seed=0, recipe="tiny8", aux="retain", unlearn_steps=1, unlearn_lr=None,
                      attack_steps=2, attack_lr=1e-3, attack_batch=4, curve_points=1, n_per_class=10, curve_n=2,
                      eval_steps=2, guidance=2.5, device="cpu")
    validate(s, 1)
    assert guidance_scales(s) == (1.0, 2.5, 3.0)
    from dataclasses import replace

    assert guidance_scales(replace(s, guidance=3.0)) == (1.0, 3.0)
    with pytest.raises(UserError, match="--guidance-scale must be positive"):
        validate(replace(s, guidance=0.0), 1)


def test_benchmark_workers_forward_their_progress(monkeypatch, capsys) -> None:
    """A task's own loop in a worker process shows up in the parent's heartbeat lines, not only its end."""
    from progress_task import slow

    from privgen.bench.pool import Task, run_graph

    monkeypatch.setenv("PRIVGEN_HEARTBEAT_SECONDS", "0")
    assert run_graph([Task("slow one", slow, (6, 0.5))], workers=2, desc="g") == {"slow one": 6}
    err = capsys.readouterr().err
    assert re.search(r"\[slow one\] inner loop [0-9]/6", err), err
    assert "g: 1/1 done, slow one" in err
