import inspect

import numpy as np
import pytest
import torch

from conftest import assert_user_error
from privgen.attacks import AuxRequest, build_aux, relearn
from privgen.attacks.relearn import relearn_run
from privgen.diffusion import load_model, train
from privgen.diffusion.store import model_split
from privgen.unlearn.run import unlearn

FORGET = 3


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack")
    base = root / "base"
    train(data="digits", out=base, recipe="tiny8", steps=40, seed=0, device="cpu", quiet=True)
    unlearned = root / "dimum"
    unlearn(base, "dimum", FORGET, unlearned, seed=0, steps=4, batch_size=16, device="cpu", quiet=True)
    return base, unlearned


def _rows(x: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in np.ascontiguousarray(x, dtype=np.float32)}


def test_relearn_takes_no_forgotten_class():
    params = set(inspect.signature(relearn).parameters)
    assert not params & {"forget", "forget_class", "c_f", "kshot_class"}
    assert "forget" not in inspect.signature(AuxRequest).parameters


@pytest.mark.parametrize("source", ["retain"])
def test_aux_data_never_holds_forgotten_class_images(models, source):
    _, unlearned = models
    model = load_model(unlearned)
    train_split = model_split(model).train
    forgotten = _rows(train_split.x[train_split.y == FORGET])
    aux = build_aux(source, AuxRequest(model, seed=0))
    assert len(aux) > 100
    assert not _rows(aux.x.numpy()) & forgotten
    if source == "retain":  # the owner's record, read from the unlearned model's config
        assert FORGET not in set(aux.y.tolist())
        assert len(aux) == int((train_split.y != FORGET).sum())


def test_kshot_holds_exactly_k_images_of_the_class(models):
    _, unlearned = models
    model = load_model(unlearned)
    aux = build_aux("kshot", AuxRequest(model, seed=0, k=7, kshot_class=FORGET))
    train_split = model_split(model).train
    assert len(aux) == 7 and set(aux.y.tolist()) == {FORGET}
    assert _rows(aux.x.numpy()) <= _rows(train_split.x[train_split.y == FORGET])


def test_generated_keeps_only_recognised_conditions(models):
    from privgen.eval import cached_classifier

    base, _ = models
    model = load_model(base)
    clf = cached_classifier("digits", 8, 0, device="cpu", quiet=True)[0]
    everything = build_aux("generated", AuxRequest(model, n_generated=8, keep_threshold=0.0, classifier=clf))
    assert len(everything) == 8 * model.num_classes
    # the source samples with the default solver (version 2 of its data, in every attack's cache key)
    from privgen.attacks.aux import aux_version_key
    from privgen.diffusion.sampler import sample_labels
    from privgen.diffusion.solvers import DPMPP_STEPS

    labels = torch.arange(model.num_classes).repeat_interleave(8)
    expected = sample_labels(model, labels, guidance_scale=3.0, sampler="dpmpp", num_inference_steps=DPMPP_STEPS, seed=0)
    assert torch.equal(everything.x, expected)
    assert aux_version_key("generated") == {"aux_version": 2}
    none_kept = AuxRequest(model, n_generated=8, keep_threshold=1.01, classifier=clf)
    with pytest.raises(Exception, match="recognises none"):
        build_aux("generated", none_kept)


def test_attack_lowers_aux_loss_and_saves_checkpoints(models, tmp_path):
    _, unlearned = models
    run = relearn_run(unlearned, "retain", tmp_path / "att", steps=30, lr=1e-3, batch_size=32, seed=0,
                      checkpoint_every=10, device="cpu", quiet=True)
    m = run.metrics
    assert m["aux_loss_after"] < m["aux_loss_before"], m
    steps = sorted(p.name for p in (run.path / "checkpoints").iterdir())
    assert steps == ["step-000010", "step-000020", "step-000030"]
    from diffusers import UNet2DModel

    UNet2DModel.from_pretrained(str(run.path / "checkpoints" / "step-000020"))
    attacked = load_model(run.path)
    assert attacked.config["attack"]["aux"] == "retain" and attacked.config["attack"]["n_aux"] == m["n_aux"]
    before = load_model(unlearned)
    moved = sum(float((a - b).abs().sum()) for a, b in zip(attacked.unet.parameters(), before.unet.parameters()))
    assert moved > 0


def test_public_source_is_another_dataset(models, tmp_path):
    """digits is the public set for MNIST models; a model trained on digits itself must not call it public."""
    _, unlearned = models
    with pytest.raises(Exception, match="own training data"):
        build_aux("public", AuxRequest(load_model(unlearned)))
    mnist = tmp_path / "mnist"
    train(data="mnist5k", out=mnist, recipe="tiny8", steps=1, seed=0, device="cpu", quiet=True)
    aux = build_aux("public", AuxRequest(load_model(mnist)))
    assert len(aux) == 1797 and aux.x.shape[1:] == (1, 8, 8) and float(aux.x.min()) >= -1
    # the digit box takes 20/28 of the side (6 of 8 here), centred; the margin is background (-1) as in MNIST
    assert torch.all(aux.x[:, :, :1] == -1) and torch.all(aux.x[:, :, -1:] == -1)
    assert torch.all(aux.x[:, :, :, :1] == -1) and torch.all(aux.x[:, :, :, -1:] == -1)
    assert float(aux.x[:, :, 1:7, 1:7].max()) > 0.5
    # public-without: the same images minus the deleted class, which it needs a deletion record (or the owner) for
    without = build_aux("public-without", AuxRequest(load_model(mnist), deleted_class=FORGET))
    assert FORGET not in set(without.y.tolist()) and len(without) == int((aux.y != FORGET).sum())
    assert torch.equal(without.x, aux.x[aux.y != FORGET])
    with pytest.raises(Exception, match="public-without needs the owner's deletion record"):
        build_aux("public-without", AuxRequest(load_model(mnist)))


def test_attack_is_deterministic(models, tmp_path):
    _, unlearned = models
    a = relearn_run(unlearned, "retain", tmp_path / "a", steps=3, batch_size=8, device="cpu", quiet=True)
    b = relearn_run(unlearned, "retain", tmp_path / "b", steps=3, batch_size=8, device="cpu", quiet=True)
    ua, ub = load_model(a.path).unet, load_model(b.path).unet
    assert all(torch.equal(p, q) for p, q in zip(ua.parameters(), ub.parameters()))


def test_attack_bad_inputs(models, cli, tmp_path):
    base, unlearned = models
    assert_user_error(cli("attack", "relearn", "--model", unlearned, "--aux", "forum", "--steps", 5,
                          "--out", tmp_path / "x"), "unknown --aux 'forum'")
    assert_user_error(cli("attack", "relearn", "--model", unlearned, "--aux", "kshot", "--k", 100000, "--steps", 5,
                          "--out", tmp_path / "x"), "has only")
    assert_user_error(cli("attack", "relearn", "--model", unlearned, "--aux", "retain", "--steps", 0,
                          "--out", tmp_path / "x"), "--steps must be a positive")
    assert_user_error(cli("attack", "relearn", "--model", base, "--aux", "retain", "--steps", 5,
                          "--out", tmp_path / "x"), "never unlearned")
    assert_user_error(cli("attack", "relearn", "--model", unlearned, "--aux", "retain", "--kshot-class", 3,
                          "--steps", 5, "--out", tmp_path / "x"), "--kshot-class only applies")
    assert not (tmp_path / "x").exists()


def test_attack_cli_runs(models, cli, tmp_path):
    _, unlearned = models
    r = cli("attack", "relearn", "--model", unlearned, "--aux", "kshot", "--k", 5, "--steps", 3, "--batch-size", 4,
            "--out", tmp_path / "k", "--quiet")
    assert r.code == 0, r.err
    assert "relearn (kshot, 5 images)" in r.out
    assert load_model(tmp_path / "k").config["attack"]["k"] == 5
