"""User data given by a relative path: later commands read the very data the model was trained on, from any
directory; edited data is refused (and never reuses a cached classifier); other classes are refused."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import assert_user_error

CLASSES = ("a", "b", "c")


def write_folder(folder: Path, per_class: int, classes=CLASSES, seed: int = 0) -> None:
    """A class folder of 8x8 grey PNGs: class k is bright in its k-th third (distinct images, seeded)."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (8, 8), dtype=np.uint8)
            img[:, k * 2:k * 2 + 3] = 200 + i % 50
            Image.fromarray(img, mode="L").save(folder / name / f"{i:03d}.png")


def retained_train_images(folder: Path, forget: int = 0) -> int:
    """How many training-split images outside class `forget` the folder gives (the split the trainer uses)."""
    from privgen.data import load_images, train_test_split

    split = train_test_split(load_images(folder, 8), 0.2, 0)
    return int((split.train.y != forget).sum())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on `pngs` typed relative to its own directory, and a copy unlearned (class a)."""
    from privgen.cli import main

    root = tmp_path_factory.mktemp("dataref")
    home = root / "home"
    write_folder(home / "pngs", 12)
    mp = pytest.MonkeyPatch()
    mp.chdir(home)
    try:
        for args in (["diffusion", "train", "--data", "pngs", "--recipe", "tiny8", "--steps", "2", "--out", "base",
                      "--device", "cpu", "--quiet"],
                     ["unlearn", "run", "--model", "base", "--method", "dimum", "--forget", "a", "--steps", "1",
                      "--batch-size", "8", "--out", "unlearned", "--device", "cpu", "--quiet"]):
            try:
                main(args)
            except SystemExit as e:
                assert not e.code, args
    finally:
        mp.undo()
    return home


def _attack(cli, model: Path, out: Path, *aux: str):
    return cli("attack", "relearn", "--model", model, *(aux or ("--aux", "retain")), "--steps", 1, "--lr", "1e-4",
               "--batch-size", 8, "--device", "cpu", "--quiet", "--out", out)


def test_a_later_command_from_another_directory_reads_the_training_data(trained, cli, tmp_path, monkeypatch, one_thread):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = _attack(cli, trained / "unlearned", tmp_path / "att")
    assert res.code == 0, res.err
    attack = json.loads((tmp_path / "att" / "config.json").read_text())["attack"]
    assert attack["n_aux"] == retained_train_images(trained / "pngs") == 20  # 10 training images of classes b and c
    cfg = json.loads((trained / "base" / "config.json").read_text())
    assert cfg["data"] == str((trained / "pngs").resolve()) and len(cfg["data_hash"]) == 64


def test_a_folder_of_the_same_name_elsewhere_is_not_read(trained, cli, tmp_path, monkeypatch, one_thread):
    """The bug: a relative path re-read in the command's directory attacked with other images, silently."""
    other = tmp_path / "other"
    write_folder(other / "pngs", 30, seed=1)  # same class names, other images and counts
    monkeypatch.chdir(other)
    res = _attack(cli, trained / "unlearned", tmp_path / "att")
    assert res.code == 0, res.err
    attack = json.loads((tmp_path / "att" / "config.json").read_text())["attack"]
    assert retained_train_images(other / "pngs") != retained_train_images(trained / "pngs")
    assert attack["n_aux"] == retained_train_images(trained / "pngs")


def test_edited_data_is_refused_and_gets_its_own_classifier(tmp_path, cli, monkeypatch, one_thread):
    from privgen.diffusion import train
    from privgen.eval import cached_classifier

    data = tmp_path / "pngs"
    write_folder(data, 12)
    train(data=str(data), out=tmp_path / "m", recipe="tiny8", steps=1, seed=0, device="cpu", quiet=True)
    _, cfg1, dir1 = cached_classifier(str(data), 8, quiet=True, device="cpu")
    n1 = json.loads((dir1 / "metrics.json").read_text())["n_train"]
    for i in range(5):  # added images
        Image.fromarray(np.full((8, 8), i, np.uint8), mode="L").save(data / "b" / f"9{i}.png")
    _, cfg2, dir2 = cached_classifier(str(data), 8, quiet=True, device="cpu")
    assert dir2 != dir1  # the old data's classifier is not reused ...
    assert json.loads((dir2 / "metrics.json").read_text())["n_train"] == n1 + 4  # ... a new one learned the new data
    assert cfg2["data_hash"] != cfg1["data_hash"]
    res = _attack(cli, tmp_path / "m", tmp_path / "att", "--aux", "kshot", "--kshot-class", "a", "--k", "2")
    assert_user_error(res, "changed since", "restore", "retrain")
    assert not (tmp_path / "att").exists()


def test_other_class_names_are_refused(trained, cli, tmp_path, monkeypatch, one_thread):
    """A config with a relative path (as written before hashes) re-read where the folder holds other classes."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(trained / "unlearned", old)
    cfg = json.loads((old / "config.json").read_text())
    cfg["data"] = "pngs"
    cfg.pop("data_hash", None)
    (old / "config.json").write_text(json.dumps(cfg))
    write_folder(tmp_path / "pngs", 12, classes=("x", "y", "z"))
    monkeypatch.chdir(tmp_path)
    res = _attack(cli, old, tmp_path / "att")
    assert_user_error(res, "classes (a, b, c) differ", "x, y, z")
    assert not (tmp_path / "att").exists()


def test_benchmark_cache_entries_follow_the_data_content(tmp_path, monkeypatch):
    """bench unlearning keys its pretrained model (and everything under it) on the data's content, not its name."""
    from privgen.bench.unlearning_tasks import (BenchSettings, MethodSpec, pretrained_dir, unlearned_dir,
                                                with_data_reference)

    write_folder(tmp_path / "pngs", 4)
    monkeypatch.chdir(tmp_path)
    s = BenchSettings(data="pngs", forget=0, seed=0, recipe="tiny8", aux="retain", unlearn_steps=None, unlearn_lr=None,
                      attack_steps=1, attack_lr=1e-4, attack_batch=8, curve_points=1, n_per_class=10, curve_n=1,
                      eval_steps=1, guidance=3.0, device="cpu")
    before = with_data_reference(s)
    assert before.data == str(tmp_path / "pngs")
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(tmp_path / "pngs" / "a" / "new.png")
    after = with_data_reference(s)
    assert pretrained_dir(after) != pretrained_dir(before)
    oracle = MethodSpec("retrain", "retrain")
    assert unlearned_dir(after, oracle) != unlearned_dir(before, oracle)
    assert pretrained_dir(with_data_reference(BenchSettings(**{**s.__dict__, "data": "digits"}))).name == \
        "tiny8-digits-seed0"  # embedded names keep their cache entries
