import json
from pathlib import Path

import pytest

from conftest import assert_user_error
from privgen.bench.unlearning import parse_methods, run_benchmark
from privgen.bench.unlearning_tasks import BenchSettings, curve_every, curve_marks

TINY = dict(data="digits", forget=3, seed=0, recipe="tiny8", aux="retain", unlearn_steps=3, unlearn_lr=None,
            attack_steps=4, attack_lr=1e-3, attack_batch=16, curve_points=2, n_per_class=10, curve_n=10,
            eval_steps=3, guidance=3.0, device="cpu")
KEYS = {"forget_acc": float, "fd_retained": float, "forget_acc_after_attack": float,
        "fd_retained_after_attack": float, "relearn_curve": list, "attack_seconds": float}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "b"
    run_benchmark(BenchSettings(**TINY), "dimum,ga", out, workers=2, quiet=True)
    return out


def test_results_json_has_every_key_with_sane_types(bench):
    res = json.loads((bench / "results.json").read_text())
    assert set(res["methods"]) == {"original", "retrain", "dimum", "ga"}
    for label, m in res["methods"].items():
        for key, typ in KEYS.items():
            assert isinstance(m[key], typ), (label, key, m[key])
        assert 0 <= m["forget_acc"] <= 1 and 0 <= m["forget_acc_after_attack"] <= 1 and m["fd_retained"] >= 0
        assert [p[0] for p in m["relearn_curve"]] == [0, 2, 4]
        assert all(0 <= p[1] <= 1 for p in m["relearn_curve"])
        for g in ("g1", "g3"):
            lo, hi = m["by_guidance"][g]["after"]["forget_acc_ci"]
            assert lo <= m["by_guidance"][g]["after"]["forget_acc"] <= hi
    assert res["methods"]["original"]["unlearn_seconds"] is None
    for label in ("retrain", "dimum", "ga"):
        assert res["methods"][label]["unlearn_seconds"] > 0
    assert res["methods"]["retrain"]["recovery_vs_oracle"] == 0
    assert res["sample_counts"]["n_forget"] == 10 and res["sample_counts"]["n_retained"] == 90
    assert 0.5 < res["classifier"]["test_accuracy"] <= 1
    assert res["config"]["attack_steps"] == 4


def test_report_renders_with_its_images(bench):
    report = (bench / "report.md").read_text()
    assert "| model |" in report and "| dimum |" in report
    links = [line.split("](")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    assert "relearn_curves.png" in links and "grid_dimum.png" in links and len(links) == 5
    for name in links:
        assert (bench / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_csv_round_trips_to_the_json_numbers(bench):
    import pandas as pd

    res = json.loads((bench / "results.json").read_text())
    df = pd.read_csv(bench / "results.csv")
    assert len(df) == 4 * 2 * 2  # models x guidance (1, 3) x before/after
    for row in df.itertuples():
        e = res["methods"][row.model]["by_guidance"][f"g{row.guidance_scale:g}"][row.when]
        assert (row.forget_acc, row.fd_retained, row.retained_class_acc) == (e["forget_acc"], e["fd_retained"],
                                                                             e["retained_class_acc"])
        assert [row.forget_acc_ci_low, row.forget_acc_ci_high] == e["forget_acc_ci"] and row.n_forget == e["n_forget"]


def test_evaluation_images_are_the_samples_the_benchmark_scored(bench, tmp_path):
    """The demo's sample grid reads them back: they must be the images behind the numbers and the grids."""
    import numpy as np

    from privgen.bench.unlearning_tasks import GRID_COLUMNS, evaluation_images, grid_classes, pretrained_dir

    s = BenchSettings(**TINY)
    clf_dir = Path(json.loads((bench / "results.json").read_text())["classifier"]["dir"])
    images = evaluation_images(s, pretrained_dir(s), clf_dir)
    assert set(images) == {"g1", "g3"} and images["g3"].shape[0] == 10 * s.n_per_class
    with np.load(bench / "grids" / "original.npz") as grids:
        for g in ("g1", "g3"):
            for c in grid_classes(3, 10):
                start = c * s.n_per_class
                np.testing.assert_array_equal(grids[f"before_{g}_{c}"], images[g][start:start + GRID_COLUMNS])
    (tmp_path / "config.json").write_text("{}")  # a model the benchmark never evaluated
    with pytest.raises(FileNotFoundError, match="no cached evaluation"):
        evaluation_images(s, tmp_path, clf_dir)


def test_plan_evaluates_every_model_in_its_own_task_before_any_attack():
    from privgen.bench.unlearning import plan

    tasks = plan(BenchSettings(**TINY), parse_methods("dimum"), "clf", "out")
    names = [t.name for t in tasks]
    deps = {t.name: t.deps for t in tasks}
    assert names == ["pretrain", "unlearn retrain", "unlearn dimum", "evaluate original", "evaluate retrain",
                     "evaluate dimum", "attack original", "attack retrain", "attack dimum"]
    assert deps["evaluate original"] == ("pretrain",) and deps["attack original"] == ("pretrain", "evaluate original")
    assert deps["attack dimum"] == ("unlearn dimum", "evaluate dimum") and deps["unlearn retrain"] == ()


def test_headline_only_evaluates_at_the_headline_guidance_alone(bench, tmp_path):
    """The demo's setting: half the sampling, and every table still renders from the one scale."""
    from privgen.bench.unlearning_report import results_table
    from privgen.bench.unlearning_tasks import guidance_scales

    s = BenchSettings(**{**TINY, "headline_only": True})
    assert guidance_scales(s) == (3.0,) and guidance_scales(BenchSettings(**TINY)) == (1.0, 3.0)
    run_benchmark(s, "dimum,ga", tmp_path / "h", workers=1, quiet=True)
    payload = json.loads((tmp_path / "h" / "results.json").read_text())
    assert all(list(m["by_guidance"]) == ["g3"] for m in payload["methods"].values())
    assert payload["sample_counts"]["n_forget"] == TINY["n_per_class"]
    table = results_table(payload)
    assert "forget acc g3" in table and "g1" not in table


def test_second_run_reuses_every_cached_model(bench, monkeypatch):
    """Same options: nothing is trained, unlearned or attacked again, and the numbers are identical."""
    import privgen.attacks
    import privgen.diffusion.trainer
    import privgen.unlearn

    def refuse(*a, **k):
        raise AssertionError("recomputed a cached model")

    monkeypatch.setattr(privgen.diffusion.trainer, "train", refuse)
    monkeypatch.setattr(privgen.unlearn, "unlearn", refuse)
    monkeypatch.setattr(privgen.attacks, "relearn", refuse)
    first = json.loads((bench / "results.json").read_text())
    run_benchmark(BenchSettings(**TINY), "dimum,ga", bench, workers=1, quiet=True)
    second = json.loads((bench / "results.json").read_text())
    for label in first["methods"]:
        for key in ("forget_acc", "fd_retained", "forget_acc_after_attack", "relearn_curve"):
            assert first["methods"][label][key] == second["methods"][label][key]


@pytest.mark.parametrize("steps,points", [(1000, 3), (1000, 5), (7, 2), (3, 5), (600, 6)])
def test_curve_points_end_on_the_last_step_without_a_near_duplicate(steps, points):
    every = curve_every(steps, points)
    marks = curve_marks(steps, points)
    assert len(marks) == min(points, steps) and marks[-1] == steps
    assert all(b - a >= every // 2 for a, b in zip(marks, marks[1:]))


def test_parse_methods():
    specs = parse_methods("dimum:alt=noise,salun")
    assert [s.label for s in specs] == ["retrain", "dimum:alt=noise", "salun"]
    assert specs[1].options_dict() == {"alt": "noise"}
    assert "retrain" in [s.label for s in parse_methods("all")] and len(parse_methods("all")) == 8
    extra = [s.label for s in parse_methods("all,dimum:alt=noise")]
    assert len(extra) == 9 and extra[-1] == "dimum:alt=noise"


def test_bench_bad_inputs(bench, cli, tmp_path):
    base = ["bench", "unlearning", "--data", "digits", "--recipe", "tiny8"]
    assert_user_error(cli(*base, "--aux", "forum", "--out", tmp_path / "a"), "--aux must be one of")
    assert_user_error(cli(*base, "--attack-steps", 0, "--out", tmp_path / "a"), "--attack-steps must be positive")
    assert_user_error(cli(*base, "--methods", "dimum,nope", "--out", tmp_path / "a"), "unknown unlearning method 'nope'")
    assert_user_error(cli(*base, "--methods", "ga:alt=noise", "--out", tmp_path / "a"), "do not apply to ga")
    assert_user_error(cli(*base, "--forget", 12, "--out", tmp_path / "a"), "12")
    assert not (tmp_path / "a").exists()
    # Different options at an existing output: refused, and nothing there changes.
    before = (bench / "results.json").read_bytes()
    assert_user_error(cli(*base, "--methods", "dimum", "--out", bench), "other options")
    assert (bench / "results.json").read_bytes() == before


def test_unlearned_cache_key_follows_the_defaults_a_method_runs_with(monkeypatch):
    """A changed default (steps, lr, a method option) must give a new cache entry, never a stale model."""
    from dataclasses import dataclass, replace

    import privgen.unlearn.run as runner
    from privgen.bench.unlearning_tasks import MethodSpec, unlearned_dir
    from privgen.unlearn.dimum import DiMUM
    from privgen.unlearn.registry import METHODS

    s = replace(BenchSettings(**TINY), unlearn_steps=None)
    spec = MethodSpec("dimum", "dimum")
    first = unlearned_dir(s, spec)
    assert unlearned_dir(s, spec) == first
    monkeypatch.setattr(runner, "DEFAULT_STEPS", runner.DEFAULT_STEPS + 1)
    assert unlearned_dir(s, spec) != first
    monkeypatch.undo()

    @dataclass
    class NoiseByDefault(DiMUM.Options):
        alt: str = "noise"

    monkeypatch.setitem(METHODS, "dimum", type("DiMUMNoise", (DiMUM,), {"Options": NoiseByDefault}))
    assert unlearned_dir(s, spec) != first


def test_a_cached_model_of_an_older_recipe_is_replaced(tmp_path, monkeypatch):
    from privgen.bench.unlearning_tasks import pretrained_dir, reserve_pretrain
    from privgen.runs import read_json

    monkeypatch.setenv("PRIVGEN_CACHE", str(tmp_path))
    s = BenchSettings(**TINY)
    out = pretrained_dir(s)
    reserve_pretrain(s)
    config = read_json(out / "config.json")
    config["recipe"]["steps"] += 1  # as if the recipe had changed since this model was trained
    (out / "config.json").write_text(json.dumps(config))
    (out / "metrics.json").write_text("{}")
    reserve_pretrain(s)
    assert not (out / "metrics.json").exists()
    assert read_json(out / "config.json")["recipe"]["steps"] == config["recipe"]["steps"] - 1


def _double(x: int) -> int:
    return 2 * x


def test_run_graph_order_and_stage_lines_without_a_terminal(capsys):
    from privgen.bench.pool import Task, run_graph

    tasks = [Task("b", _double, deps=("a",), bind=lambda r: (r["a"],)), Task("a", _double, (1,))]
    assert run_graph(tasks, workers=1, desc="t") == {"a": 2, "b": 4}
    err = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in err] == ["t: 1/2 done, a", "t: 2/2 done, b"]
    assert run_graph([Task("a", _double, (1,))], workers=1, quiet=True) == {"a": 2}
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="cycle"):
        run_graph([Task("a", _double, (1,), deps=("b",)), Task("b", _double, (1,), deps=("a",))], workers=1)


def _comparable(obj):
    """results.json without wall-clock numbers and cache paths (the cache keys hash the cache's own path)."""
    if isinstance(obj, dict):
        return {k: _comparable(v) for k, v in obj.items()
                if "seconds" not in k and "of_pretrain" not in k and not k.endswith("dir")}
    if isinstance(obj, list):
        return [_comparable(v) for v in obj]
    return obj


@pytest.mark.slow
def test_ray_executor_gives_the_local_pool_results(tmp_path, monkeypatch):
    """The same tiny benchmark on the local pool and as Ray tasks on a local Ray instance, each into an empty
    cache (so each trains, unlearns and attacks every model itself; they share only the classifier): the
    same results.json, timings aside."""
    import shutil

    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'privgen[ray]' (make test installs it)")
    from privgen.eval import cached_classifier

    assert not ray.is_initialized()
    settings = BenchSettings(**{**TINY, "attack_steps": 2, "curve_points": 1, "eval_steps": 2})
    _, _, clf = cached_classifier("digits", 8, 0, device="cpu", quiet=True)
    out = {}
    for executor in ("local", "ray"):
        cache = tmp_path / f"cache-{executor}"
        shutil.copytree(clf, cache / "classifiers" / clf.name)
        monkeypatch.setenv("PRIVGEN_CACHE", str(cache))  # the local Ray instance's workers inherit it
        run_benchmark(settings, "ga", tmp_path / executor, workers=2, quiet=True, executor=executor)
        assert (cache / "diffusion").is_dir() and (cache / "attacked").is_dir()
        out[executor] = _comparable(json.loads((tmp_path / executor / "results.json").read_text()))
    assert not ray.is_initialized()  # the instance it started is shut down
    assert out["ray"] == out["local"]
    assert set(out["ray"]["methods"]) == {"original", "retrain", "ga"}
    assert out["ray"]["methods"]["ga"]["aux_loss_after"] > 0  # numbers, not an empty payload


def test_executor_bad_inputs(cli, tmp_path):
    base = ["bench", "unlearning", "--data", "digits", "--recipe", "tiny8", "--out", tmp_path / "a"]
    assert_user_error(cli(*base, "--executor", "slurm"), "--executor must be one of local, ray")
    assert_user_error(cli(*base, "--address", "auto"), "--address joins a Ray cluster; add --executor ray")
    assert not (tmp_path / "a").exists()
