"""A user's class folder zero..nine (issue 33): after sorting, class 3 is "nine". Every place that shows a
class names it, a numeric --forget warns with the name it resolved to, and the name form is accepted."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import assert_user_error

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
PER_CLASS = 30


@pytest.fixture(scope="module")
def digits_png(tmp_path_factory):
    """sklearn's 8x8 digits as PNGs, one sub-folder per class named by its word (sorted: 3 = "nine")."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("own") / "digits_png"
    d = load_digits()
    for digit, word in enumerate(WORDS):
        folder = root / word
        folder.mkdir(parents=True)
        for i, img in enumerate(d.images[d.target == digit][:PER_CLASS]):
            Image.fromarray((img * 255 / 16).astype(np.uint8), mode="L").save(folder / f"{i}.png")
    assert sorted(WORDS)[3] == "nine"
    return root


@pytest.fixture(scope="module")
def named_model(digits_png, tmp_path_factory):
    from privgen.diffusion import train

    out = tmp_path_factory.mktemp("named") / "base"
    train(data=str(digits_png), out=out, recipe="tiny8", steps=5, seed=0, device="cpu", quiet=True)
    return out


def test_class_label_names_the_class_once():
    from privgen.data.class_names import class_label, class_list, classes_label

    names = sorted(WORDS)
    assert class_label(3, names) == 'class 3 "nine"'
    assert class_label(3, [str(i) for i in range(10)]) == "class 3"  # embedded data: not "3 (3)"
    assert classes_label([3, 4], names) == 'classes 3 "nine", 4 "one"'
    assert class_list(names[:3]) == "0 eight, 1 five, 2 four" and class_list(["0", "1"]) == "0, 1"


def test_numeric_forget_on_named_classes_warns_and_every_line_names_the_class(named_model, cli, tmp_path,
                                                                             one_thread):
    out = tmp_path / "ft"
    r = cli("unlearn", "run", "--model", named_model, "--method", "ft", "--forget", "3", "--steps", 2,
            "--batch-size", 8, "--device", "cpu", "--quiet", "--out", out)
    assert r.code == 0, r.err
    assert "warning: --forget 3 is class 'nine' of digits_png; pass --forget nine to say so" in r.err
    assert 'forgot class 3 "nine"' in r.out
    report = (out / "report.md").read_text()
    assert 'class 3 "nine"' in report
    assert json.loads((out / "metrics.json").read_text())["forget_class"] == 3

    r = cli("unlearn", "run", "--model", named_model, "--method", "ft", "--forget", "nine", "--steps", 2,
            "--batch-size", 8, "--device", "cpu", "--quiet", "--out", tmp_path / "ft-name")
    assert r.code == 0, r.err
    assert "warning" not in r.err and 'forgot class 3 "nine"' in r.out

    bad = cli("unlearn", "run", "--model", named_model, "--method", "ft", "--forget", "ten", "--device", "cpu",
              "--out", tmp_path / "bad")
    assert_user_error(bad, "'ten'", "eight, five, four, nine")
    assert not (tmp_path / "bad").exists()


def test_numeric_forget_on_embedded_digits_does_not_warn(cli, tmp_path, one_thread):
    from privgen.diffusion import train

    base = tmp_path / "base"
    train(data="digits", out=base, recipe="tiny8", steps=2, seed=0, device="cpu", quiet=True)
    r = cli("unlearn", "run", "--model", base, "--method", "ft", "--forget", "3", "--steps", 1, "--batch-size", 8,
            "--device", "cpu", "--quiet", "--out", tmp_path / "u")
    assert r.code == 0, r.err
    assert "warning" not in r.err and "forgot class 3 in" in r.out  # the name is the index: shown once


def test_eval_generation_splits_forgotten_and_retained_classes(named_model, cli, tmp_path, one_thread):
    unlearned = tmp_path / "u"
    r = cli("unlearn", "run", "--model", named_model, "--method", "ft", "--forget", "nine", "--steps", 1,
            "--batch-size", 8, "--device", "cpu", "--quiet", "--out", unlearned)
    assert r.code == 0, r.err
    out = tmp_path / "eval"
    r = cli("eval", "generation", "--model", unlearned, "--n-per-class", 10, "--num-inference-steps", 2,
            "--device", "cpu", "--quiet", "--out", out)
    assert r.code == 0, r.err
    m = json.loads((out / "metrics.json").read_text())
    f, kept = m["forgotten"], m["retained"]
    assert f["classes"] == ["nine"] and f["class_ids"] == [3] and f["n"] == 10
    assert f["forget_accuracy"] == m["class_accuracy"]["per_class"]["nine"]
    assert 0 <= f["forget_accuracy_ci"][0] <= f["forget_accuracy"] <= f["forget_accuracy_ci"][1] <= 1
    assert "nine" not in kept["classes"] and len(kept["classes"]) == 9 and kept["n"] == 90
    others = [m["class_accuracy"]["per_class"][c] for c in kept["classes"]]
    assert kept["class_accuracy"] == pytest.approx(np.mean(others))
    assert kept["class_accuracy_ci"][0] <= kept["class_accuracy"] <= kept["class_accuracy_ci"][1]
    assert np.isfinite(kept["fd"]) and kept["fd"] >= 0 and kept["n_real_test"] > 0
    report = (out / "report.md").read_text()
    assert 'forgotten class 3 "nine": forget accuracy' in report and "| nine (forgotten) |" in report
    assert 'forgotten class 3 "nine": forget accuracy' in r.out
