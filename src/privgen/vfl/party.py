"""A party: its columns, its generator (or VertiGAN output head), its bottom critic D_Ck and head D_pk.

The party never sends its rows. It sends features D_Ck(x) of real, fake and interpolated rows and
receives gradients with respect to those features, which it finishes backpropagating locally.
"""

from __future__ import annotations

import torch
from torch import nn

from privgen.data.tabular import Span
from privgen.privacy import mechanisms as mech
from privgen.privacy import secagg
from privgen.privacy.config import NO_DP, DPConfig
from privgen.privacy.keys import KeyPair
from privgen.privacy.secret import OsRandom, SecretSource
from privgen.vfl.config import GanConfig
from privgen.vfl.losses import critic_gap, feature_map_penalty, gradient_penalty, interpolate
from privgen.vfl.nets import Generator, NetSizes, OutputHead, adam, bottom_critic, score_head
from privgen.vfl.rng import own_rng, stream

def _grads(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad for name, p in module.named_parameters() if p.grad is not None}


# What each kind of local critic penalises (see `Party.local_critic`).
PENALTIES = ("split", "whole", "whole+head")


class Party:
    def __init__(self, name: str, x: torch.Tensor, spans: list[Span], sizes: NetSizes, cfg: GanConfig,
                 own_generator: bool = True, penalty: str = "split", dp: DPConfig = NO_DP,
                 rng_seed: int | None = None) -> None:
        if penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {penalty!r}; one of {PENALTIES}")
        self.name, self.x, self.cfg, self.sizes, self.penalty, self.dp = name, x, cfg, sizes, penalty, dp
        # With `rng_seed`, the party's initial weights and Gumbel noise come from its own stream
        # (privgen.vfl.rng), so it computes the same wherever it runs; None: torch's global RNG (legacy).
        self.rng = stream(rng_seed, name) if rng_seed is not None else None
        with own_rng(self.rng):
            self.gen: nn.Module = (Generator(sizes, spans) if own_generator
                                   else OutputHead(sizes.gen_hidden[-1], spans, sizes.tau)).to(x.device)
            self.bottom = bottom_critic(x.shape[1], sizes.critic_hidden, first_bias=dp.mode != "paper").to(x.device)
        # The party's own noise, from the OS CSPRNG: drawn here, never sent, never saved.
        self.noise: SecretSource | None = OsRandom() if dp.on else None
        # Sound mode: pair keys with the other parties mask the squared norms the server sums (privacy.secagg).
        self.keys = KeyPair() if dp.mode == "sound" else None
        self.pair_keys: dict[str, bytes] = {}
        self._masked_steps = 0
        with own_rng(self.rng):
            self.head = score_head(sizes.feature_dim).to(x.device)
        self.opt_g = adam(self.gen.parameters(), cfg.lr)
        self.opt_c = adam(list(self.bottom.parameters()) + list(self.head.parameters()), cfg.lr)
        self._pending: tuple[torch.Tensor, ...] | None = None
        self.audit_hook = None  # privgen.audit.gradient_canaries: an auditor's view of the critic updates

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
        with torch.no_grad(), own_rng(self.rng):
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
        self.critic_step_update()
        self._pending = None

    def critic_step_update(self) -> None:
        """The optimiser step on the critic's gradients; in the paper's DP mode the first layer's batch
        gradient is clipped to C and noised first (DP-VFLGAN), every other gradient left as it is."""
        hook, parts = self.audit_hook, self._critic_parts()
        if hook is not None:
            for key, module in parts:
                hook.inject(key, _grads(module), 1.0 / self.cfg.batch_size)
        if self.dp.mode == "paper":
            w = self.bottom[0].weight
            assert w.grad is not None and self.noise is not None
            w.grad = mech.paper_privatise(w.grad, self.dp.clip, self.dp.sigma, self.noise)
        if hook is not None:
            for key, module in parts:
                hook.observe(key, _grads(module), float(self.cfg.batch_size))
        self.opt_c.step()

    def _critic_parts(self) -> list[tuple[str, nn.Module]]:
        return [(f"{self.name}.bottom", self.bottom), (f"{self.name}.head", self.head)]

    # ---- sound DP mode: per-example clipping with a joint norm (see privgen.privacy.mechanisms) ----

    def sound_forward(self, idx: torch.Tensor, gen_input: torch.Tensor, alpha: torch.Tensor,
                      partners: torch.Tensor) -> list[torch.Tensor]:
        """Features of the b real rows, of the B fakes of the fake term and of the b interpolates.

        gen_input holds exactly B latents (B the public expected batch), so the generator, BatchNorm
        included, runs on a batch whose size and content do not depend on which rows were sampled. Real row
        i is interpolated with fake `partners[i]` of that batch (a secret per-row draw), so no row's terms
        depend on another row's presence: adding a row adds one clipped term and changes nothing else."""
        self.opt_c.zero_grad(set_to_none=True)
        real = self.x[idx]
        with torch.no_grad(), own_rng(self.rng):
            fake = self.gen(gen_input)
        x_hat = interpolate(real, fake[partners.to(fake.device)], alpha)
        f_fake = self.bottom(fake)
        self._fake_loss = self.cfg.lambda_local * self.head(f_fake).mean()
        self._f_fake = f_fake
        self._rows = (real, x_hat)
        with torch.no_grad():
            return [self.bottom(real), f_fake.detach(), self.bottom(x_hat)]

    def sound_per_example(self, g_real: torch.Tensor, g_hat: torch.Tensor) -> torch.Tensor:
        """Per-example gradients of D_Ck and D_pk (real term, its share of the server's terms, its
        penalty terms); returns only their squared norms, one number per row, for the joint clip."""
        real, x_hat = self._rows
        self._per_example = mech.party_per_example(self.bottom, self.head, self.penalty, self.cfg.lambda_local,
                                                   self.cfg.lambda_gp, real, x_hat, g_real, g_hat)
        return mech.squared_norms(self._per_example)

    def public_key(self) -> torch.Tensor:
        """This party's X25519 public key (32 bytes) for the pairwise masks; the server relays it."""
        assert self.keys is not None
        return torch.frombuffer(bytearray(self.keys.public), dtype=torch.uint8)

    def set_peers(self, publics: dict[str, torch.Tensor]) -> None:
        """Derive the pair key with every other party from its relayed public key (fresh per process)."""
        assert self.keys is not None
        self.pair_keys = {name: self.keys.shared(bytes(k.numpy().tobytes()), secagg.PURPOSE)
                          for name, k in publics.items() if name != self.name}
        self._masked_steps = 0

    def masked_sq_norms(self, g_real: torch.Tensor, g_hat: torch.Tensor) -> torch.Tensor:
        """The per-example squared norms, masked so that only their sum over parties reaches the server."""
        share = secagg.masked_share(self.sound_per_example(g_real, g_hat), self.name, self.pair_keys,
                                    self._masked_steps)
        self._masked_steps += 1
        return share

    def sound_step(self, factors: torch.Tensor, g_fake: torch.Tensor | None) -> None:
        """Gradient = fake term (batch, data-independent) + (Σ_i c_i g_i + N(0, σ²C²)) / B; one Adam step."""
        outs, grads = [self._fake_loss], [torch.ones_like(self._fake_loss)]
        if g_fake is not None:
            outs.append(self._f_fake)
            grads.append(g_fake)
        torch.autograd.backward(outs, grads, inputs=[*self.bottom.parameters(), *self.head.parameters()])
        assert self.noise is not None
        for (key, module), per_ex in zip(self._critic_parts(), self._per_example):
            clipped = per_ex.weighted_sum(factors)
            if self.audit_hook is not None:
                self.audit_hook.inject(key, clipped, 1.0)
            noisy = mech.noisy_mean(clipped, self.dp.sigma, self.dp.clip, self.dp.expected_batch, self.noise)
            if self.audit_hook is not None:
                self.audit_hook.observe(key, noisy, float(self.dp.expected_batch), owner=self.name)
            for name, p in module.named_parameters():
                p.grad = p.grad + noisy[name]
        self.opt_c.step()
        self._per_example, self._rows, self._f_fake = [], (), None  # type: ignore[assignment]

    def generator_forward(self, gen_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fake rows -> (local generator loss, features for the server), graph kept."""
        self.opt_g.zero_grad(set_to_none=True)
        with own_rng(self.rng):
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
    def sample(self, gen_input: torch.Tensor, z_seed: int | None = None) -> torch.Tensor:
        """Publication. With a party stream, the Gumbel noise comes from (z_seed, party) alone, so the
        output depends on the weights and the seed, not on how much noise training drew."""
        self.gen.eval()
        with own_rng(stream(z_seed, self.name) if self.rng is not None and z_seed is not None else None):
            out = self.gen(gen_input)
        self.gen.train()
        return out
