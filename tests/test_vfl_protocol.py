"""VFL message flow, M = 3 parties, shared-α gradient penalties, byte accounting (tiny networks, CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from privgen.data.tabular import Span
from privgen.vfl import party as party_mod
from privgen.vfl.config import GanConfig
from privgen.vfl.losses import gradient_penalty, interpolate
from privgen.vfl.models import MODELS, VFLGAN
from privgen.vfl.nets import SIZE_PRESETS
from privgen.vfl.partition import ImageLayout, image_bands
from privgen.vfl.run import expected_bytes
from privgen.vfl.trainer import Schedule, run_iteration
from privgen.vfl.transport import KINDS

TINY = SIZE_PRESETS["tiny"]
CFG = GanConfig(batch_size=8)


def tiny_parts(dims: list[int], n: int = 40, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, d, generator=g) * 2 - 1 for d in dims]


def tanh_spans(dims: list[int]) -> list[list[Span]]:
    return [[Span(0, d, "tanh")] for d in dims]


def test_message_flow_only_features_and_gradients_of_agreed_shapes() -> None:
    dims = [11, 13]  # column counts differ from the batch size and the feature width on purpose
    torch.manual_seed(0)
    model = VFLGAN(tiny_parts(dims), tanh_spans(dims), TINY, CFG)
    run_iteration(model, Schedule(40, CFG.batch_size, 0))
    records = model.transport.records
    assert {r.kind for r in records} <= set(KINDS)
    b, m = CFG.batch_size, TINY.feature_dim
    for r in records:
        if r.kind in ("features", "feature_grad"):
            assert r.shape == (b, m), r
        else:
            assert r.tag in ("rows", "z_seed", "alpha") and r.shape in ((b,), (1,), (b, 1)), r
        assert not any(d in r.shape for d in dims), f"a tensor with a party's column count crossed: {r}"
    # each party sends real/fake/interp features and gets three gradients back per critic step
    step1 = [r for r in records if r.step == 1]
    for p in ("party1", "party2"):
        assert sorted(r.tag for r in step1 if r.sender == p) == ["fake", "interp", "real"]
        assert sorted(r.tag for r in step1 if r.receiver == p and r.kind == "feature_grad") == ["fake", "interp", "real"]
    exp = expected_bytes("vflgan", dims, TINY, CFG)
    assert model.transport.step_bytes(1) == exp["critic_step"]
    assert model.transport.step_bytes(CFG.n_critic + 1) == exp["generator_step"]
    total = model.transport.bytes_by_kind["features"] + model.transport.bytes_by_kind["feature_grad"]
    assert total == exp["iteration"]


def test_transport_cuts_the_graph() -> None:
    from privgen.vfl.transport import InProcessTransport

    t = InProcessTransport()
    x = torch.ones(2, 3, requires_grad=True)
    y = t.send("a", "b", "features", "real", x * 2)
    assert y.grad_fn is None and not y.requires_grad
    with pytest.raises(ValueError):
        t.send("a", "b", "rows", "raw", x)


def test_gradient_penalty_uses_one_alpha_per_row_shared_by_all_parties(monkeypatch) -> None:
    seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def spy(real, fake, alpha):
        seen.append((real, fake, alpha.clone()))
        return interpolate(real, fake, alpha)

    monkeypatch.setattr(party_mod, "interpolate", spy)
    dims = [5, 6, 7]
    model = VFLGAN(tiny_parts(dims), tanh_spans(dims), TINY, CFG)
    alpha = torch.rand(CFG.batch_size, 1)
    model.critic_step(torch.arange(CFG.batch_size), 123, alpha)
    assert len(seen) == 3
    for real, fake, a in seen:
        assert a.shape == (CFG.batch_size, 1)
        assert torch.equal(a, alpha)
    # the server's interpolated features are exactly each party's D_Ck at alpha*real + (1-alpha)*fake,
    # i.e. one consistent interpolated row across parties
    assert len({tuple(a.flatten().tolist()) for _, _, a in seen}) == 1


def test_gradient_penalty_known_value() -> None:
    w = torch.tensor([[3.0, 4.0]])
    x = torch.randn(5, 2, requires_grad=True)
    (gp,) = gradient_penalty(x @ w.T, [x])
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)


@pytest.mark.parametrize("name", list(MODELS))
def test_three_parties_train_and_sample(name: str) -> None:
    layout = ImageLayout((1, 6, 4), image_bands(6, 3))
    assert layout.bands == [(0, 2), (2, 4), (4, 6)]
    x = np.random.default_rng(0).uniform(-1, 1, (40, 1, 6, 4)).astype(np.float32)
    parts = [torch.from_numpy(p) for p in layout.split(x)]
    assert np.array_equal(layout.join([p.numpy() for p in parts]), x)
    torch.manual_seed(0)
    model = MODELS[name](parts, layout.spans(), TINY, CFG)
    sched = Schedule(40, CFG.batch_size, 0)
    for _ in range(2):
        run_iteration(model, sched)
    out = model.sample(12, seed=1)
    assert [o.shape for o in out] == [(12, 8)] * 3
    assert layout.join(out).shape == (12, 1, 6, 4)
    assert all(np.isfinite(o).all() for o in out)
    if name == "vflgan":
        assert len({r.sender for r in model.transport.records if r.kind == "features"}) == 3


def test_same_seed_same_samples() -> None:
    dims = [4, 4]
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = VFLGAN(tiny_parts(dims), tanh_spans(dims), TINY, CFG)
        run_iteration(model, Schedule(40, CFG.batch_size, 0))
        outs.append(model.sample(5, seed=3))
    assert all(np.array_equal(a, b) for a, b in zip(*outs))
