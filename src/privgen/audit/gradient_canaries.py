"""White-box gradient canaries (Nasr et al., USENIX Security 2023): crafted per-example gradients inserted into
the critic update, to test the clipping and the noise of a DP mechanism directly.

Canary j is a per-example gradient A·e_k(j), a Dirac of norm A on one critic coordinate k(j) (distinct
coordinates, spread over every owner's critic). It is included in training with probability 1/2 by a secret
coin and, when included, sampled at each critic step like a row, with the run's sampling rate. When sampled it
enters the update as the mechanism treats an example: in the sound mode its gradient is clipped to C by the
mechanism's own clip-factor rule and added to the clipped sum before the noise; without DP (and in the paper
mode, which clips and noises only the first layer's batch gradient afterwards) it is added to the batch-mean
gradient as A/B.

The auditor sees every step's (noisy) update at the canaries' coordinates, the white-box threat model of a
developer testing the pipeline: the DP guarantee covers this sequence of updates, since it is what the
accountant composes. A sampled canary lifts its coordinate by its contribution μ for one step, a few dozen
times in a run; the data's gradient there moves slowly from step to step. So the auditor takes each step's
value minus the running median of the values around it (after subtracting the replayed noise, where it can
replay it: a planted bug), r_t, and scores canary j by the log-likelihood ratio of "spikes of height μ at rate
q on noise" against "noise": Σ_t log(1 − q + q·exp((μ·r_t − μ²/2)/s²)), s the residuals' robust spread over
every canary. μ, q and the noise scale are public, so this is the test the auditor would design.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from privgen.privacy import mechanisms as mech
from privgen.privacy.secret import OsRandom, SecretSource


@dataclass
class Slot:
    param: str
    index: int
    canary: int


def critic_modules(model) -> dict[str, nn.Module]:
    """Every critic part by its module key (what the hook is called with): bottoms, heads, the server's D_S."""
    return {k: m for k, m in model.modules().items() if not k.endswith(".gen")}


@dataclass
class GradientCanaries:
    """The hook the owners call around their critic update (`inject` before the noise, `observe` after)."""

    slots: dict[str, list[Slot]]
    included: np.ndarray
    rate: float
    norm: float
    clip: float | None
    step_counter: object  # the model's transport: its `step` tells one critic step from the next
    source: SecretSource = field(default_factory=OsRandom)
    replay: dict[str, object] | None = None  # owner -> a source replaying its noise (planted bug only)
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.included)
        self._rows: list[np.ndarray] = []  # one row of n coordinate values per critic step
        self.times_sampled = np.zeros(n, dtype=np.int64)
        self._step: int | None = None
        self._sampled = np.zeros(n, dtype=bool)
        factor = 1.0 if self.clip is None else float(mech.clip_factors([torch.tensor([self.norm ** 2])], self.clip)[0])
        self.contribution = self.norm * factor

    @classmethod
    def place(cls, model, count: int, included: np.ndarray, rate: float, norm: float, clip: float | None,
              seed: int, **kw) -> "GradientCanaries":
        """`count` distinct coordinates drawn (from `seed`: where the canaries sit is no secret) over every
        critic parameter of every owner."""
        flat = [(key, name, p.numel()) for key, mod in critic_modules(model).items() for name, p in mod.named_parameters()]
        total = sum(n for *_, n in flat)
        if count > total:
            raise ValueError(f"{count} gradient canaries need {count} critic coordinates; the critic has {total}")
        picks = np.sort(np.random.default_rng(seed).choice(total, count, replace=False))
        offsets = np.cumsum([0] + [n for *_, n in flat])
        slots: dict[str, list[Slot]] = {}
        order = np.random.default_rng(seed + 1).permutation(count)  # canary ids not in coordinate order
        for j, c in zip(order, picks):
            i = int(np.searchsorted(offsets, c, side="right") - 1)
            key, name, _ = flat[i]
            slots.setdefault(key, []).append(Slot(name, int(c - offsets[i]), int(j)))
        return cls(slots, included, rate, norm, clip, model.transport, **kw)

    def _draw(self) -> None:
        step = self.step_counter.step  # type: ignore[attr-defined]
        if step != self._step:
            self._step = step
            self._rows.append(np.zeros(len(self.included)))
            self._sampled = self.included & (self.source.uniform(len(self.included)).numpy() < self.rate)
            self.times_sampled += self._sampled

    def inject(self, module_key: str, grads: dict[str, torch.Tensor], scale: float) -> None:
        """Add each sampled canary's contribution (times `scale`: 1 in a sum, 1/B in a batch mean)."""
        self._draw()
        for s in self.slots.get(module_key, ()):
            if self._sampled[s.canary]:
                grads[s.param].view(-1)[s.index] += self.contribution * scale

    def observe(self, module_key: str, grads: dict[str, torch.Tensor], scale: float, owner: str | None = None) -> None:
        """Read the update at every canary coordinate of this module (times `scale`, back to sum units)."""
        replayed = self._replayed_noise(owner, grads) if self.replay is not None and owner is not None else None
        for s in self.slots.get(module_key, ()):
            v = float(grads[s.param].view(-1)[s.index]) * scale
            if replayed is not None:
                v -= float(replayed[s.param].view(-1)[s.index])
            self._rows[-1][s.canary] = v

    @property
    def scores(self) -> np.ndarray:
        """The spike log-likelihood ratio of every canary over the run (module docstring)."""
        from scipy.ndimage import median_filter

        if not self._rows:
            return np.zeros(len(self.included))
        series = np.stack(self._rows)
        r = series - median_filter(series, size=(5, 1), mode="nearest")
        s2 = max((1.4826 * float(np.median(np.abs(r - np.median(r))))) ** 2, 1e-24)
        mu, q = self.contribution, min(self.rate, 1 - 1e-12)
        return np.logaddexp(np.log1p(-q), np.log(q) + (mu * r - mu * mu / 2) / s2).sum(0)

    def _replayed_noise(self, owner: str, grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The noise this owner just drew, rebuilt from the seed by the auditor's own copy of the generator,
        drawn in the mechanism's order (one draw per parameter, in the module's order)."""
        src = self.replay[owner]  # type: ignore[index]
        return {name: self.noise_std * src.normal(tuple(g.shape), g.dtype) for name, g in grads.items()}  # type: ignore[attr-defined]
