"""Centralized WGAN-GP on the pooled columns: the upper reference (what the parties could do if they
were allowed to share rows). Same network sizes, same budget; standard input-space gradient penalty."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from privgen.data.tabular import Span
from privgen.privacy.mechanisms import clip_factors
from privgen.vfl.losses import row_gradient_norms
from privgen.vfl.models.base import VflModel
from privgen.vfl.party import Party


class Centralized(VflModel):
    name = "centralized"

    def __init__(self, parts, spans, sizes, cfg, transport=None, dp=None) -> None:
        super().__init__(parts, spans, sizes, cfg, transport, *([dp] if dp is not None else []))
        pooled, offset = [], 0
        for d, party_spans in zip(self.dims, spans):
            pooled += [Span(s.start + offset, s.end + offset, s.kind) for s in party_spans]
            offset += d
        self.pool = Party("pooled", torch.cat(parts, 1), pooled, sizes, dataclasses.replace(cfg, lambda_local=1.0),
                          penalty="whole", dp=self.dp)

    def critic_step(self, idx: torch.Tensor, z_seed: int, alpha: torch.Tensor,
                    partners: torch.Tensor | None = None) -> dict[str, float]:
        p = self.pool
        if self.dp.mode == "sound":  # the DP reference: the same per-example clipping, one owner, no server
            assert partners is not None
            p.sound_forward(idx, self.latent(z_seed, self.dp.expected_batch), alpha.to(self.device), partners)
            zeros = torch.zeros(len(idx), self.sizes.feature_dim, device=self.device)
            sq = p.sound_per_example(zeros, zeros)
            p.sound_step(clip_factors([sq], self.dp.clip), None)
            return {}
        loss, _ = p.local_critic(idx, self.latent(z_seed, len(idx)), alpha.to(self.device))
        loss.backward()
        p.critic_step_update()
        return {"critic_loss": float(loss.detach())}

    def generator_step(self, z_seed: int, batch_size: int) -> None:
        loss, _ = self.pool.generator_forward(self.latent(z_seed, batch_size))
        self.pool.generator_backward([loss], [torch.ones_like(loss)])

    def sample_batch(self, z_seed: int, n: int) -> list[torch.Tensor]:
        return list(self.pool.sample(self.latent(z_seed, n)).split(self.dims, dim=1))

    def health(self) -> dict[str, float]:
        if self.dp.on:
            return {}
        p = self.pool
        hat = p.last_interpolates.clone().requires_grad_(True)
        return {"critic_grad_norm": float(row_gradient_norms(p.head(p.bottom(hat)), [hat]).mean())}

    def modules(self) -> dict[str, nn.Module]:
        return self.pool.modules()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.pool.optimizers()
