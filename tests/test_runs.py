import json
import os

import pytest
import torch
from safetensors.torch import save_file

from privgen.errors import UserError
from privgen.runs import RunDir, atomic_write_json, atomic_write_text, load_state_into, save_tensors


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"a": 1})

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(UserError, match="cannot write .*metrics.json: disk full"):  # the user's to fix: one line
        atomic_write_text(target, "half")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"], "temp file left behind"


def test_run_dir_records_config_and_refuses_other_kinds(tmp_path):
    run = RunDir.create(tmp_path / "r", "classifier", {"seed": 1})
    assert run.config["kind"] == "classifier" and run.config["seed"] == 1
    run.write_metrics({"x": 0.5})
    run.log(event="done")
    assert json.loads(run.file("log.jsonl").read_text().splitlines()[0])["event"] == "done"
    with pytest.raises(UserError, match="holds a 'classifier' run, not 'diffusion'"):
        RunDir.create(tmp_path / "r", "diffusion", {})
    with pytest.raises(UserError, match="already holds"):
        RunDir.create(tmp_path / "r", "classifier", {"seed": 1})
    assert RunDir.create(tmp_path / "r", "diffusion", {}, overwrite=True).config["kind"] == "diffusion"
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_resume_requires_same_options(tmp_path):
    RunDir.create(tmp_path / "r", "diffusion", {"seed": 1, "steps": 10})
    RunDir.create(tmp_path / "r", "diffusion", {"seed": 1, "steps": 20}, resume=True)
    with pytest.raises(UserError, match="other options \\(seed\\)"):
        RunDir.create(tmp_path / "r", "diffusion", {"seed": 2, "steps": 20}, resume=True)


def test_foreign_directory_refused(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a privgen run directory"):
        RunDir.create(tmp_path / "d", "classifier", {})
    with pytest.raises(UserError, match="not a privgen run directory"):
        RunDir.open(tmp_path / "d", "classifier")


def test_open_checks_kind_and_completion(tmp_path):
    RunDir.create(tmp_path / "r", "classifier", {})
    with pytest.raises(UserError, match="unfinished"):
        RunDir.open(tmp_path / "r", "classifier")
    with pytest.raises(UserError, match="expected 'diffusion'"):
        RunDir.open(tmp_path / "r", "diffusion", require_finished=False)


def test_safetensors_round_trip_and_tamper_detection(tmp_path):
    model = torch.nn.Linear(3, 2)
    save_tensors(tmp_path / "w.safetensors", model.state_dict())
    fresh = torch.nn.Linear(3, 2)
    load_state_into(fresh, tmp_path / "w.safetensors")
    assert torch.equal(fresh.weight, model.weight)
    save_file({"weight": torch.zeros(2, 4), "bias": torch.zeros(2)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(UserError, match="tensor weight has shape"):
        load_state_into(fresh, tmp_path / "bad.safetensors")
    save_file({"weight": torch.zeros(2, 3)}, str(tmp_path / "missing.safetensors"))
    with pytest.raises(UserError, match="1 tensors missing"):
        load_state_into(fresh, tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(UserError, match="corrupted"):
        load_state_into(fresh, tmp_path / "junk.safetensors")
