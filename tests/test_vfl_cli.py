"""The VFL commands end to end on tiny party files, and every bad input: exit 2, one line, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from privgen.cli import main

TINY = ["--size", "tiny", "--iterations", "2", "--batch-size", "16", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("PRIVGEN_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def write_parties(folder: Path, n: int = 60, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    ids = np.arange(n)
    colour = rng.choice(["red", "green", "blue"], n)
    a = pd.DataFrame({"id": ids, "age": rng.integers(18, 80, n), "colour": colour})
    b = pd.DataFrame({"id": ids[::-1], "income": rng.normal(50, 10, n), "owner": rng.choice(["yes", "no"], n)})
    folder.mkdir(parents=True, exist_ok=True)
    a.to_csv(folder / "a.csv", index=False)
    b.to_csv(folder / "b.csv", index=False)
    return folder / "a.csv", folder / "b.csv"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("vfl")
    a, b = write_parties(root / "data")
    model = root / "model"
    with pytest.raises(SystemExit) as e:
        main(["vfl", "train", "--party-file", str(a), "--party-file", str(b), "--id-column", "id",
              "--model-type", "vflgan", "--out", str(model), *TINY])
    assert e.value.code in (0, None)
    return model, root


def test_train_generate_evaluate(trained, capsys, tmp_path) -> None:
    model, _ = trained
    code, out, err = cli(["vfl", "generate", "--model", str(model), "--n", "30", "--out", str(tmp_path / "s.csv")], capsys)
    assert code == 0, err
    df = pd.read_csv(tmp_path / "s.csv")
    assert list(df.columns) == ["age", "colour", "income", "owner"] and len(df) == 30
    assert set(df["colour"]) <= {"red", "green", "blue"} and set(df["owner"]) <= {"yes", "no"}
    code, out, err = cli(["vfl", "generate", "--model", str(model), "--n", "5", "--where", "owner=yes",
                          "--out", str(tmp_path / "yes.csv")], capsys)
    assert code == 0, err
    assert set(pd.read_csv(tmp_path / "yes.csv")["owner"]) == {"yes"}
    code, out, err = cli(["eval", "synthetic", "--model", str(model), "--out", str(tmp_path / "ev"), "--n", "40",
                          "--device", "cpu"], capsys)
    assert code == 0, err
    import json

    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert {"fd", "association_error", "utility"} <= set(m)
    assert m["association_pairs"] == 4  # (age, colour) x (income, owner)


def test_three_parties_by_column_lists(tmp_path, capsys) -> None:
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 4)), columns=list("abcd"))
    df.to_csv(tmp_path / "t.csv", index=False)
    code, _, err = cli(["vfl", "train", "--data", str(tmp_path / "t.csv"), "--columns", "a", "--columns", "b,c",
                        "--columns", "d", "--model-type", "vertigan", "--out", str(tmp_path / "m"), *TINY], capsys)
    assert code == 0, err
    import json

    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["parties"] == 3


def _frames(tmp_path: Path, kind: str) -> list[str]:
    a, b = write_parties(tmp_path / "d")
    if kind == "no_overlap":
        pd.read_csv(b).assign(id=lambda d: d["id"] + 1000).to_csv(b, index=False)
    elif kind == "duplicate":
        d = pd.read_csv(a)
        d.loc[1, "id"] = d.loc[0, "id"]
        d.to_csv(a, index=False)
    elif kind == "shared_column":
        pd.read_csv(b).rename(columns={"owner": "colour"}).to_csv(b, index=False)
    elif kind == "missing":
        d = pd.read_csv(a)
        d.loc[3, "age"] = np.nan
        d.to_csv(a, index=False)
    return ["--party-file", str(a), "--party-file", str(b), "--id-column", "id"]


@pytest.mark.parametrize("kind,needle", [
    ("no_overlap", "only 0 IDs"),
    ("duplicate", "duplicate IDs"),
    ("shared_column", "'colour' is present in a.csv and in b.csv"),
    ("missing", "missing values in columns age"),
])
def test_bad_party_files(kind: str, needle: str, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    code, stdout, err = cli(["vfl", "train", *_frames(tmp_path, kind), "--out", str(out), *TINY], capsys)
    assert code == 2
    assert err.startswith("error:") and err.count("\n") == 1 and needle in err, err
    assert not out.exists()


def test_missing_values_imputed_when_asked(tmp_path, capsys) -> None:
    code, _, err = cli(["vfl", "train", *_frames(tmp_path, "missing"), "--impute", "--out", str(tmp_path / "r"), *TINY], capsys)
    assert code == 0, err


@pytest.mark.parametrize("argv,needle", [
    (["--data", "mnist5k", "--parties", "29"], "larger than the 28 image rows"),
    (["--data", "TABLE", "--parties", "5"], "larger than the 4 columns"),
])
def test_too_many_parties(argv: list[str], needle: str, tmp_path, capsys) -> None:
    pd.DataFrame(np.zeros((30, 4)), columns=list("abcd")).to_csv(tmp_path / "t.csv", index=False)
    argv = [str(tmp_path / "t.csv") if a == "TABLE" else a for a in argv]
    code, _, err = cli(["vfl", "train", *argv, "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2 and needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_unknown_category_at_generation(trained, capsys, tmp_path) -> None:
    model, _ = trained
    out = tmp_path / "s.csv"
    code, _, err = cli(["vfl", "generate", "--model", str(model), "--n", "5", "--where", "colour=purple",
                        "--out", str(out)], capsys)
    assert code == 2 and "unknown category 'purple'" in err and err.count("\n") == 1, err
    assert not out.exists()


def test_parquet_party_files_and_output(tmp_path, capsys) -> None:
    """Party files in Parquet train like CSV, and `vfl generate` writes Parquet with the original columns."""
    pytest.importorskip("pyarrow")
    a_csv, b_csv = write_parties(tmp_path / "data", seed=1)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pd.read_csv(a_csv).to_parquet(a, index=False)
    pd.read_csv(b_csv).to_parquet(b, index=False)
    model = tmp_path / "model"
    code, _, err = cli(["vfl", "train", "--party-file", str(a), "--party-file", str(b), "--id-column", "id",
                        "--model-type", "vflgan", "--out", str(model), *TINY], capsys)
    assert code == 0, err
    code, _, err = cli(["vfl", "generate", "--model", str(model), "--n", "12", "--out", str(tmp_path / "s.parquet")],
                       capsys)
    assert code == 0, err
    df = pd.read_parquet(tmp_path / "s.parquet")
    assert list(df.columns) == ["age", "colour", "income", "owner"] and len(df) == 12
    assert set(df["colour"]) <= {"red", "green", "blue"}


@pytest.mark.parametrize("model", ["vflgan", "vertigan", "centralized"])
def test_resumed_training_equals_uninterrupted(model: str, tmp_path, capsys) -> None:
    """A run stopped after its checkpoint (no metrics.json yet) and resumed ends with the weights, byte
    counts and schedule of a run that was never stopped: every party's and the server's state is restored."""
    import torch
    from safetensors.torch import load_file

    a, b = write_parties(tmp_path / "d")
    base = ["vfl", "train", "--party-file", str(a), "--party-file", str(b), "--id-column", "id", "--model", model,
            "--size", "tiny", "--batch-size", "16", "--device", "cpu", "--quiet"]
    code, _, err = cli([*base, "--iterations", "6", "--out", str(tmp_path / "whole")], capsys)
    assert code == 0, err
    code, _, err = cli([*base, "--iterations", "3", "--out", str(tmp_path / "split")], capsys)
    assert code == 0, err
    (tmp_path / "split" / "metrics.json").unlink()  # as if killed right after the checkpoint at iteration 3
    code, _, err = cli([*base, "--iterations", "6", "--out", str(tmp_path / "split")], capsys)
    assert code == 0, err
    import json

    whole, split = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("whole", "split"))
    assert split["resumed_from_iteration"] == 3 and whole["resumed_from_iteration"] == 0
    assert split["bytes_per_iteration"] == whole["bytes_per_iteration"] and split["messages"] == whole["messages"]
    weights = sorted(p.name for p in (tmp_path / "whole").glob("*.safetensors") if p.name != "checkpoint.safetensors")
    assert weights
    for name in weights:
        x, y = load_file(tmp_path / "whole" / name), load_file(tmp_path / "split" / name)
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), f"{name}:{k} differs after resuming"


def test_finished_run_is_not_trained_again(trained, capsys) -> None:
    model, root = trained
    before = (model / "config.json").read_text()
    code, _, err = cli(["vfl", "train", "--party-file", str(root / "data" / "a.csv"), "--party-file",
                        str(root / "data" / "b.csv"), "--id-column", "id", "--model-type", "vflgan", "--out", str(model),
                        *TINY], capsys)
    assert code == 2
    assert "already holds a finished run of 2 iterations" in err and err.count("\n") == 1
    assert (model / "config.json").read_text() == before


def test_train_logs_health_and_probes_fd_without_changing_the_run(tmp_path, capsys) -> None:
    """--probe-every adds an FD curve and loss.png; the weights equal those of a run without probes."""
    import json

    from safetensors.torch import load_file

    a, b = write_parties(tmp_path / "data")
    base = ["vfl", "train", "--party-file", str(a), "--party-file", str(b), "--id-column", "id", "--size", "tiny",
            "--iterations", "6", "--batch-size", "16", "--device", "cpu", "--quiet", "--seed", "3"]
    assert cli([*base, "--out", str(tmp_path / "plain")], capsys)[0] == 0
    assert cli([*base, "--probe-every", "3", "--out", str(tmp_path / "probed")], capsys)[0] == 0
    m = json.loads((tmp_path / "probed" / "metrics.json").read_text())
    assert [p["iteration"] for p in m["curve"]] == [3, 6] and all(p["fd"] >= 0 for p in m["curve"])
    report = (tmp_path / "probed" / "report.md").read_text()
    assert (tmp_path / "probed" / "loss.png").is_file() and "training" in report
    assert "First rows of a synthetic table" in report and "| income |" in report
    files = sorted(p.name for p in (tmp_path / "plain").glob("party*.safetensors")) + ["server.critic.safetensors"]
    for name in files:
        w = [load_file(str(tmp_path / r / name)) for r in ("plain", "probed")]
        assert w[0].keys() == w[1].keys()
        assert all(np.array_equal(w[0][k].numpy(), w[1][k].numpy()) for k in w[0]), name


def test_image_run_report_shows_a_sample_grid(tmp_path, capsys) -> None:
    out = tmp_path / "img"
    code, _, err = cli(["vfl", "train", "--data", "digits", "--parties", "2", *TINY, "--out", str(out)], capsys)
    assert code == 0, err
    assert (out / "samples.png").is_file() and "![synthetic samples](samples.png)" in (out / "report.md").read_text()


def test_private_alignment_and_ray_options_are_refused_in_process(cli, tmp_path) -> None:
    """--align / --address / --party-resource belong to --transport ray; in-process they are refused, not ignored."""
    from conftest import assert_user_error

    base = ["vfl", "train", "--data", "wine", "--parties", "2", "--size", "tiny", "--iterations", "1", "--out", tmp_path / "o"]
    assert_user_error(cli(*base, "--align", "psi"), "--align psi: in-process runs join party files", "--transport ray")
    assert_user_error(cli(*base, "--party-resource", "bank", "--party-resource", "insurer"),
                      "--address and --party-resource apply to --transport ray")
    assert_user_error(cli(*base, "--transport", "grpc"), "--transport 'grpc' is unknown")
    assert_user_error(cli(*base, "--rng", "party", "--model-type", "vertigan"), "--rng party trains vflgan")
    assert not (tmp_path / "o").exists()
