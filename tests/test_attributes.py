"""Feature unlearning: attribute data and their measurement, the joint condition table, every method on an
attribute, DiMRA's data, the user CSV path and the refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import assert_user_error
from privgen.data import load_images
from privgen.data.attributes import measure_for, measure_hue, paint, skeleton, stroke_width
from privgen.data.images import Attribute
from privgen.diffusion.condition import NULL, ConditionSpace
from privgen.diffusion.loss import drop_condition

COLOUR = (Attribute("colour", ("red", "green", "blue")),)


# --- measurement on real images -------------------------------------------------------------------------

@pytest.mark.parametrize("name,size,floor", [("mnist5k-colour", 16, 0.95), ("mnist5k-style", 16, 0.85),
                                             ("mnist5k-style", 28, 0.85)])
def test_measurement_recovers_the_attribute_of_real_images(name, size, floor):
    ds = load_images(name, size)
    for c in range(ds.num_classes):  # every value equally often within every class
        counts = np.bincount(ds.attrs[ds.y == c, 0])
        assert counts.max() - counts.min() <= 1
    ds = ds.subset(np.arange(0, len(ds), 4))  # 1,250 real images: the test stays fast
    measure = measure_for(ds, ds.attributes[0].name)
    acc = float((measure(ds.x, ds.y) == ds.attrs[:, 0]).mean())
    assert acc >= floor, acc


def test_hue_measure_reads_each_painted_colour_and_nothing_on_a_blank_image():
    grey = np.full((3, 1, 4, 4), -1.0, dtype=np.float32)
    grey[:, :, 1:3, 1:3] = 1.0
    assert measure_hue(paint(grey, np.array([0, 1, 2]))).tolist() == [0, 1, 2]
    assert measure_hue(np.full((1, 3, 4, 4), -1.0, dtype=np.float32)).tolist() == [NULL]


def test_stroke_width_grows_with_thickness_and_the_skeleton_is_thin():
    img = np.full((2, 1, 16, 16), -1.0, dtype=np.float32)
    img[0, 0, 2:14, 7:8] = 1.0      # a 1-pixel bar
    img[1, 0, 2:14, 6:9] = 1.0      # a 3-pixel bar
    w = stroke_width(img)
    assert w[0] == pytest.approx(1.0, abs=0.25) and w[1] > 2 * w[0]
    sk = skeleton(img[:, 0] > 0)
    assert sk[1].sum() <= 14 and (sk[1].sum(1) <= 1).all()  # one pixel per row


class _ReadsStrokes(torch.nn.Module):
    """A stand-in evaluation classifier: reads digit 3 in any image with strokes on a background, and
    digit 9 in a flat field (no digit at all)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.mean((1, 2, 3)), x.std((1, 2, 3))], 1) + self.dummy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2).std(2).amax(1) < 0.1  # no channel varies across the image
        return torch.nn.functional.one_hot(torch.where(flat, 9, 3), 10).float()


def test_forget_rate_counts_only_a_recognisable_digit_in_the_forgotten_value():
    """The hue measure has no 'no digit' answer (a flat green field reads green): the forget rate counts a
    sample only when the classifier also reads the class asked; the measurement alone is reported beside."""
    from privgen.unlearn.evaluate_attribute import AttributeReal, score_attribute, shows_forgotten
    from privgen.unlearn.target import ForgetTarget

    space = ConditionSpace(10, COLOUR)
    target = ForgetTarget.of_attribute(space, "colour=green")
    bar = np.full((1, 1, 8, 8), -1.0, dtype=np.float32)
    bar[:, :, 1:7, 3:5] = 1.0
    green_digit, red_digit = paint(bar, np.array([1])), paint(bar, np.array([0]))
    green_field = paint(np.full((1, 1, 8, 8), 0.5, dtype=np.float32), np.array([1]))
    kept = np.repeat(red_digit, 12, 0) * np.linspace(0.8, 1.0, 12, dtype=np.float32)[:, None, None, None]
    images = np.concatenate([green_digit, green_field, green_field, kept])  # FD needs ≥ 10 kept samples
    classes, asked = np.full(15, 3), np.array([1, 1, 1] + [0] * 12)
    clf = _ReadsStrokes()
    assert measure_hue(images).tolist() == [1, 1, 1] + [0] * 12
    both, alone = shows_forgotten(images[:3], classes[:3], target, _hue_only, clf)
    assert both.tolist() == [True, False, False] and alone.tolist() == [True, True, True]
    real = AttributeReal(np.random.default_rng(0).normal(size=(20, 2)))
    m = score_attribute(images, classes, asked, target, _hue_only, clf, real)
    assert m["n_forget"] == 3 and m["forget_rate"] == pytest.approx(1 / 3) and m["measure_rate"] == 1.0
    assert m["forget_class_acc"] == pytest.approx(1 / 3) and m["kept_attr_acc"] == 1.0


def _hue_only(images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return measure_hue(images)


# --- the condition table ---------------------------------------------------------------------------------

def test_class_only_space_is_the_class_model():
    space = ConditionSpace(10)
    assert space.num_embeds == 11 and space.null == 10
    y = torch.arange(10).repeat(20)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(space.drop(y, 0.3, g1), drop_condition(y, 0.3, 10, g2))


def test_rows_round_trip_and_class_ids_mean_any_attribute():
    space = ConditionSpace(10, COLOUR)
    assert space.num_embeds == 44 and space.null == 10
    classes = np.array([0, 3, 10, 9])
    attrs = np.array([[NULL], [0], [2], [NULL]])
    rows = space.encode(classes, attrs)
    assert rows[0] == 0 and rows[3] == 9           # class c with colour null is row c
    c, (a,) = space.decode(rows)
    assert c.tolist() == classes.tolist() and a.tolist() == attrs[:, 0].tolist()
    assert space.name(int(rows[1]), [str(i) for i in range(10)]) == "3 colour=red"
    assert int(space.with_attribute(torch.tensor(rows[1]), 0, 1)) == space.encode(np.array([3]), np.array([[1]]))[0]


def test_dropout_is_independent_per_component():
    space = ConditionSpace(10, COLOUR)
    full = torch.from_numpy(space.encode(np.full(20000, 4), np.full((20000, 1), 1)))
    c, (a,) = space.decode(space.drop(full, 0.3, torch.Generator().manual_seed(0)))
    class_null, attr_null = (c == 10).float(), (a == NULL).float()
    assert abs(class_null.mean() - 0.3) < 0.02 and abs(attr_null.mean() - 0.3) < 0.02
    assert abs((class_null * attr_null).mean() - 0.09) < 0.015   # independent
    kept = space.drop(full, 0.3, torch.Generator().manual_seed(0), keep=(1,))
    assert (space.decode(kept)[1][0] == 1).all()


def test_too_many_attributes_are_refused():
    from privgen.errors import UserError

    with pytest.raises(UserError, match="fewer"):
        ConditionSpace(2, tuple(Attribute(f"a{i}", ("0", "1")) for i in range(9)))


# --- an attribute model ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    from privgen.diffusion.trainer import train

    out = tmp_path_factory.mktemp("colour") / "m"
    torch.set_num_threads(1)
    train("mnist5k-colour", out, "tiny8", steps=6, quiet=True)
    return out


def test_attribute_model_loads_with_plain_diffusers(colour_model):
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(str(colour_model / "unet"))
    assert unet.config.num_class_embeds == 44 and unet.config.in_channels == 3
    cfg = json.loads((colour_model / "config.json").read_text())
    assert cfg["attributes"] == [{"name": "colour", "values": ["red", "green", "blue"]}] and cfg["null_class"] == 10


def test_guidance_one_is_the_conditional_path_for_attribute_rows(colour_model):
    from privgen.diffusion.guidance import _eps, guided_eps, guided_eps_two_pass
    from privgen.diffusion.store import load_model

    model = load_model(colour_model)
    space = model.conditions
    y = torch.from_numpy(space.encode(np.array([3, 10, 5]), np.array([[0], [2], [NULL]])))
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(guided_eps(model.unet, x, 500, y, 1.0, model.null_class), _eps(model.unet, x, 500, y))
        torch.testing.assert_close(guided_eps(model.unet, x, 500, y, 3.0, model.null_class),
                                   guided_eps_two_pass(model.unet, x, 500, y, 3.0, model.null_class))
        # the per-attribute null is its own embedding: colour null differs from every colour
        rows = space.encode(np.full(4, 3), np.array([[NULL], [0], [1], [2]]))
        emb = model.unet.class_embedding(torch.from_numpy(rows))
        assert torch.cdist(emb, emb)[0, 1:].min() > 0


@pytest.fixture(scope="module")
def unlearned_runs(colour_model, tmp_path_factory):
    from privgen.unlearn import METHODS, unlearn

    root = tmp_path_factory.mktemp("unlearned")
    small = {"sa": {"replay_per_class": 2, "fisher_batches": 1}, "salun": {"mask_batches": 1},
             "dimum": {"n_generated": 8}}
    return {name: unlearn(colour_model, name, None, root / name, steps=2, batch_size=8, quiet=True,
                          forget_attribute="colour=red", options=small.get(name))
            for name in METHODS}


def test_every_method_runs_on_an_attribute(unlearned_runs):
    from privgen.unlearn import METHODS

    assert set(unlearned_runs) == set(METHODS)
    for name, run in unlearned_runs.items():
        assert run.metrics["forget_attribute"] == {"name": "colour", "value": "red"}, name
        assert run.config["unlearning"]["forget_attribute"]["value"] == "red"
        assert (run.path / "before_after.png").is_file() and (run.path / "unet").is_dir()
        # the retained set excludes every red training image: 1/3 of the split
        assert run.metrics["n_forget"] * 2 == pytest.approx(run.metrics["n_retain"], rel=0.01)


def test_dimum_memorises_the_same_class_in_the_next_colour(colour_model):
    from privgen.diffusion.store import load_model, model_split
    from privgen.unlearn.base import UnlearnContext
    from privgen.unlearn.dimum import DiMUM
    from privgen.unlearn.target import ForgetTarget

    model = load_model(colour_model)
    space = model.conditions
    target = ForgetTarget.of_attribute(space, "colour=red")
    split = target.split(model_split(model).train)
    ctx = UnlearnContext(unet=model.unet, teacher=model.unet, retain_x=torch.from_numpy(split.retain.x),
                         retain_y=torch.from_numpy(space.labels_of(split.retain)),
                         forget_x=torch.from_numpy(split.forget.x), forget_class=-1, num_classes=10,
                         scheduler=None, generator=torch.Generator().manual_seed(0), batch_size=64, p_uncond=0.0,
                         target=target, conditions=space)
    method = DiMUM(DiMUM.Options())
    method.prepare(ctx)
    x, y = method._attribute_batch(ctx)
    classes, (colour,) = space.decode(y)
    assert (colour == 0).all()                                     # labelled red ...
    assert (measure_hue(x.numpy()) == 1).all()                     # ... while showing green (next colour)
    pool_classes, _ = space.decode(ctx.state["alt_labels"])
    assert set(pool_classes.tolist()) == set(range(10))            # every class keeps its own class


def test_dimra_retain_data_never_hold_the_forgotten_colour(unlearned_runs):
    from privgen.attacks.aux import AuxRequest, build_aux
    from privgen.diffusion.store import load_model, model_split

    model = load_model(unlearned_runs["dimum"].path)
    aux = build_aux("retain", AuxRequest(model))
    _, (colour,) = model.conditions.decode(aux.y)
    assert (colour != 0).all() and (measure_hue(aux.x.numpy()) != 0).all()
    train = model_split(model).train
    assert len(aux) == int((train.attrs[:, 0] != 0).sum())
    # only k-shot reads red images, and exactly k of them
    kshot = build_aux("kshot", AuxRequest(model, k=5))
    assert len(kshot) == 5 and (measure_hue(kshot.x.numpy()) == 0).all()


# --- the user CSV path ---------------------------------------------------------------------------------------

def _user_folder(root, rows=None, header="image_id,Smiling,Eyeglasses"):
    from PIL import Image

    folder = root / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i:06d}.jpg")
    lines = [header] + (rows if rows is not None else
                        [f"{i:06d}.jpg,{1 if i % 2 else -1},{1 if i % 3 == 0 else -1}" for i in range(12)])
    (folder / "list_attr.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_user_folder_with_celeba_attribute_csv(tmp_path):
    ds = load_images(_user_folder(tmp_path), 8)
    assert [a.name for a in ds.attributes] == ["Smiling", "Eyeglasses"] and ds.shape == (3, 8, 8)
    assert ds.num_classes == 1 and ds.attrs[:, 0].tolist() == [i % 2 for i in range(12)]
    assert ds.attrs[:, 1].tolist() == [int(i % 3 == 0) for i in range(12)]
    assert ConditionSpace(1, ds.attributes).parse("Smiling=+1") == (0, 1)


# --- bad input -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows,header,fragments", [
    (["000000.jpg,1,-1"], None, ("1 of 12 images",)),
    ([f"{i:06d}.jpg,2,-1" for i in range(12)], None, ("Smiling='2'", "+1/-1")),
    ([f"{i:06d}.jpg,1" for i in range(12)], None, ("column is missing",)),
    ([f"{i:06d}.jpg" for i in range(12)], "image_id", ("no attribute column",)),
])
def test_bad_attribute_csv_is_refused(cli, tmp_path, rows, header, fragments):
    folder = _user_folder(tmp_path, rows, header or "image_id,Smiling,Eyeglasses")
    out = tmp_path / "run"
    assert_user_error(cli("diffusion", "train", "--data", folder, "--recipe", "tiny8", "--out", out), *fragments)
    assert not out.exists()


@pytest.mark.parametrize("args,fragments", [
    (("--forget-attribute", "size=big"), ("no attribute 'size'", "colour")),
    (("--forget-attribute", "colour=purple"), ("no value 'purple'", "red, green, blue")),
    (("--forget-attribute", "colour"), ("NAME=VALUE",)),
    (("--forget", "3", "--forget-attribute", "colour=red"), ("not both",)),
])
def test_bad_forget_attribute_is_refused(cli, colour_model, tmp_path, args, fragments):
    out = tmp_path / "u"
    assert_user_error(cli("unlearn", "run", "--model", colour_model, "--method", "dimum", *args, "--out", out),
                      *fragments)
    assert not out.exists()


def test_forgetting_an_attribute_of_a_class_only_model_is_refused(cli, tmp_path):
    from privgen.diffusion.trainer import train

    model = tmp_path / "m"
    train("digits", model, "tiny8", steps=1, quiet=True)
    out = tmp_path / "u"
    assert_user_error(cli("unlearn", "run", "--model", model, "--method", "ga", "--forget-attribute", "colour=red",
                          "--out", out), "classes only")
    assert not out.exists()


def test_bench_refuses_both_targets_and_unknown_attributes(cli, tmp_path):
    out = tmp_path / "b"
    assert_user_error(cli("bench", "unlearning", "--data", "mnist5k-colour", "--forget", "3", "--forget-attribute",
                          "colour=red", "--out", out), "not both")
    assert_user_error(cli("bench", "unlearning", "--data", "mnist5k-colour", "--forget-attribute", "hat=red",
                          "--out", out), "no attribute 'hat'")
    assert_user_error(cli("bench", "unlearning", "--data", "digits", "--forget-attribute", "colour=red",
                          "--out", out), "no attributes")
    assert not out.exists()


def test_forgetting_a_class_of_an_attribute_model(colour_model, tmp_path):
    from privgen.unlearn import unlearn

    run = unlearn(colour_model, "dimum", 3, tmp_path / "d3", steps=2, batch_size=8, quiet=True,
                  options={"n_generated": 8})
    assert run.metrics["forget_class"] == 3 and run.metrics["n_forget"] * 9 == pytest.approx(run.metrics["n_retain"],
                                                                                            rel=0.01)


def test_dimum_fresh_rows_redraws_only_the_forgotten_conditions_vectors(colour_model, tmp_path):
    """--option fresh_rows=true: every row asking for red is re-drawn (moved by O(1)); a 2-step fine-tune
    moves the kept rows by about lr per step."""
    from privgen.diffusion.store import load_model
    from privgen.unlearn import unlearn
    from privgen.unlearn.target import ForgetTarget

    base = load_model(colour_model)
    run = unlearn(colour_model, "dimum", None, tmp_path / "fresh", steps=2, batch_size=8, quiet=True,
                  forget_attribute="colour=red", options={"fresh_rows": True})
    after = load_model(run.path)
    red = ForgetTarget.of_attribute(base.conditions, "colour=red").forgotten_rows()
    moved = (after.unet.class_embedding.weight - base.unet.class_embedding.weight).norm(dim=1).detach()
    others = torch.ones(len(moved), dtype=torch.bool)
    others[red] = False
    assert moved[red].min() > 1.0 and moved[others].max() < 0.1, (moved[red], moved[others].max())
    assert run.config["unlearning"]["options"]["fresh_rows"] is True
