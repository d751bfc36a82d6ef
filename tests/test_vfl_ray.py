"""Real parties on Ray (privgen.vfl.ray_transport): same results as in-process, named failures, resume,
validation on receipt, and no row or ID in any message. One local Ray instance for the whole module."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_user_error

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'privgen[ray]' (make test installs it)")
pytest.importorskip("private_set_intersection.python", reason="openmined-psi is not installed: pip install 'privgen[ray]'")

from privgen.errors import UserError  # noqa: E402
from privgen.runs import load_tensors  # noqa: E402
from privgen.vfl.config import GanConfig  # noqa: E402
from privgen.vfl.messages import MessageError  # noqa: E402
from privgen.vfl.nets import SIZE_PRESETS  # noqa: E402
from privgen.vfl.publish import sample_table  # noqa: E402
from privgen.vfl.ray_run import FAULT_ENV, generate_ray  # noqa: E402
from privgen.vfl.ray_transport import RayVFLGAN, start_workers  # noqa: E402
from privgen.vfl.remote import PartyWorker  # noqa: E402
from privgen.vfl.run import train_vfl_run  # noqa: E402
from privgen.vfl.sources import data_spec, load_vertical  # noqa: E402
from privgen.vfl.store import load_model  # noqa: E402
from privgen.vfl.trainer import Schedule, run_iteration  # noqa: E402
from privgen.vfl.transport import InProcessTransport  # noqa: E402

TINY, CFG = SIZE_PRESETS["tiny"], GanConfig(batch_size=32)
SPEC = data_spec("adult", 3, max_rows=300)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray instance (4 logical CPUs: 3 parties + the driver) for every test here, then shut down."""
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    torch.set_num_threads(1)  # the actors run one thread each; the in-process runs must do the same arithmetic
    yield
    ray.shutdown()


def _train(out, transport: str = "inprocess", iterations: int = 4, **kw):
    rng = {} if transport == "ray" else {"rng": "party"}
    return train_vfl_run(SPEC, "vflgan", out, 0, None, iterations, TINY, CFG, "cpu", quiet=True, transport=transport,
                         **rng, **kw)


@pytest.fixture(scope="module")
def inprocess_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("inproc") / "run", iterations=6)


def test_three_ray_parties_publish_what_the_inprocess_run_publishes(tmp_path, inprocess_run) -> None:
    run = _train(tmp_path / "ray", "ray", iterations=6)
    model, layout, _ = load_model(inprocess_run.path)
    expected = sample_table(model, layout, 200, 5)
    published = generate_ray(run.path, 200, 5, None, [])
    pd.testing.assert_frame_equal(published, expected)
    # each party's weights are where it lives, and equal the in-process party's
    for k in (1, 2, 3):
        got = load_tensors(run.path / "parties" / f"party{k}" / f"party{k}.gen.safetensors")
        want = load_tensors(inprocess_run.path / f"party{k}.gen.safetensors")
        assert all(torch.equal(got[n], want[n]) for n in want)
    m = run.metrics
    assert m["bytes_per_iteration"] == inprocess_run.metrics["bytes_per_iteration"] == m["expected_bytes"]["iteration"]
    per_party = m["bytes_per_party_per_iteration"]
    assert set(per_party) == {"party1", "party2", "party3"}
    assert sum(p["data_sent"] + p["data_received"] for p in per_party.values()) == m["expected_bytes"]["iteration"]
    assert m["message_kinds"] == ["control", "feature_grad", "features"]
    assert len({h["pid"] for h in m["party_hosts"]}) == 3  # three processes


def test_a_killed_party_is_named_and_the_same_command_resumes_to_the_same_result(tmp_path, monkeypatch,
                                                                                inprocess_run) -> None:
    out = tmp_path / "ray"
    monkeypatch.setenv(FAULT_ENV, "party2@5")
    with pytest.raises(UserError, match=r"party2 died during (a critic|the generator) step of iteration 5 .*last checkpoint \(iteration 4\)"):
        _train(out, "ray", iterations=6, checkpoint_every=2)
    monkeypatch.delenv(FAULT_ENV)
    assert not (out / "metrics.json").exists()
    run = _train(out, "ray", iterations=6, checkpoint_every=2)
    assert run.metrics["resumed_from_iteration"] == 4
    for k in (1, 2, 3):
        for part in ("gen", "bottom", "head"):
            got = load_tensors(out / "parties" / f"party{k}" / f"party{k}.{part}.safetensors")
            want = load_tensors(inprocess_run.path / f"party{k}.{part}.safetensors")
            assert all(torch.equal(got[n], want[n]) for n in want), (k, part)
    got, want = load_tensors(out / "server.critic.safetensors"), load_tensors(inprocess_run.path / "server.critic.safetensors")
    assert all(torch.equal(got[n], want[n]) for n in want)


ray.cloudpickle.register_pickle_by_value(__import__(__name__))  # actors import this module's worker classes by value


class NaNWorker(PartyWorker):
    """A party whose features turn NaN at its third critic step."""

    calls = 0

    def critic_forward(self, idx, z_seed, alpha):
        feats = super().critic_forward(idx, z_seed, alpha)
        NaNWorker.calls += 1
        if NaNWorker.calls >= 3:
            feats[1][0, 0] = float("nan")
        return feats


def _model(worker_cls=PartyWorker, transport=None):
    workers = start_workers(SPEC, "/nonexistent-not-written", 0, 3, worker_cls=worker_cls)
    dims = [p["dim"] for p in ray.get([w.prepare.remote() for w in workers if ray.get(w.open.remote()) or True])]
    return RayVFLGAN(workers, dims, TINY, CFG, 0, transport), workers


def test_a_malformed_message_is_rejected_naming_the_party_and_the_message() -> None:
    model, workers = _model(NaNWorker)
    sched = Schedule(240, CFG.batch_size, 0)
    with pytest.raises(MessageError, match=r"message 'party1' -> 'server' \(kind 'features', tag 'fake'\) rejected: "
                                           r"payload holds 1 NaN"):
        for _ in range(2):
            run_iteration(model, sched)
    # and a party rejects what it receives: a gradient of the wrong shape
    good = PartyWorker(0, SPEC, "/nonexistent", 0)
    good.open(), good.prepare(), good.build(TINY.to_json(), CFG.to_json())
    good.critic_forward(torch.arange(32), torch.tensor([7]), torch.rand(32, 1))
    with pytest.raises(MessageError, match=r"'server' -> 'party1' \(kind 'feature_grad', tag 'real'\) rejected: gradient shape"):
        good.critic_backward([torch.zeros(31, TINY.feature_dim)] * 3)
    for w in workers:
        ray.kill(w)


class Recording(InProcessTransport):
    """Keeps every delivered payload serialised the way Ray ships it (pickle protocol 5)."""

    def __init__(self) -> None:
        super().__init__()
        self.blobs: list[bytes] = []

    def send(self, sender, receiver, kind, tag, tensor):
        out = super().send(sender, receiver, kind, tag, tensor)
        self.blobs.append(pickle.dumps(out, protocol=5))
        return out


def test_no_raw_row_appears_in_any_serialised_message() -> None:
    t = Recording()
    model, workers = _model(transport=t)
    sched = Schedule(240, CFG.batch_size, 0)
    for _ in range(2):
        run_iteration(model, sched)
    assert {r.kind for r in t.records} == {"control", "features", "feature_grad"}
    blob = b"".join(t.blobs)
    data = load_vertical(SPEC)
    rows = 0
    for part in data.train:  # every party's encoded training rows, and their raw values
        for row in np.asarray(part, dtype=np.float32):
            assert row.tobytes() not in blob
            rows += 1
    raw = data.raw_train
    for col in ("fnlwgt", "capital_gain"):
        for v in raw[col].to_numpy()[:240]:
            if v > 10_000:  # distinctive raw numbers, as the int64 / float64 / float32 bytes a careless party would send
                for b in (np.int64(v).tobytes(), np.float64(v).tobytes(), np.float32(v).tobytes()):
                    assert b not in blob, (col, v)
    assert rows == 3 * len(data.train[0])
    for w in workers:
        ray.kill(w)


def _party_files(root, shared=60, extra=15):
    rng = np.random.default_rng(0)
    ids = [f"cust-{i:05d}" for i in rng.choice(90_000, shared + 2 * extra, replace=False)]
    common, a_only, b_only = ids[:shared], ids[shared:shared + extra], ids[shared + extra:]
    val = {i: rng.normal() for i in ids}
    a = pd.DataFrame({"id": common + a_only, "x": [val[i] for i in common + a_only]})
    a["colour"] = np.where(a["x"] > 0, "red", "blue")
    b = pd.DataFrame({"id": common + b_only, "y": [2 * val[i] + 0.01 * rng.normal() for i in common + b_only]})
    a.sample(frac=1, random_state=1).to_csv(root / "a.csv", index=False)
    b.sample(frac=1, random_state=2).to_csv(root / "b.csv", index=False)
    return [str(root / "a.csv"), str(root / "b.csv")], common


def test_party_files_are_aligned_privately_and_trained_on(tmp_path) -> None:
    files, common = _party_files(tmp_path)
    spec = data_spec(party_files=files, id_column="id")
    run = train_vfl_run(spec, "vflgan", tmp_path / "run", 0, None, 2, TINY, GanConfig(batch_size=16), "cpu",
                        quiet=True, transport="ray")
    assert run.metrics["aligned_rows"] == len(common)
    assert run.metrics["n_train"] == len(common) - round(0.2 * len(common))
    for p in (tmp_path / "run").rglob("*.json"):  # no ID is written anywhere in the run
        assert "cust-" not in p.read_text()


def test_party_workers_hold_the_same_individual_in_each_row(tmp_path) -> None:
    """Through the Ray path: after PSI, row i of party A and row i of party B describe the same person
    (y = 2x + noise links them), whatever order each file had."""
    files, common = _party_files(tmp_path)
    spec = data_spec(party_files=files, id_column="id")
    from privgen.vfl.psi import align

    workers = start_workers(spec, str(tmp_path), 0, 2)
    ray.get([w.open.remote() for w in workers])
    assert align(2, lambda k, m, *a: workers[k].psi_call.remote(m, *a), ray.get) == len(common)
    ray.get([w.prepare.remote() for w in workers])
    x = ray.get(workers[0].__ray_call__.remote(lambda self: self.data.x))
    y = ray.get(workers[1].__ray_call__.remote(lambda self: self.data.x))
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] > 0.99
    for w in workers:
        ray.kill(w)


# ---- bad input under --transport ray: one line, exit 2, nothing written ----

def _cli_train(cli, out, *args):
    return cli("vfl", "train", *args, "--transport", "ray", "--model-type", "vflgan", "--size", "tiny", "--iterations", "2",
               "--batch-size", "16", "--out", out, "--quiet")


def _write(path, df):
    df.to_csv(path, index=False)
    return str(path)


def test_bad_party_files_are_refused_before_anything_is_written(tmp_path, cli) -> None:
    files, common = _party_files(tmp_path)
    b = pd.read_csv(files[1])
    out = tmp_path / "out"
    cases = [
        ([files[0], _write(tmp_path / "noid.csv", b.drop(columns=["id"]))], ("noid.csv has no ID column 'id'",)),
        ([files[0], _write(tmp_path / "dup.csv", pd.concat([b, b.iloc[:3]]))], ("party2: dup.csv has 3 duplicate IDs",)),
        ([files[0], _write(tmp_path / "noval.csv", b.assign(id=b["id"].where(b.index > 1)))],
         ("noval.csv has 2 rows without an ID in 'id'",)),
        ([files[0], _write(tmp_path / "few.csv", b[~b["id"].isin(common[5:])])],
         ("only 5 IDs are shared by all 2 parties", "which ones is not shown")),
        ([files[0], _write(tmp_path / "clash.csv", b.rename(columns={"y": "x"}))],
         ("column 'x' is present in a.csv (party 1) and in clash.csv (party 2)",)),
        ([files[0], _write(tmp_path / "num.csv", b.assign(id=np.arange(len(b))))],  # as in-process: 7 is not "7"
         ("numbers in some files and text in others", "num.csv ('id'): numbers")),
    ]
    for pair, fragments in cases:
        args = [a for f in pair for a in ("--party-file", f)]
        r = _cli_train(cli, out, *args, "--id-column", "id")
        assert_user_error(r, *fragments)
        assert "cust-" not in r.err  # no ID is ever shown
        assert not out.exists()


def test_an_unknown_party_resource_fails_fast(tmp_path, cli) -> None:
    r = _cli_train(cli, tmp_path / "out", "--data", "adult", "--parties", "2", "--party-resource", "bank",
                   "--party-resource", "hospital")
    assert_user_error(r, "--party-resource bank, hospital: no node of the Ray cluster advertises it")
    assert not (tmp_path / "out").exists()
    r = _cli_train(cli, tmp_path / "out", "--data", "adult", "--parties", "3", "--party-resource", "bank")
    assert_user_error(r, "give --party-resource once per party: 1 given for 3 parties")


def test_ray_missing_names_the_extra(tmp_path, cli, monkeypatch) -> None:
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` raises ImportError
    r = _cli_train(cli, tmp_path / "out", "--data", "adult", "--parties", "2")
    assert_user_error(r, "--transport ray needs Ray: pip install 'privgen[ray]'")
    assert not (tmp_path / "out").exists()
