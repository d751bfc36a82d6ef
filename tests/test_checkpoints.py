"""The checkpoints privgen ships: their files match the manifest, a tampered one is refused, an installed copy is
an ordinary run, and each one's manifest command still makes the same kind of model (on a tiny budget)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from privgen.checkpoints import FILES, HERE, MANIFEST, SHIPPED, install, manifest, provenance, shipped_files, spec, verify
from privgen.checkpoints.build import command_text, run_command
from privgen.errors import UserError
from privgen.runs import file_sha256, read_json

BASE = "cpu16-mnist5k-seed0"
ORACLE = "cpu16-mnist5k-seed0-retrain-forget3"


def test_every_shipped_file_matches_the_manifest() -> None:
    entries = manifest()
    assert sorted(entries) == sorted(s.name for s in SHIPPED)
    for name, e in entries.items():
        folder = verify(name)
        assert {str(p) for p in shipped_files(folder)} == set(e["files"]), name  # nothing unlisted ships
        assert e["bytes"] == sum((folder / rel).stat().st_size for rel in e["files"])
        assert e["command"] == command_text(spec(name))  # the manifest says how the code makes it today
        assert e["seed"] == 0 and e["privgen_version"]
    # "a few MB per diffusion model"
    assert all(e["bytes"] < 8e6 for e in entries.values() if e["kind"] == "diffusion")


def _copy_shipped(tmp: Path, name: str) -> Path:
    root = tmp / "pkg"
    shutil.copytree(HERE / FILES / name, root / FILES / name)
    shutil.copyfile(HERE / MANIFEST, root / MANIFEST)
    return root


@pytest.mark.parametrize("target", ["diffusion_pytorch_model.safetensors", "config.json"])
def test_a_tampered_shipped_file_is_refused(tmp_path: Path, target: str) -> None:
    root = _copy_shipped(tmp_path, ORACLE)
    path = next(p for p in (root / FILES / ORACLE).rglob(target))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    sums = path.parent / "checksums.json"
    if sums.is_file() and path.name in read_json(sums):  # the attacker updates the run's own checksum too
        sums.write_text(sums.read_text().replace(read_json(sums)[path.name], file_sha256(path)))
    dest = tmp_path / "installed"
    with pytest.raises(UserError, match="does not match the SHA-256"):
        install(ORACLE, dest, root)
    assert not dest.exists()  # nothing half-written


def test_a_missing_shipped_file_is_refused(tmp_path: Path) -> None:
    root = _copy_shipped(tmp_path, ORACLE)
    (root / FILES / ORACLE / "metrics.json").unlink()
    with pytest.raises(UserError, match="metrics.json is missing"):
        verify(ORACLE, root)


def test_an_installed_copy_is_an_ordinary_verified_run(tmp_path: Path) -> None:
    from privgen.diffusion.model import get_recipe
    from privgen.diffusion.store import load_model

    dest = install(BASE, tmp_path / "base")
    model = load_model(dest)
    assert model.num_classes == 10 and model.image_size == 16
    assert provenance(BASE, dest)["source"] == "shipped"
    # the recipe the code has today: else the benchmark would replace the shipped model by retraining it
    assert read_json(dest / "config.json")["recipe"] == get_recipe("cpu16").to_dict()
    oracle = read_json(HERE / FILES / ORACLE / "config.json")
    assert oracle["unlearning"]["method"] == "retrain" and oracle["unlearning"]["forget_class"] == 3
    assert oracle["steps"] == read_json(dest / "config.json")["steps"]


def test_shipped_gans_have_the_reference_sizes_and_the_same_budget() -> None:
    from privgen.serial import to_dict
    from privgen.vfl.nets import SIZE_PRESETS

    configs = [read_json(HERE / FILES / s.name / "config.json") for s in SHIPPED if s.kind == "vfl"]
    assert {c["model"] for c in configs} == {"vflgan", "vertigan"}
    for c in configs:
        assert c["sizes"] == to_dict(SIZE_PRESETS["reference"])
    assert len({read_json(HERE / FILES / s.name / "metrics.json")["iterations"] for s in SHIPPED if s.kind == "vfl"}) == 1


# A tiny budget: few steps, and no FD probes (they would train a 28x28 classifier first; probing never changes
# the run). Options that only say how a run was driven (quiet) are not the model's.
TINY = {BASE: ["--steps", "3"], "vflgan-mnist5k-halves-reference": ["--iterations", "2", "--probe-every", "0"]}


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_manifest_command_rebuilds_the_checkpoint_on_a_tiny_budget(tmp_path: Path, name: str) -> None:
    made = run_command(spec(name), tmp_path, extra=TINY[name], quiet=True)
    shipped = read_json(HERE / FILES / name / "config.json")
    rebuilt = read_json(made / "config.json")
    budget_keys = {"steps", "iterations", "epochs", "quiet"}
    assert {k: v for k, v in rebuilt.items() if k not in budget_keys} == {k: v for k, v in shipped.items() if k not in budget_keys}
    assert {str(p) for p in shipped_files(made)} == set(manifest()[name]["files"])
    assert read_json(made / "metrics.json")  # finished
