"""The server: the top critic D_S on the concatenation of every party's features. It never sees rows."""

from __future__ import annotations

import torch
from torch import nn

from privgen.privacy import mechanisms as mech
from privgen.privacy import secagg
from privgen.privacy.config import NO_DP, DPConfig
from privgen.privacy.secret import OsRandom, SecretSource
from privgen.vfl.config import GanConfig
from privgen.vfl.losses import critic_gap, gradient_penalty
from privgen.vfl.nets import NetSizes, adam, score_head


class Server:
    def __init__(self, feature_dims: list[int], sizes: NetSizes, cfg: GanConfig, device: torch.device,
                 dp: DPConfig = NO_DP) -> None:
        self.cfg, self.dp, self.feature_dims = cfg, dp, feature_dims
        self.noise: SecretSource | None = OsRandom() if dp.mode == "sound" else None
        self.critic = score_head(sum(feature_dims), sizes.server_hidden).to(device)
        self.opt = adam(self.critic.parameters(), cfg.lr)
        self.audit_hook = None  # privgen.audit.gradient_canaries: an auditor's view of the critic updates

    def modules(self) -> dict[str, nn.Module]:
        return {"server.critic": self.critic}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"server.critic": self.opt}

    def critic_update(self, real: list[torch.Tensor], fake: list[torch.Tensor], hat: list[torch.Tensor]
                      ) -> tuple[list[list[torch.Tensor]], float]:
        """One D_S step; returns per party [dL/d f_real, dL/d f_fake, dL/d f_hat] and the Wasserstein gap."""
        leaves = [t.requires_grad_(True) for t in (*real, *fake, *hat)]
        b = len(real[0])
        s_real, s_fake = self.critic(torch.cat([torch.cat(real, 1), torch.cat(fake, 1)])).split(b)
        h = torch.cat(hat, 1)
        gap = critic_gap(s_real, s_fake)
        # interpolates scored apart, so the penalty's double backward spans B rows, not 3B
        gp = gradient_penalty(self.critic(h), [h])[0]
        self.opt.zero_grad(set_to_none=True)
        (gap + self.cfg.lambda_gp * gp).backward()
        if self.audit_hook is not None:
            grads = {n: p.grad for n, p in self.critic.named_parameters()}
            self.audit_hook.inject("server.critic", grads, 1.0 / b)
            self.audit_hook.observe("server.critic", grads, float(b))
        self.opt.step()
        m = len(real)
        grads = [[leaves[k].grad, leaves[m + k].grad, leaves[2 * m + k].grad] for k in range(m)]
        return grads, float(-gap.detach())

    def sound_update(self, real: list[torch.Tensor], fake: list[torch.Tensor], hat: list[torch.Tensor]
                     ) -> tuple[list[list[torch.Tensor]], torch.Tensor]:
        """Sound DP mode, first half: per-example D_S gradients (kept here) and the feature gradients for the
        parties: per row (real, interpolate; un-averaged, the parties clip per example) and for the fake
        term (a batch mean: fakes are data-independent). Returns those and D_S's per-example squared norms."""
        b = len(real[0])
        r, h = torch.cat(real, 1), torch.cat(hat, 1)
        self._per_example, g_r, g_h = mech.server_per_example(self.critic, self.cfg.lambda_gp, r, h)
        self.opt.zero_grad(set_to_none=True)
        f = [t.requires_grad_(True) for t in fake]
        self.critic(torch.cat(f, 1)).mean().backward()  # fake term: D_S's batch gradient, and d/d fake features
        g_rs, g_hs = g_r.split(self.feature_dims, 1), g_h.split(self.feature_dims, 1)
        grads = [[g_rs[k], f[k].grad, g_hs[k]] for k in range(len(real))]
        return grads, mech.squared_norms([self._per_example])

    def clip_factors(self, own_sq: torch.Tensor, masked: list[torch.Tensor]) -> torch.Tensor:
        """min(1, C/‖g_i‖) from its own squared norms and the parties' masked shares: the server learns each
        row's joint norm and nothing of how it splits between the parties."""
        return mech.clip_factors([own_sq, secagg.unmasked_sum(masked).to(own_sq.device)], self.dp.clip)

    def sound_step(self, factors: torch.Tensor) -> None:
        """Second half, once every party's squared norms gave the joint clip factors: noisy mean, step."""
        assert self.noise is not None
        clipped = self._per_example.weighted_sum(factors)
        if self.audit_hook is not None:
            self.audit_hook.inject("server.critic", clipped, 1.0)
        noisy = mech.noisy_mean(clipped, self.dp.sigma, self.dp.clip, self.dp.expected_batch, self.noise)
        if self.audit_hook is not None:
            self.audit_hook.observe("server.critic", noisy, float(self.dp.expected_batch), owner="server")
        for name, p in self.critic.named_parameters():
            p.grad = p.grad + noisy[name]
        self.opt.step()
        self._per_example = None

    def generator_grads(self, fake: list[torch.Tensor]) -> list[torch.Tensor]:
        """dL_G/d features for L_G = -D_S(concat fake features); D_S's own weights are not touched."""
        leaves = [t.requires_grad_(True) for t in fake]
        loss = -self.critic(torch.cat(leaves, 1)).mean()
        return list(torch.autograd.grad(loss, leaves))
