"""The demo: it says the reversal is shown only when its numbers show it; --from-scratch installs nothing."""

from __future__ import annotations

from typing import Any

from privgen.demo.story import reversal, reversal_sentence, vfl_quality
from privgen.eval.intervals import wilson


def _payload(after: dict[str, int], n: int = 50) -> dict[str, Any]:
    methods = {label: {"by_guidance": {"g3": {"after": {"forget_acc": k / n, "forget_acc_ci": list(wilson(k, n))}}}}
               for label, k in after.items()}
    return {"config": {"guidance": 3.0}, "methods": methods}


def test_baselines_back_and_dimum_with_the_oracle_is_shown() -> None:
    check = reversal(_payload({"retrain": 0, "dimum": 1, "ga": 30, "esd": 22}), ("ga", "esd"))
    assert check["shown"]
    assert check["baselines"]["esd"]["recovery_vs_oracle"] == 22 / 50 and check["baselines"]["esd"]["separated"]
    assert "is shown" in reversal_sentence(check) and "+44 points" in reversal_sentence(check)


def test_a_baseline_short_of_thirty_points_is_not_shown() -> None:
    check = reversal(_payload({"retrain": 0, "dimum": 0, "ga": 30, "esd": 14}), ("ga", "esd"))  # esd +28
    assert check["baselines"]["esd"]["separated"] and not check["baselines"]["esd"]["comes_back"]
    assert not check["shown"] and "not shown" in reversal_sentence(check)


def test_overlapping_intervals_are_not_a_recovery_even_at_thirty_points() -> None:
    # 4 samples: 2/4 against 0/4 is +50 points, but the intervals overlap
    check = reversal(_payload({"retrain": 0, "dimum": 0, "ga": 2, "esd": 2}, n=4), ("ga", "esd"))
    assert not check["baselines"]["ga"]["separated"] and not check["shown"]
    assert "overlapping" in reversal_sentence(check)


def test_dimum_six_points_above_the_oracle_is_not_shown() -> None:
    check = reversal(_payload({"retrain": 1, "dimum": 4, "ga": 40, "esd": 40}), ("ga", "esd"))
    assert not check["ours"]["dimum"]["stays"] and not check["shown"]


def test_vfl_quality_against_the_reference_targets() -> None:
    assert vfl_quality({"fd": 44.9, "utility": 0.5})["met"]
    assert not vfl_quality({"fd": 45.1, "utility": 0.9})["met"]
    assert not vfl_quality({"fd": 30.0, "utility": 0.49})["utility_met"]


def test_from_scratch_uses_its_own_cache_and_installs_nothing(tmp_path, monkeypatch) -> None:
    """--from-scratch: every stage sees PRIVGEN_CACHE=OUT/cache (restored afterwards), the diffusion models are
    left to the benchmark to train, and the GANs are made by their manifest commands, not installed."""
    import os

    import privgen.demo as demo
    from privgen.bench.unlearning_tasks import BenchSettings
    from privgen.demo import vfl as demo_vfl
    from privgen.demo.context import DemoContext
    from privgen.demo.unlearning import DEMO_BENCH, provide_models

    seen = {}

    def stage(ctx: DemoContext):
        seen["cache"], seen["from_scratch"] = os.environ.get("PRIVGEN_CACHE"), ctx.from_scratch
        return "## stage\n", {}

    monkeypatch.setattr(demo, "STAGES", [stage])
    monkeypatch.setenv("PRIVGEN_CACHE", str(tmp_path / "user-cache"))
    demo.run_demo(tmp_path / "out", quiet=True, from_scratch=True)
    assert seen == {"cache": str((tmp_path / "out" / "cache").resolve()), "from_scratch": True}
    assert os.environ["PRIVGEN_CACHE"] == str(tmp_path / "user-cache")

    ctx = DemoContext(tmp_path / "out", True, True)
    sources = provide_models(BenchSettings(**DEMO_BENCH), ctx)
    assert all(v["source"].startswith("trained by this demo") for v in sources.values())
    assert not (tmp_path / "user-cache").exists()  # nothing installed

    made = []

    def fake_run_command(s, folder, extra=None, quiet=False):
        made.append((s.name, folder))
        return folder / s.name

    monkeypatch.setattr("privgen.checkpoints.build.run_command", fake_run_command)
    path, source = demo_vfl.provide_vfl("vflgan-mnist5k-halves-reference", ctx)
    assert made == [("vflgan-mnist5k-halves-reference", tmp_path / "out" / "models")]
    assert source["source"].startswith("trained by this demo") and path == tmp_path / "out" / "models" / "vflgan-mnist5k-halves-reference"
