"""VertiGAN (baseline): one generator backbone at the server, one output head and one local critic per
party. No critic ever sees a whole row, which is why cross-party correlations are not learned."""

from __future__ import annotations

import torch
from torch import nn

from privgen.errors import UserError
from privgen.vfl.losses import row_gradient_norms
from privgen.vfl.models.base import VflModel
from privgen.vfl.nets import adam, gen_backbone
from privgen.vfl.party import Party


class VertiGAN(VflModel):
    name = "vertigan"

    def __init__(self, parts, spans, sizes, cfg, transport=None, dp=None) -> None:
        if dp is not None and dp.on:
            raise UserError("--dp applies to vflgan and centralized; VertiGAN's shared generator layer has no "
                            "DP mechanism here: use --model-type vflgan (or --dp none)")
        super().__init__(parts, spans, sizes, cfg, transport)
        self.backbone = gen_backbone(sizes.z_dim, sizes.gen_hidden).to(self.device)
        self.opt_b = adam(self.backbone.parameters(), cfg.lr)
        self.parties = [Party(f"party{k + 1}", x, s, sizes, cfg, own_generator=False, penalty="whole+head")
                        for k, (x, s) in enumerate(zip(parts, spans))]

    def critic_step(self, idx: torch.Tensor, z_seed: int, alpha: torch.Tensor) -> dict[str, float]:
        t = self.transport
        with torch.no_grad():
            h = self.backbone(self.latent(z_seed, len(idx)))
        gaps = []
        for p in self.parties:
            rows = t.send("server", p.name, "control", "rows", idx)
            a = t.send("server", p.name, "control", "alpha", alpha).to(self.device)
            hidden = t.send("server", p.name, "features", "gen_hidden", h)
            loss, _ = p.local_critic(rows, hidden, a)
            loss.backward()
            p.opt_c.step()
            gaps.append(float(loss.detach()))
        return {"local_loss": sum(gaps) / len(gaps)}

    def generator_step(self, z_seed: int, batch_size: int) -> None:
        t = self.transport
        self.opt_b.zero_grad(set_to_none=True)
        h = self.backbone(self.latent(z_seed, batch_size))
        total = torch.zeros_like(h)
        for p in self.parties:
            hidden = t.send("server", p.name, "features", "gen_hidden", h).requires_grad_(True)
            loss, _ = p.generator_forward(hidden)
            p.generator_backward([loss], [torch.ones_like(loss)], extra_inputs=(hidden,))
            total += t.send(p.name, "server", "feature_grad", "gen_hidden", hidden.grad)
        h.backward(total)
        self.opt_b.step()

    @torch.no_grad()
    def sample_batch(self, z_seed: int, n: int) -> list[torch.Tensor]:
        self.backbone.eval()
        h = self.backbone(self.latent(z_seed, n))
        self.backbone.train()
        return [p.sample(h) for p in self.parties]

    def health(self) -> dict[str, float]:
        """VertiGAN has no whole-row critic: each party's local critic norm only."""
        out = {}
        for p in self.parties:
            hat = p.last_interpolates.clone().requires_grad_(True)
            out[f"local_critic_grad_norm.{p.name}"] = float(row_gradient_norms(p.head(p.bottom(hat)), [hat]).mean())
        return out

    def modules(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {"server.backbone": self.backbone}
        for p in self.parties:
            out.update(p.modules())
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        out: dict[str, torch.optim.Optimizer] = {"server.backbone": self.opt_b}
        for p in self.parties:
            out.update(p.optimizers())
        return out
