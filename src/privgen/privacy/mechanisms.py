"""The two DP mechanisms' maths, apart from any protocol or loop.

paper: clip the *batch* gradient of one weight matrix to C (Frobenius), add N(0, (2Cσ)²) per coordinate.
sound: per-example gradients of every critic parameter a real row touches (its real term and its
gradient-penalty term), one joint norm per example across owners, clip to C, sum, add N(0, σ²C²).

Why by hand and not opacus' GradSampleModule: opacus computes per-sample gradients with hooks on one
module's forward/backward; here the critic is split across owners (parties' D_Ck, D_pk and the server's
D_S) that must not see each other's gradients, the loss holds a gradient penalty (double backward, which
opacus' hooks do not support), and the clip norm is joint across owners. `privacy.per_example` computes
the per-example gradients in factored form (and says why not `torch.func`); the joint norm is a sum of
per-owner squared norms, which the protocol exchanges (`clip_factors`).
"""

from __future__ import annotations

import torch
from torch import nn

from privgen.privacy import per_example as pe
from privgen.privacy.secret import SecretSource


def paper_privatise(g: torch.Tensor, clip: float, sigma: float, source: SecretSource) -> torch.Tensor:
    """DP-VFLGAN: g·min(1, C/‖g‖_F) + N(0, (2Cσ)²) per coordinate (2C: replace-one sensitivity)."""
    scale = torch.clamp(clip / (g.norm() + 1e-12), max=1.0)
    noise = source.normal(tuple(g.shape), g.dtype).to(g.device)
    return g * scale + 2.0 * clip * sigma * noise


def _unit_penalty(g: torch.Tensor) -> torch.Tensor:
    """(‖g_i‖ − 1)² per row."""
    return (g.norm(dim=1) - 1.0) ** 2


def party_per_example(bottom: nn.Sequential, head: nn.Sequential, penalty: str, lambda_local: float,
                      lambda_gp: float, x: torch.Tensor, xh: torch.Tensor, gr: torch.Tensor, gh: torch.Tensor
                      ) -> list[pe.Factored]:
    """Per-example gradients of D_Ck and D_pk (factored) for b real rows x and their interpolates x̂.

    ℓ_i = −λ_loc·D_p(D_C(x_i)) + λ_gp·GP(x̂_i) + ⟨g_r,i, D_C(x_i)⟩ + ⟨g_h,i, D_C(x̂_i)⟩, where g_r, g_h are
    the server's gradients for this row's features (zeros without a server): the chain rule of the
    server's row terms into this owner's parameters. GP as in `Party.local_critic`: "split" penalises D_C's
    summed features w.r.t. x̂ and D_p w.r.t. its input features; "whole" the composite D_p(D_C(.)) w.r.t. x̂.
    """
    if penalty not in ("split", "whole"):
        raise ValueError(f"the sound mode has no per-example form of penalty {penalty!r}")
    ub, uh = pe.Uses(bottom), pe.Uses(head)
    f, _ = pe.forward(ub, x)
    fh, pre_bh = pe.forward(ub, xh)
    score, _ = pe.forward(uh, f)
    _, pre_hh = pe.forward(pe.Uses(head), fh)  # only the activation pattern: D_p(x̂) itself is not in ℓ
    g_head = pe.input_gradient(uh, pre_hh, torch.ones(len(x), 1, dtype=x.dtype, device=x.device))
    if penalty == "split":
        g_x = pe.input_gradient(ub, pre_bh, torch.ones_like(fh))
        gp = _unit_penalty(g_x) + _unit_penalty(g_head)
    else:
        gp = _unit_penalty(pe.input_gradient(ub, pre_bh, g_head))
    loss = -lambda_local * score.sum() + (gr * f).sum() + (gh * fh).sum() + lambda_gp * gp.sum()
    factored, _ = pe.backprop(loss, [ub, uh])
    return factored


def server_per_example(critic: nn.Sequential, lambda_gp: float, r: torch.Tensor, h: torch.Tensor
                       ) -> tuple[pe.Factored, torch.Tensor, torch.Tensor]:
    """Per-example D_S gradients (factored) and each row's gradients w.r.t. its (real, interpolate) features.

    ℓ_i = −D_S(r_i) + λ_gp·(‖∇_h D_S(h_i)‖ − 1)², r and h the row's concatenated features."""
    r, h = r.detach().requires_grad_(True), h.detach().requires_grad_(True)
    uses = pe.Uses(critic)
    score, _ = pe.forward(uses, r)
    _, pre_h = pe.forward(pe.Uses(critic), h)
    g_h = pe.input_gradient(uses, pre_h, torch.ones(len(h), 1, dtype=h.dtype, device=h.device))
    loss = -score.sum() + lambda_gp * _unit_penalty(g_h).sum()
    (factored,), (d_r, d_h) = pe.backprop(loss, [uses], [r, h])
    zeros = torch.zeros_like
    return factored, (d_r if d_r is not None else zeros(r)), (d_h if d_h is not None else zeros(h))


def squared_norms(per_example: list[pe.Factored]) -> torch.Tensor:
    """Σ over this owner's parameters of ‖g_i‖² per example: all an owner reveals of its gradients."""
    return torch.stack([p.squared_norms() for p in per_example]).sum(0)


def clip_factors(sq_norms: list[torch.Tensor], clip: float) -> torch.Tensor:
    """min(1, C / ‖(g_i over every owner)‖) from the owners' per-example squared norms (or their sum)."""
    total = torch.stack([s.double() for s in sq_norms]).sum(0).sqrt()
    return torch.clamp(clip / (total + 1e-12), max=1.0).float()


def noisy_mean(clipped_sum: dict[str, torch.Tensor], sigma: float, clip: float, expected_batch: int,
               source: SecretSource) -> dict[str, torch.Tensor]:
    """(Σ_i c_i·g_i + N(0, σ²C²)) / B for every parameter (B the public expected batch: Poisson sizes vary)."""
    out = {}
    for name, g in clipped_sum.items():
        noise = source.normal(tuple(g.shape), g.dtype).to(g.device)
        out[name] = (g + sigma * clip * noise) / expected_batch
    return out
