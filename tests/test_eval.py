import numpy as np
import pytest
import torch

from conftest import assert_user_error
from privgen.data import load_images, train_test_split
from privgen.errors import UserError
from privgen.eval import class_share, extract_features, frechet_distance, load_classifier
from privgen.eval.train_classifier import ClassifierRecipe, random_shift, train_classifier


def test_fd_of_identical_sets_is_zero_and_matches_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # N(0, I) vs N(m, 4I) in d dims: |m|^2 + d(1 + 4 - 2*2) = |m|^2 + d.
    b = rng.normal(size=(200000, 4)) * 2.0 + np.array([1.0, 0.0, 0.0, 2.0])
    c = rng.normal(size=(200000, 4))
    assert frechet_distance(c, b) == pytest.approx(5.0 + 4.0, rel=0.02)


def test_fd_handles_singular_covariances():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.normal(size=(50, 3)), np.zeros((50, 5))], axis=1)  # dead units, as after ReLU
    b = a + 0.5
    assert frechet_distance(a, b) == pytest.approx(0.25 * 8, rel=1e-6)  # the shift moves all 8 dims


def test_fd_refuses_tiny_sample_counts():
    with pytest.raises(UserError, match="at least 10 samples"):
        frechet_distance(np.zeros((3, 4)), np.zeros((50, 4)))


def test_random_shift_moves_content_within_bounds():
    x = torch.full((4, 1, 10, 10), -1.0)
    x[:, :, 4:6, 4:6] = 1.0
    out = random_shift(x, 0.2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and (out == 1.0).sum() == (x == 1.0).sum()


@pytest.fixture(scope="module")
def digits_classifier():
    ds = load_images("digits")
    split = train_test_split(ds, 0.2, 0)
    model, metrics = train_classifier(split.train, split.test, seed=0, recipe=ClassifierRecipe(epochs=6), quiet=True)
    return model, metrics, split


def test_classifier_learns_tiny_data(digits_classifier):
    model, metrics, split = digits_classifier
    assert metrics["test_accuracy"] > 0.9
    assert class_share(model, split.test.x[split.test.y == 4], 4) > 0.85


def test_fd_same_class_real_sets_much_closer_than_different_classes(digits_classifier):
    model, _, split = digits_classifier
    f_tr, f_te = extract_features(model, split.train.x), extract_features(model, split.test.x)
    for a, b in ((3, 8), (1, 7), (0, 6)):
        same = frechet_distance(f_tr[split.train.y == a], f_te[split.test.y == a])
        diff = frechet_distance(f_te[split.test.y == a], f_te[split.test.y == b])
        assert same * 5 < diff, (a, b, same, diff)


def test_cli_classifier_train_writes_metrics_and_reloads(cli, tmp_path):
    out = tmp_path / "clf"
    r = cli("classifier", "train", "--data", "digits", "--image-size", "8", "--epochs", "2", "--out", out, "--quiet")
    assert r.code == 0, r.err
    assert "test accuracy" in r.out
    model, cfg = load_classifier(out)
    assert cfg["data"] == "digits" and cfg["image_size"] == 8
    from privgen.runs import RunDir

    assert 0.5 < RunDir.open(out, "classifier").metrics["test_accuracy"] <= 1.0
    # Same seed, same device: same numbers.
    out2 = tmp_path / "clf2"
    cli("classifier", "train", "--data", "digits", "--image-size", "8", "--epochs", "2", "--out", out2, "--quiet")
    assert RunDir.open(out2, "classifier").metrics["test_accuracy"] == RunDir.open(out, "classifier").metrics["test_accuracy"]


@pytest.mark.parametrize("args,frag", [
    (["--data", "nosuch"], "unknown dataset"),
    (["--data", "/no/such.npz"], "does not exist"),
    (["--data", "digits", "--image-size", "0"], "positive"),
    (["--data", "digits", "--image-size", "-3"], "positive"),
])
def test_cli_classifier_bad_input_writes_nothing(cli, tmp_path, args, frag):
    out = tmp_path / "clf"
    assert_user_error(cli("classifier", "train", *args, "--out", out), frag)
    assert not out.exists()


def test_cli_refuses_out_dir_of_another_kind(cli, tmp_path):
    from privgen.runs import RunDir

    RunDir.create(tmp_path / "other", "diffusion", {})
    before = sorted(p.name for p in (tmp_path / "other").iterdir())
    r = cli("classifier", "train", "--data", "digits", "--image-size", "8", "--out", tmp_path / "other")
    assert_user_error(r, "holds a 'diffusion' run", "--overwrite")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == before


def test_npz_without_y_via_cli(cli, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 4, 4)))
    assert_user_error(cli("classifier", "train", "--data", tmp_path / "d.npz", "--out", tmp_path / "o"), "no array y")
    assert not (tmp_path / "o").exists()


def test_cli_usage_errors_exit_2(cli):
    assert cli("classifier", "train", "--bogus", "1").code == 2
    assert cli("no-such-command").code == 2
    assert cli("data", "show", "digits").code == 2  # --out missing
