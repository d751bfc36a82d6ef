import copy

import numpy as np
import pytest
import torch

from conftest import assert_user_error
from privgen.diffusion import load_model, train
from privgen.diffusion.schedule import training_scheduler
from privgen.unlearn import METHODS, build_method
from privgen.unlearn.base import UnlearnContext
from privgen.unlearn.esd import esd_target
from privgen.unlearn.run import training_split, unlearn

FORGET = 3


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "model"
    train(data="digits", out=out, recipe="tiny8", steps=40, seed=0, device="cpu", quiet=True)
    return out


def fixed_loss(unet, x, y, seed=123, n=256):
    """Denoising loss with fixed timesteps and noise, so before/after comparisons see only the weights."""
    from privgen.diffusion.loss import denoising_loss

    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        return float(denoising_loss(unet, x[:n], y[:n], training_scheduler(), g))


def retained_xy(model):
    split = training_split(model)
    keep = split.y != FORGET
    return torch.from_numpy(split.x[keep]), torch.from_numpy(split.y[keep])


FINETUNERS = [m for m, cls in METHODS.items() if cls.finetunes]


def test_registry_lists_every_method():
    assert set(METHODS) == {"retrain", "ft", "ga", "salun", "erasediff", "sa", "esd", "dimum"}


@pytest.mark.parametrize("method", FINETUNERS)
def test_method_runs_changes_model_and_keeps_retained_loss(base_dir, tmp_path, method):
    out = tmp_path / method
    run = unlearn(base_dir, method, FORGET, out, seed=0, steps=4, batch_size=16, device="cpu", quiet=True)
    m = run.metrics
    assert m["method"] == method and m["forget_class"] == FORGET and m["steps"] == 4 and m["unlearn_seconds"] > 0
    assert m["pretrain_seconds"] > 0
    assert m["fraction_of_pretrain"] == pytest.approx(m["unlearn_seconds"] / m["pretrain_seconds"], rel=0.01, abs=1e-4)
    before, after = load_model(base_dir), load_model(out)
    moved = sum(float((a - b).abs().sum()) for a, b in zip(after.unet.parameters(), before.unet.parameters()))
    assert moved > 0
    x, y = retained_xy(before)
    lb, la = fixed_loss(before.unet, x, y), fixed_loss(after.unet, x, y)
    assert abs(la - lb) < 0.25 * lb, (method, lb, la)
    assert after.config["unlearning"]["method"] == method


def test_retrain_trains_from_scratch_without_the_class(base_dir, tmp_path):
    run = unlearn(base_dir, "retrain", FORGET, tmp_path / "rt", seed=0, steps=5, device="cpu", quiet=True)
    assert run.metrics["n_forget"] > 0 and run.metrics["steps"] == 5
    assert load_model(tmp_path / "rt").num_classes == 10


def test_salun_mask_keeps_half_and_blocks_other_weights(base_dir, tmp_path):
    unlearn(base_dir, "salun", FORGET, tmp_path / "s", seed=0, steps=3, batch_size=16, device="cpu", quiet=True)
    before, after = load_model(base_dir), load_model(tmp_path / "s")
    changed = torch.cat([(a != b).flatten() for a, b in zip(after.unet.parameters(), before.unet.parameters())])
    share = float(changed.float().mean())
    assert 0.35 < share <= 0.5 + 1e-3, share


def make_ctx(model, batch=16):
    split = training_split(model)
    x, y = torch.from_numpy(split.x), torch.from_numpy(split.y)
    unet = copy.deepcopy(model.unet).requires_grad_(True)
    return UnlearnContext(unet=unet, teacher=model.unet, retain_x=x[y != FORGET], retain_y=y[y != FORGET],
                          forget_x=x[y == FORGET], forget_class=FORGET, num_classes=model.num_classes,
                          scheduler=training_scheduler(), generator=torch.Generator().manual_seed(0),
                          batch_size=batch, p_uncond=0.1)


def test_sa_fisher_is_non_negative_and_not_all_zero(base_dir):
    model = load_model(base_dir)
    ctx = make_ctx(model)
    from privgen.diffusion.sampler import sample_labels

    ctx.state["sample_teacher"] = lambda labels: sample_labels(model, labels, guidance_scale=3.0, num_inference_steps=2, seed=0)
    method = build_method("sa", {"replay_per_class": 2, "fisher_batches": 2})
    method.prepare(ctx)
    fisher = torch.cat([f.flatten() for f in ctx.state["fisher"].values()])
    assert (fisher >= 0).all() and fisher.sum() > 0
    rx, ry = ctx.state["replay"]
    assert FORGET not in ry.tolist() and len(rx) == 2 * 9


class ConstantPerClass(torch.nn.Module):
    """A fake UNet whose prediction is the class id times a constant plus x: easy to check by hand."""

    def forward(self, x, t, class_labels):
        out = x + class_labels.view(-1, 1, 1, 1).float()
        return type("Out", (), {"sample": out})()


def test_esd_target_matches_formula():
    x = torch.randn(2, 1, 4, 4)
    t = torch.tensor([10, 20])
    forget, null = torch.tensor([3, 3]), torch.tensor([10, 10])
    eta = 0.7
    got = esd_target(ConstantPerClass(), x, t, forget, null, eta)
    eps_c, eps_u = x + 3, x + 10
    torch.testing.assert_close(got, eps_u - eta * (eps_c - eps_u))


def test_dimum_memorisation_pulls_forgotten_condition_to_alternative_data(base_dir, tmp_path):
    alt_class = 5
    unlearn(base_dir, "dimum", FORGET, tmp_path / "d", seed=0, steps=30, lr=1e-3, batch_size=32, device="cpu",
            quiet=True, options={"alt": "other-class", "alt_class": str(alt_class)})
    before, after = load_model(base_dir), load_model(tmp_path / "d")
    split = training_split(before)
    xa = torch.from_numpy(split.x[split.y == alt_class])
    yf = torch.full((len(xa),), FORGET)
    assert fixed_loss(after.unet, xa, yf) < fixed_loss(before.unet, xa, yf)


def test_dimum_alt_class_resolution():
    from privgen.errors import UserError
    from privgen.unlearn.dimum import DiMUM, resolve_alt_class

    assert DiMUM.Options().alt_class == "next"
    assert resolve_alt_class("next", 3, 10) == 4 and resolve_alt_class("next", 9, 10) == 0
    assert resolve_alt_class("random", 3, 10) is None and resolve_alt_class("7", 3, 10) == 7
    with pytest.raises(UserError, match="not random"):
        DiMUM(DiMUM.Options(alt="generated", alt_class="random")).validate(3, 10)


def test_cli_unlearn_list(cli):
    r = cli("unlearn", "list")
    assert r.code == 0
    for name in METHODS:
        assert name in r.out


@pytest.mark.parametrize("args,frag", [
    (["--method", "nosuch", "--forget", "3"], "unknown unlearning method"),
    (["--method", "ft", "--forget", "12"], "outside the model's classes"),
    (["--method", "ga", "--forget", "3", "--alt", "noise"], "do not apply to ga"),
    (["--method", "dimum", "--forget", "3", "--alt-class", "3"], "forgotten class itself"),
    (["--method", "dimum", "--forget", "3", "--alt", "pixels"], "--alt must be one of"),
    (["--method", "ft", "--forget", "3", "--steps", "0"], "--steps must be a positive"),
])
def test_cli_unlearn_bad_input(cli, base_dir, tmp_path, args, frag):
    out = tmp_path / "o"
    assert_user_error(cli("unlearn", "run", "--model", base_dir, *args, "--out", out), frag)
    assert not out.exists()


def test_cli_unlearn_missing_model_dir(cli, tmp_path):
    assert_user_error(cli("unlearn", "run", "--model", tmp_path / "none", "--method", "ft", "--forget", "3",
                          "--out", tmp_path / "o"), "does not exist")


def test_forgetting_every_class_is_refused(cli, tmp_path):
    np.savez(tmp_path / "one.npz", x=np.zeros((40, 8, 8), np.uint8), y=np.zeros(40, np.int64))
    train(data=str(tmp_path / "one.npz"), out=tmp_path / "m1", recipe="tiny8", steps=2, seed=0, device="cpu", quiet=True)
    assert_user_error(cli("unlearn", "run", "--model", tmp_path / "m1", "--method", "ft", "--forget", "0",
                          "--out", tmp_path / "o"), "forgetting every class")
