"""The sound DP mode's guarantee as shipped: secret randomness, no batch coupling through the generator,
empty batches, and a server that sees only joint norms."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from privgen.data.tabular import Span
from privgen.privacy import secagg
from privgen.privacy.config import DPConfig
from privgen.vfl.config import GanConfig
from privgen.vfl.models import VFLGAN, Centralized
from privgen.vfl.nets import SIZE_PRESETS
from privgen.vfl.trainer import PoissonSchedule, SubsetSchedule
from privgen.audit.planted import SeededSource

TINY = SIZE_PRESETS["tiny"]
def _adult(*extra, batch: int = 16, seed: int = 0) -> list[str]:
    return ["vfl", "train", "--data", "adult", "--parties", "3", "--size", "tiny", "--max-rows", "300",
            "--batch-size", str(batch), "--device", "cpu", "--quiet", "--seed", str(seed), *extra]


def _weights(run) -> dict[str, torch.Tensor]:
    out = {}
    for f in sorted(run.glob("*.safetensors")):
        if f.name != "checkpoint.safetensors":
            out.update({f"{f.name}:{k}": v for k, v in load_file(f).items()})
    return out


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_sound_runs_draw_different_noise_and_masks_and_non_dp_runs_stay_identical(tmp_path, cli) -> None:
    for name, extra in (("s1", ["--dp", "sound", "--sigma", "1"]), ("s2", ["--dp", "sound", "--sigma", "1"]),
                        ("n1", []), ("n2", [])):
        r = cli(*_adult("--iterations", "3", *extra, "--out", tmp_path / name))
        assert r.code == 0, r.err
    s1, s2, n1, n2 = (_weights(tmp_path / d) for d in ("s1", "s2", "n1", "n2"))
    assert not _same(s1, s2)
    assert _same(n1, n2)
    # a third run from the first one's stored config (seed included) cannot rebuild its published weights
    cfg = json.loads((tmp_path / "s1" / "config.json").read_text())
    assert "seed" not in cfg["dp"]
    r = cli(*_adult("--iterations", str(cfg["iterations"]), "--dp", "sound", "--sigma", str(cfg["dp"]["sigma"]),
                    "--out", tmp_path / "s3", seed=cfg["seed"]))
    assert r.code == 0, r.err
    assert not _same(s1, _weights(tmp_path / "s3"))
    # the sampling masks: two schedules with one seed pick different rows
    a, b = PoissonSchedule(1000, 50, seed=0), PoissonSchedule(1000, 50, seed=0)
    assert not torch.equal(a.rows(), b.rows())
    p, q = SubsetSchedule(1000, 50, seed=0), SubsetSchedule(1000, 50, seed=0)
    assert not torch.equal(p.rows(), q.rows())
    assert a.z_seed() == b.z_seed()  # the non-private draws stay reproducible,
    assert PoissonSchedule(1001, 50, seed=0).z_seed() == PoissonSchedule(1000, 50, seed=0).z_seed()  # and not N's


def _mixed_parts(n: int = 40) -> tuple[list[torch.Tensor], list[list[Span]]]:
    """Two parties, one with a categorical span (the generator's Gumbel noise is in the loop too)."""
    g = torch.Generator().manual_seed(0)
    cat = torch.nn.functional.one_hot(torch.randint(3, (n,), generator=g), 3).float()
    return ([torch.cat([torch.randn(n, 2, generator=g), cat], 1), torch.randn(n, 3, generator=g)],
            [[Span(0, 2, "numeric"), Span(2, 5, "categorical")], [Span(0, 3, "numeric")]])


def _unnoised_update(model, idx: torch.Tensor, alpha: torch.Tensor, partners: torch.Tensor) -> dict[str, torch.Tensor]:
    """The critic update's gradient before noise (σ = 0) and before the optimiser step, times B."""
    for opt in model.optimizers().values():
        opt.step = lambda *a, **k: None  # type: ignore[method-assign]
    torch.manual_seed(7)  # the generator's Gumbel noise: the same draws in both runs
    model.critic_step(idx, 11, alpha, partners=partners)
    out = {}
    for name, module in model.modules().items():
        if not name.endswith(".gen"):
            out.update({f"{name}.{k}": p.grad.clone() * model.dp.expected_batch for k, p in module.named_parameters()})
    return out


@pytest.mark.parametrize("model_cls", [VFLGAN, Centralized])
def test_adding_the_target_moves_the_unnoised_update_by_at_most_the_clip_norm(model_cls) -> None:
    """Add/remove adjacency with the secret draws held fixed per row: the step with the target row differs
    from the step without it by the target's own clipped term only, so by at most C jointly over every
    critic part. The generator runs in the loop (BatchNorm in train mode, Gumbel noise): its batch is B
    latents whatever was sampled, so the fake term and every other row's interpolation partner stay put."""
    clip, big_b = 0.05, 8
    parts, spans = _mixed_parts()
    dp = DPConfig("sound", sigma=0.0, clip=clip, sample_rate=0.2, expected_batch=big_b)
    torch.manual_seed(0)
    base = model_cls(parts, spans, TINY, GanConfig(batch_size=big_b), dp=dp)
    with_target = copy.deepcopy(base)
    src = SeededSource(3)
    alpha, partners = src.uniform(40).float().unsqueeze(1), src.integers(40, big_b)  # one draw per dataset row
    rows, target = torch.tensor([1, 4, 9, 17, 23, 30]), 12
    both = torch.sort(torch.cat([rows, torch.tensor([target])])).values
    a = _unnoised_update(base, rows, alpha[rows], partners[rows])
    b = _unnoised_update(with_target, both, alpha[both], partners[both])
    joint = float(sum((a[k] - b[k]).pow(2).sum() for k in a).sqrt())
    assert 0 < joint <= clip * (1 + 1e-4)
    # the same comparison without clipping moves by far more: the bound is the clipping's doing
    loose = DPConfig("sound", sigma=0.0, clip=1e9, sample_rate=0.2, expected_batch=big_b)
    torch.manual_seed(0)
    u0 = model_cls(parts, spans, TINY, GanConfig(batch_size=big_b), dp=loose)
    u1 = copy.deepcopy(u0)
    ua, ub = _unnoised_update(u0, rows, alpha[rows], partners[rows]), _unnoised_update(u1, both, alpha[both], partners[both])
    assert float(sum((ua[k] - ub[k]).pow(2).sum() for k in ua).sqrt()) > 10 * clip


def test_a_sound_run_at_batch_2_for_500_steps_completes_through_empty_batches(tmp_path, cli) -> None:
    out = tmp_path / "run"
    r = cli(*_adult("--iterations", "100", "--dp", "sound", "--sigma", "1", "--out", out, batch=2))
    assert r.code == 0, r.err
    m = json.loads((out / "metrics.json").read_text())
    assert m["critic_steps"] == 500 and m["dp"]["steps"] == 500  # q = 2/300: (1 − q)^300 ≈ 13% of steps are empty
    parts = [torch.from_numpy(np.zeros((240, 3), np.float32)), torch.from_numpy(np.zeros((240, 3), np.float32))]
    model = VFLGAN(parts, [[Span(0, 3, "numeric")]] * 2, TINY, GanConfig(batch_size=2),
                   dp=DPConfig("sound", 1.0, 1.0, 2 / 240, 2))
    model.critic_step(torch.zeros(0, dtype=torch.int64), 5, torch.zeros(0, 1), partners=torch.zeros(0, dtype=torch.int64))
    assert any(r.tag == "rows" and r.shape == (0,) for r in model.transport.records)
    assert all(torch.isfinite(p).all() for mod in model.modules().values() for p in mod.parameters())


def test_the_server_receives_no_per_party_per_row_norm(monkeypatch) -> None:
    """A spy on the transport: what reaches the server from a party is features, masked ring elements
    (uniform-looking 128-bit values, never the party's norms) and its public key; the masked shares sum
    exactly to the parties' total, which the server adds to its own to clip."""
    g = torch.Generator().manual_seed(1)
    parts = [torch.randn(200, 4, generator=g), torch.randn(200, 3, generator=g), torch.randn(200, 2, generator=g)]
    spans = [[Span(0, 4, "numeric")], [Span(0, 3, "numeric")], [Span(0, 2, "numeric")]]
    model = VFLGAN(parts, spans, TINY, GanConfig(batch_size=32), dp=DPConfig("sound", 1.0, 1.0, 32 / 200, 32))
    received: list[tuple[str, str, torch.Tensor]] = []
    plain: dict[str, torch.Tensor] = {}
    send = model.transport.send

    def spy(sender, receiver, kind, tag, tensor):
        out = send(sender, receiver, kind, tag, tensor)
        if receiver == "server":
            received.append((sender, tag, out))
        return out

    real_share = secagg.masked_share

    def record_plain(sq, own, keys, counter):
        plain[own] = sq.detach().double().clone()
        return real_share(sq, own, keys, counter)

    monkeypatch.setattr(model.transport, "send", spy)
    monkeypatch.setattr(secagg, "masked_share", record_plain)
    idx = torch.arange(0, 200, 5)
    model.critic_step(idx, 3, torch.rand(len(idx), 1, generator=g), partners=torch.randint(32, (len(idx),), generator=g))
    shares = {s: t for s, tag, t in received if tag == "sq_norms"}
    assert set(shares) == {"party1", "party2", "party3"} == set(plain)
    for name, share in shares.items():
        assert share.dtype == torch.int64 and share.shape == (len(idx), 2)
        decoded = torch.tensor([v / 2**secagg.FRACTION_BITS for v in secagg.from_limbs(share)], dtype=torch.float64)
        assert not torch.allclose(decoded, plain[name], rtol=1e-3)
        high = share[:, 1].double() / 2**63  # uniform on [-1, 1): far from a small fixed-point number's 0
        assert float(high.abs().mean()) > 0.25
    total = secagg.unmasked_sum(list(shares.values()))
    torch.testing.assert_close(total, sum(plain.values()), rtol=0, atol=1e-9)
    floats = [(s, tag, tuple(t.shape)) for s, tag, t in received if t.is_floating_point() and t.ndim == 1]
    assert not floats, f"a float vector reached the server: {floats}"
    keys = [t for _, tag, t in received if tag == "public_key"]
    assert len(keys) == 3 and all(k.dtype == torch.uint8 and k.shape == (32,) for k in keys)
