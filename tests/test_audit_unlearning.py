"""`privgen audit unlearning`: the scores on hand-made curves, and the battery end to end on tiny models."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_user_error
from privgen.audit.unlearning.regimes import parse_regimes
from privgen.audit.unlearning.scores import (Curve, crossing_step, difference_ci, quality_horizon, recovery,
                                             speedup)

FORGET = 3
STEPS = (0, 25, 50, 100, 200)


# ------------------------------------------------------------------------------------- scores on curves


def logistic(step_to_half: float, steps=STEPS) -> np.ndarray:
    """A relearning curve that reaches 50% at `step_to_half` (0 before the attack)."""
    s = np.asarray(steps, dtype=float)
    return np.where(s == 0, 0.0, 1 / (1 + np.exp(-(s - step_to_half) / (0.15 * step_to_half))))


def draw(rates: np.ndarray, n: int, rng) -> Curve:
    return Curve(STEPS, tuple(int(h) for h in rng.binomial(n, rates)), n)


def test_crossing_step_interpolates_and_censors():
    assert crossing_step([0, 100, 200], [0.0, 0.25, 0.75], 0.5) == 150
    assert crossing_step([0, 100], [0.6, 1.0], 0.5) == 0
    assert crossing_step([0, 100, 200], [0.0, 0.2, 0.4], 0.5) is None


def test_difference_ci_covers_the_difference_and_is_wide_at_small_n():
    lo, hi = difference_ci(0, 50, 0, 50)
    assert lo < 0 < hi and hi == pytest.approx(0.071, abs=0.002)  # 0/50 vs 0/50: Wilson's 7.1% either side
    lo, hi = difference_ci(45, 50, 5, 50)
    assert 0.6 < lo < 0.8 < hi < 0.95


def test_a_model_that_never_learned_the_class_scores_like_the_oracle():
    """Model and oracle drawn from the same relearning curve: recovery ≈ 0 and speedup ≈ 1, and their
    intervals cover 0 and 1 in nearly every draw."""
    rng = np.random.default_rng(0)
    truth = logistic(80)
    covered_rec = covered_speed = 0
    estimates = []
    for i in range(40):
        model, oracle = draw(truth, 50, rng), draw(truth, 50, rng)
        rec = recovery(model, oracle, 200)
        covered_rec += rec["ci"][0] <= 0 <= rec["ci"][1]
        sp = speedup(model, oracle, 0.5, n_boot=300, seed=i)
        assert sp["kind"] == "measured"
        covered_speed += sp["ci"][0] <= 1 <= sp["ci"][1]
        estimates.append(sp["speedup"])
    assert covered_rec >= 36 and covered_speed >= 36
    assert np.median(estimates) == pytest.approx(1, abs=0.1)


def test_a_model_with_residual_memory_relearns_faster():
    rng = np.random.default_rng(1)
    model, oracle = draw(logistic(25), 50, rng), draw(logistic(100), 50, rng)
    sp = speedup(model, oracle, 0.5, n_boot=500)
    assert sp["kind"] == "measured" and 2.5 < sp["speedup"] < 6 and sp["ci"][0] > 1.5
    # The original never forgot: at the rate before any attack step, its speedup is unbounded.
    original = Curve(STEPS, (50, 50, 50, 50, 50), 50)
    sp = speedup(original, oracle, 0.5, n_boot=200)
    assert sp["kind"] == "never_forgot" and sp["speedup"] is None
    # An oracle that never gets there: the ratio is a lower bound, horizon ÷ the model's steps.
    flat = Curve(STEPS, (0, 0, 0, 1, 2), 50)
    sp = speedup(model, flat, 0.5, n_boot=200)
    assert sp["kind"] == "at_least" and sp["speedup"] == pytest.approx(200 / sp["model_steps_to_r"])
    assert speedup(flat, flat, 0.5, n_boot=50)["kind"] == "unresolved"


def test_quality_horizon_stops_at_the_first_budget_that_breaks_the_rule():
    fd = [{"g1": 2.0, "g3": 6.0}, {"g1": 2.5, "g3": 6.0}, {"g1": 2.9, "g3": 9.5}, {"g1": 2.0, "g3": 6.0}]
    assert quality_horizon([0, 25, 50, 100], fd, 1.5) == 25  # g3 9.5 > 1.5 x 6: 50 and everything after it go
    assert quality_horizon([0, 25, 50, 100], fd, 2.0) == 100
    assert quality_horizon([0, 25], [{"g1": 1.0}, {"g1": 40.0}], 1.5) == 0


def test_regimes_parse():
    assert [r.name for r in parse_regimes("all")] == ["retain", "generated", "public", "public-without", "kshot-1",
                                                     "kshot-10", "kshot-100"]
    assert parse_regimes("kshot-7")[0].k == 7


# ------------------------------------------------------------------------------------- the battery end to end


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from privgen.diffusion import train
    from privgen.unlearn.run import unlearn

    root = tmp_path_factory.mktemp("audit-unlearning")
    base = root / "base"
    train(data="digits", out=base, recipe="tiny8", steps=30, seed=0, device="cpu", quiet=True)
    dimum = root / "dimum"
    unlearn(base, "dimum", FORGET, dimum, seed=0, steps=3, batch_size=16, device="cpu", quiet=True)
    oracle = root / "oracle"
    unlearn(base, "retrain", FORGET, oracle, seed=0, steps=30, device="cpu", quiet=True)  # as long as the base
    return base, dimum, oracle


def tiny_settings(**kw):
    from privgen.audit.unlearning.run import AuditSettings

    opts = dict(regimes=("retain", "kshot-2"), lrs=(1e-3,), steps=4, probe_steps=(2,), batch_size=8, n_per_class=6,
                quality_n_per_class=2, num_inference_steps=2, device="cpu")
    return AuditSettings(**{**opts, **kw})


TINY_FLAGS = ["--regimes", "retain,kshot-2", "--lrs", "1e-3", "--steps", 4, "--probe-steps", 2, "--batch-size", 8,
              "--n-per-class", 6, "--quality-n-per-class", 2, "--num-inference-steps", 2, "--workers", 1,
              "--device", "cpu", "--quiet"]


VERDICT_FLAGS = ["--n-per-class", 40, "--margin", 25]  # 0/40 vs 0/40 reaches +9 points; 40 samples can decide 25


def test_the_oracle_audited_against_itself_resists_in_every_regime(models, cli, tmp_path, one_thread):
    _, _, oracle = models
    out = tmp_path / "a"
    res = cli("audit", "unlearning", "--model", oracle, "--oracle", oracle, *TINY_FLAGS, *VERDICT_FLAGS, "--out", out)
    assert res.code == 0, res.err
    m = json.loads((out / "metrics.json").read_text())
    for name, reg in m["regimes"].items():
        for cell in reg["cells"]:
            assert cell["model"]["rates"] == cell["oracle"]["rates"]
            for table in ("rule_on", "rule_off"):
                scores = cell["model"] if table == "rule_on" else cell["model"]["rule_off"]
                assert all(r["recovery"] == 0 for r in scores["recovery_by_step"])
            sp = cell["model"]["rule_off"]["speedup"]
            assert sp["kind"] == "unresolved" or sp["speedup"] == 1
            assert cell["model"]["verdict"]["rule_off"]["verdict"] == "resists", cell["model"]["verdict"]
            # What the attacker gets is recorded at every probe, the oracle's beside the model's.
            q = cell["model"]["forgotten_quality"]
            assert [p["step"] for p in q] == cell["steps"] and q == cell["oracle"]["forgotten_quality"]
            assert all(0 <= p["confidence"] <= 1 and p["fd_forgotten"] > 0 for p in q)
        assert reg["model"]["verdict"]["rule_off"] == "resists"
    assert m["verdicts"]["model"]["rule_off"] == {"overall": "resists",
                                                  "regimes": {"retain": "resists", "kshot-2": "resists"}}
    assert m["headline"] == {"threat": "class-samples", "table": "rule_off"}
    assert m["verdict"].startswith("RESISTS under the class-samples threat") and m["verdict"] in res.out
    report = (out / "report.md").read_text()
    assert m["verdict"] in report and m["verdict_rule"] in report and "+25 points" in m["verdict_rule"]
    for heading in ("## Quality rule off", "## Quality rule on", "## What the attacker gets: samples of class 3"):
        assert heading in report
    assert "| retain | 0.001 |" in report and "| kshot-2 | 0.001 |" in report
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_model_with_the_class_restored_leaks(models, cli, tmp_path, monkeypatch, one_thread):
    """The base model audited as if unlearned, its samples of class 3 standing in for a restored class: real
    test images of class 3 (the 30-step tiny base renders no digit the classifier knows). Everything after the
    sampling is the audit's own: classifier, scores, verdicts, report."""
    import dataclasses

    import numpy as np

    import privgen.eval.forgetting as forgetting
    from privgen.diffusion.store import model_split
    from privgen.eval.classifier import extract_features, predict

    real_generate = forgetting.generate

    def restored(model, clf, labels, **kw):
        gen = real_generate(model, clf, labels, **kw)
        if model.config.get("unlearning") is not None:  # the oracle: its own samples
            return gen
        test = model_split(model).test
        images = np.resize(test.x[test.y == FORGET], gen.images.shape).astype(np.float32)
        return dataclasses.replace(gen, images=images, pred=predict(clf, images), features=extract_features(clf, images))

    monkeypatch.setattr(forgetting, "generate", restored)
    base, _, oracle = models
    out = tmp_path / "b"
    res = cli("audit", "unlearning", "--model", base, "--forget", FORGET, "--oracle", oracle, *TINY_FLAGS,
              *VERDICT_FLAGS, "--seed", 3, "--out", out)  # a seed of its own: no cached attack of the real base
    assert res.code == 0, res.err
    m = json.loads((out / "metrics.json").read_text())
    for name, reg in m["regimes"].items():
        cell = reg["cells"][0]
        assert min(cell["model"]["rates"]) > 0.8 and max(cell["oracle"]["rates"]) < 0.3, (name, cell)
        v = cell["model"]["verdict"]
        assert v["rule_off"]["verdict"] == v["rule_on"]["verdict"] == "leaks" and "above +25 points" in v["rule_off"]["why"]
        q, qo = cell["model"]["forgotten_quality"], cell["oracle"]["forgotten_quality"]
        assert q[-1]["confidence"] > 0.8 > qo[-1]["confidence"] and q[-1]["fd_forgotten"] < qo[-1]["fd_forgotten"]
    assert m["verdicts"]["model"] == {t: {"overall": "leaks", "regimes": {"retain": "leaks", "kshot-2": "leaks"}}
                                      for t in ("rule_on", "rule_off")}
    assert m["verdict"].startswith("LEAKS under the class-samples threat") and m["verdict"] in res.out


def test_the_oracle_is_trained_once_into_the_benchmarks_cache_entry(models, tmp_path, monkeypatch, one_thread):
    import privgen.unlearn
    from privgen.audit.unlearning.run import run_audit
    from privgen.bench.unlearning_tasks import BenchSettings, MethodSpec, unlearned_dir

    base, dimum, _ = models
    run = run_audit(dimum, tmp_path / "o1", tiny_settings(regimes=("kshot-2",)), workers=1, quiet=True)
    oracle = run.config["oracle"]
    assert run.config["oracle_trained_here"] and (tmp_path / "o1" / "metrics.json").exists()
    s = BenchSettings(data="digits", forget=FORGET, seed=0, recipe="tiny8", aux="retain", unlearn_steps=None,
                      unlearn_lr=None, attack_steps=4, attack_lr=1e-3, attack_batch=16, curve_points=2, n_per_class=10,
                      curve_n=10, eval_steps=3, guidance=3.0, device="cpu")
    # The oracle trains exactly as long as the base did (--steps 30), not the recipe's 20 steps.
    base_cfg = json.loads((base / "config.json").read_text())
    oracle_cfg = json.loads((Path(oracle) / "config.json").read_text())
    assert base_cfg["steps"] == 30 and oracle_cfg["steps"] == 30
    assert json.loads((Path(oracle) / "metrics.json").read_text())["steps"] == 30
    assert oracle_cfg["recipe"] == base_cfg["recipe"]
    assert oracle == str(unlearned_dir(s, MethodSpec("retrain", "retrain"), base=base.resolve(), base_cfg=base_cfg))
    monkeypatch.setattr(privgen.unlearn, "unlearn", lambda *a, **k: pytest.fail("retrained a cached oracle"))
    run_audit(dimum, tmp_path / "o2", tiny_settings(regimes=("kshot-2",)), workers=1, quiet=True)


def test_the_quality_rule_drops_the_budget_that_destroys_the_oracle(models, tmp_path, monkeypatch, one_thread):
    """The oracle's retained FD doubles after 2 attack steps at the larger lr: only step 0..2 of that lr count."""
    import privgen.audit.unlearning.battery as battery
    from privgen.audit.unlearning.run import run_audit

    real_quality = battery.retained_quality

    def ruined_at_high_lr(model, *a, **kw):
        fd = real_quality(model, *a, **kw)
        lr = model.unet.__dict__.get("_audit_lr")
        return fd if lr is None else {k: 10 * v for k, v in fd.items()}

    def relearn_marking(model, aux, **kw):  # tag the weights with the lr they are attacked at
        if kw["lr"] > 1e-2:
            model.unet.__dict__["_audit_lr"] = kw["lr"]
        return real_relearn(model, aux, **kw)

    import privgen.attacks as attacks
    real_relearn = attacks.relearn
    monkeypatch.setattr(attacks, "relearn", relearn_marking)
    monkeypatch.setattr(battery, "retained_quality", ruined_at_high_lr)
    _, dimum, oracle = models
    run = run_audit(dimum, tmp_path / "q", tiny_settings(regimes=("retain",), lrs=(1e-3, 5e-2)), oracle=oracle,
                    workers=1, quiet=True)
    cells = run.metrics["regimes"]["retain"]["cells"]
    assert [c["horizon"] for c in cells] == [4, 0]
    assert [r["step"] for r in cells[1]["model"]["recovery_by_step"]] == [0] and cells[1]["model"]["speedup"] is None
    assert "| retain | 0.05 | none" in run.file("report.md").read_text()
    v = cells[1]["model"]["verdict"]["rule_on"]
    assert v["verdict"] == "inconclusive" and "no attack step is counted" in v["why"] and "--lrs" in v["decide"]
    # Without the rule every step of that lr counts: its verdict is read on the whole attack.
    assert [r["step"] for r in cells[1]["model"]["rule_off"]["recovery_by_step"]] == [0, 2, 4]


def test_a_killed_audit_resumes_without_redoing_finished_attacks(models, tmp_path, monkeypatch, one_thread):
    import privgen.attacks as attacks
    from privgen.audit.unlearning.run import run_audit

    _, dimum, oracle = models
    real_relearn = attacks.relearn
    calls = []

    def dies_on_the_third(*a, **kw):
        calls.append(kw["lr"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_relearn(*a, **kw)

    monkeypatch.setattr(attacks, "relearn", dies_on_the_third)
    settings = tiny_settings(seed=1)  # attacks no other test has cached
    with pytest.raises(KeyboardInterrupt):
        run_audit(dimum, tmp_path / "r", settings, oracle=oracle, workers=1, quiet=True)
    assert not (tmp_path / "r" / "metrics.json").exists()
    calls.clear()
    monkeypatch.setattr(attacks, "relearn", real_relearn)
    monkeypatch.setattr(attacks, "relearn", lambda *a, **kw: calls.append(kw["lr"]) or real_relearn(*a, **kw))
    run_audit(dimum, tmp_path / "r", settings, oracle=oracle, workers=1, quiet=True)
    assert len(calls) == 2  # 2 regimes x (oracle + model) = 4 attacks; 2 had finished before the kill
    assert (tmp_path / "r" / "metrics.json").exists()


def test_generated_data_is_built_once_per_model_for_every_lr(models, tmp_path, monkeypatch, one_thread):
    """`generated` samples 100 images per condition: the attacks at each lr of one model share one build."""
    import torch

    import privgen.audit.unlearning.battery as battery
    from privgen.attacks.aux import AuxData
    from privgen.audit.unlearning.run import run_audit
    from privgen.diffusion.store import model_split

    built = []

    def stand_in(model, attack, forget_class, clf):  # the tiny model renders no digit a classifier would keep
        built.append(model.config.get("unlearning", {}).get("method"))
        train = model_split(model).train
        keep = train.y != forget_class
        return AuxData(torch.from_numpy(train.x[keep][:32]), torch.from_numpy(train.y[keep][:32]).long(), "stand-in")

    monkeypatch.setattr(battery, "build_attack_data", stand_in)
    _, dimum, oracle = models
    run = run_audit(dimum, tmp_path / "g", tiny_settings(regimes=("generated",), lrs=(1e-3, 1e-4), seed=2),
                    oracle=oracle, workers=1, quiet=True)
    assert sorted(built) == ["dimum", "retrain"]  # 2 models x 2 lrs = 4 attacks, 2 builds
    assert len(run.metrics["regimes"]["generated"]["cells"]) == 2


def test_bad_inputs_are_one_line_and_write_nothing(models, cli, tmp_path):
    from privgen.diffusion import train

    base, dimum, oracle = models
    out = tmp_path / "o"
    common = ["--lrs", "1e-3", "--steps", "4", "--probe-steps", "2", "--device", "cpu", "--out", out]
    audit = ["audit", "unlearning"]
    assert_user_error(cli(*audit, "--model", base, "--oracle", oracle, *common), "never unlearned", "--forget")
    assert_user_error(cli(*audit, "--model", dimum, "--oracle", dimum, *common), "not a model retrained without class 3")
    other = tmp_path / "other"
    train(data="mnist5k", out=other, recipe="tiny8", steps=1, seed=0, device="cpu", quiet=True)
    assert_user_error(cli(*audit, "--model", dimum, "--oracle", other, *common), "other data")
    assert_user_error(cli(*audit, "--model", dimum, "--oracle", oracle, "--regimes", "kshot-100000", *common),
                      "kshot-100000", "only")
    assert_user_error(cli(*audit, "--model", dimum, "--oracle", oracle, "--regimes", "retain,forum", *common),
                      "unknown regime 'forum'")
    assert_user_error(cli(*audit, "--model", dimum, "--oracle", oracle, "--regimes", "public", *common),
                      "own training data")
    assert_user_error(cli(*audit, "--model", dimum, "--oracle", oracle, "--lrs", "1e-3,x", *common[2:]), "--lrs")
    assert not out.exists()


# ------------------------------------------------------------------------------------- the verdict on hand-made results


def _results(fd_after: float, forget_hits=(0, 0, 0)):
    """Attack results of one regime x lr as the battery returns them: the oracle's retained FD after the first
    probe is `fd_after` (before: 2.0 at g1 and g3); the model's forget rate stays at `forget_hits` of 20."""
    from privgen.audit.unlearning.run import MODEL, ORACLE, cell_name

    def metrics(hits, quality=None):
        pts = [{"step": s, "forget_acc": h / 20, "n": 20} for s, h in zip((0, 5, 10), hits)]
        out = {"relearn_points": pts, "attack_seconds": 1.0, "aux_description": "retained data"}
        return {**out, "quality": quality} if quality is not None else out

    quality = [{"step": s, "fd_retained": {"g1": fd, "g3": fd}} for s, fd in zip((0, 5, 10), (2.0, fd_after, fd_after))]
    return {cell_name(ORACLE, "retain", 1e-3): {"metrics": metrics((0, 0, 0), quality), "dir": "o"},
            cell_name(MODEL, "retain", 1e-3): {"metrics": metrics(forget_hits), "dir": "m"}}


def test_a_quality_rule_that_keeps_no_step_is_inconclusive_only_under_the_usable_model_threat():
    """The oracle's FD breaks 1.5x at the first probe: with the rule nothing about relearning was measured
    (inconclusive, and it says what to change); without it, the same attacks decide."""
    from types import SimpleNamespace

    from privgen.audit.unlearning.forgotten import Forgotten
    from privgen.audit.unlearning.regimes import parse_regimes
    from privgen.audit.unlearning.summary import summarise

    s = tiny_settings(regimes=("retain",), lrs=(1e-3,), steps=10, probe_steps=(5,), n_per_class=20, margin=25)
    subjects = SimpleNamespace(forgotten=Forgotten(forget_class=3), model="m", oracle="o", original=None)
    payload = summarise(s, parse_regimes("retain"), subjects, _results(fd_after=9.0), {"test_accuracy": 0.9})
    assert payload["verdicts"]["model"]["rule_on"]["overall"] == "inconclusive"
    assert payload["verdicts"]["model"]["rule_off"]["overall"] == "resists"  # 0/20 vs 0/20 is within +16 points
    assert payload["verdict"].startswith("RESISTS under the class-samples threat"), payload["verdict"]
    usable = summarise(dataclasses.replace(s, threat="usable-model"), parse_regimes("retain"), subjects,
                       _results(fd_after=9.0), {"test_accuracy": 0.9})
    assert usable["verdict"].startswith("INCONCLUSIVE under the usable-model threat"), usable["verdict"]
    assert "--lrs" in usable["regimes"]["retain"]["cells"][0]["model"]["verdict"]["rule_on"]["decide"]
    # An oracle that keeps its quality: both tables decide alike; a model back at 15 of 20 leaks in both.
    payload = summarise(s, parse_regimes("retain"), subjects, _results(fd_after=2.5, forget_hits=(0, 15, 15)),
                        {"test_accuracy": 0.9})
    assert {t: v["overall"] for t, v in payload["verdicts"]["model"].items()} == {"rule_on": "leaks", "rule_off": "leaks"}
