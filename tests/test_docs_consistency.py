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
    assert {m["kind"] for m in blocks} == {"demo", "demo-times"}
    results = json.loads((ROOT / "docs/demo/results.json").read_text())
    times = next(m["body"] for m in blocks if m["kind"] == "demo-times")
    g3 = results["unlearning"]["recognition"]["g3"]
    assert f"{100 * g3['wilson95'][0]:.1f}%" in times and f"of {g3['n']} samples" in times


def _copy_tree(tmp: Path) -> Path:
    for rel in ["README.md", "docs/demo/results.json", "docs/cli.md"]:
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
