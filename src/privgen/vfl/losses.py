"""WGAN-GP maths, apart from any loop: interpolation with per-row weights, gradient penalties, scores."""

from __future__ import annotations

import torch


def interpolate(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x_hat = alpha * real + (1 - alpha) * fake; alpha is (B, 1), one weight per row.

    VFLGAN passes the *same* alpha to every party, so the concatenation of the parties' x_hat is the
    interpolate of whole rows and the server's penalty is taken at a point on the real-fake segment.
    """
    return alpha * real + (1.0 - alpha) * fake


def penalty_from_grad(grad: torch.Tensor) -> torch.Tensor:
    """(||g||_2 - 1)^2 per row, averaged: the two-sided penalty of Gulrajani et al."""
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def gradient_penalty(score: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """One penalty per input tensor, from a single double-backward pass (graph kept for the update)."""
    grads = torch.autograd.grad(score.sum(), inputs, create_graph=True)
    return [penalty_from_grad(g) for g in grads]


def feature_map_penalty(features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """(||d/dx sum_j D(x)_j|| - 1)^2 for a network D with vector output: the VFLGAN authors' penalty on D_Ck.

    Penalising the composite D_pk(D_Ck(x)) leaves D_Ck free along every direction D_pk ignores, and the
    server's critic D_S reads D_Ck through those directions: the whole critic's gradient then explodes.
    Constraining D_Ck's summed output keeps the features themselves bounded, whichever head reads them.
    """
    (grad,) = torch.autograd.grad(features.sum(), inputs, create_graph=True)
    return penalty_from_grad(grad)


def row_gradient_norms(output: torch.Tensor, inputs: list[torch.Tensor]) -> torch.Tensor:
    """Per-row L2 norm of d(sum of output)/d(inputs), the inputs' columns taken together (no graph kept).

    With one tensor per party this is the norm of the gradient with respect to the whole row.
    """
    grads = torch.autograd.grad(output.sum(), inputs, retain_graph=True)
    return torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()


def critic_gap(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """The critic minimises D(fake) - D(real) (the negative Wasserstein estimate)."""
    return fake_score.mean() - real_score.mean()
