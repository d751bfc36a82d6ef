"""Issue 13 beyond the table: the three must-fix regressions, --overwrite moving the old run aside, full
disks and read-only folders, umask, non-finite training, VFL message validation, and --device auto."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat

import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_user_error
from test_bad_input import DIFF_TRAIN, VFL_TINY, shared, tree_hash  # noqa: F401  (shared: the session fixture)


pytestmark = pytest.mark.usefixtures("one_thread")


def parties(root) -> list:
    return ["--party-file", root / "a.csv", "--party-file", root / "b.csv", "--id-column", "id"]


# --- must fix 1: --overwrite -----------------------------------------------------------------------------------

def test_overwrite_refuses_a_foreign_directory_and_deletes_nothing(cli, tmp_path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("secret")
    before = tree_hash(tmp_path)
    assert_user_error(cli(*DIFF_TRAIN, "--out", home, "--overwrite"), "not written by privgen")
    assert tree_hash(tmp_path) == before


def test_overwrite_puts_the_old_run_back_when_the_new_one_fails(shared, cli, tmp_path, monkeypatch) -> None:
    _, diff, _ = shared
    run = tmp_path / "run"
    shutil.copytree(diff, run)
    before = tree_hash(tmp_path)

    def full_disk(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("privgen.runs.save_file", full_disk)  # the new run's first checkpoint cannot be written
    assert_user_error(cli(*DIFF_TRAIN, "--seed", "3", "--out", run, "--overwrite"), "No space left on device")
    assert tree_hash(tmp_path) == before, "the previous run was not restored"


def test_overwrite_replaces_a_privgen_run_and_drops_the_old_one(shared, cli, tmp_path) -> None:
    _, diff, _ = shared
    run = tmp_path / "run"
    shutil.copytree(diff, run)
    result = cli(*DIFF_TRAIN, "--seed", "3", "--out", run, "--overwrite")
    assert result.code == 0, result.err
    assert json.loads((run / "config.json").read_text())["seed"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "the replaced run was left aside"


# --- must fix 2: a finished run is not re-run --------------------------------------------------------------------

def test_rerunning_a_finished_diffusion_run_changes_nothing(shared, cli, tmp_path) -> None:
    _, diff, _ = shared
    run = tmp_path / "run"
    shutil.copytree(diff, run)
    before = tree_hash(run)
    assert_user_error(cli(*DIFF_TRAIN, "--out", run), "already holds a finished run of 2 steps", "--steps")
    assert tree_hash(run) == before
    assert json.loads((run / "metrics.json").read_text())["train_seconds"] > 0


def test_vfl_negative_iterations_writes_nothing(shared, cli, tmp_path) -> None:
    root, _, _ = shared
    out = tmp_path / "o"
    assert_user_error(cli("vfl", "train", *parties(root), "--out", out, *VFL_TINY[:2], "--iterations", "-5"),
                      "--iterations must be positive")
    assert not out.exists()


# --- must fix 3: --device auto everywhere ------------------------------------------------------------------------

def test_bench_vfl_with_default_device_auto(cli, tmp_path, monkeypatch) -> None:
    import privgen.bench.vfl as bench

    monkeypatch.setitem(bench.SCENARIO_SETS, "small", [bench.Scenario("wine", "wine", 2, 2, 40, "tiny")])
    result = cli("bench", "vfl", "--out", tmp_path / "b", "--iterations", "2", "--quiet")  # --device auto: the default
    assert result.code == 0, result.err
    assert (tmp_path / "b" / "metrics.json").is_file()


def test_cheap_commands_run_with_device_auto(shared, cli, tmp_path) -> None:
    root, diff, vfl = shared
    auto = ["--device", "auto"]
    runs = [
        [*DIFF_TRAIN[:-3], *auto, "--quiet", "--out", tmp_path / "d"],
        ["diffusion", "sample", "--model", diff, "--classes", "0", "--n-per-class", "1", "--num-inference-steps", "2", *auto,
         "--out", tmp_path / "g.png"],
        ["vfl", "train", *parties(root), *VFL_TINY[:-3], *auto, "--quiet", "--out", tmp_path / "v"],
        ["vfl", "generate", "--model", vfl, "--n", "5", *auto, "--out", tmp_path / "s.csv"],
        ["eval", "synthetic", "--model", vfl, "--n", "12", *auto, "--quiet", "--out", tmp_path / "e"],
        ["unlearn", "run", "--model", diff, "--method", "ga", "--forget", "3", "--steps", "1", "--batch-size", "4", *auto,
         "--quiet", "--out", tmp_path / "u"],
        ["attack", "relearn", "--model", diff, "--aux", "kshot", "--kshot-class", "0", "--k", "4", "--steps", "1", "--batch-size", "4", *auto,
         "--quiet", "--out", tmp_path / "a"],
    ]
    for argv in runs:
        result = cli(*argv)
        assert result.code == 0, (argv[:2], result.err)


# --- full disk, read-only folder, umask ---------------------------------------------------------------------------

def test_full_disk_at_a_checkpoint_keeps_the_last_good_one(cli, tmp_path, monkeypatch) -> None:
    import privgen.runs as runs

    real, calls = runs.save_file, []

    def fails_second_time(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "wb") as f:  # half a file, then the disk is full
                f.write(b"\0" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, path, metadata=metadata)

    monkeypatch.setattr(runs, "save_file", fails_second_time)
    out = tmp_path / "run"
    result = cli(*DIFF_TRAIN[:-4], "10", "--device", "cpu", "--quiet", "--out", out)  # checkpoints at 5 and 10
    assert_user_error(result, "checkpoint.safetensors", "No space left on device")
    ckpt = load_file(str(out / "checkpoint.safetensors"))
    assert int(ckpt["state.step"]) == 5
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    resumed = cli(*DIFF_TRAIN[:-4], "10", "--device", "cpu", "--quiet", "--out", out)  # checksum still matches
    assert resumed.code == 0, resumed.err


def test_read_only_output_folder_is_one_line(cli, tmp_path, monkeypatch) -> None:
    def read_only(path, *a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr("privgen.runs.os.open", read_only)
    assert_user_error(cli(*DIFF_TRAIN, "--out", tmp_path / "o"), "Read-only file system")


def test_written_files_honour_the_umask(tmp_path) -> None:
    from privgen.runs import atomic_write_json, save_tensors

    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "m.json", {"a": 1})
        save_tensors(tmp_path / "w.safetensors", {"w": torch.ones(2)})
    finally:
        os.umask(old)
    for name in ("m.json", "w.safetensors", "checksums.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


# --- non-finite training ------------------------------------------------------------------------------------------

def test_nan_loss_stops_diffusion_training_and_keeps_the_last_good_checkpoint(cli, tmp_path, monkeypatch) -> None:
    import privgen.diffusion.trainer as trainer

    real, calls = trainer.denoising_loss, []

    def poisoned(*a, **k):
        calls.append(1)
        loss = real(*a, **k)
        return loss * float("nan") if len(calls) == 7 else loss

    monkeypatch.setattr(trainer, "denoising_loss", poisoned)
    out = tmp_path / "run"
    assert_user_error(cli(*DIFF_TRAIN[:-4], "10", "--device", "cpu", "--quiet", "--out", out),
                      "diverged at step 7", "unet")
    ckpt = load_file(str(out / "checkpoint.safetensors"))
    assert int(ckpt["state.step"]) == 5
    assert all(torch.isfinite(v).all() for k, v in ckpt.items() if v.is_floating_point())


def test_nan_gradient_names_the_parameter() -> None:
    from privgen.diffusion import fit, get_recipe, init_state, new_model
    from privgen.errors import UserError

    rec = get_recipe("tiny8")
    model = new_model(rec, 2, ("a", "b"), 1)
    first = next(model.unet.parameters())
    first.register_hook(lambda g: g * float("nan"))
    state = init_state(model.unet, rec, 0)
    with pytest.raises(UserError, match=r"step 1: non-finite gradient in unet \(conv_in.weight\)"):
        fit(state, torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), rec, 3, 2, quiet=True)


# --- VFL messages ---------------------------------------------------------------------------------------------------

def _tiny_vflgan():
    from privgen.data.tabular import Span
    from privgen.vfl.config import GanConfig
    from privgen.vfl.models import MODELS
    from privgen.vfl.nets import SIZE_PRESETS
    from privgen.vfl.trainer import Schedule

    torch.manual_seed(0)
    parts = [torch.randn(32, 3), torch.randn(32, 2)]
    spans = [[Span(0, 3, "numeric")], [Span(0, 2, "numeric")]]
    cfg = GanConfig(batch_size=8)
    return MODELS["vflgan"](parts, spans, SIZE_PRESETS["tiny"], cfg), Schedule(32, 8, 0)


def test_nan_in_a_partys_features_stops_the_run_naming_the_message() -> None:
    from privgen.vfl.messages import MessageError
    from privgen.vfl.trainer import run_iteration

    model, sched = _tiny_vflgan()
    before = {k: v.clone() for k, v in model.modules()["party2.bottom"].state_dict().items()}
    model.parties[0].bottom.register_forward_hook(lambda m, i, o: o * float("nan"))
    with pytest.raises(MessageError, match=r"'party1' -> 'server' \(kind 'features', tag 'real'\).*NaN"):
        run_iteration(model, sched)
    after = model.modules()["party2.bottom"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "another party's weights were poisoned"


def test_nan_in_the_servers_feature_gradients_is_refused() -> None:
    from privgen.vfl.messages import MessageError
    from privgen.vfl.trainer import run_iteration

    model, sched = _tiny_vflgan()
    real = model.server.critic_update

    def poisoned(*a):
        grads, gap = real(*a)
        grads[1][0] = grads[1][0] * float("nan")
        return grads, gap

    model.server.critic_update = poisoned
    with pytest.raises(MessageError, match=r"'server' -> 'party2' \(kind 'feature_grad', tag 'real'\)"):
        run_iteration(model, sched)


@pytest.mark.parametrize("args,needle", [
    (("a", "b", "rows", "t", torch.ones(2)), "kind must be one of"),
    (("a", "a", "features", "t", torch.ones(2, 2)), "same"),
    (("a b", "s", "features", "t", torch.ones(2, 2)), "sender"),
    (("a", "s", "features", "t", torch.ones(2, 2, dtype=torch.int64)), "floating point"),
    (("a", "s", "features", "t", torch.ones(2, 0)), "shape"),  # zero rows are a valid (empty DP) batch; zero width is not
    (("a", "s", "features", "t", torch.ones(2, 2, 2)), "shape"),
    (("a", "s", "features", "t", torch.tensor([[1.0, float("inf")]])), "NaN/inf"),
    (("a", "s", "control", "t", [1, 2]), "not a tensor"),
])
def test_message_validator(args, needle) -> None:
    from privgen.vfl.messages import MessageError
    from privgen.vfl.transport import InProcessTransport

    with pytest.raises(MessageError, match=needle):
        InProcessTransport().send(*args)


def test_feature_gradient_must_match_the_features_shape() -> None:
    from privgen.vfl.messages import MessageError
    from privgen.vfl.transport import InProcessTransport

    t = InProcessTransport()
    t.send("party1", "server", "features", "real", torch.ones(4, 3))
    t.send("server", "party1", "feature_grad", "real", torch.ones(4, 3))
    with pytest.raises(MessageError, match="differs from the features' shape"):
        t.send("server", "party1", "feature_grad", "real", torch.ones(4, 2))
