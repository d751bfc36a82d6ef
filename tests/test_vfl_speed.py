"""The step-time measurement (interleaved, with work and byte counts) and the speed-ups behind it: each one
must leave what is computed unchanged (same penalties, same generator update, same messages)."""

from __future__ import annotations

import copy

import pytest
import torch

from privgen.bench import vfl as bench
from privgen.data.tabular import Span
from privgen.vfl.config import GanConfig
from privgen.vfl.losses import critic_gap, feature_map_penalty, gradient_penalty, interpolate
from privgen.vfl.nets import SIZE_PRESETS
from privgen.vfl.party import Party
from privgen.vfl.run import expected_bytes

TINY = SIZE_PRESETS["tiny"]
CFG = GanConfig(batch_size=8)


def tiny_parts(dims: list[int], n: int = 40, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, d, generator=g) * 2 - 1 for d in dims]


def tanh_spans(dims: list[int]) -> list[list[Span]]:
    return [[Span(0, d, "tanh")] for d in dims]


def test_work_counter_known_macs() -> None:
    lin = torch.nn.Linear(5, 3)
    with bench.WorkCounter() as c:
        lin(torch.randn(4, 5))  # addmm: 4 x 5 x 3
        torch.randn(2, 3) @ torch.randn(3, 7)  # mm: 2 x 3 x 7
    assert c.macs == 4 * 5 * 3 + 2 * 3 * 7
    assert c.ops >= 4


def test_step_time_interleaves_and_counts_the_bytes_actually_sent(monkeypatch) -> None:
    order: list[str] = []
    real_iteration = bench.run_iteration

    def spy(model, sched):
        order.append(model.name)
        real_iteration(model, sched)

    monkeypatch.setattr(bench, "run_iteration", spy)
    dims = [11, 13]
    torch.manual_seed(0)
    st = bench.step_time(tiny_parts(dims), tanh_spans(dims), TINY, CFG, iterations=3)
    timed = order[:3 * (3 + bench.STEP_TIME_WARMUP)]
    assert timed == ["vflgan", "centralized", "vertigan"] * (3 + bench.STEP_TIME_WARMUP)
    t = st["iteration_time_s"]
    assert st["ratio_vflgan_over_centralized"] == pytest.approx(t["vflgan"] / t["centralized"])
    for other, r in st["vflgan_against"].items():
        w = st["work_per_iteration"]
        assert r["time_ratio"] == pytest.approx(t["vflgan"] / t[other])
        assert r["overhead"] == pytest.approx(r["time_ratio"] * w[other]["matmul_macs"] / w["vflgan"]["matmul_macs"])
    assert st["vflgan_bytes_per_iteration"] == expected_bytes("vflgan", dims, TINY, CFG)["iteration"]
    assert st["vflgan_bytes_per_iteration"] == st["vflgan_bytes_per_iteration_from_shapes"]
    assert st["work_per_iteration"]["centralized"]["bytes_sent"] == 0
    w = st["work_per_iteration"]
    assert st["macs_ratio"] == pytest.approx(w["vflgan"]["matmul_macs"] / w["centralized"]["matmul_macs"])
    assert w["vflgan"]["aten_ops"] > w["centralized"]["aten_ops"] > 0


def batched_local_critic(p: Party, idx: torch.Tensor, z: torch.Tensor, alpha: torch.Tensor):
    """The former formulation: real, fake and interpolated rows through D_Ck in one 3B batch."""
    real = p.x[idx]
    with torch.no_grad():
        fake = p.gen(z)
    x_hat = interpolate(real, fake, alpha).requires_grad_(True)
    feats = p.bottom(torch.cat([real, fake, x_hat]))
    b = len(idx)
    s_real, s_fake = p.head(feats[:2 * b]).split(b)
    f_hat = feats[2 * b:]
    gps = [feature_map_penalty(f_hat, x_hat), *gradient_penalty(p.head(f_hat), [f_hat])]
    loss = p.cfg.lambda_local * critic_gap(s_real, s_fake) + p.cfg.lambda_gp * sum(gps)
    return loss, [feats[:b], feats[b:2 * b], f_hat]


def test_interpolates_scored_apart_give_the_same_loss_features_and_gradients() -> None:
    torch.manual_seed(0)
    x = tiny_parts([9])[0]
    p = Party("p", x, tanh_spans([9])[0], TINY, CFG)
    ref = copy.deepcopy(p)
    idx, z, alpha = torch.arange(8), torch.randn(8, TINY.z_dim), torch.rand(8, 1)
    loss, feats = p.local_critic(idx, z, alpha)
    loss_ref, feats_ref = batched_local_critic(ref, idx, z, alpha)
    torch.testing.assert_close(loss, loss_ref)
    for f, f_ref in zip(feats, feats_ref):
        torch.testing.assert_close(f, f_ref)
    grads = [torch.randn_like(f) for f in feats]
    torch.autograd.backward([loss, *feats], [torch.ones_like(loss), *grads])
    torch.autograd.backward([loss_ref, *feats_ref], [torch.ones_like(loss_ref), *grads])
    for a, b in zip([*p.bottom.parameters(), *p.head.parameters()], [*ref.bottom.parameters(), *ref.head.parameters()]):
        torch.testing.assert_close(a.grad, b.grad)


def test_generator_backward_updates_g_as_a_full_backward_would_and_skips_critic_grads() -> None:
    torch.manual_seed(0)
    p = Party("p", tiny_parts([9])[0], tanh_spans([9])[0], TINY, CFG)
    ref = copy.deepcopy(p)
    z = torch.randn(8, TINY.z_dim)
    loss, _ = p.generator_forward(z)
    p.generator_backward([loss], [torch.ones_like(loss)])
    loss_ref, _ = ref.generator_forward(z)
    loss_ref.backward()
    ref.opt_g.step()
    assert all(q.grad is None for q in [*p.bottom.parameters(), *p.head.parameters()])
    for a, b in zip(p.gen.parameters(), ref.gen.parameters()):
        torch.testing.assert_close(a.grad, b.grad)
        torch.testing.assert_close(a, b)
