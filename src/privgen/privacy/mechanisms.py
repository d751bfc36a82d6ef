"""The two DP mechanisms' maths, apart from any protocol or loop.

paper: clip the *batch* gradient of one weight matrix to C (Frobenius), add N(0, (2Cσ)²) per coordinate.
sound: per-example gradients of every critic parameter a real row touches (its real term and its
gradient-penalty term), one joint norm per example across owners, clip to C, sum, add N(0, σ²C²).

Why by hand and not opacus' GradSampleModule: opacus computes per-sample gradients with hooks on one
module's forward/backward; here the critic is split across owners (parties' D_Ck, D_pk and the server's
D_S) that must not see each other's gradients, the loss holds a gradient penalty (double backward, which
opacus' hooks do not support), and the clip norm is joint across owners. `torch.func` (vmap over grad)
gives per-example gradients of any per-row loss, double backward included; the joint norm is a sum of
per-owner squared norms, which the protocol exchanges (`clip_factors`).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vmap


def paper_privatise(g: torch.Tensor, clip: float, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """DP-VFLGAN: g·min(1, C/‖g‖_F) + N(0, (2Cσ)²) per coordinate (2C: replace-one sensitivity)."""
    scale = torch.clamp(clip / (g.norm() + 1e-12), max=1.0)
    noise = torch.randn(g.shape, generator=gen, dtype=g.dtype).to(g.device)
    return g * scale + 2.0 * clip * sigma * noise


def _unit_penalty(g: torch.Tensor) -> torch.Tensor:
    return (g.norm() - 1.0) ** 2


def party_row_loss(bottom: nn.Module, head: nn.Module, penalty: str, lambda_local: float, lambda_gp: float
                   ) -> Callable[..., torch.Tensor]:
    """ℓ_i(θ_bottom, θ_head) for ONE real row x and its interpolate x̂ (no batch dimension).

    ℓ_i = −λ_loc·D_p(D_C(x)) + λ_gp·GP(x̂) + ⟨g_r, D_C(x)⟩ + ⟨g_h, D_C(x̂)⟩, where g_r, g_h are the server's
    gradients for this row's features (zeros without a server): the chain rule of the server's row terms
    into this owner's parameters. GP as in `Party.local_critic`: "split" penalises D_C's summed features
    w.r.t. x̂ and D_p w.r.t. its input features; "whole" the composite D_p(D_C(.)) w.r.t. x̂.
    """

    def loss(pb: dict, ph: dict, x: torch.Tensor, xh: torch.Tensor, gr: torch.Tensor, gh: torch.Tensor) -> torch.Tensor:
        f = functional_call(bottom, pb, (x[None],))[0]
        fh = functional_call(bottom, pb, (xh[None],))[0]
        out = -lambda_local * functional_call(head, ph, (f[None],)).sum() + (gr * f).sum() + (gh * fh).sum()
        if penalty == "split":
            gx = grad(lambda v: functional_call(bottom, pb, (v[None],)).sum())(xh)
            gf = grad(lambda v: functional_call(head, ph, (v[None],)).sum())(fh)
            gp = _unit_penalty(gx) + _unit_penalty(gf)
        elif penalty == "whole":
            gx = grad(lambda v: functional_call(head, ph, (functional_call(bottom, pb, (v[None],)),)).sum())(xh)
            gp = _unit_penalty(gx)
        else:
            raise ValueError(f"the sound mode has no per-example form of penalty {penalty!r}")
        return out + lambda_gp * gp

    return loss


def server_row_loss(critic: nn.Module, lambda_gp: float) -> Callable[..., torch.Tensor]:
    """ℓ_i(θ_S, r, h) = −D_S(r) + λ_gp·(‖∇_h D_S(h)‖ − 1)², r and h the row's concatenated features."""

    def loss(ps: dict, r: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        gh = grad(lambda v: functional_call(critic, ps, (v[None],)).sum())(h)
        return -functional_call(critic, ps, (r[None],)).sum() + lambda_gp * _unit_penalty(gh)

    return loss


def params_of(*modules: nn.Module) -> list[dict[str, torch.Tensor]]:
    return [{k: v.detach() for k, v in m.named_parameters()} for m in modules]


def party_per_example(bottom: nn.Module, head: nn.Module, penalty: str, lambda_local: float, lambda_gp: float,
                      x: torch.Tensor, xh: torch.Tensor, gr: torch.Tensor, gh: torch.Tensor
                      ) -> list[dict[str, torch.Tensor]]:
    """Per-example gradients [{bottom name: (b, *shape)}, {head name: (b, *shape)}]."""
    pb, ph = params_of(bottom, head)
    if len(x) == 0:  # a Poisson batch may be empty: no real row, nothing to clip (noise is still added)
        return [{k: v.new_zeros((0, *v.shape)) for k, v in pb.items()}, {k: v.new_zeros((0, *v.shape)) for k, v in ph.items()}]
    fn = vmap(grad(party_row_loss(bottom, head, penalty, lambda_local, lambda_gp), argnums=(0, 1)),
              in_dims=(None, None, 0, 0, 0, 0))
    gb, gh_ = fn(pb, ph, x, xh, gr, gh)
    return [gb, gh_]


def server_per_example(critic: nn.Module, lambda_gp: float, r: torch.Tensor, h: torch.Tensor
                       ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Per-example gradients of D_S's parameters and of each row's (real, interpolate) features."""
    (ps,) = params_of(critic)
    if len(r) == 0:
        return {k: v.new_zeros((0, *v.shape)) for k, v in ps.items()}, r.clone(), h.clone()
    fn = vmap(grad(server_row_loss(critic, lambda_gp), argnums=(0, 1, 2)), in_dims=(None, 0, 0))
    return fn(ps, r, h)


def squared_norms(per_example: list[dict[str, torch.Tensor]], b: int) -> torch.Tensor:
    """Σ over this owner's parameters of ‖g_i‖² per example: all an owner reveals of its gradients."""
    out = torch.zeros(b)
    for group in per_example:
        for g in group.values():
            out = out + g.reshape(b, -1).pow(2).sum(1).to(out.device)
    return out


def clip_factors(sq_norms: list[torch.Tensor], clip: float) -> torch.Tensor:
    """min(1, C / ‖(g_i over every owner)‖) from each owner's per-example squared norms."""
    total = torch.stack(sq_norms).sum(0).sqrt()
    return torch.clamp(clip / (total + 1e-12), max=1.0)


def noisy_mean(per_example: dict[str, torch.Tensor], factors: torch.Tensor, sigma: float, clip: float,
               expected_batch: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """(Σ_i c_i·g_i + N(0, σ²C²)) / B for every parameter (B the expected batch: Poisson sizes vary)."""
    out = {}
    for name, g in per_example.items():
        c = factors.to(g.dtype).to(g.device).reshape(-1, *([1] * (g.dim() - 1)))
        noise = torch.randn(g.shape[1:], generator=gen, dtype=g.dtype).to(g.device)
        out[name] = ((c * g).sum(0) + sigma * clip * noise) / expected_batch
    return out
