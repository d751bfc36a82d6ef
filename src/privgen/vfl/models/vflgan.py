"""VFLGAN: per-party generators and bottom critics, a server critic on the concatenated features.

Losses (WGAN-GP): critic -D_S(real) + D_S(fake) + λ_loc Σ_k(-D_pk(real_k) + D_pk(fake_k)) + λ_gp GP,
GP at interpolates with one α per row shared by all parties, on three functions (the authors' choice):
each D_Ck through the sum of its output features w.r.t. its columns, each D_pk w.r.t. its input features,
and D_S w.r.t. the concatenated features. Generator -D_S(fake) - λ_loc Σ_k D_pk(fake_k).
"""

from __future__ import annotations

import torch
from torch import nn

from privgen.vfl.losses import row_gradient_norms
from privgen.vfl.models.base import VflModel
from privgen.vfl.party import Party
from privgen.vfl.rng import own_rng, stream
from privgen.vfl.server import Server

FEATURE_TAGS = ("real", "fake", "interp")


def party_name(k: int) -> str:
    """Party k's name (0-based k), the same in every transport: messages, files and RNG streams use it."""
    return f"party{k + 1}"


class VFLGAN(VflModel):
    name = "vflgan"

    def __init__(self, parts, spans, sizes, cfg, transport=None, dp=None, rng_seed: int | None = None) -> None:
        super().__init__(parts, spans, sizes, cfg, transport, *([dp] if dp is not None else []))
        self.parties = [Party(party_name(k), x, s, sizes, cfg, dp=self.dp, rng_seed=rng_seed)
                        for k, (x, s) in enumerate(zip(parts, spans))]
        with own_rng(stream(rng_seed, "server") if rng_seed is not None else None):
            self.server = Server([sizes.feature_dim] * len(parts), sizes, cfg, self.device, dp=self.dp)

    def rng_streams(self) -> dict[str, torch.Generator]:
        return {f"{p.name}.rng": p.rng for p in self.parties if p.rng is not None}

    def critic_step(self, idx: torch.Tensor, z_seed: int, alpha: torch.Tensor,
                    partners: torch.Tensor | None = None) -> dict[str, float]:
        if self.dp.mode == "sound":
            assert partners is not None
            return self._sound_critic_step(idx, z_seed, alpha, partners)
        t = self.transport
        sent = []
        for p in self.parties:
            rows = t.send("server", p.name, "control", "rows", idx)
            seed = t.send("server", p.name, "control", "z_seed", torch.tensor([z_seed]))
            a = t.send("server", p.name, "control", "alpha", alpha).to(self.device)
            feats = p.critic_forward(rows, p.latent(int(seed), len(rows)), a)
            sent.append([t.send(p.name, "server", "features", tag, f) for tag, f in zip(FEATURE_TAGS, feats)])
        grads, gap = self.server.critic_update(*[[s[i] for s in sent] for i in range(3)])
        for p, g in zip(self.parties, grads):
            p.critic_backward([t.send("server", p.name, "feature_grad", tag, x) for tag, x in zip(FEATURE_TAGS, g)])
        return {"wasserstein": gap}

    def _agree_pair_keys(self) -> None:
        """Each party's public key goes to the server, which relays it to the others (sound mode, once per
        process): the parties then share pairwise mask keys the server cannot derive."""
        t = self.transport
        publics = {p.name: t.send(p.name, "server", "control", "public_key", p.public_key()) for p in self.parties}
        for p in self.parties:
            p.set_peers({n: t.send("server", p.name, "control", "public_key", k) for n, k in publics.items()
                         if n != p.name})

    def _sound_critic_step(self, idx: torch.Tensor, z_seed: int, alpha: torch.Tensor, partners: torch.Tensor
                           ) -> dict[str, float]:
        """One critic step of the sound DP mode, as messages.

        Beyond the non-DP step's messages, per party: down, each real row's interpolation partner (an index
        into the B fakes); up, the party's per-example squared norms masked towards the other parties
        (`privacy.secagg`: b ring elements, uniform to the server alone); down, the clip factors
        min(1, C/joint norm) (b numbers, the same for all). The server learns each row's joint norm, no
        party's share; no party sees another's gradients. A step with no sampled row is a valid step.
        """
        t, big_b = self.transport, self.dp.expected_batch
        if not self.parties[0].pair_keys:
            self._agree_pair_keys()
        sent = []
        for p in self.parties:
            rows = t.send("server", p.name, "control", "rows", idx)
            seed = t.send("server", p.name, "control", "z_seed", torch.tensor([z_seed]))
            a = t.send("server", p.name, "control", "alpha", alpha).to(self.device)
            pair = t.send("server", p.name, "control", "partners", partners)
            feats = p.sound_forward(rows, p.latent(int(seed), big_b), a, pair)
            sent.append([t.send(p.name, "server", "features", tag, f) for tag, f in zip(FEATURE_TAGS, feats)])
        grads, server_sq = self.server.sound_update(*[[s[i] for s in sent] for i in range(3)])
        masked, fake_grads = [], []
        for p, g in zip(self.parties, grads):
            g_real, g_fake, g_hat = (t.send("server", p.name, "feature_grad", tag, x) for tag, x in zip(FEATURE_TAGS, g))
            fake_grads.append(g_fake)
            masked.append(t.send(p.name, "server", "control", "sq_norms", p.masked_sq_norms(g_real, g_hat)))
        factors = self.server.clip_factors(server_sq, masked)
        self.server.sound_step(factors)
        for p, g_fake in zip(self.parties, fake_grads):
            p.sound_step(t.send("server", p.name, "control", "clip_factors", factors), g_fake)
        return {}

    def generator_step(self, z_seed: int, batch_size: int) -> None:
        t = self.transport
        pending, sent = [], []
        for p in self.parties:
            seed = t.send("server", p.name, "control", "z_seed", torch.tensor([z_seed]))
            loss, feats = p.generator_forward(p.latent(int(seed), batch_size))
            pending.append((loss, feats))
            sent.append(t.send(p.name, "server", "features", "gen_fake", feats))
        grads = self.server.generator_grads(sent)
        for p, (loss, feats), g in zip(self.parties, pending, grads):
            g = t.send("server", p.name, "feature_grad", "gen_fake", g)
            p.generator_backward([loss, feats], [torch.ones_like(loss), g])

    def sample_batch(self, z_seed: int, n: int) -> list[torch.Tensor]:
        return [p.sample(p.latent(z_seed, n), z_seed) for p in self.parties]

    def health(self) -> dict[str, float]:
        if self.dp.on:  # the interpolates mix real rows: their gradient norms are not covered by the DP noise
            return {}
        hats = [p.last_interpolates.clone().requires_grad_(True) for p in self.parties]
        feats = [p.bottom(h) for p, h in zip(self.parties, hats)]
        out = {"critic_grad_norm": float(row_gradient_norms(self.server.critic(torch.cat(feats, 1)), hats).mean())}
        for p, h, f in zip(self.parties, hats, feats):
            out[f"bottom_grad_norm.{p.name}"] = float(row_gradient_norms(f, [h]).mean())
        return out

    def modules(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {}
        for p in self.parties:
            out.update(p.modules())
        out.update(self.server.modules())
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        out: dict[str, torch.optim.Optimizer] = {}
        for p in self.parties:
            out.update(p.optimizers())
        out.update(self.server.optimizers())
        return out
