"""The bad-input table (issue 13): every case runs through the CLI and must exit 2 with one line on stderr,
no traceback, and no file changed anywhere it could write (the tree is hashed before and after).

Cases that need a trained model share one tiny diffusion model and one tiny VFL model (session fixtures);
a case that tampers with a model works on its own copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import assert_user_error

DIFF_TRAIN = ["diffusion", "train", "--data", "digits", "--recipe", "tiny8", "--steps", "2", "--device", "cpu", "--quiet"]
VFL_TINY = ["--size", "tiny", "--iterations", "2", "--batch-size", "16", "--device", "cpu", "--quiet"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors on a shared 2-core box
    yield
    torch.set_num_threads(threads)


def _run(argv: list[str]) -> int:
    from privgen.cli import main

    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@dataclass
class Env:
    root: Path        # shared inputs and models (session)
    tmp: Path         # this case's own folder
    diff: Path        # finished tiny diffusion run
    vfl: Path         # finished tiny VFL run (party files a.csv, b.csv)

    @property
    def parties(self) -> list[str]:
        return ["--party-file", str(self.root / "a.csv"), "--party-file", str(self.root / "b.csv"), "--id-column", "id"]

    def copy(self, model: Path, name: str = "model") -> Path:
        dst = self.tmp / name
        shutil.copytree(model, dst)
        return dst


def write_parties(folder: Path, n: int = 60) -> None:
    rng = np.random.default_rng(0)
    ids = np.arange(n)
    pd.DataFrame({"id": ids, "age": rng.integers(18, 80, n), "colour": rng.choice(["red", "green"], n)}
                 ).to_csv(folder / "a.csv", index=False)
    pd.DataFrame({"id": ids[::-1], "income": rng.normal(50, 10, n), "owner": rng.choice(["yes", "no"], n)}
                 ).to_csv(folder / "b.csv", index=False)


def write_bad_inputs(folder: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (20, 8, 8), dtype=np.uint8)
    y = np.arange(20) % 2
    np.savez(folder / "good.npz", x=x, y=y)
    data = (folder / "good.npz").read_bytes()
    (folder / "truncated.npz").write_bytes(data[: len(data) // 2])
    np.savez(folder / "empty.npz", x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, np.int64))
    (folder / "short-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00\x00")  # 3 dims announced, 2 bytes
    (folder / "short-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x00")
    df = pd.read_csv(folder / "a.csv")
    text = df.astype({"age": object})
    text.loc[3, "age"] = "forty"
    text.to_csv(folder / "a_text.csv", index=False)
    inf = pd.read_csv(folder / "b.csv")
    inf.loc[5, "income"] = np.inf
    inf.to_csv(folder / "b_inf.csv", index=False)
    table = df.merge(pd.read_csv(folder / "b.csv"), on="id").drop(columns="id")
    t = table.astype({"income": object})
    t.loc[7, "income"] = "n/a?"
    t.to_csv(folder / "table_text.csv", index=False)
    (folder / "afile.txt").write_text("not a directory\n")


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("bad-input")
    write_parties(root)
    write_bad_inputs(root)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    diff, vfl = root / "diff", root / "vfl"
    assert _run([*DIFF_TRAIN, "--out", diff]) == 0
    assert _run(["vfl", "train", "--party-file", root / "a.csv", "--party-file", root / "b.csv", "--id-column", "id",
                 "--out", vfl, *VFL_TINY]) == 0
    torch.set_num_threads(threads)
    return root, diff, vfl


def tree_hash(*roots: Path) -> dict[str, str]:
    """Every file and folder under the roots, with the content hash of each file."""
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                out[os.path.join(dirpath, d)] = "dir"
            for f in filenames:
                p = os.path.join(dirpath, f)
                out[p] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def flip_byte(path: Path, offset: int = -8) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    d = json.loads(path.read_text())
    change(d)
    path.write_text(json.dumps(d))


# --- the cases: (id, argv builder, fragment of the one-line message) -------------------------------------------

def _finished_diffusion_without_metrics(e: Env) -> list:
    run = e.copy(e.diff)
    (run / "metrics.json").unlink()
    shutil.rmtree(run / "unet")
    return [*DIFF_TRAIN, "--out", run]


def _finished_vfl_without_metrics(e: Env) -> list:
    run = e.copy(e.vfl)
    (run / "metrics.json").unlink()
    return ["vfl", "train", *e.parties, "--out", run, *VFL_TINY]


def _foreign(e: Env) -> Path:
    home = e.tmp / "home"
    (home / "src").mkdir(parents=True)
    (home / "notes.txt").write_text("keep me\n")
    (home / "src" / "main.py").write_text("print('hi')\n")
    return home


def _sample(model, *extra) -> list:
    return ["diffusion", "sample", "--model", model, "--classes", "0", "--n-per-class", "1", "--num-inference-steps", "2",
            "--device", "cpu", *extra]


def _generate(model, out, *extra) -> list:
    return ["vfl", "generate", "--model", model, "--n", "5", "--out", out, "--device", "cpu", *extra]


def _tampered_diff_config(change: Callable[[dict], None]) -> Callable[[Env], list]:
    def build(e: Env) -> list:
        run = e.copy(e.diff)
        edit_json(run / "config.json", change)
        return _sample(run, "--out", e.tmp / "g.png")
    return build


def _tampered_vfl(change: Callable[[Path], None]) -> Callable[[Env], list]:
    def build(e: Env) -> list:
        run = e.copy(e.vfl)
        change(run)
        return _generate(run, e.tmp / "s.csv")
    return build


def _unet_flipped(e: Env) -> list:
    run = e.copy(e.diff)
    flip_byte(run / "unet" / "diffusion_pytorch_model.safetensors")
    return _sample(run, "--out", e.tmp / "g.png")


def _checkpoint_flipped(e: Env) -> list:
    run = e.copy(e.diff)
    (run / "metrics.json").unlink()
    flip_byte(run / "checkpoint.safetensors")
    return [*DIFF_TRAIN[:-4], "4", "--device", "cpu", "--quiet", "--out", run]


D = DIFF_TRAIN
CASES: list[tuple[str, Callable[[Env], list], str]] = [
    # must fix 1: --overwrite deletes only privgen's own run directories
    ("overwrite-foreign-dir-diffusion", lambda e: [*D, "--out", _foreign(e), "--overwrite"], "not written by privgen"),
    ("overwrite-foreign-dir-vfl", lambda e: ["vfl", "train", *e.parties, "--out", _foreign(e), "--overwrite", *VFL_TINY],
     "nothing was deleted"),
    ("overwrite-foreign-dir-classifier", lambda e: ["classifier", "train", "--data", "digits", "--image-size", "8",
                                                    "--epochs", "1", "--out", _foreign(e), "--overwrite"],
     "not written by privgen"),
    ("overwrite-foreign-dir-unlearn", lambda e: ["unlearn", "run", "--model", e.diff, "--method", "ga", "--forget", "3",
                                                 "--steps", "1", "--out", _foreign(e), "--overwrite"],
     "not written by privgen"),
    # must fix 2: a finished run is refused, not re-run
    ("rerun-finished-diffusion", lambda e: [*D, "--out", e.copy(e.diff)], "already holds a finished run of 2 steps"),
    ("rerun-finished-diffusion-other-seed", lambda e: [*D, "--seed", "1", "--out", e.copy(e.diff)], "other options (seed)"),
    ("rerun-finished-vfl", lambda e: ["vfl", "train", *e.parties, "--out", e.copy(e.vfl), *VFL_TINY],
     "already holds a finished run of 2 iterations"),
    ("rerun-finished-vfl-other-lr", lambda e: ["vfl", "train", *e.parties, "--out", e.copy(e.vfl), *VFL_TINY,
                                               "--lr", "1e-3"], "other options (gan)"),
    ("resume-complete-checkpoint-diffusion", _finished_diffusion_without_metrics, "checkpoint of 2 steps already"),
    ("resume-complete-checkpoint-vfl", _finished_vfl_without_metrics, "checkpoint of 2 iterations already"),
    ("vfl-iterations-negative", lambda e: ["vfl", "train", *e.parties, "--out", e.tmp / "o", *VFL_TINY[:2],
                                           "--iterations", "-5"], "--iterations must be positive"),
    ("vfl-iterations-negative-on-finished", lambda e: ["vfl", "train", *e.parties, "--out", e.copy(e.vfl), *VFL_TINY[:2],
                                                       "--iterations", "-5"], "--iterations must be positive"),
    # silently wrong before
    ("diffusion-image-size-0", lambda e: [*D, "--image-size", "0", "--out", e.tmp / "o"], "--image-size must be a positive"),
    ("sample-guidance-nan", lambda e: _sample(e.diff, "--guidance-scale", "nan", "--out", e.tmp / "g.png"), "finite"),
    ("sample-guidance-inf", lambda e: _sample(e.diff, "--guidance-scale", "inf", "--out", e.tmp / "g.png"), "finite"),
    ("vfl-text-in-numeric-party-file", lambda e: ["vfl", "train", "--party-file", e.root / "a_text.csv", "--party-file",
                                                  e.root / "b.csv", "--id-column", "id", "--out", e.tmp / "o", *VFL_TINY],
     "column 'age' holds numbers but row 5"),
    ("vfl-text-in-numeric-table", lambda e: ["vfl", "train", "--data", e.root / "table_text.csv", "--out", e.tmp / "o",
                                             *VFL_TINY], "column 'income' holds numbers but row 9"),
    ("vfl-max-rows-0", lambda e: ["vfl", "train", *e.parties, "--max-rows", "0", "--out", e.tmp / "o", *VFL_TINY],
     "--max-rows must be positive"),
    ("vfl-max-rows-negative", lambda e: ["vfl", "train", *e.parties, "--max-rows", "-3", "--out", e.tmp / "o", *VFL_TINY],
     "--max-rows must be positive"),
    ("vfl-lambda-gp-negative", lambda e: ["vfl", "train", *e.parties, "--lambda-gp", "-1", "--out", e.tmp / "o",
                                          *VFL_TINY], "--lambda-gp must be >= 0"),
    ("vfl-lambda-gp-nan", lambda e: ["vfl", "train", *e.parties, "--lambda-gp", "nan", "--out", e.tmp / "o", *VFL_TINY],
     "--lambda-gp must be a finite"),
    ("vfl-lr-nan", lambda e: ["vfl", "train", *e.parties, "--lr", "nan", "--out", e.tmp / "o", *VFL_TINY], "--lr must be a finite"),
    ("vfl-lr-inf", lambda e: ["vfl", "train", *e.parties, "--lr", "inf", "--out", e.tmp / "o", *VFL_TINY], "--lr must be a finite"),
    ("unlearn-lr-nan", lambda e: ["unlearn", "run", "--model", e.diff, "--method", "ga", "--forget", "3", "--steps", "1",
                                  "--lr", "nan", "--out", e.tmp / "o"], "--lr must be a finite"),
    ("unlearn-option-nan", lambda e: ["unlearn", "run", "--model", e.diff, "--method", "salun", "--forget", "3", "--steps", "1",
                                      "--option", "alpha=nan", "--out", e.tmp / "o"], "must be a finite"),
    ("attack-lr-inf", lambda e: ["attack", "relearn", "--model", e.diff, "--aux", "retain", "--steps", "1", "--lr", "inf",
                                 "--out", e.tmp / "o"], "--lr must be a finite"),
    ("bench-unlearning-attack-lr-nan", lambda e: ["bench", "unlearning", "--data", "digits", "--recipe", "tiny8",
                                                  "--attack-lr", "nan", "--out", e.tmp / "o"], "--attack-lr must be a finite"),
    ("bench-unlearning-unlearn-lr-inf", lambda e: ["bench", "unlearning", "--data", "digits", "--recipe", "tiny8",
                                                   "--unlearn-lr", "inf", "--out", e.tmp / "o"], "--unlearn-lr must be a finite"),
    ("bench-unlearning-eval-steps-huge", lambda e: ["bench", "unlearning", "--data", "digits", "--recipe", "tiny8",
                                                    "--num-inference-steps", "5000", "--out", e.tmp / "o"], "exceeds the 1000 timesteps"),
    # tracebacks before
    ("npz-truncated-train", lambda e: [*D, "--data", e.root / "truncated.npz", "--out", e.tmp / "o"], "truncated.npz"),
    ("npz-truncated-show", lambda e: ["data", "show", e.root / "truncated.npz", "--out", e.tmp / "g.png"], "not a readable .npz"),
    ("npz-no-images", lambda e: ["data", "show", e.root / "empty.npz", "--out", e.tmp / "g.png"], "holds no images"),
    ("idx-short-header", lambda e: ["data", "show", e.root / "short-images-idx3-ubyte", "--out", e.tmp / "g.png"],
     "file is truncated"),
    ("image-size-10000", lambda e: [*D, "--image-size", "10000", "--out", e.tmp / "o"], "larger than 512"),
    ("image-size-10000-show", lambda e: ["data", "show", "digits", "--image-size", "10000", "--out", e.tmp / "g.png"],
     "larger than 512"),
    ("image-size-3", lambda e: [*D, "--image-size", "3", "--out", e.tmp / "o"], "multiple of 2"),
    ("image-size-not-divisible", lambda e: ["diffusion", "train", "--data", "digits", "--recipe", "cpu16",
                                            "--image-size", "10", "--steps", "1", "--out", e.tmp / "o"], "multiple of 4"),
    ("out-under-a-file", lambda e: [*D, "--out", e.root / "afile.txt" / "run"], "afile.txt"),
    ("sample-ddim-steps-too-many", lambda e: ["diffusion", "sample", "--model", e.diff, "--num-inference-steps", "5000",
                                              "--out", e.tmp / "g.png"], "exceeds the 1000 timesteps"),
    ("eval-ddim-steps-too-many", lambda e: ["eval", "generation", "--model", e.diff, "--num-inference-steps", "1001",
                                            "--out", e.tmp / "o"], "exceeds the 1000 timesteps"),
    ("sample-unknown-sampler", lambda e: ["diffusion", "sample", "--model", e.diff, "--sampler", "euler",
                                          "--out", e.tmp / "g.png"], "--sampler 'euler'"),
    ("bench-unknown-sampler", lambda e: ["bench", "unlearning", "--recipe", "tiny8", "--sampler", "euler",
                                         "--out", e.tmp / "o"], "--sampler 'euler'"),
    ("config-unknown-recipe", _tampered_diff_config(lambda d: d.update(recipe="nonexistent")), "'nonexistent'"),
    ("config-no-recipe", _tampered_diff_config(lambda d: d.pop("recipe")), "has no recipe"),
    ("csv-inf", lambda e: ["vfl", "train", "--party-file", e.root / "a.csv", "--party-file", e.root / "b_inf.csv",
                           "--id-column", "id", "--out", e.tmp / "o", *VFL_TINY], "column 'income' holds inf at row 7"),
    ("layout-tampered", _tampered_vfl(lambda r: edit_json(r / "layout.json", lambda d: d.update(kind="sound"))),
     "layout.json does not match the SHA-256"),
    ("layout-tampered-no-checksum", _tampered_vfl(lambda r: ((r / "checksums.json").unlink(),
                                                              edit_json(r / "layout.json", lambda d: d.pop("encoders")))),
     "layout.json does not describe"),
    ("config-missing-sizes", _tampered_vfl(lambda r: edit_json(r / "config.json", lambda d: d.pop("sizes"))),
     "lacks the model's sizes"),
    ("bench-diffusion-out-is-file", lambda e: ["bench", "diffusion", "--recipe", "tiny8", "--quick", "--device", "cpu",
                                               "--out", e.root / "afile.txt"], "is a file"),
    # integrity: flipped bytes are detected by the recorded SHA-256
    ("unet-flipped-byte", _unet_flipped, "does not match the SHA-256"),
    ("checkpoint-flipped-byte", _checkpoint_flipped, "does not match the SHA-256"),
    ("vfl-weights-flipped-byte", _tampered_vfl(lambda r: flip_byte(r / "party1.gen.safetensors")),
     "does not match the SHA-256"),
    # a sample of the cases that already behaved (kept so they stay that way)
    ("unknown-dataset", lambda e: [*D, "--data", "nosuchdata", "--out", e.tmp / "o"], "unknown dataset"),
    ("unknown-recipe", lambda e: ["diffusion", "train", "--recipe", "huge", "--out", e.tmp / "o"], "unknown recipe"),
    ("steps-0", lambda e: [*D[:-4], "0", "--out", e.tmp / "o"], "--steps must be positive"),
    ("sample-n-0", lambda e: _sample(e.diff, "--n-per-class", "0", "--out", e.tmp / "g.png"), "--n-per-class"),
    ("sample-guidance-negative", lambda e: _sample(e.diff, "--guidance-scale", "-1", "--out", e.tmp / "g.png"), ">= 0"),
    ("sample-out-not-png", lambda e: _sample(e.diff, "--out", e.tmp / "g.jpg"), ".png"),
    ("sample-unknown-class", lambda e: ["diffusion", "sample", "--model", e.diff, "--classes", "12", "--n-per-class", "1",
                                        "--num-inference-steps", "2", "--out", e.tmp / "g.png"], "12"),
    ("sample-missing-model", lambda e: _sample(e.tmp / "nothing", "--out", e.tmp / "g.png"), "does not exist"),
    ("sample-not-a-run", lambda e: _sample(e.root, "--out", e.tmp / "g.png"), "not a privgen run"),
    ("out-is-foreign-dir", lambda e: [*D, "--out", _foreign(e)], "not a privgen run directory"),
    ("out-is-file", lambda e: [*D, "--out", e.root / "afile.txt"], "is a file"),
    ("out-holds-other-kind", lambda e: ["vfl", "train", *e.parties, "--out", e.copy(e.diff), *VFL_TINY],
     "holds a 'diffusion' run"),
    ("vfl-unknown-size", lambda e: ["vfl", "train", *e.parties, "--size", "huge", "--out", e.tmp / "o"], "--size"),
    ("vfl-batch-1", lambda e: ["vfl", "train", *e.parties, "--out", e.tmp / "o", *VFL_TINY, "--batch-size", "1"],
     "--batch-size must be at least 2"),
    ("vfl-data-and-party-files", lambda e: ["vfl", "train", "--data", "wine", *e.parties, "--out", e.tmp / "o", *VFL_TINY],
     "not both"),
    ("vfl-no-id-column", lambda e: ["vfl", "train", "--party-file", e.root / "a.csv", "--party-file", e.root / "b.csv",
                                    "--id-column", "nope", "--out", e.tmp / "o", *VFL_TINY], "no ID column"),
    ("vfl-unknown-model", lambda e: ["vfl", "train", *e.parties, "--model", "bigan", "--out", e.tmp / "o", *VFL_TINY],
     "unknown model"),
    ("vfl-generate-n-0", lambda e: ["vfl", "generate", "--model", e.vfl, "--n", "0", "--out", e.tmp / "s.csv"], "--n"),
    ("vfl-generate-bad-where", lambda e: _generate(e.vfl, e.tmp / "s.csv", "--where", "nocol=1"), "nocol"),
    ("eval-synthetic-n-5", lambda e: ["eval", "synthetic", "--model", e.vfl, "--n", "5", "--out", e.tmp / "o"], "--n"),
    ("unlearn-unknown-method", lambda e: ["unlearn", "run", "--model", e.diff, "--method", "forgetall", "--forget", "3",
                                          "--out", e.tmp / "o"], "forgetall"),
    ("unlearn-missing-args", lambda e: ["unlearn", "run", "--model", e.diff], "missing"),
    ("attack-unknown-aux", lambda e: ["attack", "relearn", "--model", e.diff, "--aux", "forum", "--steps", "1",
                                      "--out", e.tmp / "o"], "forum"),
    ("classifier-epochs-0", lambda e: ["classifier", "train", "--epochs", "0", "--out", e.tmp / "o"], "--epochs"),
    ("data-show-per-class-0", lambda e: ["data", "show", "digits", "--n-per-class", "0", "--out", e.tmp / "g.png"],
     "--n-per-class"),
]

# Every command with a --device option refuses a device it cannot use before doing anything.
DEVICE_COMMANDS: list[tuple[str, Callable[[Env], list]]] = [
    ("diffusion-train", lambda e: [*D[:-3], "--out", e.tmp / "o"]),
    ("diffusion-sample", lambda e: ["diffusion", "sample", "--model", e.diff, "--out", e.tmp / "g.png"]),
    ("classifier-train", lambda e: ["classifier", "train", "--data", "digits", "--out", e.tmp / "o"]),
    ("eval-generation", lambda e: ["eval", "generation", "--model", e.diff, "--out", e.tmp / "o"]),
    ("eval-synthetic", lambda e: ["eval", "synthetic", "--model", e.vfl, "--out", e.tmp / "o"]),
    ("unlearn", lambda e: ["unlearn", "run", "--model", e.diff, "--method", "ga", "--forget", "3", "--out", e.tmp / "o"]),
    ("attack-relearn", lambda e: ["attack", "relearn", "--model", e.diff, "--aux", "retain", "--steps", "1",
                                  "--out", e.tmp / "o"]),
    ("vfl-train", lambda e: ["vfl", "train", *e.parties, "--out", e.tmp / "o"]),
    ("vfl-generate", lambda e: ["vfl", "generate", "--model", e.vfl, "--out", e.tmp / "s.csv"]),
    ("bench-diffusion", lambda e: ["bench", "diffusion", "--out", e.tmp / "o"]),
    ("bench-unlearning", lambda e: ["bench", "unlearning", "--out", e.tmp / "o"]),
    ("bench-vfl", lambda e: ["bench", "vfl", "--out", e.tmp / "o"]),
]
CASES += [(f"device-bogus-{name}", (lambda b: lambda e: [*b(e), "--device", "tpu"])(build), "unknown device 'tpu'")
          for name, build in DEVICE_COMMANDS]


@pytest.fixture
def env(shared, tmp_path) -> Env:
    root, diff, vfl = shared
    return Env(root, tmp_path, diff, vfl)


@pytest.mark.parametrize("build,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(build, fragment, env, cli) -> None:
    argv = build(env)
    before = tree_hash(env.root, env.tmp)
    result = cli(*argv)
    assert_user_error(result, fragment)
    assert tree_hash(env.root, env.tmp) == before, "a refused command changed files"
