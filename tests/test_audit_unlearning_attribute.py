"""`privgen audit unlearning` on a model that forgot an attribute value (colour=red): every regime's data
carry the model's conditions, the probe counts recognisable digits in red, the oracle is retrained without
red images, and the oracle audited against itself resists."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_user_error

RED = "colour=red"


@pytest.fixture(scope="module")
def colour_models(tmp_path_factory):
    import torch

    from privgen.diffusion import train
    from privgen.unlearn.run import unlearn

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("audit-colour")
    base = root / "base"
    train(data="mnist5k-colour", out=base, recipe="tiny8", steps=12, seed=0, device="cpu", quiet=True)
    dimum = root / "dimum"
    unlearn(base, "dimum", None, dimum, seed=0, steps=2, batch_size=8, device="cpu", quiet=True, forget_attribute=RED,
            options={"n_generated": 8})
    oracle = root / "oracle"
    unlearn(base, "retrain", None, oracle, seed=0, steps=12, device="cpu", quiet=True, forget_attribute=RED)
    return base, dimum, oracle


FLAGS = ["--lrs", "1e-3", "--steps", 2, "--probe-steps", 1, "--batch-size", 8, "--n-per-class", 12,
         "--quality-n-per-class", 2, "--num-inference-steps", 2, "--workers", 1, "--device", "cpu", "--quiet"]


def test_public_digits_are_painted_like_the_models_data_and_public_without_drops_the_value(colour_models):
    from privgen.attacks.aux import AuxRequest, build_aux
    from privgen.diffusion.store import load_model

    model = load_model(colour_models[1])
    pub = build_aux("public", AuxRequest(model, seed=0))
    space = model.conditions
    classes, attrs = space.decode(pub.y.numpy())
    assert pub.x.shape[1:] == (3, 8, 8) and "colour given as in the model's data" in pub.description
    for c in range(10):  # every colour within every class, balanced
        counts = np.bincount(attrs[0][classes == c], minlength=3)
        assert counts.min() > 0 and counts.max() - counts.min() <= 1
    without = build_aux("public-without", AuxRequest(model, seed=0, deleted_attribute=RED))
    _, a_without = space.decode(without.y.numpy())
    assert (a_without[0] != 0).all() and len(without) == int((attrs[0] != 0).sum())
    assert "without colour=red" in without.description


def test_the_colour_oracle_audited_against_itself_resists_in_every_regime(colour_models, cli, tmp_path, one_thread):
    _, _, oracle = colour_models
    out = tmp_path / "a"
    res = cli("audit", "unlearning", "--model", oracle, "--oracle", oracle, "--regimes",
              "retain,public,public-without,kshot-1", *FLAGS, "--margin", 40, "--out", out)
    assert res.code == 0, res.err
    m = json.loads((out / "metrics.json").read_text())
    assert m["forget_attribute"] == RED and m["forget_class"] is None
    for name, reg in m["regimes"].items():
        cell = reg["cells"][0]
        assert cell["model"]["rates"] == cell["oracle"]["rates"] and cell["n"] == 12
        assert cell["model"]["verdict"]["rule_off"]["verdict"] == "resists", (name, cell["model"]["verdict"])
        q = cell["model"]["forgotten_quality"]
        assert [p["step"] for p in q] == cell["steps"] and all(0 <= p["confidence"] <= 1 for p in q)
        fd = cell["oracle"]["quality"]
        assert [p["step"] for p in fd] == cell["steps"] and all(v > 0 for p in fd for v in p["fd_retained"].values())
    descriptions = {n: r["cells"][0]["oracle"]["aux_description"] for n, r in m["regimes"].items()}
    assert "without colour=red" in descriptions["public-without"] and "with colour=red" in descriptions["kshot-1"]
    report = (out / "report.md").read_text()
    assert "## What the attacker gets: samples of colour=red" in report and "asked for colour=red" in report


def test_a_colour_audit_trains_its_oracle_without_the_value_and_refuses_a_class_oracle(colour_models, cli, tmp_path,
                                                                                         one_thread):
    base, dimum, oracle = colour_models
    res = cli("audit", "unlearning", "--model", dimum, "--forget", "3", "--oracle", oracle, *FLAGS, "--out",
              tmp_path / "x")
    assert_user_error(res, "--forget 3", "colour=red", "drop --forget")
    from privgen.unlearn.run import unlearn

    class_oracle = tmp_path / "class-oracle"
    unlearn(base, "retrain", 3, class_oracle, seed=0, steps=12, device="cpu", quiet=True)
    res = cli("audit", "unlearning", "--model", dimum, "--oracle", class_oracle, *FLAGS, "--out", tmp_path / "y")
    assert_user_error(res, "not a model retrained without colour=red", "--forget-attribute colour=red")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_attack_relearn_probes_the_forgotten_value_of_an_attribute_model(colour_models, cli, tmp_path, one_thread):
    _, dimum, _ = colour_models
    out = tmp_path / "att"
    res = cli("attack", "relearn", "--model", dimum, "--aux", "retain", "--steps", 2, "--probe-every", 1,
              "--n-per-class", 6, "--num-inference-steps", 2, "--device", "cpu", "--quiet", "--out", out)
    assert res.code == 0, res.err
    m = json.loads((out / "metrics.json").read_text())
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["attack"]["probe"]["forget_attribute"] == RED and cfg["attack"]["probe"]["forget_class"] is None
    assert [p["step"] for p in m["relearn_curve"]] == [0, 1, 2]
    assert all(p["n"] == 6 and 0 <= p["forget_acc"] <= p["measure_rate"] <= 1 for p in m["relearn_curve"])
    assert "forget accuracy of colour=red" in (out / "report.md").read_text()
