"""README.md and docs/*.md against the committed results files and the command tree (issue 33).

Regenerate after changing a results file or an option: `python -m privgen.docs_tables`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from privgen.docs_cli import cli_markdown, option_names, root_command, walk
from privgen.docs_tables import MARKER, main, mismatches, rewrite

ROOT = Path(__file__).resolve().parents[1]


def test_every_generated_table_matches_its_results_file():
    bad = mismatches(ROOT)
    assert not bad, "stale tables; run `python -m privgen.docs_tables`:\n" + "\n".join(bad)


def test_readme_demo_section_is_generated_from_the_committed_demo_results():
    blocks = [m for m in MARKER.finditer((ROOT / "README.md").read_text()) if m["files"] == "docs/demo/results.json"]
    assert {m["kind"] for m in blocks} == {"demo", "demo-times", "demo-story"}
    results = json.loads((ROOT / "docs/demo/results.json").read_text())
    times = next(m["body"] for m in blocks if m["kind"] == "demo-times")
    total = results["total_seconds"]
    assert f"{int(total // 60)} min {round(total % 60):02d} s" in times
    story = next(m["body"] for m in blocks if m["kind"] == "demo-story")
    check = results["unlearning"]["story"]
    assert ("The reversal is shown" in story) == check["shown"]
    ga = check["baselines"]["ga"]
    assert f"ga {100 * ga['after']:.0f}% [{100 * ga['ci95'][0]:.0f}%, {100 * ga['ci95'][1]:.0f}%]" in story
    assert f"{results['vfl']['models']['vflgan']['fd']:.1f}" in story


def _copy_tree(tmp: Path) -> Path:
    for rel in ["README.md", "docs/demo/results.json", "docs/cli.md", "src/privgen/checkpoints/manifest.json"]:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp / rel)
    return tmp


def test_check_detects_an_edited_number_in_the_doc(tmp_path, capsys):
    root = _copy_tree(tmp_path)
    assert main(["--check", "--root", str(root)]) == 0
    readme = root / "README.md"
    results = json.loads((root / "docs/demo/results.json").read_text())
    ga = results["unlearning"]["bench"]["methods"]["ga"]
    old = f"{ga['fd_retained']:.2f} → {ga['fd_retained_after_attack']:.2f}"
    assert old in readme.read_text()
    readme.write_text(readme.read_text().replace(old, f"{ga['fd_retained'] + 1:.2f} → {ga['fd_retained_after_attack']:.2f}"))
    assert main(["--check", "--root", str(root)]) == 1
    assert "README.md" in capsys.readouterr().err
    assert rewrite(root) == [readme]  # and the rewrite restores the file's number
    assert old in readme.read_text() and main(["--check", "--root", str(root)]) == 0


def test_check_detects_a_changed_results_file(tmp_path):
    root = _copy_tree(tmp_path)
    path = root / "docs/demo/results.json"
    results = json.loads(path.read_text())
    results["total_seconds"] += 60
    path.write_text(json.dumps(results))
    assert len(mismatches(root, [root / "README.md"])) == 1


def test_unknown_table_kind_is_an_error(tmp_path):
    (tmp_path / "r.json").write_text("{}")
    doc = tmp_path / "README.md"
    doc.write_text("<!-- table: r.json no-such-kind -->\n<!-- end table -->\n")
    with pytest.raises(ValueError, match="unknown table kind"):
        mismatches(tmp_path, [doc])


def test_cli_doc_is_current():
    assert (ROOT / "docs/cli.md").read_text() == cli_markdown(), "run `python -m privgen.docs_tables`"


def test_every_option_of_every_command_has_its_line_in_cli_doc():
    doc = (ROOT / "docs/cli.md").read_text()
    sections = {s.split("`", 2)[1]: s for s in doc.split("\n## ")[1:]}
    missing = []
    for path, cmd in walk(root_command()):
        if not path or (hasattr(cmd, "commands") and not cmd.params):
            continue
        section = sections.get(" ".join(("privgen", *path)), "")
        missing += [f"{' '.join(path)} {name}" for p in cmd.params if p.param_type_name == "option"
                    for name in option_names(p) if f"`{name}`" not in section]
        if not section:
            missing.append(" ".join(path))
    assert not missing, missing


@pytest.mark.parametrize("option, doc", [
    ("--aux public-without", "docs/unlearning.md"), ("--classifier CLF_DIR", "docs/unlearning.md"),
    ("--n-synthetic", "docs/audit.md"), ("--features corr|naive|both", "docs/audit.md"),
    ("`--models`", "docs/audit.md"), ("`--gradient-canaries`", "docs/audit.md"),
    ("`privgen demo --out DIR`", "README.md"), ("--epochs 12", "README.md"), ("--n rows drawn", "README.md"),
])
def test_options_the_issue_found_undocumented_are_in_their_topic_pages(option, doc):
    assert option in (ROOT / doc).read_text()


def test_a_malformed_marker_is_refused_not_skipped(tmp_path):
    (tmp_path / "r.json").write_text("{}")
    doc = tmp_path / "README.md"
    doc.write_text("<!-- table: r.json demo bad arg -->\n| a |\n<!-- end table -->\n")
    with pytest.raises(ValueError, match="README.md: line 1: malformed table marker"):
        mismatches(tmp_path, [doc])


def _marked_files() -> set[str]:
    return {f for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
            for m in MARKER.finditer(doc.read_text()) for f in m["files"].split(",")}


@pytest.mark.parametrize("results", [
    "docs/audit_adult/metrics.json", "docs/audit_dp/paper-eps10/metrics.json",
    "docs/audit_dp/paper-eps10-planted/metrics.json", "docs/audit_dp/sound-eps1/metrics.json",
    "docs/audit_dp/sound-eps10/metrics.json", "docs/audit_dp_bench/metrics.json", "docs/audit_dp_bench/cost/metrics.json",
    "docs/audit_bench/bench.json", "docs/dp_bench/adult/metrics.json", "docs/dp_bench/mnist_halves/metrics.json",
    "docs/vfl_ray_bench/metrics.json", "docs/vfl_bench/metrics.json", "docs/vfl_bench_reference/metrics.json",
    "docs/unlearning_audit/ga-norule/metrics.json", "docs/unlearning_bench/attr-colour-red-cpu16/results.json",
    "docs/diffusion_bench/cpu16-contended.json", "docs/demo_recipe_sweep/results.jsonl",
])
def test_the_tables_of_each_committed_results_file_are_generated(results):
    assert results in _marked_files(), f"no generated table reads {results}"


def _readme_headlines() -> list[str]:
    """The README's inline numbers, as the files give them (prose, so checked rather than generated)."""
    def load(rel: str) -> dict:
        return json.loads((ROOT / rel).read_text())
    ray = {s["scenario"]: s["ratio_ray_over_inprocess"] for s in load("docs/vfl_ray_bench/metrics.json")["step_time"]}
    dp = load("docs/dp_bench/adult/metrics.json")["scenarios"]["adult"]["rows"]
    paper = sorted(dp[f"paper_eps{e}"]["utility"] for e in (1, 3, 10))
    best = {name: (m := load(f"docs/{name}/metrics.json"))["attacks"][m["best_attack"]]["accuracy_mean"]
            for name in ["audit_adult", "audit_dp/paper-eps10", "audit_dp/paper-eps10-planted", "audit_dp/sound-eps1",
                         "audit_dp/sound-eps10"]}
    one_run = load("docs/audit_dp_bench/metrics.json")["rows"]
    cost = load("docs/audit_dp_bench/cost/metrics.json")["cost"]
    sound1 = one_run["sound1"]["met"]
    return [
        f"time {ray['adult']:.2f}x in-process on Adult, 3 parties; {ray['mnist_halves']:.2f}x on MNIST halves",
        f"{dp['none']['utility']:.3f} ± {dp['none']['utility_sd']:.2g} without DP, {paper[0]:.3f}–{paper[-1]:.3f} in the paper mode",
        f"{dp['sound_eps10']['utility']:.3f} ± {dp['sound_eps10']['utility_sd']:.2g} in the sound mode at ε = 10",
        f"(best {best['audit_adult']:.3f},",
        f"at ε = 10 ({best['audit_dp/paper-eps10']:.3f}; {best['audit_dp/paper-eps10-planted']:.3f} on a planted row)",
        f"mode at ε = 1 and 10 ({best['audit_dp/sound-eps1']:.3f}, {best['audit_dp/sound-eps10']:.3f})",
        f"without DP certifies ε ≥ {one_run['none']['runs'][0]['eps_lower_bound']:.2f}",
        f"(ε ≥ {one_run['noise']['runs'][0]['eps_lower_bound']:.2f})",
        f"consistent in {sum(sound1)} of {len(sound1)} runs at ε = 1",
        f"took {cost['ratio']:.3f} of the wall time",
        f"({cost['one_run_seconds']:.1f} s against {cost['shadow_seconds']:.0f} s, alone)",
    ]


@pytest.mark.parametrize("i", range(11))
def test_readme_headline_numbers_match_their_results_files(i):
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert _readme_headlines()[i] in readme
