"""A party: its columns, its generator (or VertiGAN output head), its bottom critic D_Ck and head D_pk.

The party never sends its rows. It sends features D_Ck(x) of real, fake and interpolated rows and
receives gradients with respect to those features, which it finishes backpropagating locally.
"""

from __future__ import annotations

import torch
from torch import nn

from privgen.data.tabular import Span
from privgen.vfl.config import GanConfig
from privgen.vfl.losses import critic_gap, feature_map_penalty, gradient_penalty, interpolate
from privgen.vfl.nets import Generator, NetSizes, OutputHead, adam, bottom_critic, score_head

# What each kind of local critic penalises (see `Party.local_critic`).
PENALTIES = ("split", "whole", "whole+head")


class Party:
    def __init__(self, name: str, x: torch.Tensor, spans: list[Span], sizes: NetSizes, cfg: GanConfig,
                 own_generator: bool = True, penalty: str = "split") -> None:
        if penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {penalty!r}; one of {PENALTIES}")
        self.name, self.x, self.cfg, self.sizes, self.penalty = name, x, cfg, sizes, penalty
        self.gen: nn.Module = (Generator(sizes, spans) if own_generator
                               else OutputHead(sizes.gen_hidden[-1], spans, sizes.tau)).to(x.device)
        self.bottom = bottom_critic(x.shape[1], sizes.critic_hidden).to(x.device)
        self.head = score_head(sizes.feature_dim).to(x.device)
        self.opt_g = adam(self.gen.parameters(), cfg.lr)
        self.opt_c = adam(list(self.bottom.parameters()) + list(self.head.parameters()), cfg.lr)
        self._pending: tuple[torch.Tensor, ...] | None = None

    def modules(self) -> dict[str, nn.Module]:
        return {f"{self.name}.gen": self.gen, f"{self.name}.bottom": self.bottom, f"{self.name}.head": self.head}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {f"{self.name}.gen": self.opt_g, f"{self.name}.critic": self.opt_c}

    def latent(self, seed: int, n: int) -> torch.Tensor:
        """Every party draws the same z from the shared seed (no latent ever crosses the wire)."""
        g = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.sizes.z_dim, generator=g).to(self.x.device)

    def local_critic(self, idx: torch.Tensor, gen_input: torch.Tensor, alpha: torch.Tensor
                     ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Local WGAN-GP loss and the features of (real, fake, interpolated) rows, graph kept.

        The penalties depend on what the local critic is (`PENALTIES`): with "split" (VFLGAN, the
        authors' choice) D_Ck is penalised on its summed features and D_pk on its input features; with
        "whole" the composite D_pk(D_Ck(.)) is penalised with respect to the columns (the standard GP
        of a critic that sees whole rows: the centralized model); "whole+head" adds the D_pk penalty
        (VertiGAN, whose local critics are the only critics).
        """
        self.opt_c.zero_grad(set_to_none=True)
        real = self.x[idx]
        with torch.no_grad():
            fake = self.gen(gen_input)
        x_hat = interpolate(real, fake, alpha).requires_grad_(True)
        # Interpolates go through D_Ck on their own: were they sliced out of one batched pass, the penalty's
        # double backward would run over all 3B rows (zero-padded) instead of B. Rows are independent
        # (no normalisation in D_Ck), so the features are the same.
        f_pair = self.bottom(torch.cat([real, fake]))
        f_hat = self.bottom(x_hat)
        self.last_interpolates = x_hat.detach()
        f_real, f_fake = f_pair.split(len(idx))
        s_real, s_fake = self.head(f_pair).split(len(idx))
        s_hat = self.head(f_hat)  # scored apart so the penalty can differentiate with respect to f_hat
        if self.penalty == "split":
            gps = [feature_map_penalty(f_hat, x_hat), *gradient_penalty(s_hat, [f_hat])]
        else:
            gps = gradient_penalty(s_hat, [x_hat, f_hat] if self.penalty == "whole+head" else [x_hat])
        loss = self.cfg.lambda_local * critic_gap(s_real, s_fake) + self.cfg.lambda_gp * sum(gps)
        return loss, [f_real, f_fake, f_hat]

    def critic_forward(self, idx: torch.Tensor, gen_input: torch.Tensor, alpha: torch.Tensor) -> list[torch.Tensor]:
        loss, feats = self.local_critic(idx, gen_input, alpha)
        self._pending = (loss, *feats)
        return feats

    def critic_backward(self, grads: list[torch.Tensor]) -> None:
        """Finish backprop: local loss plus the server's feature gradients, then one optimiser step."""
        loss, *feats = self._pending  # type: ignore[misc]
        torch.autograd.backward([loss, *feats], [torch.ones_like(loss), *grads])
        self.opt_c.step()
        self._pending = None

    def generator_forward(self, gen_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fake rows -> (local generator loss, features for the server), graph kept."""
        self.opt_g.zero_grad(set_to_none=True)
        fake = self.gen(gen_input)
        feats = self.bottom(fake)
        return -self.cfg.lambda_local * self.head(feats).mean(), feats

    def generator_backward(self, outputs: list[torch.Tensor], grads: list[torch.Tensor],
                           extra_inputs: tuple[torch.Tensor, ...] = ()) -> None:
        """Backprop into G_k only, then step it. D_Ck and D_pk weight gradients are not computed: the next
        critic step would discard them (it zeroes them first), so computing them is wasted work."""
        torch.autograd.backward(outputs, grads, inputs=[*self.gen.parameters(), *extra_inputs])
        self.opt_g.step()

    @torch.no_grad()
    def sample(self, gen_input: torch.Tensor) -> torch.Tensor:
        self.gen.eval()
        out = self.gen(gen_input)
        self.gen.train()
        return out
